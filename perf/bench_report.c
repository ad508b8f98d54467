/*
 * perf/bench_report.c: catena-bench's results: the summary table (per rate
 * and per op: offered and achieved rate, percentiles, errors by status,
 * timeouts) and the JSON file with every histogram's buckets. Runs after
 * the load, never in the per-packet loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "perf/bench_json.h"
#include "perf/bench_report.h"
#include "replication/wire.h"

const char *const cat_bench_op_name[CAT_BENCH_OPS] = { "GET", "PUT", "CAS" };

static double ns_of(const struct cat_bench_desc *d, uint64_t tsc)
{
	return (double)tsc * 1e9 / (double)d->tsc_hz;
}

double cat_bench_achieved(const struct cat_bench_desc *d, const struct cat_bench_phase *ph)
{
	double s = ns_of(d, ph->t1 - ph->t0) / 1e9;

	return s > 0 ? (double)ph->completed_by_t1 / s : 0;
}

static uint64_t errors_of(const struct cat_bench_phase *ph)
{
	uint64_t e = 0;

	for (int i = 0; i < CAT_BENCH_OPS; i++)
		for (int s = 0; s < CAT_ST__COUNT; s++)
			if (s != CAT_ST_OK && s != CAT_ST_NOT_FOUND && s != CAT_ST_CAS_FAILED)
				e += ph->status[i][s];
	return e;
}

static void print_row(const char *name, double offered, double got,
		      const struct cat_hist *h, uint64_t err, uint64_t tmo)
{
	char off[32];

	if (offered > 0)
		snprintf(off, sizeof(off), "%.0f", offered);
	else
		snprintf(off, sizeof(off), "%s", offered == 0 ? "closed" : "");
	printf("%-6s %10s %10.0f %8.1f %8.1f %8.1f %8.1f %9.1f %9.1f %7" PRIu64 " %8" PRIu64 "\n",
	       name, off, got,
	       cat_hist_percentile(h, 50) / 1e3, cat_hist_percentile(h, 90) / 1e3,
	       cat_hist_percentile(h, 99) / 1e3, cat_hist_percentile(h, 99.9) / 1e3,
	       cat_hist_percentile(h, 99.99) / 1e3, cat_hist_percentile(h, 100) / 1e3,
	       err, tmo);
}

static double frac(uint64_t busy, uint64_t idle)
{
	return busy + idle ? (double)busy / (double)(busy + idle) : 0;
}

static double per_busy_s(uint64_t count, uint64_t busy, uint64_t hz)
{
	return busy ? (double)count * (double)hz / (double)busy : 0;
}

/* Which side ran out of core first: "catena-bench", "node NAME", "both"
 * or "neither" (the offered load or the window bounded the run). A
 * node's fraction is per worker core (its workers' busy over their sum). */
static void saturated(const struct cat_bench_phase *p, char *out, size_t len)
{
	int bench = frac(p->bench_busy_tsc, p->bench_idle_tsc) >= CAT_BENCH_SATURATED;
	int nodes = 0;
	size_t o = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < p->n_nodes; i++) {
		const struct cat_bench_node_cap *c = &p->node[i];

		if (!c->ok || frac(c->busy_tsc, c->idle_tsc) < CAT_BENCH_SATURATED)
			continue;
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%snode %s",
				      nodes++ ? ", " : "", c->name);
	}
	if (bench && nodes)
		snprintf(out + o, o < len ? len - o : 0, " and catena-bench");
	else if (bench)
		snprintf(out, len, "catena-bench");
	else if (!nodes)
		snprintf(out, len, "neither");
}

static void print_capacity(const struct cat_bench_desc *d, const struct cat_bench_phase *p)
{
	char who[256];

	printf("  capacity: catena-bench busy %.0f%% of its lcore, %.2f M replies per busy s",
	       100 * frac(p->bench_busy_tsc, p->bench_idle_tsc),
	       per_busy_s(p->completed, p->bench_busy_tsc, d->tsc_hz) / 1e6);
	for (unsigned i = 0; i < p->n_nodes; i++) {
		const struct cat_bench_node_cap *c = &p->node[i];

		if (!c->ok) {
			printf("; node %s: not read (%s)", c->name, c->err);
			continue;
		}
		printf("; node %s busy %.0f%% of %u worker core%s, %.2f M requests per busy s",
		       c->name, 100 * frac(c->busy_tsc, c->idle_tsc), c->workers,
		       c->workers == 1 ? "" : "s",
		       per_busy_s(c->requests, c->busy_tsc, c->tsc_hz) / 1e6);
	}
	saturated(p, who, sizeof(who));
	if (strcmp(who, "neither") == 0)
		printf("\n  saturated: neither side (busy < %.0f%%): the %s bounds this run\n",
		       100 * CAT_BENCH_SATURATED, d->open_loop ? "offered rate" : "window");
	else
		printf("\n  saturated: %s%s\n", who, p->n_nodes ? "" :
		       " (no --node-telemetry: the nodes' side is not known)");
}

void cat_bench_print(const struct cat_bench_desc *d, const struct cat_bench_phase *ph,
		     unsigned n, const struct cat_bnet_stats *st)
{
	printf("catena-bench %s: %s, %s%u outstanding max, %u%% GET %u%% PUT %u%% CAS, "
	       "%" PRIu64 " keys %s, key %u B, value %u B, batch %u, %u port%s\n",
	       d->label, d->open_loop ? "open loop (Poisson)" : "closed loop",
	       d->open_loop ? "" : "", d->window, d->pct[0], d->pct[1], d->pct[2],
	       d->keys, d->zipf ? "zipf" : "uniform", d->key_size, d->value_size,
	       d->batch, d->n_ports, d->n_ports == 1 ? "" : "s (switching between them)");
	printf("%-6s %10s %10s %8s %8s %8s %8s %9s %9s %7s %8s\n", "op", "offered/s",
	       "achieved/s", "p50 us", "p90 us", "p99 us", "p99.9", "p99.99", "max us",
	       "errors", "timeouts");
	for (unsigned i = 0; i < n; i++) {
		const struct cat_bench_phase *p = &ph[i];
		double s = ns_of(d, p->t1 - p->t0) / 1e9;

		print_row("all", p->offered, cat_bench_achieved(d, p), &p->all, errors_of(p), p->timeouts);
		for (int k = 0; k < CAT_BENCH_OPS; k++) {
			if (d->pct[k] == 0)
				continue;
			uint64_t e = 0;

			for (int st = 0; st < CAT_ST__COUNT; st++)
				if (st != CAT_ST_OK && st != CAT_ST_NOT_FOUND &&
				    st != CAT_ST_CAS_FAILED)
					e += p->status[k][st];
			print_row(cat_bench_op_name[k], -1, s > 0 ? p->op[k].count / s : 0,
				  &p->op[k], e, 0);
		}
		if (errors_of(p) || p->late_sends || p->stall_full) {
			printf("  ");
			for (int k = 0; k < CAT_BENCH_OPS; k++)
				for (int st = 1; st < CAT_ST__COUNT; st++)
					if (p->status[k][st] && st != CAT_ST_NOT_FOUND &&
					    st != CAT_ST_CAS_FAILED)
						printf("%s %s: %" PRIu64 "  ", cat_bench_op_name[k],
						       cat_wire_status_name((unsigned)st),
						       p->status[k][st]);
			printf("late sends (>10us): %" PRIu64 "  window full: %" PRIu64 "\n",
			       p->late_sends, p->stall_full);
		}
		print_capacity(d, p);
	}
	printf("net: rx %" PRIu64 " tx %" PRIu64 " switched %" PRIu64 " arp replies %"
	       PRIu64 " drops: tx full %" PRIu64 ", not ours %" PRIu64 ", bad %" PRIu64
	       ", other %" PRIu64 "\n", st->rx_frames, st->tx_frames,
	       st->switched, st->arp_replies, st->drop_tx_full,
	       st->drop_not_ours, st->drop_bad_frame, st->drop_other);
}

static json_t *capacity_json(const struct cat_bench_desc *d,
			     const struct cat_bench_phase *p)
{
	json_t *c = json_object(), *nodes = json_array();
	char who[256];

	cat_bench_json_set(c, "bench", json_pack("{s:o,s:o}",
		"busy_frac", cat_bench_json_num(frac(p->bench_busy_tsc, p->bench_idle_tsc)),
		"replies_per_busy_s",
		cat_bench_json_num(per_busy_s(p->completed, p->bench_busy_tsc, d->tsc_hz))));
	for (unsigned i = 0; i < p->n_nodes; i++) {
		const struct cat_bench_node_cap *n = &p->node[i];

		if (!n->ok)
			json_array_append_new(nodes, json_pack("{s:s,s:s}", "node", n->name,
							       "error", n->err));
		else
			json_array_append_new(nodes, json_pack("{s:s,s:i,s:o,s:o,s:I}",
				"node", n->name, "workers", (int)n->workers,
				"busy_frac", cat_bench_json_num(frac(n->busy_tsc, n->idle_tsc)),
				"requests_per_busy_s",
				cat_bench_json_num(per_busy_s(n->requests, n->busy_tsc, n->tsc_hz)),
				"requests", (json_int_t)n->requests));
	}
	cat_bench_json_set(c, "nodes", nodes);
	saturated(p, who, sizeof(who));
	cat_bench_json_set(c, "saturated", json_string(p->n_nodes || strcmp(who, "neither") ?
						       who : "unknown"));
	return c;
}

int cat_bench_write_json(const char *path, const struct cat_bench_desc *d,
			 const struct cat_bench_phase *ph, unsigned n,
			 const struct cat_bnet_stats *st)
{
	json_t *r = json_object(), *runs = json_array();
	FILE *f;
	int rc;

	if (r == NULL || runs == NULL) {
		fprintf(stderr, "catena-bench: --json %s: out of memory\n", path);
		return -ENOMEM;
	}
	cat_bench_json_set(r, "tool", json_string("catena-bench"));
	cat_bench_json_set(r, "label", cat_bench_json_str(d->label));
	cat_bench_json_set(r, "transport", json_string("dpdk"));
	cat_bench_json_set(r, "ports", json_integer(d->n_ports));
	cat_bench_json_set(r, "mode", json_string(d->open_loop ? "open" : "closed"));
	cat_bench_json_set(r, "window", json_integer(d->window));
	cat_bench_json_set(r, "mix", json_pack("{s:i,s:i,s:i}", "get", (int)d->pct[0],
					      "put", (int)d->pct[1], "cas", (int)d->pct[2]));
	cat_bench_json_set(r, "keys", json_integer((json_int_t)d->keys));
	cat_bench_json_set(r, "dist", json_string(d->zipf ? "zipf" : "uniform"));
	cat_bench_json_set(r, "zipf_s", cat_bench_json_num(d->zipf ? d->zipf_s : 0.0));
	cat_bench_json_set(r, "key_size", json_integer(d->key_size));
	cat_bench_json_set(r, "value_size", json_integer(d->value_size));
	cat_bench_json_set(r, "batch", json_integer(d->batch));
	cat_bench_json_set(r, "warmup_s", cat_bench_json_num(d->warmup));
	cat_bench_json_set(r, "duration_s", cat_bench_json_num(d->duration));
	cat_bench_json_set(r, "timeout_ms", json_integer((json_int_t)d->timeout_ms));
	cat_bench_json_set(r, "map", cat_bench_json_str(d->map_path));
	cat_bench_json_set(r, "slots", json_integer(d->slots));
	for (unsigned i = 0; i < n; i++) {
		const struct cat_bench_phase *p = &ph[i];
		json_t *run = json_object(), *errs = json_object(), *ops = json_object();

		if (run == NULL || errs == NULL || ops == NULL ||
		    json_array_append_new(runs, run) != 0) {
			fprintf(stderr, "catena-bench: --json %s: out of memory\n", path);
			json_decref(r);
			json_decref(runs);
			return -ENOMEM;
		}
		cat_bench_json_set(run, "offered_ops", cat_bench_json_num(p->offered));
		cat_bench_json_set(run, "achieved_ops", cat_bench_json_num(cat_bench_achieved(d, p)));
		cat_bench_json_set(run, "seconds", cat_bench_json_num(ns_of(d, p->t1 - p->t0) / 1e9));
		cat_bench_json_set(run, "sent", json_integer((json_int_t)p->sent));
		cat_bench_json_set(run, "completed", json_integer((json_int_t)p->completed));
		cat_bench_json_set(run, "timeouts", json_integer((json_int_t)p->timeouts));
		cat_bench_json_set(run, "late_sends", json_integer((json_int_t)p->late_sends));
		cat_bench_json_set(run, "window_full", json_integer((json_int_t)p->stall_full));
		for (int k = 0; k < CAT_BENCH_OPS; k++)
			for (int s = 1; s < CAT_ST__COUNT; s++)
				if (p->status[k][s] && s != CAT_ST_NOT_FOUND &&
				    s != CAT_ST_CAS_FAILED) {
					char key[64];

					snprintf(key, sizeof(key), "%s %s", cat_bench_op_name[k],
						 cat_wire_status_name((unsigned)s));
					cat_bench_json_set(errs, key,
						json_integer((json_int_t)p->status[k][s]));
				}
		cat_bench_json_set(run, "errors", errs);
		cat_bench_json_set(run, "not_found",
			json_integer((json_int_t)p->status[CAT_BENCH_GET][CAT_ST_NOT_FOUND]));
		cat_bench_json_set(run, "cas_failed",
			json_integer((json_int_t)p->status[CAT_BENCH_CAS][CAT_ST_CAS_FAILED]));
		cat_bench_json_set(run, "lat_us", cat_bench_json_hist(&p->all, 1, 1, 1, 1));
		for (int k = 0; k < CAT_BENCH_OPS; k++)
			if (d->pct[k] != 0)
				cat_bench_json_set(ops, cat_bench_op_name[k],
					cat_bench_json_hist(&p->op[k], 1, 1, 1, 0));
		cat_bench_json_set(run, "ops", ops);
		cat_bench_json_set(run, "capacity", capacity_json(d, p));
	}
	cat_bench_json_set(r, "runs", runs);
	cat_bench_json_set(r, "net", json_pack("{s:I,s:I,s:I,s:I}",
		"rx", (json_int_t)st->rx_frames, "tx", (json_int_t)st->tx_frames,
		"switched", (json_int_t)st->switched,
		"drop_tx_full", (json_int_t)st->drop_tx_full));
	f = fopen(path, "w");
	if (f == NULL) {
		rc = -errno;
		fprintf(stderr, "catena-bench: --json %s: %s\n", path, strerror(errno));
		json_decref(r);
		return rc;
	}
	rc = cat_bench_json_dump(r, f);
	if (fclose(f) != 0 || rc < 0) {
		fprintf(stderr, "catena-bench: --json %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}
