/*
 * catena replication wire format: encode and decode of the bodies that
 * replication messages carry past the header (the extension of FWD, VQUERY
 * and VRESP; SNAP_DEDUP's record) and the field rules of FWD and SNAP.
 * Runs per message on the hot path of every replica: never allocates,
 * checks every length before it reads, explicit little-endian (wire.h).
 */
#include <errno.h>
#include <string.h>

#include "replication/wire_repl.h"

_Static_assert(CAT_WIRE_REPL_EXT_LEN == 24u,
	       "docs/PROTOCOL.md: the replication extension is 24 bytes");
_Static_assert(CAT_WIRE_REPL_DEDUP_VALUE_MAX <= UINT8_MAX,
	       "SNAP_DEDUP's value length is one byte");

void cat_wire_repl_ext_encode(uint8_t *out, const struct cat_wire_repl_ext *e)
{
	out[0] = e->kind;
	out[1] = e->client_op;
	cat_wire_put_le16(out + 2, e->client.port);
	cat_wire_put_le32(out + 4, e->client.ip);
	memcpy(out + 8, e->client.mac, 6);
	cat_wire_put_le16(out + 14, 0);
	cat_wire_put_le64(out + 16, e->reply_arg);
}

int cat_wire_repl_ext_decode(const uint8_t *p, size_t len,
			     struct cat_wire_repl_ext *e)
{
	if (len < CAT_WIRE_REPL_EXT_LEN)
		return -EMSGSIZE;
	if (cat_wire_get_le16(p + 14) != 0)
		return -EINVAL;
	e->kind = p[0];
	e->client_op = p[1];
	e->client.port = cat_wire_get_le16(p + 2);
	e->client.ip = cat_wire_get_le32(p + 4);
	memcpy(e->client.mac, p + 8, 6);
	e->reply_arg = cat_wire_get_le64(p + 16);
	return 0;
}

int cat_wire_repl_fwd_encode(const struct cat_wire_repl_fwd *f, uint8_t *buf,
			     size_t cap, struct cat_msg *m)
{
	if (cap < CAT_WIRE_REPL_EXT_LEN ||
	    f->payload_len > cap - CAT_WIRE_REPL_EXT_LEN)
		return -EMSGSIZE;
	cat_wire_repl_ext_encode(buf, &f->ext);
	if (f->payload_len)
		memcpy(buf + CAT_WIRE_REPL_EXT_LEN, f->payload, f->payload_len);
	memset(m, 0, sizeof(*m));
	m->op = CAT_OP_R_FWD;
	m->status = f->status;
	m->slot = f->slot;
	m->epoch = f->epoch;
	m->client_id = f->client_id;
	m->seq = f->client_seq;
	m->arg = f->n;
	m->key = f->key;
	m->key_len = f->key_len;
	m->value = buf;
	m->value_len = CAT_WIRE_REPL_EXT_LEN + f->payload_len;
	return 0;
}

int cat_wire_repl_fwd_decode(const struct cat_msg *m,
			     struct cat_wire_repl_fwd *f)
{
	int rc = cat_wire_repl_ext_decode(m->value, m->value_len, &f->ext);

	if (rc != 0)
		return rc;
	if (f->ext.kind < CAT_WIRE_REPL_KIND_PUT ||
	    f->ext.kind > CAT_WIRE_REPL_KIND_NOOP ||
	    m->key_len == 0 || m->key_len > CAT_WIRE_KEY_MAX)
		return -EINVAL;
	f->slot = m->slot;
	f->epoch = m->epoch;
	f->n = m->arg;
	f->client_id = m->client_id;
	f->client_seq = m->seq;
	f->status = m->status;
	f->key = m->key;
	f->key_len = m->key_len;
	f->payload = m->value + CAT_WIRE_REPL_EXT_LEN;
	f->payload_len = m->value_len - CAT_WIRE_REPL_EXT_LEN;
	return 0;
}

void cat_wire_repl_vquery_encode(const struct cat_wire_repl_vquery *q,
				 uint8_t *buf, struct cat_msg *m)
{
	cat_wire_repl_ext_encode(buf, &q->ext);
	memset(m, 0, sizeof(*m));
	m->op = CAT_OP_R_VQUERY;
	m->slot = q->slot;
	m->epoch = q->epoch;
	m->client_id = q->client_id;
	m->seq = q->client_seq;
	m->key = q->key;
	m->key_len = q->key_len;
	m->value = buf;
	m->value_len = CAT_WIRE_REPL_EXT_LEN;
}

int cat_wire_repl_vquery_decode(const struct cat_msg *m,
				struct cat_wire_repl_vquery *q)
{
	if (m->key_len == 0 || m->value_len < CAT_WIRE_REPL_EXT_LEN)
		return -EMSGSIZE;
	if (cat_wire_repl_ext_decode(m->value, m->value_len, &q->ext) != 0)
		return -EINVAL;
	q->slot = m->slot;
	q->epoch = m->epoch;
	q->client_id = m->client_id;
	q->client_seq = m->seq;
	q->version = m->arg;
	q->key = m->key;
	q->key_len = m->key_len;
	return 0;
}

void cat_wire_repl_snap_encode(const struct cat_wire_repl_snap *s,
			       struct cat_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->op = CAT_OP_R_SNAP;
	m->slot = s->slot;
	m->epoch = s->epoch;
	m->client_id = s->gen;
	m->seq = s->stream_seq;
	m->arg = s->version;
	m->key = s->key;
	m->key_len = s->key_len;
	m->value = s->value;
	m->value_len = s->value_len;
}

int cat_wire_repl_snap_decode(const struct cat_msg *m,
			      struct cat_wire_repl_snap *s)
{
	if (m->key_len == 0 || m->key_len > CAT_WIRE_KEY_MAX || m->arg == 0)
		return -EINVAL;
	s->slot = m->slot;
	s->epoch = m->epoch;
	s->gen = m->client_id;
	s->stream_seq = m->seq;
	s->version = m->arg;
	s->key = m->key;
	s->key_len = m->key_len;
	s->value = m->value;
	s->value_len = m->value_len;
	return 0;
}

int cat_wire_repl_dedup_encode(const struct cat_wire_repl_dedup *d,
			       uint8_t *buf, size_t cap)
{
	if (d->value_len > CAT_WIRE_REPL_DEDUP_VALUE_MAX)
		return -EINVAL;
	if (cap < CAT_WIRE_REPL_DEDUP_FIXED + (size_t)d->value_len)
		return -EMSGSIZE;
	cat_wire_put_le32(buf, d->client_id);
	cat_wire_put_le64(buf + 4, d->seq);
	cat_wire_put_le64(buf + 12, d->rseq);
	cat_wire_put_le64(buf + 20, d->arg);
	buf[28] = d->op;
	buf[29] = d->status;
	buf[30] = d->value_len;
	if (d->value_len)
		memcpy(buf + CAT_WIRE_REPL_DEDUP_FIXED, d->value, d->value_len);
	return (int)(CAT_WIRE_REPL_DEDUP_FIXED + d->value_len);
}

int cat_wire_repl_dedup_decode(const uint8_t *p, size_t len,
			       struct cat_wire_repl_dedup *d)
{
	if (len < CAT_WIRE_REPL_DEDUP_FIXED ||
	    len != CAT_WIRE_REPL_DEDUP_FIXED + (size_t)p[30])
		return -EMSGSIZE;
	if (p[30] > CAT_WIRE_REPL_DEDUP_VALUE_MAX)
		return -EINVAL;
	d->client_id = cat_wire_get_le32(p);
	d->seq = cat_wire_get_le64(p + 4);
	d->rseq = cat_wire_get_le64(p + 12);
	d->arg = cat_wire_get_le64(p + 20);
	d->op = p[28];
	d->status = p[29];
	d->value_len = p[30];
	d->value = p + CAT_WIRE_REPL_DEDUP_FIXED;
	return 0;
}
