/*
 * Unit tests for tests/sim/lincheck.c: the shared fixtures (named good, bad
 * and malformed histories, also run by the Python twin), the report and its
 * explanation, the state budget, a randomized cross-check against a
 * brute-force permutation search written here from the model's definition,
 * a cross-check of longer ones against a plain memoized search without
 * lincheck's pruning, and the speed the simulator relies on (500-op,
 * 6-client histories).
 * Every "linearizable" verdict is also checked by replaying its witness.
 *
 * Usage: test_lincheck [path/to/lincheck_fixtures.json] (meson passes it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lincheck.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NR CAT_LIN_NO_RET

static const char *fixtures_path = "tests/sim/lincheck_fixtures.json";

/* ---- reference model, written independently of lincheck.c: compute the
 * outcome an op WOULD have in a state, then compare with what was seen ---- */

struct reg {
	bool present;
	int64_t value;
};

static void ref_apply(const struct cat_lin_op *op, struct reg *r,
		      enum cat_lin_out *out, int64_t *result)
{
	*result = 0;
	switch (op->kind) {
	case CAT_LIN_GET:
		*out = r->present ? CAT_LIN_OUT_OK : CAT_LIN_OUT_ABSENT;
		*result = r->present ? r->value : 0;
		break;
	case CAT_LIN_PUT:
		*out = CAT_LIN_OUT_OK;
		*r = (struct reg){ true, op->arg };
		break;
	case CAT_LIN_DEL:
		*out = r->present ? CAT_LIN_OUT_OK : CAT_LIN_OUT_ABSENT;
		*r = (struct reg){ false, 0 };
		break;
	case CAT_LIN_CAS:
		if (!r->present) {
			*out = CAT_LIN_OUT_ABSENT;
		} else if (r->value != op->arg) {
			*out = CAT_LIN_OUT_CAS_FAILED;
		} else {
			*out = CAT_LIN_OUT_OK;
			r->value = op->arg2;
		}
		break;
	case CAT_LIN_CAS_ABSENT:
		if (r->present) {
			*out = CAT_LIN_OUT_CAS_FAILED;
		} else {
			*out = CAT_LIN_OUT_OK;
			*r = (struct reg){ true, op->arg };
		}
		break;
	case CAT_LIN_INCR:
		*out = CAT_LIN_OUT_OK;
		*r = (struct reg){ true, (int64_t)((uint64_t)(r->present ?
				r->value : 0) + (uint64_t)op->arg) };
		*result = r->value;
		break;
	}
}

/* Does op, applied to r, produce what the client saw? Applies it either way. */
static bool ref_matches(const struct cat_lin_op *op, struct reg *r)
{
	enum cat_lin_out out;
	int64_t result;

	ref_apply(op, r, &out, &result);
	if (op->out == CAT_LIN_OUT_UNKNOWN)
		return true;
	if (out != op->out)
		return false;
	if (out == CAT_LIN_OUT_OK &&
	    (op->kind == CAT_LIN_GET || op->kind == CAT_LIN_INCR))
		return result == op->result;
	return true;
}

/* Check a witness: every known op exactly once, unknown ops at most once,
 * real-time order respected, every outcome reproduced by the model. */
static void assert_witness(const struct cat_lin_op *ops, size_t n,
			   const struct cat_lin_init *init,
			   const uint32_t *order, size_t len)
{
	bool seen[4096] = { false };
	struct reg r = { init && init->present, init ? init->value : 0 };

	assert_true(n <= ARRAY_LEN(seen));
	for (size_t i = 0; i < len; i++) {
		const struct cat_lin_op *a = &ops[order[i]];

		assert_true(order[i] < n);
		assert_false(seen[order[i]]);
		seen[order[i]] = true;
		assert_true(ref_matches(a, &r));
		for (size_t j = i + 1; j < len; j++)
			assert_false(ops[order[j]].ret < a->call);
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i].ret != NR && !seen[i])
			fail_msg("op #%zu has a response but is not in the "
				 "witness", i);
}

/* Brute force: for every subset of the unknown ops, every permutation of
 * known + subset; valid if real-time order holds and the replay matches. */
static bool brute_perm(const struct cat_lin_op *ops, const struct reg *init,
		       uint32_t *idx, size_t k, size_t depth)
{
	if (depth == k) {
		struct reg r = *init;

		for (size_t i = 0; i < k; i++)
			for (size_t j = i + 1; j < k; j++)
				if (ops[idx[j]].ret < ops[idx[i]].call)
					return false;
		for (size_t i = 0; i < k; i++)
			if (!ref_matches(&ops[idx[i]], &r))
				return false;
		return true;
	}
	for (size_t i = depth; i < k; i++) {
		uint32_t t = idx[depth];
		bool ok;

		idx[depth] = idx[i];
		idx[i] = t;
		ok = brute_perm(ops, init, idx, k, depth + 1);
		idx[i] = idx[depth];
		idx[depth] = t;
		if (ok)
			return true;
	}
	return false;
}

static bool brute_force(const struct cat_lin_op *ops, size_t n,
			const struct cat_lin_init *init)
{
	struct reg r0 = { init && init->present, init ? init->value : 0 };
	uint32_t unk[16], nu = 0;

	assert_true(n <= 16);
	for (uint32_t i = 0; i < n; i++)
		if (ops[i].ret == NR)
			unk[nu++] = i;
	for (uint32_t mask = 0; mask < (1u << nu); mask++) {
		uint32_t idx[16];
		size_t k = 0;

		for (uint32_t i = 0; i < n; i++)
			if (ops[i].ret != NR)
				idx[k++] = i;
		for (uint32_t b = 0; b < nu; b++)
			if (mask & (1u << b))
				idx[k++] = unk[b];
		if (brute_perm(ops, &r0, idx, k, 0))
			return true;
	}
	return false;
}

/* Run the checker with a witness buffer; on success, verify the witness. */
static int check_verified(const struct cat_lin_op *ops, size_t n,
			  const struct cat_lin_init *init, size_t max_states,
			  struct cat_lin_report *rep)
{
	static uint32_t order[4096];
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->order = order;
	rep->order_cap = ARRAY_LEN(order);
	rc = cat_lin_check(ops, n, init, max_states, rep);
	assert_int_equal(rc, rep->result);
	if (rc == 1)
		assert_witness(ops, n, init, order, rep->order_len);
	return rc;
}

/* ---- a minimal JSON reader, enough for lincheck_fixtures.json ---- */

enum jtype { J_NULL, J_BOOL, J_INT, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	long long i;
	char *s;
	struct jv *items;   /* J_ARR, J_OBJ (values) */
	char **keys;        /* J_OBJ */
	size_t len;
};

struct jp {
	const char *p;
};

static void jskip(struct jp *jp)
{
	while (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\t' ||
	       *jp->p == '\r')
		jp->p++;
}

static char *jstring(struct jp *jp)
{
	size_t cap = 16, len = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	assert_int_equal(*jp->p++, '"');
	while (*jp->p != '"') {
		char c = *jp->p++;

		assert_true(c != '\0');
		if (c == '\\') {
			c = *jp->p++;
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
		}
		if (len + 2 > cap) {
			cap *= 2;
			s = realloc(s, cap);
			assert_non_null(s);
		}
		s[len++] = c;
	}
	jp->p++;
	s[len] = '\0';
	return s;
}

static void jvalue(struct jp *jp, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	jskip(jp);
	if (*jp->p == '{' || *jp->p == '[') {
		bool obj = *jp->p == '{';
		char close = obj ? '}' : ']';

		v->t = obj ? J_OBJ : J_ARR;
		jp->p++;
		jskip(jp);
		while (*jp->p != close) {
			v->items = realloc(v->items,
					   (v->len + 1) * sizeof(*v->items));
			assert_non_null(v->items);
			if (obj) {
				v->keys = realloc(v->keys, (v->len + 1) *
						  sizeof(*v->keys));
				assert_non_null(v->keys);
				jskip(jp);
				v->keys[v->len] = jstring(jp);
				jskip(jp);
				assert_int_equal(*jp->p++, ':');
			}
			jvalue(jp, &v->items[v->len++]);
			jskip(jp);
			if (*jp->p == ',') {
				jp->p++;
				jskip(jp);
			} else {
				assert_int_equal(*jp->p, close);
			}
		}
		jp->p++;
	} else if (*jp->p == '"') {
		v->t = J_STR;
		v->s = jstring(jp);
	} else if (!strncmp(jp->p, "null", 4)) {
		v->t = J_NULL;
		jp->p += 4;
	} else if (!strncmp(jp->p, "true", 4)) {
		v->t = J_BOOL;
		v->i = 1;
		jp->p += 4;
	} else if (!strncmp(jp->p, "false", 5)) {
		v->t = J_BOOL;
		jp->p += 5;
	} else {
		char *end;

		v->t = J_INT;
		errno = 0;
		v->i = strtoll(jp->p, &end, 10);
		assert_true(end != jp->p && errno == 0);
		assert_true(*end != '.' && *end != 'e' && *end != 'E');
		jp->p = end;
	}
}

static void jfree(struct jv *v)
{
	for (size_t i = 0; i < v->len; i++) {
		jfree(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	assert_int_equal(o->t, J_OBJ);
	for (size_t i = 0; i < o->len; i++)
		if (!strcmp(o->keys[i], key))
			return &o->items[i];
	return NULL;
}

static int enum_of(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	fail_msg("unknown name '%s' in fixtures", s);
	return -1;
}

static const char *const kind_names[] = { "get", "put", "del", "cas",
					  "cas_absent", "incr" };
static const char *const out_names[] = { "ok", "absent", "cas_failed",
					 "unknown" };

static long long jint_or(const struct jv *o, const char *key, long long dflt)
{
	const struct jv *v = jget(o, key);

	if (!v || v->t == J_NULL)
		return dflt;
	assert_int_equal(v->t, J_INT);
	return v->i;
}

static struct cat_lin_op op_from_json(const struct jv *o)
{
	const struct jv *kind = jget(o, "kind"), *out = jget(o, "out");
	const struct jv *ret = jget(o, "ret");

	assert_non_null(kind);
	assert_non_null(out);
	return (struct cat_lin_op){
		.client = (uint32_t)jint_or(o, "client", 0),
		.call = (uint64_t)jint_or(o, "call", 0),
		.ret = (!ret || ret->t == J_NULL) ? NR : (uint64_t)ret->i,
		.kind = enum_of(kind->s, kind_names, ARRAY_LEN(kind_names)),
		.arg = jint_or(o, "arg", 0),
		.arg2 = jint_or(o, "arg2", 0),
		.out = enum_of(out->s, out_names, ARRAY_LEN(out_names)),
		.result = jint_or(o, "result", 0),
	};
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (!f)
		fail_msg("cannot open fixtures %s (pass the path as argv[1])",
			 path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* ---- tests ---- */

/* The shared fixtures: the Python checker must give the same verdicts. */
static void test_shared_fixtures(void **state)
{
	char *text = slurp(fixtures_path);
	struct jp jp = { text };
	struct jv root;
	const struct jv *list;
	size_t counts[3] = { 0 };

	(void)state;
	jvalue(&jp, &root);
	list = jget(&root, "fixtures");
	assert_non_null(list);
	assert_true(list->len >= 50);
	for (size_t f = 0; f < list->len; f++) {
		const struct jv *fx = &list->items[f];
		const char *name = jget(fx, "name")->s;
		const char *expect = jget(fx, "expect")->s;
		const struct jv *jops = jget(fx, "ops");
		const struct jv *ji = jget(fx, "initial");
		struct cat_lin_init init = { false, 0 };
		struct cat_lin_op *ops = calloc(jops->len + 1, sizeof(*ops));
		struct cat_lin_report rep;
		char buf[2048];
		int want, rc;

		assert_non_null(ops);
		if (ji && ji->t == J_INT)
			init = (struct cat_lin_init){ true, ji->i };
		for (size_t i = 0; i < jops->len; i++)
			ops[i] = op_from_json(&jops->items[i]);
		want = !strcmp(expect, "ok") ? 1 :
		       !strcmp(expect, "fail") ? 0 : -EINVAL;
		counts[want == 1 ? 0 : want == 0 ? 1 : 2]++;
		rc = check_verified(ops, jops->len, &init, 0, &rep);
		cat_lin_explain(ops, jops->len, &rep, buf, sizeof(buf));
		if (rc != want)
			fail_msg("fixture %s: expected %s, got %d: %s", name,
				 expect, rc, buf);
		if (want == 0)
			assert_non_null(strstr(buf, "NOT linearizable"));
		if (want == -EINVAL)
			assert_non_null(strstr(buf, "malformed"));
		free(ops);
	}
	/* A fixture file that lost one category would still "pass". */
	assert_true(counts[0] >= 20 && counts[1] >= 20 && counts[2] >= 5);
	jfree(&root);
	free(text);
}

#define OPS_PUT(c, a, b, v) { .client = c, .call = a, .ret = b, \
	.kind = CAT_LIN_PUT, .arg = v, .out = CAT_LIN_OUT_OK }
#define OPS_GET(c, a, b, v) { .client = c, .call = a, .ret = b, \
	.kind = CAT_LIN_GET, .out = CAT_LIN_OUT_OK, .result = v }

static void test_explain_names_the_stuck_op(void **state)
{
	/* Stale read: PUT 2 completed before the read that returns 1. */
	const struct cat_lin_op ops[] = {
		OPS_PUT(1, 0, 1, 1), OPS_PUT(2, 2, 3, 2), OPS_GET(3, 4, 5, 1),
	};
	struct cat_lin_report rep;
	char buf[1024], small[16];
	int len;

	(void)state;
	assert_int_equal(check_verified(ops, 3, NULL, 0, &rep), 0);
	assert_int_equal(rep.prefix_len, 2);
	assert_int_equal(rep.tail_len, 2);
	assert_int_equal(rep.tail[0], 0);
	assert_int_equal(rep.tail[1], 1);
	assert_int_equal(rep.stuck, 2);
	assert_true(rep.stuck_present);
	assert_int_equal(rep.stuck_value, 2);
	len = cat_lin_explain(ops, 3, &rep, buf, sizeof(buf));
	assert_int_equal((size_t)len, strlen(buf));
	assert_non_null(strstr(buf, "#2 c3 GET->1 [4,5]"));
	assert_non_null(strstr(buf, "leaving the key = 2"));
	/* snprintf semantics on a short buffer. */
	assert_int_equal(cat_lin_explain(ops, 3, &rep, small, sizeof(small)),
			 len);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(cat_lin_explain(ops, 3, &rep, NULL, 0), len);
}

static void test_format_op(void **state)
{
	const struct cat_lin_op cas = { .client = 3, .call = 10, .ret = 14,
		.kind = CAT_LIN_CAS, .arg = 5, .arg2 = 6,
		.out = CAT_LIN_OUT_CAS_FAILED };
	const struct cat_lin_op incr = { .client = 1, .call = 2, .ret = NR,
		.kind = CAT_LIN_INCR, .arg = -1, .out = CAT_LIN_OUT_UNKNOWN };
	char buf[128];

	(void)state;
	cat_lin_format_op(&cas, buf, sizeof(buf));
	assert_string_equal(buf, "c3 CAS(5,6)->cas_failed [10,14]");
	cat_lin_format_op(&incr, buf, sizeof(buf));
	assert_string_equal(buf, "c1 INCR(-1)->unknown [2,inf]");
}

static void test_malformed(void **state)
{
	static const struct {
		struct cat_lin_op op;
		const char *why;
	} bad[] = {
		{ { .call = 5, .ret = 4, .kind = CAT_LIN_PUT }, "ret < call" },
		{ { .call = NR, .ret = NR, .kind = CAT_LIN_PUT,
		    .out = CAT_LIN_OUT_UNKNOWN }, "CAT_LIN_NO_RET" },
		{ { .call = 0, .ret = NR, .kind = CAT_LIN_GET,
		    .out = CAT_LIN_OUT_OK }, "UNKNOWN" },
		{ { .call = 0, .ret = 1, .kind = CAT_LIN_GET,
		    .out = CAT_LIN_OUT_UNKNOWN }, "UNKNOWN" },
		{ { .call = 0, .ret = 1, .kind = CAT_LIN_GET,
		    .out = CAT_LIN_OUT_CAS_FAILED }, "GET/DEL" },
		{ { .call = 0, .ret = 1, .kind = CAT_LIN_INCR,
		    .out = CAT_LIN_OUT_ABSENT }, "PUT/INCR" },
		{ { .call = 0, .ret = 1, .kind = CAT_LIN_CAS_ABSENT,
		    .out = CAT_LIN_OUT_ABSENT }, "CAS_ABSENT" },
		{ { .call = 0, .ret = 1, .kind = (enum cat_lin_kind)17 },
		  "kind" },
		{ { .call = 0, .ret = 1, .kind = CAT_LIN_PUT,
		    .out = (enum cat_lin_out)9 }, "outcome" },
	};
	struct cat_lin_report rep;
	char buf[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct cat_lin_op ops[2] = {
			OPS_PUT(1, 0, 1, 1), bad[i].op,
		};

		assert_int_equal(check_verified(ops, 2, NULL, 0, &rep),
				 -EINVAL);
		assert_int_equal(rep.bad_op, 1);
		assert_non_null(strstr(rep.bad_reason, bad[i].why));
		cat_lin_explain(ops, 2, &rep, buf, sizeof(buf));
		assert_non_null(strstr(buf, "malformed history: #1"));
	}
	assert_int_equal(cat_lin_check(NULL, 1, NULL, 0, NULL), -EINVAL);
	/* No ops at all, and no report: linearizable. */
	assert_int_equal(cat_lin_check(NULL, 0, NULL, 0, NULL), 1);
}

static void test_initial_state_and_order_cap(void **state)
{
	const struct cat_lin_op ops[] = {
		OPS_GET(1, 0, 1, 7),
		{ .client = 2, .call = 2, .ret = 3, .kind = CAT_LIN_INCR,
		  .arg = 3, .out = CAT_LIN_OUT_OK, .result = 10 },
	};
	const struct cat_lin_init seven = { true, 7 };
	struct cat_lin_report rep;
	uint32_t order[1] = { 99 };

	(void)state;
	assert_int_equal(cat_lin_check(ops, 2, NULL, 0, NULL), 0);
	assert_int_equal(check_verified(ops, 2, &seven, 0, &rep), 1);
	/* A witness buffer smaller than n is left alone, not overrun. */
	memset(&rep, 0, sizeof(rep));
	rep.order = order;
	rep.order_cap = 1;
	assert_int_equal(cat_lin_check(ops, 2, &seven, 0, &rep), 1);
	assert_int_equal(rep.order_len, 0);
	assert_int_equal(order[0], 99);
}

/* ---- random histories ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state += 0x9E3779B97F4A7C15ull;

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* Random ops with random intervals, each given a random linearization
 * point inside its interval (after its call for unknown ops, which also
 * skip taking effect half the time); outcomes are computed by running the
 * model in linearization-point order, so the history is linearizable by
 * construction. sequential: intervals do not overlap. written[] collects
 * every value the key held, for stale-read perturbations. */
static void gen_history(struct cat_lin_op *ops, size_t n, size_t clients,
			bool sequential, unsigned unknown_pct,
			const struct cat_lin_init *init, int64_t *written,
			size_t *nwritten, uint64_t span)
{
	uint64_t pt[1024];
	uint32_t idx[1024];
	struct reg r = { init && init->present, init ? init->value : 0 };
	uint64_t client_free[64] = { 0 };
	int64_t next_val = 1000;

	assert_true(n <= ARRAY_LEN(pt) && clients <= ARRAY_LEN(client_free));
	*nwritten = 0;
	if (r.present)
		written[(*nwritten)++] = r.value;
	for (size_t i = 0; i < n; i++) {
		struct cat_lin_op *o = &ops[i];
		uint32_t c = (uint32_t)rnd_below(clients);
		uint64_t start = sequential ? 10 * i :
				 client_free[c] + rnd_below(span / 4 + 1);
		uint64_t len = sequential ? rnd_below(9) : rnd_below(span);
		bool unk = rnd_below(100) < unknown_pct;

		memset(o, 0, sizeof(*o));
		o->client = c;
		o->call = start;
		o->ret = unk ? NR : start + len;
		/* A client whose op timed out moves on (a new request). */
		client_free[c] = start + len + 1;
		pt[i] = (start + rnd_below(len + 1)) * 2 + (unk ? 1 : 0);
		if (unk && !rnd_below(2))
			pt[i] = UINT64_MAX; /* never takes effect */
		idx[i] = (uint32_t)i;
	}
	/* Order by linearization point (insertion sort: n is small-ish). */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && pt[idx[j]] < pt[idx[j - 1]]; j--) {
			uint32_t t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (size_t k = 0; k < n; k++) {
		struct cat_lin_op *o = &ops[idx[k]];
		enum cat_lin_out out;
		int64_t result;

		o->kind = (enum cat_lin_kind)rnd_below(6);
		switch (o->kind) {
		case CAT_LIN_PUT:
		case CAT_LIN_CAS_ABSENT:
			o->arg = next_val++;
			break;
		case CAT_LIN_CAS:
			/* Expect a value the key held (or a fresh one). */
			o->arg = *nwritten && rnd_below(4) ?
				 written[rnd_below(*nwritten)] : next_val++;
			o->arg2 = next_val++;
			break;
		case CAT_LIN_INCR:
			o->arg = (int64_t)rnd_below(3) + 1;
			break;
		default:
			break;
		}
		if (o->ret == NR) {
			o->out = CAT_LIN_OUT_UNKNOWN;
			if (pt[idx[k]] == UINT64_MAX)
				continue;
			ref_apply(o, &r, &out, &result);
		} else {
			ref_apply(o, &r, &out, &result);
			o->out = out;
			o->result = result;
		}
		if (r.present && *nwritten < 1024)
			written[(*nwritten)++] = r.value;
	}
}

/* Change one observed outcome (or move one op in time) so that the
 * history may or may not stay linearizable: the brute force decides. */
static void perturb(struct cat_lin_op *ops, size_t n, const int64_t *written,
		    size_t nwritten)
{
	size_t i, tries = 0;

	do {
		i = rnd_below(n);
	} while (ops[i].ret == NR && ++tries < 64);
	if (ops[i].ret == NR)
		return;
	struct cat_lin_op *o = &ops[i];

	switch (o->kind) {
	case CAT_LIN_GET:
		if (nwritten && rnd_below(4)) {
			/* Stale (or future) read of a value the key held. */
			o->out = CAT_LIN_OUT_OK;
			o->result = written[rnd_below(nwritten)];
		} else {
			o->out = o->out == CAT_LIN_OUT_OK ?
				 CAT_LIN_OUT_ABSENT : CAT_LIN_OUT_OK;
		}
		break;
	case CAT_LIN_INCR:
		o->result += rnd_below(2) ? 1 : -1;
		break;
	case CAT_LIN_DEL:
		o->out = o->out == CAT_LIN_OUT_OK ?
			 CAT_LIN_OUT_ABSENT : CAT_LIN_OUT_OK;
		break;
	case CAT_LIN_CAS:
		o->out = (enum cat_lin_out)((o->out + 1 + rnd_below(2)) % 3);
		break;
	case CAT_LIN_CAS_ABSENT:
		o->out = o->out == CAT_LIN_OUT_OK ?
			 CAT_LIN_OUT_CAS_FAILED : CAT_LIN_OUT_OK;
		break;
	case CAT_LIN_PUT:
		/* Swap this write's value with another write's. */
		for (size_t j = 0; j < n; j++)
			if (j != i && ops[j].kind == CAT_LIN_PUT) {
				int64_t t = ops[j].arg;

				ops[j].arg = o->arg;
				o->arg = t;
				break;
			}
		break;
	}
	if (!rnd_below(4)) {
		/* Also shift some op in time. */
		struct cat_lin_op *m = &ops[rnd_below(n)];
		uint64_t d = rnd_below(20);

		m->call += d;
		if (m->ret != NR)
			m->ret += d;
	}
}

static void cross_check(bool sequential, unsigned unknown_pct, int seeds,
			size_t *n_ok, size_t *n_bad)
{
	struct cat_lin_op ops[8];
	int64_t written[1024];
	size_t nw;

	for (int seed = 0; seed < seeds; seed++) {
		size_t n = 2 + rnd_below(6);          /* 2..7 ops */
		struct cat_lin_init init = { rnd_below(4) == 0, 1 };
		struct cat_lin_report rep;
		char buf[2048];
		bool want;
		int rc;

		gen_history(ops, n, 2 + rnd_below(3), sequential, unknown_pct,
			    &init, written, &nw, 6);
		assert_true(brute_force(ops, n, &init));
		assert_int_equal(check_verified(ops, n, &init, 0, &rep), 1);
		if (rnd_below(3))
			perturb(ops, n, written, nw);
		want = brute_force(ops, n, &init);
		rc = check_verified(ops, n, &init, 0, &rep);
		if (rc != (int)want) {
			cat_lin_explain(ops, n, &rep, buf, sizeof(buf));
			for (size_t i = 0; i < n; i++) {
				char o[160];

				cat_lin_format_op(&ops[i], o, sizeof(o));
				print_message("  #%zu %s\n", i, o);
			}
			fail_msg("seed %d: brute force says %d, checker %d: %s",
				 seed, want, rc, buf);
		}
		if (want)
			(*n_ok)++;
		else
			(*n_bad)++;
	}
}

static void test_random_sequential_vs_brute_force(void **state)
{
	size_t ok = 0, bad = 0;

	(void)state;
	rng_state = 1;
	cross_check(true, 0, 400, &ok, &bad);
	print_message("sequential: %zu linearizable, %zu not\n", ok, bad);
	assert_true(ok >= 100 && bad >= 100);
}

static void test_random_concurrent_vs_brute_force(void **state)
{
	size_t ok = 0, bad = 0;

	(void)state;
	rng_state = 2;
	cross_check(false, 0, 600, &ok, &bad);
	print_message("concurrent: %zu linearizable, %zu not\n", ok, bad);
	assert_true(ok >= 100 && bad >= 100);
}

static void test_random_unknown_outcomes_vs_brute_force(void **state)
{
	size_t ok = 0, bad = 0;

	(void)state;
	rng_state = 3;
	cross_check(false, 25, 600, &ok, &bad);
	print_message("with unknown outcomes: %zu linearizable, %zu not\n",
		      ok, bad);
	assert_true(ok >= 100 && bad >= 100);
}

/* A second, plainer reference for histories too long to brute-force:
 * depth-first search over (set of linearized ops, state) with a memo of
 * failed configurations and none of lincheck's pruning rules, for n <= 20.
 * It is exact, so lincheck's extra pruning must never change its answer. */
#define PLAIN_TAB (1u << 18)

static struct plain_slot {
	uint32_t gen, mask;
	bool present;
	int64_t value;
} plain_tab[PLAIN_TAB];
static uint32_t plain_gen;

static bool plain_seen(uint32_t mask, const struct reg *r)
{
	int64_t v = r->present ? r->value : 0;
	uint64_t h = mask * 0x9E3779B97F4A7C15ull ^
		     (uint64_t)v * 0xBF58476D1CE4E5B9ull ^ r->present;

	h ^= h >> 29;
	for (uint32_t i = h & (PLAIN_TAB - 1);; i = (i + 1) & (PLAIN_TAB - 1)) {
		struct plain_slot *s = &plain_tab[i];

		if (s->gen != plain_gen) {
			*s = (struct plain_slot){ plain_gen, mask, r->present, v };
			return false;
		}
		if (s->mask == mask && s->present == r->present && s->value == v)
			return true;
	}
}

static bool plain_ref(const struct cat_lin_op *ops, size_t n, uint32_t mask,
		      struct reg r)
{
	bool done = true;

	for (size_t i = 0; i < n; i++)
		if (ops[i].ret != NR && !(mask & (1u << i)))
			done = false;
	if (done)
		return true;
	if (plain_seen(mask, &r))
		return false;
	for (size_t i = 0; i < n; i++) {
		bool minimal = !(mask & (1u << i));
		struct reg q = r;

		for (size_t j = 0; j < n && minimal; j++)
			if (!(mask & (1u << j)) && ops[j].ret < ops[i].call)
				minimal = false;
		if (minimal && ref_matches(&ops[i], &q) &&
		    plain_ref(ops, n, mask | (1u << i), q))
			return true;
	}
	return false;
}

static void test_random_medium_vs_plain_reference(void **state)
{
	static struct cat_lin_op ops[20];
	static int64_t written[1024];
	size_t nw, counts[2] = { 0 };

	(void)state;
	rng_state = 5;
	for (int it = 0; it < 4000; it++) {
		size_t n = 6 + rnd_below(12);
		struct cat_lin_init init = { rnd_below(4) == 0, 1 };
		struct cat_lin_report rep;
		bool want;

		gen_history(ops, n, 2 + rnd_below(5), false,
			    (unsigned)(it % 4) * 20, &init, written, &nw,
			    4 + rnd_below(12));
		for (int k = (int)rnd_below(3); k > 0; k--)
			perturb(ops, n, written, nw);
		plain_gen++;
		want = plain_ref(ops, n, 0, (struct reg){ init.present,
							   init.value });
		if (check_verified(ops, n, &init, 0, &rep) != (int)want)
			fail_msg("history %d: reference says %d", it, want);
		counts[want]++;
	}
	print_message("medium: %zu linearizable, %zu not\n", counts[1],
		      counts[0]);
	assert_true(counts[0] >= 1000 && counts[1] >= 1000);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Make a generated history non-linearizable for sure, at its very end, so
 * that the search has to exhaust every configuration before saying so:
 * append a PUT after every response, then a read of an older value. */
static size_t append_stale_read(struct cat_lin_op *ops, size_t n,
				int64_t stale)
{
	uint64_t end = 0;

	for (size_t i = 0; i < n; i++)
		if (ops[i].ret != NR && ops[i].ret > end)
			end = ops[i].ret;
	ops[n] = (struct cat_lin_op){ .client = 0, .call = end + 1,
		.ret = end + 2, .kind = CAT_LIN_PUT, .arg = -5,
		.out = CAT_LIN_OUT_OK };
	ops[n + 1] = (struct cat_lin_op){ .client = 0, .call = end + 3,
		.ret = end + 4, .kind = CAT_LIN_GET, .out = CAT_LIN_OUT_OK,
		.result = stale };
	return n + 2;
}

/* Five random 500-op histories: each checked as generated (linearizable)
 * and with a contradiction appended at the end (the expensive case: the
 * search must exhaust every configuration). A history with many unknown
 * outcomes may make the second one give up; want_verdict says it must not. */
static void perf_case(unsigned unknown_pct, size_t clients, bool want_verdict)
{
	static struct cat_lin_op ops[520];
	static int64_t written[1024];
	struct cat_lin_report rep;
	double worst_ok = 0, worst_bad = 0, t0, dt;
	size_t nw, states = 0;
	int rc;

	for (int round = 0; round < 5; round++) {
		gen_history(ops, 500, clients, false, unknown_pct, NULL,
			    written, &nw, 40);
		t0 = now_s();
		assert_int_equal(check_verified(ops, 500, NULL, 0, &rep), 1);
		dt = now_s() - t0;
		worst_ok = dt > worst_ok ? dt : worst_ok;
		states = rep.states > states ? rep.states : states;

		/* With timed-out ops in the history a DEL + INCR could
		 * legitimately bring back an old small value: read one that
		 * nothing can produce there instead. */
		size_t m = append_stale_read(ops, 500, unknown_pct || !nw ?
					     424242 : written[0]);

		t0 = now_s();
		rc = check_verified(ops, m, NULL, want_verdict ? 0 : 200000,
				    &rep);
		dt = now_s() - t0;
		if (want_verdict || rc != -E2BIG)
			assert_int_equal(rc, 0);
		worst_bad = dt > worst_bad ? dt : worst_bad;
		states = rep.states > states ? rep.states : states;
	}
	print_message("500 ops, %zu clients, %u%% unknown: worst %.1f ms "
		      "(linearizable), %.1f ms (not), max %zu states\n",
		      clients, unknown_pct, worst_ok * 1e3, worst_bad * 1e3,
		      states);
	/* Verdicts are asserted above; the times are printed for the
	 * record, never asserted (timing belongs to benchmarks). */
}

static void test_500_ops_get_a_verdict(void **state)
{
	(void)state;
	rng_state = 4;
	perf_case(0, 6, true);
	perf_case(0, 8, true);
	perf_case(1, 6, true);
	/* 25 timed-out ops per key: a verdict when linearizable, in time;
	 * the impossible case may give up (see lincheck.h). */
	perf_case(5, 6, false);
}

/* Many writes that timed out and that no one read, and a stale read after
 * all of them: exponential for plain WGL (every subset of the unknown writes
 * is a configuration); the dominance pruning must keep it small. */
static void test_many_unknown_writes_stay_cheap(void **state)
{
	static struct cat_lin_op ops[200];
	struct cat_lin_report rep;
	size_t n = 0;

	(void)state;
	ops[n++] = (struct cat_lin_op)OPS_PUT(1, 0, 1, 0);
	for (int i = 0; i < 60; i++) {
		ops[n++] = (struct cat_lin_op){ .client = 2 + i % 5,
			.call = 2 + 3 * (uint64_t)i, .ret = NR,
			.kind = i % 7 == 3 ? CAT_LIN_DEL : CAT_LIN_PUT,
			.arg = 100 + i, .out = CAT_LIN_OUT_UNKNOWN };
		ops[n++] = (struct cat_lin_op)OPS_GET(1, 2 + 3 * (uint64_t)i,
						      3 + 3 * (uint64_t)i, 0);
	}
	ops[n++] = (struct cat_lin_op)OPS_PUT(1, 500, 501, 1);
	ops[n++] = (struct cat_lin_op)OPS_GET(1, 502, 503, 1);
	assert_int_equal(check_verified(ops, n, NULL, 100000, &rep), 1);
	ops[n - 1].result = 0;
	assert_int_equal(check_verified(ops, n, NULL, 100000, &rep), 0);
	print_message("60 unknown writes + stale read: %zu states\n",
		      rep.states);
	/* An unknown write read once still works through the pruning. */
	ops[n - 1].result = 140;
	assert_int_equal(check_verified(ops, n, NULL, 100000, &rep), 1);
}

/* The budget: a wide history with a contradiction at the end needs many
 * states; a tiny budget must give up (not answer), and say so. */
static void test_gives_up_on_budget(void **state)
{
	static struct cat_lin_op ops[64];
	struct cat_lin_report rep;
	char buf[256];
	size_t n = 0;

	(void)state;
	/* 14 concurrent PUTs and a concurrent read of a value none wrote:
	 * every subset of the PUTs, with each of its members last, is a
	 * configuration (about 14 * 2^13 of them). */
	for (int i = 0; i < 14; i++)
		ops[n++] = (struct cat_lin_op)OPS_PUT((uint32_t)i, 0, 100, i);
	ops[n++] = (struct cat_lin_op)OPS_GET(20, 0, 100, 99);
	assert_int_equal(check_verified(ops, n, NULL, 1000, &rep), -E2BIG);
	assert_int_equal(rep.states, 1000);
	cat_lin_explain(ops, n, &rep, buf, sizeof(buf));
	assert_non_null(strstr(buf, "gave up"));
	/* With the default budget it finishes. */
	assert_int_equal(check_verified(ops, n, NULL, 0, &rep), 0);
	print_message("14 concurrent PUTs, impossible read: %zu states\n",
		      rep.states);
	assert_true(rep.states > 1000);
	ops[n - 1].result = 13;
	assert_int_equal(check_verified(ops, n, NULL, 0, &rep), 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_fixtures),
		cmocka_unit_test(test_explain_names_the_stuck_op),
		cmocka_unit_test(test_format_op),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_initial_state_and_order_cap),
		cmocka_unit_test(test_random_sequential_vs_brute_force),
		cmocka_unit_test(test_random_concurrent_vs_brute_force),
		cmocka_unit_test(test_random_unknown_outcomes_vs_brute_force),
		cmocka_unit_test(test_random_medium_vs_plain_reference),
		cmocka_unit_test(test_500_ops_get_a_verdict),
		cmocka_unit_test(test_many_unknown_writes_stay_cheap),
		cmocka_unit_test(test_gives_up_on_budget),
	};

	if (argc > 1)
		fixtures_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
