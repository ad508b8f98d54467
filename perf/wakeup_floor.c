/*
 * catena-wakeup-floor: what this machine charges to wake a thread, the
 * floor under any latency that sleeps instead of spinning (backoff nodes,
 * kernel servers such as Redis). Prints, one line each:
 *   - a 10 us nanosleep with Linux's default timer slack and with the
 *     least (1 ns, what catena's workers set): p50 and p99 in us;
 *   - an eventfd ping-pong between two threads pinned to two CPUs: the
 *     one-way wake-up, p50 and p99 in us.
 * perf/compare.sh prints it beside its table. Plain C and pthreads.
 *
 *   catena-wakeup-floor [--cpus A,B] [--rounds N] [--json]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

#include <jansson.h>

#include "replication/version.h"

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct q { double p50, p99; };

/* A microsecond figure as the text line shows it, to 0.1 us: more digits
 * would only be noise (and 17 of them, jansson's default, look like a bug). */
static json_t *us(double v)
{
	return json_real((double)(int64_t)(v * 10.0 + 0.5) / 10.0);
}

/* --json: one object on one line. 0, or -1 (out of memory or stdout). */
static int print_json(unsigned long def_slack, struct q s_def, struct q s_min,
		      int cpu_a, int cpu_b, struct q pp)
{
	json_t *o = json_pack("{s:{s:I,s:o,s:o},s:{s:o,s:o},s:{s:[i,i],s:o,s:o}}",
			      "sleep_10us_default_slack",
			      "slack_ns", (json_int_t)def_slack,
			      "p50_us", us(s_def.p50), "p99_us", us(s_def.p99),
			      "sleep_10us_min_slack",
			      "p50_us", us(s_min.p50), "p99_us", us(s_min.p99),
			      "eventfd_one_way",
			      "cpus", cpu_a, cpu_b,
			      "p50_us", us(pp.p50), "p99_us", us(pp.p99));
	int rc;

	if (o == NULL)
		return -1;
	/* 15 significant digits: enough for any 0.1 us figure, and none of
	 * the binary fraction's tail. */
	rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (rc == 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0)
		return 0;
	return -1;
}

static struct q quantiles(uint64_t *d, unsigned int n)
{
	struct q r;

	qsort(d, n, sizeof(d[0]), cmp_u64);
	r.p50 = (double)d[n / 2] / 1e3;
	r.p99 = (double)d[(size_t)n * 99 / 100] / 1e3;
	return r;
}

static struct q sleep_10us(uint64_t *d, unsigned int n, unsigned long slack)
{
	struct timespec r = { 0, 10000 };

	prctl(PR_SET_TIMERSLACK, slack, 0UL, 0UL, 0UL);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t = now_ns();

		nanosleep(&r, NULL);
		d[i] = now_ns() - t;
	}
	return quantiles(d, n);
}

struct pp {
	int to_peer, to_me;
	int cpu;
	unsigned int rounds;
};

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* The echo side: wait for a token, send it back. */
static void *echo(void *arg)
{
	struct pp *p = arg;
	uint64_t v;

	pin(p->cpu);
	for (unsigned int i = 0; i < p->rounds; i++) {
		if (read(p->to_me, &v, sizeof(v)) != sizeof(v) ||
		    write(p->to_peer, &v, sizeof(v)) != sizeof(v))
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned int rounds = 2000;
	int cpu_a = 0, cpu_b = 1, json = 0;
	unsigned long def_slack;
	uint64_t *d;
	struct q s_def, s_min, pp;
	struct pp e;
	pthread_t t;
	int ab, ba;

	if (cat_version_arg(argc, argv, "catena-wakeup-floor"))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc &&
		    sscanf(argv[i + 1], "%d,%d", &cpu_a, &cpu_b) == 2) {
			i++;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = (unsigned int)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "usage: catena-wakeup-floor [--cpus A,B] "
				"[--rounds N] [--json]\n");
			return 2;
		}
	}
	if (rounds < 100)
		rounds = 100;
	d = calloc(rounds, sizeof(*d));
	ab = eventfd(0, 0);
	ba = eventfd(0, 0);
	if (d == NULL || ab < 0 || ba < 0) {
		fprintf(stderr, "catena-wakeup-floor: %s\n", strerror(errno));
		return 1;
	}
	def_slack = (unsigned long)prctl(PR_GET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL);
	s_def = sleep_10us(d, rounds, def_slack);
	s_min = sleep_10us(d, rounds, 1UL);

	e = (struct pp){ .to_peer = ba, .to_me = ab, .cpu = cpu_b, .rounds = rounds };
	if (pthread_create(&t, NULL, echo, &e) != 0) {
		fprintf(stderr, "catena-wakeup-floor: cannot start a thread\n");
		return 1;
	}
	pin(cpu_a);
	for (unsigned int i = 0; i < rounds; i++) {
		uint64_t v = 1, t0 = now_ns();

		if (write(ab, &v, sizeof(v)) != sizeof(v) ||
		    read(ba, &v, sizeof(v)) != sizeof(v))
			break;
		d[i] = (now_ns() - t0) / 2; /* one way */
	}
	pthread_join(t, NULL);
	pp = quantiles(d, rounds);
	if (json) {
		if (print_json(def_slack, s_def, s_min, cpu_a, cpu_b, pp) < 0) {
			fprintf(stderr, "catena-wakeup-floor: cannot write the JSON\n");
			free(d);
			return 1;
		}
	} else
		printf("wake-up floor: 10 us sleep at the default %lu ns slack p50 %.1f us "
		       "p99 %.1f us; at 1 ns slack (catena's workers) p50 %.1f us p99 %.1f us; "
		       "eventfd wake-up cpu %d -> %d one way p50 %.1f us p99 %.1f us\n",
		       def_slack, s_def.p50, s_def.p99, s_min.p50, s_min.p99,
		       cpu_a, cpu_b, pp.p50, pp.p99);
	free(d);
	return 0;
}
