/*
 * Unit tests for catena-control's backup job (control/backup.c), driven
 * as the node channel would: a one-node map of 4 slots, the node up with
 * a connection whose output is read back. A tail's stream is resolved to
 * the slot at its cut (the last record of each key wins, a key deleted
 * meanwhile is left out, versions kept); an aborted dump is asked again,
 * later, with its old request cancelled; malformed node messages are
 * refused; the file is renamed into place only when whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "control/backup.h"
#include "control/backup_file.h"
#include "control/ctl.h"
#include "replication/hash.h"

static const char map_text[] =
	"epoch 3\nslots 4\ncraq off\n"
	"node 1 10.9.0.1 02:00:00:00:00:01\n"
	"chain 1 1\nassign all roundrobin\n";

struct fx {
	struct cat_ctl c;
	struct cat_ctl_conn node, mgmt;
	char dir[64], file[128];
};

static int store_get(void *arg, char **data, size_t *len, char *err, size_t errlen)
{
	(void)arg;
	(void)data;
	(void)len;
	snprintf(err, errlen, "nothing stored");
	return -ENOENT;
}

static int store_put(void *arg, const char *data, size_t len, char *err,
		     size_t errlen)
{
	(void)arg;
	(void)data;
	(void)len;
	(void)err;
	(void)errlen;
	return 0;
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cat_ctl_node *n;
	char err[256];

	assert_non_null(f);
	cat_ctl_config_defaults(&f->c.cfg);
	f->c.quiet = 1;
	f->c.start_ms = cat_ctl_now_ms();
	cat_ctl_store_init_io(&f->c.store, "unit", store_get, store_put, NULL);
	assert_int_equal(cat_map_parse(map_text, strlen(map_text), &f->c.map, err,
				       sizeof(err)), 0);
	cat_ctl_sync_nodes(&f->c);
	n = cat_ctl_node(&f->c, 1);
	n->state = CAT_CTL_NODE_UP;
	f->node.fd = f->mgmt.fd = -1;
	f->node.kind = CAT_CTL_CONN_NODE;
	f->node.node = 1;
	f->mgmt.kind = CAT_CTL_CONN_MGMT;
	f->mgmt.serial = 2;
	n->conn = &f->node;
	snprintf(f->dir, sizeof(f->dir), "/tmp/catena-unit-backup.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->file, sizeof(f->file), "%s/c.bak", f->dir);
	return f;
}

static void fx_free(struct fx *f)
{
	char partial[160];

	cat_ctl_backup_fini(&f->c);
	unlink(f->file);
	snprintf(partial, sizeof(partial), "%s.partial", f->file);
	unlink(partial);
	rmdir(f->dir);
	cat_ctl_node(&f->c, 1)->conn = NULL;
	for (uint16_t i = 0; i < f->c.n_nodes; i++)
		cat_ctl_node_release(&f->c.nodes[i]);
	cat_ctl_store_fini(&f->c.store);
	cat_map_free(f->c.map);
	free(f->node.out);
	free(f->mgmt.out);
	free(f);
}

/* The lines queued on conn since the last call, as JSON objects. */
static json_t *take_lines(struct cat_ctl_conn *conn)
{
	json_t *a = json_array();
	size_t pos = 0;

	while (pos < conn->out_len) {
		char *nl = memchr(conn->out + pos, '\n', conn->out_len - pos);
		json_error_t jerr;
		json_t *o;

		assert_non_null(nl);
		o = json_loadb(conn->out + pos, (size_t)(nl - conn->out - pos), 0, &jerr);
		assert_non_null(o);
		json_array_append_new(a, o);
		pos = (size_t)(nl - conn->out) + 1;
	}
	conn->out_len = 0;
	return a;
}

/* The dump_request for slot s among lines: its req, or -1. */
static json_int_t req_for(json_t *lines, uint32_t s)
{
	size_t i;
	json_t *o;

	json_array_foreach(lines, i, o)
		if (strcmp(json_string_value(json_object_get(o, "type")), "dump_request") == 0 &&
		    json_integer_value(json_object_get(o, "slot")) == s)
			return json_integer_value(json_object_get(o, "req"));
	return -1;
}

/* A key of slot s: "k<s>-<i>-<n>", n counted until it hashes there. */
static const char *key_of(uint32_t s, unsigned int i)
{
	static char buf[8][32];
	static unsigned int next;
	char *k = buf[next++ % 8];

	for (unsigned int n = 0;; n++) {
		int len = snprintf(k, 32, "k%u-%u-%u", s, i, n);

		if ((cat_hash_crc32c(k, (size_t)len) & 3u) == s)
			return k;
	}
}

static json_t *b64(const char *s)
{
	char out[128];

	sodium_bin2base64(out, sizeof(out), (const unsigned char *)s, strlen(s),
			  sodium_base64_VARIANT_ORIGINAL);
	return json_string(out);
}

static int node_msg(struct fx *f, json_t *m)
{
	char why[256];
	int rc = cat_ctl_backup_node_msg(&f->c, &f->node,
					 json_string_value(json_object_get(m, "type")),
					 m, why, sizeof(why));

	json_decref(m);
	return rc;
}

static void data(struct fx *f, json_int_t req, uint32_t slot, json_t *recs)
{
	assert_int_equal(node_msg(f, json_pack("{s:s,s:i,s:I,s:i,s:o}", "type",
		"dump_data", "node", 1, "req", req, "slot", (int)slot, "recs", recs)), 1);
}

static void end(struct fx *f, json_int_t req, uint32_t slot, json_int_t cut)
{
	assert_int_equal(node_msg(f, json_pack("{s:s,s:i,s:I,s:i,s:I,s:i,s:i}", "type",
		"dump_end", "node", 1, "req", req, "slot", (int)slot, "version", cut,
		"walked", 1, "replayed", 1)), 1);
}

static json_t *rec(int put, const char *key, const char *val, int ver)
{
	return json_pack("[i,o,o,i]", put, b64(key), b64(val), ver);
}

struct got {
	char keys[16][32], vals[16][32];
	uint64_t vers[16], cut[4];
	unsigned int n;
};

static int on_begin(void *arg, uint32_t slot, uint64_t cut)
{
	((struct got *)arg)->cut[slot] = cut;
	return 0;
}

static int on_rec(void *arg, uint32_t slot, const struct cat_bk_rec *r)
{
	struct got *g = arg;

	(void)slot;
	assert_true(g->n < 16);
	snprintf(g->keys[g->n], 32, "%.*s", r->key_len, r->key);
	snprintf(g->vals[g->n], 32, "%.*s", (int)r->value_len, r->value);
	g->vers[g->n++] = r->version;
	return 0;
}

static const char *val_of(const struct got *g, const char *key, uint64_t *ver)
{
	for (unsigned int i = 0; i < g->n; i++)
		if (strcmp(g->keys[i], key) == 0) {
			*ver = g->vers[i];
			return g->vals[i];
		}
	return NULL;
}

static void test_a_stream_is_resolved_to_the_slot_at_its_cut(void **state)
{
	struct fx *f = fx_new();
	json_t *req = json_pack("{s:s,s:s}", "cmd", "backup", "file", f->file);
	json_t *lines, *st;
	json_int_t r[4];
	struct got g = { 0 };
	struct cat_bk_summary sum;
	struct cat_bk_visit v = { on_begin, on_rec, NULL, &g };
	char why[512];
	uint64_t ver;
	FILE *in;

	(void)state;
	cat_ctl_backup_request(&f->c, &f->mgmt, req);
	json_decref(req);
	lines = take_lines(&f->mgmt);
	assert_true(json_is_true(json_object_get(json_array_get(lines, 0), "ok")));
	json_decref(lines);
	/* Every slot is asked at once: a tail takes up to 4 requests. */
	lines = take_lines(&f->node);
	for (uint32_t s = 0; s < 4; s++)
		assert_true((r[s] = req_for(lines, s)) > 0);
	json_decref(lines);

	/* Slot 0: a walk that met a, b, c; meanwhile b was written twice and
	 * c deleted, then a written again; the cut is version 9. */
	data(f, r[0], 0, json_pack("[o,o,o]", rec(1, key_of(0, 1), "a1", 2),
				   rec(1, key_of(0, 2), "b1", 3), rec(1, key_of(0, 2), "b2", 6)));
	data(f, r[0], 0, json_pack("[o,o,o,o]", rec(0, key_of(0, 3), "", 7),
				   rec(1, key_of(0, 2), "b3", 8), rec(1, key_of(0, 1), "a2", 9),
				   rec(1, key_of(0, 4), "d1", 5)));
	end(f, r[0], 0, 9);
	/* Slot 1: never written. Slot 2: one key. */
	end(f, r[1], 1, 0);
	data(f, r[2], 2, json_pack("[o]", rec(1, key_of(2, 1), "x", 4)));
	end(f, r[2], 2, 4);
	/* Slot 3: the tail could not; asked again later, the old request
	 * cancelled first. */
	assert_int_equal(node_msg(f, json_pack("{s:s,s:i,s:I,s:i,s:s}", "type",
		"dump_abort", "node", 1, "req", r[3], "slot", 3, "why", "test")), 1);
	lines = take_lines(&f->node);
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0),
							      "type")), "dump_cancel");
	json_decref(lines);
	cat_ctl_backup_tick(&f->c, cat_ctl_now_ms());
	lines = take_lines(&f->node);
	assert_int_equal(req_for(lines, 3), -1); /* not yet: it waits 250 ms */
	json_decref(lines);
	cat_ctl_backup_tick(&f->c, cat_ctl_now_ms() + 1000);
	lines = take_lines(&f->node);
	r[3] = req_for(lines, 3);
	assert_true(r[3] > r[2]);
	json_decref(lines);
	/* A late answer to the cancelled request is ignored; a malformed one
	 * to the live one is refused. */
	end(f, r[3] - 1, 3, 99);
	assert_int_equal(node_msg(f, json_pack("{s:s,s:i,s:I,s:i,s:[[i,s,s,i]]}", "type",
		"dump_data", "node", 1, "req", r[3], "slot", 3, "recs", 1, "not base64!",
		"", 1)), -EINVAL);
	assert_int_equal(node_msg(f, json_pack("{s:s,s:i,s:I,s:i,s:I}", "type",
		"dump_end", "node", 2, "req", r[3], "slot", 3, "version", 1)), -EINVAL);
	assert_int_equal(access(f->file, F_OK), -1); /* not whole yet */
	end(f, r[3], 3, 0);
	cat_ctl_backup_tick(&f->c, cat_ctl_now_ms());
	cat_ctl_backup_request(&f->c, &f->mgmt, (req = json_pack("{s:s}", "cmd", "backup_status")));
	json_decref(req);
	lines = take_lines(&f->mgmt);
	st = json_object_get(json_array_get(lines, 0), "result");
	assert_string_equal(json_string_value(json_object_get(st, "state")), "done");
	assert_int_equal(json_integer_value(json_object_get(st, "keys")), 4);
	assert_int_equal(json_integer_value(json_object_get(st, "retries")), 1);
	json_decref(lines);

	in = fopen(f->file, "r");
	assert_non_null(in);
	assert_int_equal(cat_bk_check(in, &v, &sum, why, sizeof(why)), 0);
	fclose(in);
	assert_int_equal(sum.h.slot_count, 4);
	assert_int_equal(sum.h.epoch, 3);
	assert_int_equal(sum.slots, 2); /* never-written slots have no section */
	assert_int_equal(g.n, 4);
	assert_int_equal(g.cut[0], 9);
	assert_string_equal(val_of(&g, key_of(0, 1), &ver), "a2");
	assert_int_equal(ver, 9);
	assert_string_equal(val_of(&g, key_of(0, 2), &ver), "b3");
	assert_int_equal(ver, 8);
	assert_null(val_of(&g, key_of(0, 3), &ver));
	assert_string_equal(val_of(&g, key_of(0, 4), &ver), "d1");
	assert_string_equal(val_of(&g, key_of(2, 1), &ver), "x");
	assert_int_equal(ver, 4);
	fx_free(f);
}

static void test_refusals_change_nothing(void **state)
{
	struct fx *f = fx_new();
	json_t *req, *lines;
	const char *e;

	(void)state;
	/* A relative path; a tail that is down; a cancel with nothing to cancel. */
	req = json_pack("{s:s,s:s}", "cmd", "backup", "file", "rel.bak");
	cat_ctl_backup_request(&f->c, &f->mgmt, req);
	json_decref(req);
	cat_ctl_node(&f->c, 1)->state = CAT_CTL_NODE_FAILED;
	req = json_pack("{s:s,s:s}", "cmd", "backup", "file", f->file);
	cat_ctl_backup_request(&f->c, &f->mgmt, req);
	json_decref(req);
	req = json_pack("{s:s}", "cmd", "backup_cancel");
	cat_ctl_backup_request(&f->c, &f->mgmt, req);
	json_decref(req);
	lines = take_lines(&f->mgmt);
	assert_int_equal(json_array_size(lines), 3);
	e = json_string_value(json_object_get(json_array_get(lines, 0), "error"));
	assert_non_null(strstr(e, "absolute path"));
	e = json_string_value(json_object_get(json_array_get(lines, 1), "error"));
	assert_non_null(strstr(e, "is not up"));
	e = json_string_value(json_object_get(json_array_get(lines, 2), "error"));
	assert_non_null(strstr(e, "no backup is running"));
	json_decref(lines);
	assert_int_equal(f->node.out_len, 0);
	assert_int_equal(access(f->dir, F_OK), 0);
	{
		char partial[160];

		snprintf(partial, sizeof(partial), "%s.partial", f->file);
		assert_int_equal(access(partial, F_OK), -1);
	}
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_stream_is_resolved_to_the_slot_at_its_cut),
		cmocka_unit_test(test_refusals_change_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
