/*
 * The backup file (docs/BACKUP.md): a versioned, self-describing stream of
 * CRC-32C-checked blocks, written by catena-control (control/backup.c) and
 * read by catena-control's restore and by `catenactl backup --verify`.
 * Plain C on stdio and replication/hash.c's CRC-32C: no DPDK, no jansson,
 * so catenactl and the fuzz target link it alone. Never prints.
 */
#ifndef CAT_BK_FILE_H
#define CAT_BK_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_BK_MAGIC "CATBKUP1"           /* 8 bytes, no NUL */
#define CAT_BK_FORMAT 1u
#define CAT_BK_HEADER_LEN 48u
#define CAT_BK_BLOCK_HDR_LEN 12u          /* type, length, CRC-32C */
/* A records block is cut once its payload passes this (one record may
 * make it longer: a block holds at least one record). */
#define CAT_BK_RECORDS_TARGET (64u * 1024u)
/* What a reader accepts for one block payload: bounds its memory. */
#define CAT_BK_BLOCK_MAX (1u << 20)
#define CAT_BK_REC_HDR_LEN 14u            /* klen u16, vlen u32, version u64 */

enum cat_bk_block_type {
	CAT_BK_SLOT_BEGIN = 1, /* slot u32, cut version u64 */
	CAT_BK_RECORDS = 2,    /* slot u32, count u32, records */
	CAT_BK_SLOT_END = 3,   /* slot u32, cut version u64, keys u64, bytes u64 */
	CAT_BK_TRAILER = 4,    /* slots u32, keys u64, bytes u64, blocks u64 */
};

struct cat_bk_header {
	uint32_t format;       /* CAT_BK_FORMAT */
	uint32_t slot_count;
	uint32_t epoch;        /* the map's epoch when the backup began */
	uint32_t flags;        /* 0 */
	int64_t created;       /* Unix seconds */
	uint64_t cluster_id;   /* 0: the cluster has none */
};

/** One key as the file holds it (pointers into the caller's or reader's memory). */
struct cat_bk_rec {
	const uint8_t *key;
	const uint8_t *value;
	uint16_t key_len;
	uint32_t value_len;
	uint64_t version;
};

/* ---- writer ---------------------------------------------------------- */

struct cat_bk_writer {
	FILE *f;
	uint32_t slot;         /* the open slot; UINT32_MAX: none */
	uint64_t cut;
	uint8_t *buf;          /* records block being filled (payload) */
	size_t len, cap;
	uint32_t n_recs;       /* in buf */
	uint64_t slot_keys, slot_bytes;
	uint32_t slots;        /* slot sections closed */
	uint64_t keys, bytes, blocks;
	uint64_t offset;       /* bytes written */
	int err;               /* first error (negative errno), sticky */
};

/** Start a file on f (open for writing) with header h. 0 or -errno. */
int cat_bk_writer_begin(struct cat_bk_writer *w, FILE *f,
			const struct cat_bk_header *h);
/** Open slot's section at cut version. 0 or -errno (-EINVAL: one open). */
int cat_bk_writer_slot_begin(struct cat_bk_writer *w, uint32_t slot,
			     uint64_t cut);
/** Add one key of the open slot. 0 or -errno. */
int cat_bk_writer_add(struct cat_bk_writer *w, const struct cat_bk_rec *r);
/** Close the open slot's section. 0 or -errno. */
int cat_bk_writer_slot_end(struct cat_bk_writer *w);
/** Write the trailer and flush f (the caller fsyncs and closes it). 0 or -errno. */
int cat_bk_writer_finish(struct cat_bk_writer *w);
/** Free the writer's buffer (f stays the caller's). */
void cat_bk_writer_free(struct cat_bk_writer *w);

/* ---- reader ---------------------------------------------------------- */

struct cat_bk_block {
	uint32_t type;
	uint32_t len;
	const uint8_t *payload; /* the reader's buffer: valid until the next block */
	uint64_t offset;        /* of the block header in the file */
	uint64_t index;         /* 1, 2, ...: the header is block 0 */
};

struct cat_bk_reader {
	FILE *f;
	struct cat_bk_header h;
	uint8_t *buf;
	size_t cap;
	uint64_t offset, index;
};

/**
 * Read and check the header from f. 0, or -EINVAL (not a backup, bad
 * CRC), -EPROTONOSUPPORT (a newer format), -EIO, with why.
 */
int cat_bk_reader_open(struct cat_bk_reader *r, FILE *f, char *why,
		       size_t whylen);
/**
 * The next block, its CRC checked. 1 with *b, 0 at a clean end of file
 * (no byte after the last block), or a negative errno with why
 * (-EINVAL: truncated, bad CRC, bad length).
 */
int cat_bk_reader_next(struct cat_bk_reader *r, struct cat_bk_block *b,
		       char *why, size_t whylen);
void cat_bk_reader_free(struct cat_bk_reader *r);

/**
 * The i-th record of a records block: *pos starts at 0 (past the block's
 * own slot and count); 1 with *out, 0 past the last, -EINVAL if the
 * records overrun the payload.
 */
int cat_bk_records_next(const struct cat_bk_block *b, size_t *pos,
			struct cat_bk_rec *out);

/** Little-endian fields of a block payload (len checked by the caller). */
uint32_t cat_bk_get32(const uint8_t *p);
uint64_t cat_bk_get64(const uint8_t *p);

/* ---- the whole file, checked ----------------------------------------- */

struct cat_bk_summary {
	struct cat_bk_header h;
	uint32_t slots;         /* complete slot sections */
	uint64_t keys, bytes;   /* in them */
	uint64_t blocks;        /* good blocks, header excluded */
	uint64_t good_offset;   /* bytes up to the end of the last good block */
	uint32_t last_slot;     /* the last complete slot section's; UINT32_MAX: none */
	int complete;           /* the trailer was read and agrees */
};

/**
 * Per slot section (for cat_bk_check): called with each complete, checked
 * section's records, before the next is read. Non-zero stops the check
 * (returned). NULL: only check.
 */
struct cat_bk_visit {
	int (*slot_begin)(void *arg, uint32_t slot, uint64_t cut);
	int (*record)(void *arg, uint32_t slot, const struct cat_bk_rec *r);
	int (*slot_end)(void *arg, uint32_t slot, uint64_t cut, uint64_t keys);
	void *arg;
};

/**
 * Read f from its start to its end and check everything: header, every
 * block's CRC and length, the sections' order and content (each slot
 * once, below slot_count, each key's bytes hashing to its slot, counts as the
 * section's end says), the trailer's totals, nothing after it. s says
 * what was good up to where it stopped. 0 if the file is complete and
 * good, else a negative errno with why naming the block (index, offset,
 * slot) and what before it is good. visit (may be NULL) sees the records
 * as they are read: a caller that must not act on a bad file checks first.
 */
int cat_bk_check(FILE *f, const struct cat_bk_visit *visit,
		 struct cat_bk_summary *s, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif /* CAT_BK_FILE_H */
