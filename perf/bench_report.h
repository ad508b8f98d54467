/*
 * perf/bench_report.h: what catena-bench measured, and how it is printed
 * and written. A phase is one measured run (one rate of a sweep, or the
 * closed-loop run); the load loop fills it, the functions here only read it
 * after the load has stopped.
 */
#ifndef CAT_BENCH_REPORT_H
#define CAT_BENCH_REPORT_H

#include <stdint.h>

#include "perf/bench_hist.h"
#include "perf/bench_net.h"
#include "replication/wire.h"

/* The operations catena-bench mixes, indexing the per-op arrays below. */
enum { CAT_BENCH_GET, CAT_BENCH_PUT, CAT_BENCH_CAS, CAT_BENCH_OPS };

extern const char *const cat_bench_op_name[CAT_BENCH_OPS];

/* Nodes whose capacity a run reports (--node-telemetry). */
#define CAT_BENCH_TEL_MAX 8u

/* A node's workers over one phase: deltas of /catena/lcores. */
struct cat_bench_node_cap {
	const char *name;           /* as given to --node-telemetry */
	int ok;                     /* 0: err says why it is missing */
	uint64_t busy_tsc, idle_tsc, requests, tsc_hz;
	unsigned workers;
	char err[160];
};

/** Counters and histograms of one measured phase (latencies in ns). */
struct cat_bench_phase {
	struct cat_hist all;
	struct cat_hist op[CAT_BENCH_OPS];
	uint64_t status[CAT_BENCH_OPS][CAT_ST__COUNT]; /* replies by status */
	uint64_t sent, completed, timeouts;
	uint64_t late_sends;        /* sent > 10 us after their scheduled time */
	uint64_t stall_full;        /* open loop: the outstanding cap was hit */
	uint64_t completed_by_t1;   /* the achieved rate counts only these */
	uint64_t t0, t1;            /* TSC */
	double offered;             /* ops/s, 0 for closed loop */
	/* The bench's own lcore: TSC in loop iterations that sent or
	 * received something, and in those that did neither. */
	uint64_t bench_busy_tsc, bench_idle_tsc;
	unsigned n_nodes;
	struct cat_bench_node_cap node[CAT_BENCH_TEL_MAX];
};

/* A core counts as saturated at this busy fraction or more. */
#define CAT_BENCH_SATURATED 0.90

/** The run's settings, as the report names them. */
struct cat_bench_desc {
	const char *label;
	int open_loop;
	unsigned window;
	unsigned pct[CAT_BENCH_OPS];
	uint64_t keys;
	int zipf;
	double zipf_s;
	unsigned key_size, value_size, batch;
	double warmup, duration;
	uint64_t timeout_ms;
	const char *map_path;       /* NULL: a single --node */
	uint32_t slots;
	unsigned n_ports;
	uint64_t tsc_hz;
};

/** Replies per second inside the measured window. */
double cat_bench_achieved(const struct cat_bench_desc *d,
			  const struct cat_bench_phase *ph);

/** The summary table of n phases, and the port counters, on stdout. */
void cat_bench_print(const struct cat_bench_desc *d, const struct cat_bench_phase *ph,
		     unsigned n, const struct cat_bnet_stats *st);

/**
 * Write everything as JSON to path (histogram buckets included, for
 * perf/plot.sh). 0, or a negative errno with a message on stderr.
 */
int cat_bench_write_json(const char *path, const struct cat_bench_desc *d,
			 const struct cat_bench_phase *ph, unsigned n,
			 const struct cat_bnet_stats *st);

#endif /* CAT_BENCH_REPORT_H */
