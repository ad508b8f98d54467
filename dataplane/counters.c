/*
 * Counter sums over the workers. Counters are plain per-worker uint64
 * written by their worker (engine counters by the engine on that worker,
 * read-path counters by whichever worker served the read): they are read
 * here with relaxed atomic loads, never written.
 */
#include <string.h>

#include "dataplane/counters.h"
#include "replication/chain.h"
#include "replication/store.h"

static const struct {
	const char *name;
	size_t off;
} counters[] = {
#define CAT_X_ENTRY(n) { #n, offsetof(struct cat_worker_stats, n) },
	CAT_WORKER_COUNTERS(CAT_X_ENTRY)
#undef CAT_X_ENTRY
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

static const struct {
	const char *name;
	size_t off;
} repl_counters[] = {
#define CAT_X_ENTRY(n) { "repl_" #n, offsetof(struct cat_chain_stats, n) },
	CAT_CHAIN_COUNTERS(CAT_X_ENTRY)
#undef CAT_X_ENTRY
};
#define N_REPL_COUNTERS (sizeof(repl_counters) / sizeof(repl_counters[0]))

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t sum_off(const struct cat_dp *dp, struct cat_worker *const *workers,
			size_t off)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i < dp->n_workers; i++)
		s += rd((const uint64_t *)((const char *)&workers[i]->st + off));
	return s;
}

/* Engine counter off of every worker: engine plus read-path stats. */
static uint64_t repl_sum(const struct cat_dp *dp, struct cat_worker *const *workers,
			 size_t off)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i < dp->n_workers; i++) {
		const struct cat_worker *w = workers[i];

		s += rd((const uint64_t *)((const char *)cat_chain_stats(w->chain) + off));
		s += rd((const uint64_t *)((const char *)&w->rst + off));
	}
	return s;
}

static int is_drop(const char *name)
{
	/* Link tag refusals are drops under the name the brief of each
	 * cause gives (repl_auth_*); repl_auth_ok counts what was taken. */
	return strncmp(name, "drop_", 5) == 0 || strcmp(name, "tx_dropped_full") == 0 ||
	       (strncmp(name, "repl_auth_", 10) == 0 && strcmp(name, "repl_auth_ok") != 0);
}

const char *cat_counters_worker_name(size_t i)
{
	return i < N_COUNTERS ? counters[i].name : NULL;
}

const char *cat_counters_repl_name(size_t i)
{
	return i < N_REPL_COUNTERS ? repl_counters[i].name : NULL;
}

uint64_t cat_counters_total(const struct cat_dp *dp,
			    struct cat_worker *const *workers, const char *counter)
{
	size_t i;

	for (i = 0; i < N_COUNTERS; i++)
		if (strcmp(counters[i].name, counter) == 0)
			return sum_off(dp, workers, counters[i].off);
	return 0;
}

uint64_t cat_counters_drops_total(const struct cat_dp *dp,
				  struct cat_worker *const *workers)
{
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < N_COUNTERS; i++)
		if (is_drop(counters[i].name))
			s += sum_off(dp, workers, counters[i].off);
	return s;
}

uint64_t cat_counters_repl_total(const struct cat_dp *dp,
				 struct cat_worker *const *workers,
				 const char *counter)
{
	size_t i;

	for (i = 0; i < N_REPL_COUNTERS; i++)
		if (strcmp(repl_counters[i].name, counter) == 0)
			return repl_sum(dp, workers, repl_counters[i].off);
	return 0;
}

uint64_t cat_counters_replies(const struct cat_dp *dp,
			      struct cat_worker *const *workers,
			      unsigned int status)
{
	uint64_t v = 0;

	if (status >= CAT_ST__COUNT)
		return 0;
	for (unsigned int k = 0; k < dp->n_workers; k++)
		v += rd(&workers[k]->st.replies_by_status[status]);
	return v;
}

uint64_t cat_counters_store_keys(const struct cat_dp *dp)
{
	uint64_t keys = 0;

	for (uint32_t s = 0; s < dp->slot_count; s++)
		keys += cat_store_slot_keys(dp->store, s);
	return keys;
}
