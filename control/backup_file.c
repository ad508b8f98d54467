/*
 * The backup file's writer, reader and checker (control/backup_file.h,
 * docs/BACKUP.md). Every block carries the CRC-32C of its type, length and
 * payload, so a reader names the first bad block and trusts everything
 * before it. The CRC is a small table of its own (the standard
 * Castagnoli CRC, as replication/hash.c's slot hash): the file is checked
 * with this file and libc alone. Never prints; errors come back as text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "control/backup_file.h"

/* ---- CRC-32C, incremental -------------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	if (crc_table[1] != 0)
		return;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

/* Running value: start at 0, feed pieces, the result is the standard CRC. */
static uint32_t crc_add(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian fields -------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t cat_bk_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint64_t cat_bk_get64(const uint8_t *p)
{
	return (uint64_t)cat_bk_get32(p) | (uint64_t)cat_bk_get32(p + 4) << 32;
}

/* ---- writer ------------------------------------------------------------ */

static int wr(struct cat_bk_writer *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	if (n > 0 && fwrite(p, 1, n, w->f) != n) {
		w->err = errno ? -errno : -EIO;
		return w->err;
	}
	w->offset += n;
	return 0;
}

static int write_block(struct cat_bk_writer *w, uint32_t type,
		       const uint8_t *payload, uint32_t len)
{
	uint8_t h[CAT_BK_BLOCK_HDR_LEN];

	put32(h, type);
	put32(h + 4, len);
	put32(h + 8, crc_add(crc_add(0, h, 8), payload, len));
	if (wr(w, h, sizeof(h)) < 0 || wr(w, payload, len) < 0)
		return w->err;
	w->blocks++;
	return 0;
}

int cat_bk_writer_begin(struct cat_bk_writer *w, FILE *f,
			const struct cat_bk_header *h)
{
	uint8_t b[CAT_BK_HEADER_LEN] = { 0 };

	memset(w, 0, sizeof(*w));
	w->f = f;
	w->slot = UINT32_MAX;
	memcpy(b, CAT_BK_MAGIC, 8);
	put32(b + 8, CAT_BK_FORMAT);
	put32(b + 12, CAT_BK_HEADER_LEN);
	put32(b + 16, h->slot_count);
	put32(b + 20, h->epoch);
	put64(b + 24, (uint64_t)h->created);
	put64(b + 32, h->cluster_id);
	put32(b + 40, h->flags);
	put32(b + 44, crc_add(0, b, 44));
	return wr(w, b, sizeof(b));
}

int cat_bk_writer_slot_begin(struct cat_bk_writer *w, uint32_t slot,
			     uint64_t cut)
{
	uint8_t p[12];

	if (w->slot != UINT32_MAX)
		return -EINVAL;
	w->slot = slot;
	w->cut = cut;
	w->slot_keys = w->slot_bytes = 0;
	w->len = 8; /* slot and count go first */
	w->n_recs = 0;
	put32(p, slot);
	put64(p + 4, cut);
	return write_block(w, CAT_BK_SLOT_BEGIN, p, sizeof(p));
}

static int flush_records(struct cat_bk_writer *w)
{
	int rc;

	if (w->n_recs == 0)
		return w->err;
	put32(w->buf, w->slot);
	put32(w->buf + 4, w->n_recs);
	rc = write_block(w, CAT_BK_RECORDS, w->buf, (uint32_t)w->len);
	w->len = 8;
	w->n_recs = 0;
	return rc;
}

int cat_bk_writer_add(struct cat_bk_writer *w, const struct cat_bk_rec *r)
{
	size_t need = CAT_BK_REC_HDR_LEN + r->key_len + (size_t)r->value_len;
	uint8_t *p;

	if (w->slot == UINT32_MAX)
		return -EINVAL;
	if (8 + need > CAT_BK_BLOCK_MAX)
		return -E2BIG;
	if (w->n_recs > 0 && w->len + need > CAT_BK_RECORDS_TARGET &&
	    flush_records(w) < 0)
		return w->err;
	if (w->len + need > w->cap) {
		size_t cap = w->cap ? w->cap : CAT_BK_RECORDS_TARGET + 1024;

		while (cap < w->len + need)
			cap *= 2;
		p = realloc(w->buf, cap);
		if (p == NULL)
			return -ENOMEM;
		w->buf = p;
		w->cap = cap;
	}
	p = w->buf + w->len;
	put16(p, r->key_len);
	put32(p + 2, r->value_len);
	put64(p + 6, r->version);
	memcpy(p + CAT_BK_REC_HDR_LEN, r->key, r->key_len);
	if (r->value_len)
		memcpy(p + CAT_BK_REC_HDR_LEN + r->key_len, r->value, r->value_len);
	w->len += need;
	w->n_recs++;
	w->slot_keys++;
	w->slot_bytes += r->key_len + (uint64_t)r->value_len;
	return 0;
}

int cat_bk_writer_slot_end(struct cat_bk_writer *w)
{
	uint8_t p[28];

	if (w->slot == UINT32_MAX)
		return -EINVAL;
	if (flush_records(w) < 0)
		return w->err;
	put32(p, w->slot);
	put64(p + 4, w->cut);
	put64(p + 12, w->slot_keys);
	put64(p + 20, w->slot_bytes);
	w->slot = UINT32_MAX;
	w->slots++;
	w->keys += w->slot_keys;
	w->bytes += w->slot_bytes;
	return write_block(w, CAT_BK_SLOT_END, p, sizeof(p));
}

int cat_bk_writer_finish(struct cat_bk_writer *w)
{
	uint8_t p[28];

	if (w->slot != UINT32_MAX)
		return -EINVAL;
	put32(p, w->slots);
	put64(p + 4, w->keys);
	put64(p + 12, w->bytes);
	put64(p + 20, w->blocks); /* blocks before the trailer */
	if (write_block(w, CAT_BK_TRAILER, p, sizeof(p)) < 0)
		return w->err;
	if (fflush(w->f) != 0)
		w->err = -errno;
	return w->err;
}

void cat_bk_writer_free(struct cat_bk_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
}

/* ---- reader ------------------------------------------------------------ */

/* Read exactly n bytes: n, or how many there were before the end. */
static size_t rd(struct cat_bk_reader *r, void *p, size_t n)
{
	size_t got = n ? fread(p, 1, n, r->f) : 0;

	r->offset += got;
	return got;
}

int cat_bk_reader_open(struct cat_bk_reader *r, FILE *f, char *why,
		       size_t whylen)
{
	uint8_t b[CAT_BK_HEADER_LEN];
	size_t got;

	memset(r, 0, sizeof(*r));
	r->f = f;
	got = rd(r, b, sizeof(b));
	if (got >= 8 && memcmp(b, CAT_BK_MAGIC, 8) != 0) {
		snprintf(why, whylen, "not a catena backup (no \"%s\" at its start)",
			 CAT_BK_MAGIC);
		return -EINVAL;
	}
	if (got < sizeof(b)) {
		snprintf(why, whylen, "header: truncated (%zu of %u bytes)%s", got,
			 CAT_BK_HEADER_LEN, ferror(f) ? ": read error" : "");
		return ferror(f) ? -EIO : -EINVAL;
	}
	if (cat_bk_get32(b + 8) != CAT_BK_FORMAT) {
		snprintf(why, whylen, "header: format %u (this reader knows %u)",
			 cat_bk_get32(b + 8), CAT_BK_FORMAT);
		return -EPROTONOSUPPORT;
	}
	if (cat_bk_get32(b + 44) != crc_add(0, b, 44)) {
		snprintf(why, whylen, "header: CRC-32C mismatch (the header is damaged)");
		return -EINVAL;
	}
	if (cat_bk_get32(b + 12) != CAT_BK_HEADER_LEN) {
		snprintf(why, whylen, "header: length %u (format %u has %u)",
			 cat_bk_get32(b + 12), CAT_BK_FORMAT, CAT_BK_HEADER_LEN);
		return -EINVAL;
	}
	r->h.format = CAT_BK_FORMAT;
	r->h.slot_count = cat_bk_get32(b + 16);
	r->h.epoch = cat_bk_get32(b + 20);
	r->h.created = (int64_t)cat_bk_get64(b + 24);
	r->h.cluster_id = cat_bk_get64(b + 32);
	r->h.flags = cat_bk_get32(b + 40);
	if (r->h.slot_count == 0 || r->h.slot_count > 65536 ||
	    (r->h.slot_count & (r->h.slot_count - 1)) != 0) {
		snprintf(why, whylen, "header: slot count %u is not a power of two in 1..65536",
			 r->h.slot_count);
		return -EINVAL;
	}
	return 0;
}

int cat_bk_reader_next(struct cat_bk_reader *r, struct cat_bk_block *b,
		       char *why, size_t whylen)
{
	uint8_t h[CAT_BK_BLOCK_HDR_LEN];
	uint64_t at = r->offset;
	size_t got = rd(r, h, sizeof(h));
	uint32_t len;

	if (got == 0 && !ferror(r->f))
		return 0;
	if (got < sizeof(h)) {
		snprintf(why, whylen, "truncated: %zu bytes of a block header", got);
		return ferror(r->f) ? -EIO : -EINVAL;
	}
	len = cat_bk_get32(h + 4);
	if (len > CAT_BK_BLOCK_MAX) {
		snprintf(why, whylen, "length %u is over the %u-byte limit (damaged)",
			 len, CAT_BK_BLOCK_MAX);
		return -EINVAL;
	}
	if (len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		uint8_t *p;

		while (cap < len)
			cap *= 2;
		p = realloc(r->buf, cap);
		if (p == NULL) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		r->buf = p;
		r->cap = cap;
	}
	got = rd(r, r->buf, len);
	if (got < len) {
		snprintf(why, whylen, "truncated: %zu of its %u payload bytes", got, len);
		return ferror(r->f) ? -EIO : -EINVAL;
	}
	if (crc_add(crc_add(0, h, 8), r->buf, len) != cat_bk_get32(h + 8)) {
		snprintf(why, whylen, "CRC-32C mismatch (its bytes are damaged)");
		return -EINVAL;
	}
	b->type = cat_bk_get32(h);
	b->len = len;
	b->payload = r->buf;
	b->offset = at;
	b->index = ++r->index;
	return 1;
}

void cat_bk_reader_free(struct cat_bk_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

int cat_bk_records_next(const struct cat_bk_block *b, size_t *pos,
			struct cat_bk_rec *out)
{
	size_t p = *pos ? *pos : 8;

	if (p == b->len)
		return 0;
	if (p > b->len || b->len - p < CAT_BK_REC_HDR_LEN)
		return -EINVAL;
	out->key_len = get16(b->payload + p);
	out->value_len = cat_bk_get32(b->payload + p + 2);
	out->version = cat_bk_get64(b->payload + p + 6);
	p += CAT_BK_REC_HDR_LEN;
	if (b->len - p < out->key_len ||
	    b->len - p - out->key_len < out->value_len)
		return -EINVAL;
	out->key = b->payload + p;
	out->value = b->payload + p + out->key_len;
	*pos = p + out->key_len + out->value_len;
	return 1;
}

/* ---- the whole file ---------------------------------------------------- */

static const char *type_name(uint32_t t)
{
	switch (t) {
	case CAT_BK_SLOT_BEGIN: return "slot begin";
	case CAT_BK_RECORDS:    return "records";
	case CAT_BK_SLOT_END:   return "slot end";
	case CAT_BK_TRAILER:    return "trailer";
	default:                return "unknown";
	}
}

/* "block 7 (offset 123, slot 4 records)": how an error names a block. */
static void block_name(char *buf, size_t cap, uint64_t index, uint64_t offset,
		       uint32_t slot, uint32_t type, int known)
{
	if (known && slot != UINT32_MAX)
		snprintf(buf, cap, "block %" PRIu64 " (offset %" PRIu64 ", slot %u %s)",
			 index, offset, slot, type_name(type));
	else if (known)
		snprintf(buf, cap, "block %" PRIu64 " (offset %" PRIu64 ", %s)",
			 index, offset, type_name(type));
	else if (slot != UINT32_MAX)
		snprintf(buf, cap, "block %" PRIu64 " (offset %" PRIu64 ", in slot %u's section)",
			 index, offset, slot);
	else
		snprintf(buf, cap, "block %" PRIu64 " (offset %" PRIu64 ")", index, offset);
}

/* What before the bad block is good, for the error text. */
static void good_text(char *buf, size_t cap, const struct cat_bk_summary *s)
{
	if (s->slots == 0)
		snprintf(buf, cap, "no slot before it is complete");
	else
		snprintf(buf, cap, "the %" PRIu64 " blocks before it are good: %u slots "
			 "complete (the last is slot %u), %" PRIu64 " keys, %" PRIu64
			 " bytes", s->blocks, s->slots, s->last_slot, s->keys, s->bytes);
}

struct check_slot {
	uint32_t slot;       /* open section; UINT32_MAX: none */
	uint64_t cut, keys, bytes;
};

int cat_bk_check(FILE *f, const struct cat_bk_visit *visit,
		 struct cat_bk_summary *s, char *why, size_t whylen)
{
	struct cat_bk_reader r;
	struct cat_bk_block b;
	struct check_slot cs = { .slot = UINT32_MAX };
	char what[400], name[96], good[200];
	/* Slots come in the order their dumps ended, each at most once. */
	uint8_t seen[65536 / 8];
	int rc;

	memset(s, 0, sizeof(*s));
	s->last_slot = UINT32_MAX;
	rc = cat_bk_reader_open(&r, f, what, sizeof(what));
	if (rc < 0) {
		snprintf(why, whylen, "%s", what);
		cat_bk_reader_free(&r);
		return rc;
	}
	s->h = r.h;
	s->good_offset = r.offset;
	memset(seen, 0, sizeof(seen));
	for (;;) {
		uint64_t at = r.offset;

		rc = cat_bk_reader_next(&r, &b, what, sizeof(what));
		if (rc == 0) {
			block_name(name, sizeof(name), r.index + 1, at, cs.slot, 0, 0);
			snprintf(what, sizeof(what), "truncated: the file ends before its trailer");
			rc = -EINVAL;
			goto bad;
		}
		if (rc < 0) {
			block_name(name, sizeof(name), r.index + 1, at, cs.slot, 0, 0);
			goto bad;
		}
		block_name(name, sizeof(name), b.index, b.offset,
			   b.type == CAT_BK_SLOT_BEGIN && b.len >= 4 ?
			   cat_bk_get32(b.payload) : cs.slot, b.type, 1);
		rc = -EINVAL;
		switch (b.type) {
		case CAT_BK_SLOT_BEGIN: {
			uint32_t slot;

			if (b.len != 12) {
				snprintf(what, sizeof(what), "length %u (want 12)", b.len);
				goto bad;
			}
			slot = cat_bk_get32(b.payload);
			if (cs.slot != UINT32_MAX) {
				snprintf(what, sizeof(what), "slot %u begins inside slot %u",
					 slot, cs.slot);
				goto bad;
			}
			if (slot >= s->h.slot_count || (seen[slot / 8] & (1u << (slot % 8)))) {
				snprintf(what, sizeof(what), "slot %u a second time, or past the slot count %u",
					 slot, s->h.slot_count);
				goto bad;
			}
			seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
			cs = (struct check_slot){ .slot = slot,
						  .cut = cat_bk_get64(b.payload + 4) };
			if (visit && visit->slot_begin &&
			    (rc = visit->slot_begin(visit->arg, slot, cs.cut)) != 0)
				goto stopped;
			break;
		}
		case CAT_BK_RECORDS: {
			struct cat_bk_rec rec;
			size_t pos = 0;
			uint32_t n = 0;
			int k;

			if (cs.slot == UINT32_MAX || b.len < 8 ||
			    cat_bk_get32(b.payload) != cs.slot) {
				snprintf(what, sizeof(what), "records outside their slot's section");
				goto bad;
			}
			while ((k = cat_bk_records_next(&b, &pos, &rec)) == 1) {
				uint32_t crc = crc_add(0, rec.key, rec.key_len);

				if ((crc & (s->h.slot_count - 1)) != cs.slot ||
				    rec.version > cs.cut || rec.version == 0) {
					snprintf(what, sizeof(what), "record %u: a key of slot %u "
						 "or version %" PRIu64 " outside 1..%" PRIu64,
						 n, crc & (s->h.slot_count - 1), rec.version, cs.cut);
					goto bad;
				}
				n++;
				cs.keys++;
				cs.bytes += rec.key_len + (uint64_t)rec.value_len;
				if (visit && visit->record &&
				    (rc = visit->record(visit->arg, cs.slot, &rec)) != 0)
					goto stopped;
			}
			if (k < 0 || n != cat_bk_get32(b.payload + 4)) {
				snprintf(what, sizeof(what), "records overrun the block, or "
					 "their count is not the %u it says", cat_bk_get32(b.payload + 4));
				goto bad;
			}
			break;
		}
		case CAT_BK_SLOT_END:
			if (b.len != 28 || cs.slot == UINT32_MAX ||
			    cat_bk_get32(b.payload) != cs.slot ||
			    cat_bk_get64(b.payload + 4) != cs.cut ||
			    cat_bk_get64(b.payload + 12) != cs.keys ||
			    cat_bk_get64(b.payload + 20) != cs.bytes) {
				snprintf(what, sizeof(what), "does not match its section (slot, cut, "
					 "%" PRIu64 " keys, %" PRIu64 " bytes read)", cs.keys, cs.bytes);
				goto bad;
			}
			if (visit && visit->slot_end &&
			    (rc = visit->slot_end(visit->arg, cs.slot, cs.cut, cs.keys)) != 0)
				goto stopped;
			s->slots++;
			s->keys += cs.keys;
			s->bytes += cs.bytes;
			s->last_slot = cs.slot;
			cs.slot = UINT32_MAX;
			break;
		case CAT_BK_TRAILER:
			if (b.len != 28 || cs.slot != UINT32_MAX ||
			    cat_bk_get32(b.payload) != s->slots ||
			    cat_bk_get64(b.payload + 4) != s->keys ||
			    cat_bk_get64(b.payload + 12) != s->bytes ||
			    cat_bk_get64(b.payload + 20) != s->blocks) {
				snprintf(what, sizeof(what), "totals differ from what the file holds "
					 "(%u slots, %" PRIu64 " keys, %" PRIu64 " bytes, %" PRIu64
					 " blocks)", s->slots, s->keys, s->bytes, s->blocks);
				goto bad;
			}
			s->blocks++;
			s->good_offset = r.offset;
			{
				uint8_t extra;

				if (fread(&extra, 1, 1, f) == 1) {
					snprintf(why, whylen, "bytes after the trailer at offset %"
						 PRIu64 ": not written by catena", r.offset);
					cat_bk_reader_free(&r);
					return -EINVAL;
				}
			}
			s->complete = 1;
			cat_bk_reader_free(&r);
			return 0;
		default:
			snprintf(what, sizeof(what), "unknown block type %u", b.type);
			goto bad;
		}
		s->blocks++;
		s->good_offset = r.offset;
	}
bad:
	good_text(good, sizeof(good), s);
	snprintf(why, whylen, "%s: %s; %s", name, what, good);
	cat_bk_reader_free(&r);
	return rc < 0 ? rc : -EINVAL;
stopped:
	snprintf(why, whylen, "%s: stopped by the caller", name);
	cat_bk_reader_free(&r);
	return rc;
}
