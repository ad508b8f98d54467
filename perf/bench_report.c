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
	}
	printf("net: rx %" PRIu64 " tx %" PRIu64 " switched %" PRIu64 " arp replies %"
	       PRIu64 " drops: tx full %" PRIu64 ", not ours %" PRIu64 ", bad %" PRIu64
	       ", other %" PRIu64 "\n", st->rx_frames, st->tx_frames,
	       st->switched, st->arp_replies, st->drop_tx_full,
	       st->drop_not_ours, st->drop_bad_frame, st->drop_other);
}

/* A label as a JSON string body: quotes, backslashes and control bytes
 * escaped (labels come from the command line). */
static void json_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
}

static void json_hist(FILE *f, const struct cat_hist *h, int buckets)
{
	fprintf(f, "{\"count\":%" PRIu64 ",\"mean\":%.3f,\"min\":%.3f,\"p50\":%.3f,"
		"\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"p9999\":%.3f,\"max\":%.3f",
		h->count, cat_hist_mean(h) / 1e3, h->count ? h->min / 1e3 : 0.0,
		cat_hist_percentile(h, 50) / 1e3, cat_hist_percentile(h, 90) / 1e3,
		cat_hist_percentile(h, 99) / 1e3, cat_hist_percentile(h, 99.9) / 1e3,
		cat_hist_percentile(h, 99.99) / 1e3, cat_hist_percentile(h, 100) / 1e3);
	if (buckets) {
		/* Non-empty buckets as [upper edge us, count]: the distribution. */
		int first = 1;

		fprintf(f, ",\"buckets_us\":[");
		for (unsigned i = 0; i < CAT_HIST_LEN; i++) {
			if (h->b[i] == 0)
				continue;
			fprintf(f, "%s[%.3f,%" PRIu64 "]", first ? "" : ",",
				cat_hist_bucket_hi(i) / 1e3, h->b[i]);
			first = 0;
		}
		fprintf(f, "]");
	}
	fprintf(f, "}");
}

int cat_bench_write_json(const char *path, const struct cat_bench_desc *d,
			 const struct cat_bench_phase *ph, unsigned n,
			 const struct cat_bnet_stats *st)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "catena-bench: --json %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "{\"tool\":\"catena-bench\",\"label\":\"");
	json_label(f, d->label);
	fprintf(f, "\",\"transport\":\"dpdk\","
		"\"ports\":%u,\"mode\":\"%s\",\"window\":%u,\"mix\":{\"get\":%u,\"put\":%u,"
		"\"cas\":%u},\"keys\":%" PRIu64 ",\"dist\":\"%s\",\"zipf_s\":%.3f,"
		"\"key_size\":%u,\"value_size\":%u,\"batch\":%u,\"warmup_s\":%.3f,"
		"\"duration_s\":%.3f,\"timeout_ms\":%" PRIu64 ",\"map\":%s%s%s,\"slots\":%u,"
		"\"runs\":[", d->n_ports, d->open_loop ? "open" : "closed",
		d->window, d->pct[0], d->pct[1], d->pct[2], d->keys, d->zipf ? "zipf" : "uniform",
		d->zipf ? d->zipf_s : 0.0, d->key_size, d->value_size, d->batch, d->warmup,
		d->duration, d->timeout_ms, d->map_path ? "\"" : "",
		d->map_path ? d->map_path : "null", d->map_path ? "\"" : "", d->slots);
	for (unsigned i = 0; i < n; i++) {
		const struct cat_bench_phase *p = &ph[i];

		fprintf(f, "%s{\"offered_ops\":%.1f,\"achieved_ops\":%.1f,\"seconds\":%.3f,"
			"\"sent\":%" PRIu64 ",\"completed\":%" PRIu64 ",\"timeouts\":%" PRIu64
			",\"late_sends\":%" PRIu64 ",\"window_full\":%" PRIu64 ",\"errors\":{",
			i ? "," : "", p->offered, cat_bench_achieved(d, p), ns_of(d, p->t1 - p->t0) / 1e9,
			p->sent, p->completed, p->timeouts, p->late_sends, p->stall_full);
		int first = 1;

		for (int k = 0; k < CAT_BENCH_OPS; k++)
			for (int st = 1; st < CAT_ST__COUNT; st++)
				if (p->status[k][st] && st != CAT_ST_NOT_FOUND &&
				    st != CAT_ST_CAS_FAILED) {
					fprintf(f, "%s\"%s %s\":%" PRIu64, first ? "" : ",",
						cat_bench_op_name[k], cat_wire_status_name((unsigned)st),
						p->status[k][st]);
					first = 0;
				}
		fprintf(f, "},\"not_found\":%" PRIu64 ",\"cas_failed\":%" PRIu64
			",\"lat_us\":", p->status[CAT_BENCH_GET][CAT_ST_NOT_FOUND],
			p->status[CAT_BENCH_CAS][CAT_ST_CAS_FAILED]);
		json_hist(f, &p->all, 1);
		fprintf(f, ",\"ops\":{");
		first = 1;
		for (int k = 0; k < CAT_BENCH_OPS; k++) {
			if (d->pct[k] == 0)
				continue;
			fprintf(f, "%s\"%s\":", first ? "" : ",", cat_bench_op_name[k]);
			json_hist(f, &p->op[k], 0);
			first = 0;
		}
		fprintf(f, "}}");
	}
	fprintf(f, "],\"net\":{\"rx\":%" PRIu64 ",\"tx\":%" PRIu64 ",\"switched\":%" PRIu64
		",\"drop_tx_full\":%" PRIu64 "}}\n", st->rx_frames, st->tx_frames,
		st->switched, st->drop_tx_full);
	if (fclose(f) != 0) {
		fprintf(stderr, "catena-bench: --json %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}
