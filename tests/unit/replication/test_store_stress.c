/*
 * Concurrency stress for replication/store.c: reader threads look keys up
 * and walk slots while one writer per group of slots (disjoint slots, the
 * dataplane's single-writer rule) puts, replaces, deletes, CASes and INCRs.
 * Readers validate every item they are shown; writers check every result
 * against a model, and the final state is checked against that model.
 * Bounded by operation counts, not time. Run alone and under the tools:
 *   meson test -C BUILD --suite stress
 *   meson test -C BUILD --suite stress --setup valgrind
 *   (= valgrind --leak-check=full --error-exitcode=1 --fair-sched=yes
 *      --suppressions=tests/unit/valgrind.supp
 *      BUILD/tests/unit/replication/test_store_stress)
 * Under valgrind the op counts drop by 10x automatically; CATENA_STRESS_OPS
 * overrides the per-writer op count (default 1000000, about 1.5 s).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "replication/hash.h"
#include "replication/store.h"

#define NSLOTS   8
#define NWRITERS 2
#define NREADERS 3
#define NDATA    256
#define NCTR     32
#define NKEYS    (NDATA + NCTR)
#define VAL_MAX  256

/* ---- failure collection: cmocka asserts only work on the main thread ---- */

static atomic_int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	int n = atomic_fetch_add(&failures, 1);
	va_list ap;

	if (n >= 20)
		return;
	pthread_mutex_lock(&fail_lock);
	va_start(ap, fmt);
	fprintf(stderr, "stress failure: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	pthread_mutex_unlock(&fail_lock);
}

static uint64_t xs(uint64_t *st)
{
	uint64_t x = *st;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *st = x;
}

/* ---- keys, values and the writers' model ---- */

struct keyinfo {
	char name[16];
	uint16_t len;
	uint32_t slot;
	int writer;
	int is_ctr;
};

/* Written only by the key's writer while threads run; read by main after
 * the joins. */
struct model {
	int present;
	uint64_t version;
	uint64_t gen;      /* data keys: generation of the current value */
	uint64_t next_gen; /* data keys: last generation ever written */
	int64_t ctr;       /* counter keys: current value */
};

static struct cat_store *store;
static struct keyinfo keys[NKEYS];
static struct model model[NKEYS];
static atomic_int writers_done;
static long writer_ops;

/* Value of data key i at generation g: the key's name, the generation and a
 * pad whose length and bytes depend on both, so a reader can rebuild the
 * exact bytes from the generation and detect a torn or misplaced value. */
static uint32_t make_value(int i, uint64_t g, uint8_t *buf)
{
	int n = snprintf((char *)buf, VAL_MAX, "D|%s|%016" PRIx64 "|",
			 keys[i].name, g);
	uint32_t pad = (uint32_t)((g * 7 + (uint64_t)i) % 97);

	for (uint32_t j = 0; j < pad; j++)
		buf[n + j] = (uint8_t)('a' + (g + j) % 26);
	return (uint32_t)n + pad;
}

/* Parse the generation out of a data value; 0 if malformed. */
static uint64_t value_gen(int i, const uint8_t *v, uint32_t len)
{
	char tmp[17];
	size_t off = 2 + keys[i].len + 1;

	if (len < off + 17)
		return 0;
	memcpy(tmp, v + off, 16);
	tmp[16] = 0;
	return strtoull(tmp, NULL, 16);
}

static int parse_i64(const uint8_t *v, uint32_t len, int64_t *out)
{
	char tmp[32], *end;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = 0;
	errno = 0;
	*out = strtoll(tmp, &end, 10);
	return (errno || *end) ? -1 : 0;
}

static void init_keys(void)
{
	struct cat_key k;

	for (int i = 0; i < NKEYS; i++) {
		struct keyinfo *ki = &keys[i];
		ki->is_ctr = i >= NDATA;
		ki->len = (uint16_t)snprintf(ki->name, sizeof(ki->name),
					     ki->is_ctr ? "c%03d" : "d%03d", i);
		cat_store_key(store, &k, ki->name, ki->len);
		ki->slot = k.slot;
		ki->writer = (int)(k.slot % NWRITERS);
	}
	memset(model, 0, sizeof(model));
}

static int key_index(const uint8_t *name, uint16_t len)
{
	char tmp[16];

	if (len != 4 || (name[0] != 'd' && name[0] != 'c'))
		return -1;
	memcpy(tmp, name + 1, 3);
	tmp[3] = 0;
	int i = atoi(tmp);
	if (i < 0 || i >= NKEYS || memcmp(keys[i].name, name, 4))
		return -1;
	return i;
}

/* ---- writers ---- */

struct writer_arg {
	int id;
	int idx[NKEYS];   /* this writer's data keys */
	int nidx;
	int cidx[NKEYS];  /* this writer's counter keys */
	int ncidx;
	uint64_t last_ver[NSLOTS];
};

static void check_new_version(struct writer_arg *w, int i, uint64_t v,
			      const char *op)
{
	uint32_t sl = keys[i].slot;

	if (v <= w->last_ver[sl])
		failf("writer %d: %s %s: version %" PRIu64 " not above slot "
		      "%u's last %" PRIu64, w->id, op, keys[i].name, v, sl,
		      w->last_ver[sl]);
	w->last_ver[sl] = v;
}

static void writer_data_op(struct writer_arg *w, uint64_t *rs)
{
	int i = w->idx[xs(rs) % (uint64_t)w->nidx];
	struct model *m = &model[i];
	struct cat_key k;
	uint8_t val[VAL_MAX], exp[VAL_MAX];
	uint64_t v = 0;
	uint32_t r = (uint32_t)(xs(rs) % 100);
	int rc;

	cat_store_key(store, &k, keys[i].name, keys[i].len);
	if (r < 45) {
		uint64_t g = ++m->next_gen;
		uint32_t n = make_value(i, g, val);
		rc = cat_store_put(store, &k, val, n, &v);
		if (rc) {
			failf("put %s: rc %d", keys[i].name, rc);
			return;
		}
		check_new_version(w, i, v, "put");
		m->present = 1;
		m->version = v;
		m->gen = g;
	} else if (r < 60) {
		rc = cat_store_del(store, &k, &v);
		if (m->present) {
			if (rc || v != m->version)
				failf("del %s: rc %d version %" PRIu64
				      " want 0 / %" PRIu64, keys[i].name, rc,
				      v, m->version);
			m->present = 0;
		} else if (rc != -ENOENT) {
			failf("del absent %s: rc %d", keys[i].name, rc);
		}
	} else if (r < 75) {
		int wrong = xs(rs) % 5 == 0;
		uint64_t expect = m->present ? m->version : 0;
		uint64_t g = m->next_gen + 1;
		uint32_t n = make_value(i, g, val);
		if (wrong)
			expect = m->present ? m->version + 1 + xs(rs) % 3
					    : 1 + xs(rs) % 1000;
		rc = cat_store_cas(store, &k, expect, val, n, &v);
		if (wrong) {
			uint64_t cur = m->present ? m->version : 0;
			if (rc != -ECANCELED || v != cur)
				failf("cas %s wrong expect: rc %d version %"
				      PRIu64 " want -ECANCELED / %" PRIu64,
				      keys[i].name, rc, v, cur);
		} else {
			if (rc) {
				failf("cas %s: rc %d", keys[i].name, rc);
				return;
			}
			check_new_version(w, i, v, "cas");
			m->next_gen = g;
			m->present = 1;
			m->version = v;
			m->gen = g;
		}
	} else if (r < 85) {
		int wrong = xs(rs) % 5 == 0;
		uint32_t en = 0;
		uint64_t g = m->next_gen + 1;
		uint32_t n = make_value(i, g, val);
		if (m->present) {
			en = make_value(i, m->gen, exp);
			if (wrong)
				exp[xs(rs) % en] ^= 0x20;
		}
		rc = cat_store_cas_value(store, &k, exp, en, val, n, &v);
		if (!m->present) {
			if (rc != -ENOENT)
				failf("cas_value absent %s: rc %d",
				      keys[i].name, rc);
		} else if (wrong) {
			if (rc != -ECANCELED || v != m->version)
				failf("cas_value %s mismatch: rc %d version %"
				      PRIu64, keys[i].name, rc, v);
		} else {
			if (rc) {
				failf("cas_value %s: rc %d", keys[i].name, rc);
				return;
			}
			check_new_version(w, i, v, "cas_value");
			m->next_gen = g;
			m->version = v;
			m->gen = g;
		}
	} else {
		/* The writer reads its own keys: it sees exactly the model. */
		const struct cat_item *it;
		rc = cat_store_get(store, &k, &it);
		if (!m->present) {
			if (rc != -ENOENT)
				failf("writer get %s: present, model absent",
				      keys[i].name);
		} else if (rc) {
			failf("writer get %s: rc %d, model present",
			      keys[i].name, rc);
		} else {
			uint32_t n = make_value(i, m->gen, val);
			if (it->version != m->version || it->value_len != n ||
			    memcmp(cat_item_value(it), val, n))
				failf("writer get %s: stale or wrong item",
				      keys[i].name);
		}
	}
}

static void writer_ctr_op(struct writer_arg *w, uint64_t *rs)
{
	int i = w->cidx[xs(rs) % (uint64_t)w->ncidx];
	struct model *m = &model[i];
	struct cat_key k;
	int64_t delta = 1 + (int64_t)(xs(rs) % 5), res = 0;
	uint64_t v = 0;

	cat_store_key(store, &k, keys[i].name, keys[i].len);
	int rc = cat_store_incr(store, &k, delta, &res, &v);
	if (rc || res != m->ctr + delta) {
		failf("incr %s by %" PRId64 ": rc %d result %" PRId64
		      " want %" PRId64, keys[i].name, delta, rc, res,
		      m->ctr + delta);
		return;
	}
	check_new_version(w, i, v, "incr");
	m->present = 1;
	m->ctr = res;
	m->version = v;
}

static void writer_check_counts(struct writer_arg *w)
{
	uint64_t count[NSLOTS] = { 0 };

	for (int i = 0; i < NKEYS; i++)
		if (keys[i].writer == w->id && model[i].present)
			count[keys[i].slot]++;
	for (uint32_t sl = 0; sl < NSLOTS; sl++) {
		if ((int)(sl % NWRITERS) != w->id)
			continue;
		/* The owner's own count is exact. */
		uint64_t n = cat_store_slot_keys(store, sl);
		if (n != count[sl])
			failf("slot %u keys %" PRIu64 " want %" PRIu64, sl, n,
			      count[sl]);
		/* >=: a delete may or may not take a version of its own. */
		if (cat_store_slot_version(store, sl) < w->last_ver[sl])
			failf("slot %u version %" PRIu64 " below %" PRIu64, sl,
			      cat_store_slot_version(store, sl),
			      w->last_ver[sl]);
	}
}

static void *writer_main(void *p)
{
	struct writer_arg *w = p;
	uint64_t rs = 0x1234567ull * (uint64_t)(w->id + 1);

	rcu_register_thread();
	for (long op = 0; op < writer_ops; op++) {
		if (xs(&rs) % 100 < 15)
			writer_ctr_op(w, &rs);
		else
			writer_data_op(w, &rs);
		if (op % 32 == 0)
			rcu_quiescent_state();
		if (op % 4096 == 0)
			writer_check_counts(w);
	}
	writer_check_counts(w);
	rcu_unregister_thread();
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

/* ---- readers ---- */

struct reader_arg {
	int id;
	uint64_t last_ver[NKEYS];
	uint64_t last_gen[NKEYS];
	int64_t last_ctr[NKEYS];
	long gets, found, walked;
};

/* Validate one item of key i; monotonic checks only for point lookups. */
static void check_item(struct reader_arg *r, int i,
		       const struct cat_item *it, int monotonic)
{
	if (it->key_len != keys[i].len ||
	    memcmp(cat_item_key(it), keys[i].name, keys[i].len)) {
		failf("reader %d: item for %s has another key", r->id,
		      keys[i].name);
		return;
	}
	if (it->version == 0)
		failf("reader %d: %s has version 0", r->id, keys[i].name);

	uint64_t gen = 0;
	int64_t ctr = 0;
	if (keys[i].is_ctr) {
		if (parse_i64(cat_item_value(it), it->value_len, &ctr) ||
		    ctr <= 0) {
			failf("reader %d: counter %s value not a positive "
			      "number (%u bytes)", r->id, keys[i].name,
			      it->value_len);
			return;
		}
	} else {
		uint8_t want[VAL_MAX];
		gen = value_gen(i, cat_item_value(it), it->value_len);
		uint32_t n = gen ? make_value(i, gen, want) : 0;
		if (!gen || n != it->value_len ||
		    memcmp(want, cat_item_value(it), n)) {
			failf("reader %d: %s value torn or misplaced (%u "
			      "bytes, gen %" PRIu64 ")", r->id, keys[i].name,
			      it->value_len, gen);
			return;
		}
	}
	if (!monotonic)
		return;

	uint64_t lv = r->last_ver[i];
	if (it->version < lv) {
		failf("reader %d: %s version went back %" PRIu64 " -> %" PRIu64,
		      r->id, keys[i].name, lv, it->version);
	} else if (it->version == lv) {
		if (keys[i].is_ctr ? ctr != r->last_ctr[i]
				   : gen != r->last_gen[i])
			failf("reader %d: %s same version %" PRIu64
			      ", different value", r->id, keys[i].name, lv);
	} else if (lv) {
		/* Every write takes a new generation / a positive delta. */
		if (keys[i].is_ctr ? ctr <= r->last_ctr[i]
				   : gen <= r->last_gen[i])
			failf("reader %d: %s newer version %" PRIu64
			      " with an older value", r->id, keys[i].name,
			      it->version);
	}
	r->last_ver[i] = it->version;
	r->last_gen[i] = gen;
	r->last_ctr[i] = ctr;
}

struct walk {
	struct reader_arg *r;
	uint32_t slot;
	int n;
};

static int walk_fn(const struct cat_item *it, void *arg)
{
	struct walk *wk = arg;
	int i = key_index(cat_item_key(it), it->key_len);

	wk->n++;
	if (i < 0) {
		failf("reader %d: walk of slot %u shows an unknown key",
		      wk->r->id, wk->slot);
		return 0;
	}
	if (keys[i].slot != wk->slot)
		failf("reader %d: walk of slot %u shows %s of slot %u",
		      wk->r->id, wk->slot, keys[i].name, keys[i].slot);
	check_item(wk->r, i, it, 0);
	return 0;
}

static void *reader_main(void *p)
{
	struct reader_arg *r = p;
	uint64_t rs = 0xABCDEF12345ull * (uint64_t)(r->id + 7);
	long limit = writer_ops * 40 + 100000;

	rcu_register_thread();
	for (long n = 0; n < limit; n++) {
		int done = atomic_load(&writers_done) == NWRITERS;
		int i = (int)(xs(&rs) % NKEYS);
		struct cat_key k;
		const struct cat_item *it;

		cat_store_key(store, &k, keys[i].name, keys[i].len);
		int rc = cat_store_get(store, &k, &it);
		r->gets++;
		if (rc == 0) {
			r->found++;
			check_item(r, i, it, 1);
		} else if (rc != -ENOENT) {
			failf("reader %d: get %s rc %d", r->id, keys[i].name,
			      rc);
		} else if (keys[i].is_ctr && r->last_ver[i]) {
			/* Counters are never deleted: a replace must not
			 * make a key vanish, even for an instant. */
			failf("reader %d: counter %s vanished", r->id,
			      keys[i].name);
		}
		if (n % 1024 == 0) {
			struct walk wk = { .r = r,
					   .slot = (uint32_t)(xs(&rs) % NSLOTS) };
			cat_store_slot_foreach(store, wk.slot, walk_fn, &wk);
			r->walked += wk.n;
		}
		/* Items seen so far may be freed after this. */
		if (n % 16 == 0)
			rcu_quiescent_state();
		if (done)
			break;
	}
	rcu_unregister_thread();
	return NULL;
}

static void grace_period(void)
{
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

static void test_readers_and_writers(void **state)
{
	(void)state;
	struct cat_store_params p = { .slot_count = NSLOTS, .mem_limit = 0 };
	static struct writer_arg wa[NWRITERS];
	static struct reader_arg ra[NREADERS];
	pthread_t wt[NWRITERS], rt[NREADERS];

	store = cat_store_create(&p);
	assert_non_null(store);
	init_keys();
	atomic_store(&writers_done, 0);
	atomic_store(&failures, 0);
	memset(wa, 0, sizeof(wa));
	memset(ra, 0, sizeof(ra));
	for (int w = 0; w < NWRITERS; w++) {
		wa[w].id = w;
		for (int i = 0; i < NKEYS; i++) {
			if (keys[i].writer != w)
				continue;
			if (keys[i].is_ctr)
				wa[w].cidx[wa[w].ncidx++] = i;
			else
				wa[w].idx[wa[w].nidx++] = i;
		}
		assert_true(wa[w].nidx > 0 && wa[w].ncidx > 0);
	}

	/* The main thread only waits: offline, or it would hold back every
	 * grace period (and every free) until the end. */
	rcu_thread_offline();
	for (int i = 0; i < NREADERS; i++) {
		ra[i].id = i;
		assert_int_equal(pthread_create(&rt[i], NULL, reader_main,
						&ra[i]), 0);
	}
	for (int w = 0; w < NWRITERS; w++)
		assert_int_equal(pthread_create(&wt[w], NULL, writer_main,
						&wa[w]), 0);
	for (int w = 0; w < NWRITERS; w++)
		pthread_join(wt[w], NULL);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(rt[i], NULL);
	rcu_thread_online();

	assert_int_equal(atomic_load(&failures), 0);
	for (int i = 0; i < NREADERS; i++) {
		assert_true(ra[i].gets > 0);
		assert_true(ra[i].found > 0);
	}

	/* Final state == the writers' model. */
	uint64_t count[NSLOTS] = { 0 }, maxver[NSLOTS] = { 0 };
	uint64_t mem = 0;
	for (int i = 0; i < NKEYS; i++) {
		struct cat_key k;
		const struct cat_item *it;
		uint8_t val[VAL_MAX];
		uint32_t n;

		cat_store_key(store, &k, keys[i].name, keys[i].len);
		int rc = cat_store_get(store, &k, &it);
		if (!model[i].present) {
			assert_int_equal(rc, -ENOENT);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_true(it->version == model[i].version);
		if (keys[i].is_ctr)
			n = (uint32_t)snprintf((char *)val, sizeof(val),
					       "%" PRId64, model[i].ctr);
		else
			n = make_value(i, model[i].gen, val);
		assert_int_equal(it->value_len, n);
		assert_memory_equal(cat_item_value(it), val, n);
		count[keys[i].slot]++;
		if (model[i].version > maxver[keys[i].slot])
			maxver[keys[i].slot] = model[i].version;
		mem += cat_store_item_size(keys[i].len, n);
	}
	for (uint32_t sl = 0; sl < NSLOTS; sl++) {
		assert_true(cat_store_slot_keys(store, sl) == count[sl]);
		assert_true(cat_store_slot_version(store, sl) >= maxver[sl]);
		assert_true(cat_store_slot_version(store, sl) >=
			    wa[sl % NWRITERS].last_ver[sl]);
		struct walk wk = { .r = &ra[0], .slot = sl };
		assert_int_equal(cat_store_slot_foreach(store, sl, walk_fn, &wk),
				 0);
		assert_true((uint64_t)wk.n == count[sl]);
	}
	assert_int_equal(atomic_load(&failures), 0);

	/* Everything replaced or deleted has been given back. */
	grace_period();
	assert_true(cat_store_mem_used(store) == mem);

	rcu_thread_offline();
	cat_store_destroy(store);
	rcu_thread_online();
	store = NULL;
}

/* ---- lookups while one slot's table grows and shrinks ---- */

/*
 * The slot's owner (the main thread) inserts keys into one slot, so its
 * table is rebuilt and republished again and again, replaces earlier keys
 * as it goes, then deletes them all (the table shrinks and goes). Readers
 * on other threads look keys up throughout: a key inserted before a
 * lookup began and not yet announced deleted must be found in whichever
 * table the reader got, and its value must be one the writer wrote, whole.
 */
#define GROW_KEYS 20000

static atomic_int grow_hi;   /* keys [0, hi) have been inserted */
static atomic_int grow_lo;   /* during the shrink: keys [0, lo) present */
static atomic_int grow_phase;

static int grow_key(int i, char *buf)
{
	return snprintf(buf, 24, "grow-%d", i);
}

/* Generation 0 is the key itself; a replace writes "key#g#g". */
static int grow_value(const char *key, int klen, unsigned int gen, char *buf)
{
	if (gen == 0)
		return snprintf(buf, 48, "%.*s", klen, key);
	return snprintf(buf, 48, "%.*s#%u#%u", klen, key, gen, gen);
}

static int grow_value_ok(const struct cat_item *it, const char *key, int l)
{
	const char *v = (const char *)cat_item_value(it);
	unsigned int g1, g2;
	char tail[48];
	int n = 0;

	if (it->value_len < (uint32_t)l || memcmp(v, key, (size_t)l) != 0)
		return 0;
	if (it->value_len == (uint32_t)l)
		return 1;
	if (it->value_len - (uint32_t)l >= sizeof(tail))
		return 0;
	memcpy(tail, v + l, it->value_len - (uint32_t)l);
	tail[it->value_len - (uint32_t)l] = 0;
	return sscanf(tail, "#%u#%u%n", &g1, &g2, &n) == 2 &&
	       n == (int)(it->value_len - (uint32_t)l) && g1 == g2 && g1 > 0;
}

static void *grow_reader(void *p)
{
	long id = (long)(intptr_t)p;
	uint64_t rs = 0x5151ull + (uint64_t)id;

	rcu_register_thread();
	for (long n = 0;; n++) {
		int phase = atomic_load(&grow_phase);
		if (phase == 2)
			break;
		int bound = phase == 0 ? atomic_load(&grow_hi)
				       : atomic_load(&grow_lo);
		if (bound > 0) {
			int i = (int)(xs(&rs) % (uint64_t)bound);
			char key[24];
			struct cat_key k;
			const struct cat_item *it;
			int l = grow_key(i, key);

			cat_store_key(store, &k, key, (uint16_t)l);
			int rc = cat_store_get(store, &k, &it);
			if (rc == 0) {
				if (it->key_len != l ||
				    memcmp(cat_item_key(it), key, l) ||
				    !grow_value_ok(it, key, l))
					failf("grow reader: %s wrong item", key);
			} else if (atomic_load(&grow_phase) == 0 ||
				   atomic_load(&grow_lo) > i) {
				/* Inserted before the lookup started, and no
				 * delete of it announced by the time it
				 * ended: must be found. */
				failf("grow reader: %s missing (rc %d)", key,
				      rc);
			}
		}
		if (n % 16 == 0)
			rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

/* Watches the table change under the readers, so the test can insist it
 * was rebuilt while they ran (not only before or after). */
static atomic_int grow_resizes;
static atomic_uint_fast64_t grow_max_buckets;

static void *grow_watcher(void *p)
{
	uint64_t last = 0;

	(void)p;
	while (atomic_load(&grow_phase) != 2) {
		uint64_t b = cat_store_slot_buckets(store, 0);

		if (b != last && atomic_load(&grow_hi) > 0) {
			atomic_fetch_add(&grow_resizes, 1);
			last = b;
		}
		if (b > atomic_load(&grow_max_buckets))
			atomic_store(&grow_max_buckets, b);
		usleep(50);
	}
	return NULL;
}

static void test_lookups_while_tables_grow(void **state)
{
	(void)state;
	struct cat_store_params p = { .slot_count = 1, .mem_limit = 0 };
	pthread_t rt[NREADERS], mt;
	int nkeys = GROW_KEYS;
	unsigned int gen = 0;

	if (RUNNING_ON_VALGRIND)
		nkeys /= 4;
	store = cat_store_create(&p);
	assert_non_null(store);
	atomic_store(&failures, 0);
	atomic_store(&grow_hi, 0);
	atomic_store(&grow_lo, 0);
	atomic_store(&grow_phase, 0);
	atomic_store(&grow_resizes, 0);
	atomic_store(&grow_max_buckets, 0);

	for (long i = 0; i < NREADERS; i++)
		assert_int_equal(pthread_create(&rt[i], NULL, grow_reader,
						(void *)(intptr_t)i), 0);
	assert_int_equal(pthread_create(&mt, NULL, grow_watcher, NULL), 0);

	/* The main thread is the slot's writer here. */
	for (int i = 0; i < nkeys; i++) {
		char key[24], val[48];
		struct cat_key k;
		uint64_t v;
		int l = grow_key(i, key);

		cat_store_key(store, &k, key, (uint16_t)l);
		if (cat_store_put(store, &k, key, (uint32_t)l, &v))
			failf("grow put %s failed", key);
		atomic_store(&grow_hi, i + 1);
		/* Replace an earlier key: its item moves between tables and
		 * versions at once. */
		if (i % 3 == 0) {
			int j = (int)((unsigned int)i * 2654435761u % (unsigned int)(i + 1));
			int jl = grow_key(j, key);
			int vl = grow_value(key, jl, ++gen, val);

			cat_store_key(store, &k, key, (uint16_t)jl);
			if (cat_store_put(store, &k, val, (uint32_t)vl, &v))
				failf("grow replace %s failed", key);
		}
		if (i % 32 == 0)
			rcu_quiescent_state();
		/* Let readers run on the shared cores while tables change. */
		if (i % 512 == 0) {
			rcu_thread_offline();
			usleep(100);
			rcu_thread_online();
		}
	}
	atomic_store(&grow_lo, nkeys);
	atomic_store(&grow_phase, 1);
	for (int i = nkeys - 1; i >= 0; i--) {
		char key[24];
		struct cat_key k;
		int l = grow_key(i, key);

		/* Announce first: a reader that then misses key i is fine. */
		atomic_store(&grow_lo, i);
		cat_store_key(store, &k, key, (uint16_t)l);
		if (cat_store_del(store, &k, NULL))
			failf("grow del %s failed", key);
		if (i % 32 == 0)
			rcu_quiescent_state();
		if (i % 512 == 0) {
			rcu_thread_offline();
			usleep(100);
			rcu_thread_online();
		}
	}
	atomic_store(&grow_phase, 2);
	rcu_thread_offline();
	for (int i = 0; i < NREADERS; i++)
		pthread_join(rt[i], NULL);
	pthread_join(mt, NULL);
	rcu_thread_online();

	assert_int_equal(atomic_load(&failures), 0);
	assert_true(cat_store_slot_keys(store, 0) == 0);
	/* The table grew well past its start while readers ran, and went
	 * back to none once the slot was empty. */
	assert_true(atomic_load(&grow_resizes) >= 4);
	assert_true(atomic_load(&grow_max_buckets) >= 1024);
	assert_true(cat_store_slot_buckets(store, 0) == 0);
	grace_period();
	assert_true(cat_store_mem_used(store) == 0);
	rcu_thread_offline();
	cat_store_destroy(store);
	rcu_thread_online();
	store = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readers_and_writers),
		cmocka_unit_test(test_lookups_while_tables_grow),
	};
	const char *env = getenv("CATENA_STRESS_OPS");
	int rc;

	writer_ops = 1000000;
	if (RUNNING_ON_VALGRIND)
		writer_ops /= 10;
	if (env && atol(env) > 0)
		writer_ops = atol(env);

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
