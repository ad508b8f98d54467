/*
 * Unit tests for client/catena.c, the retry budget: against fake nodes on
 * loopback UDP (one thread answers for all of them), a request whose head
 * is silent follows the new map the moment another node serves it, with
 * the same client id and seq on every send, backing off as it goes; an
 * explicit retry count keeps its old meaning; the deadline bounds a
 * request that never gets an answer. Timing bounds are loose: the tests
 * also run under valgrind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/catena.h"
#include "replication/wire.h"

#define SEEN_MAX 256

enum { SILENT, LIVE, N_FAKES };

/* One datagram a fake node received. */
struct seen {
	int fake;
	uint8_t op;
	uint32_t epoch;
	uint32_t client_id;
	uint64_t seq;
	int64_t at_ms;
};

/*
 * Two fake nodes: SILENT, the head of the epoch-1 map, never answers;
 * LIVE serves the epoch-1 map until switch_ms, the epoch-2 map (itself
 * the only chain member) from then on, and answers PUT with OK.
 */
static struct {
	int fd[N_FAKES];
	uint16_t port[N_FAKES];
	char map1[512], map2[512];
	int64_t switch_ms;        /* 0 = never */
	pthread_t thread;
	volatile int stop;
	pthread_mutex_t lock;
	struct seen seen[SEEN_MAX];
	int n_seen;
} F;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(int fd, const struct sockaddr_in *to,
		   const struct cat_msg *req)
{
	uint8_t out[2048];
	struct cat_msg rep = *req;
	const char *text;
	size_t len;
	int n;

	rep.flags = CAT_F_REPLY;
	rep.status = CAT_ST_OK;
	rep.value = NULL;
	rep.value_len = 0;
	if (req->op == CAT_OP_MAP_GET) {
		int new = F.switch_ms && now_ms() >= F.switch_ms;

		text = new ? F.map2 : F.map1;
		len = strlen(text);
		rep.epoch = new ? 2 : 1;
		rep.arg = len;
		if (req->arg < len) {
			rep.value = (const uint8_t *)text + req->arg;
			rep.value_len = (uint32_t)(len - req->arg);
		}
	} else if (req->op == CAT_OP_PUT) {
		rep.epoch = 2;
		rep.arg = 7;
		rep.value = NULL;
	} else {
		return;
	}
	n = cat_wire_encode(out, sizeof(out), &rep);
	if (n <= 0)
		return; /* not asserted here: this is the fake's thread */
	(void)sendto(fd, out, (size_t)n, 0, (const struct sockaddr *)to,
		     sizeof(*to));
}

static void *fake_loop(void *arg)
{
	struct pollfd pfd[N_FAKES];
	uint8_t buf[2048];
	struct sockaddr_in from;
	socklen_t sl;
	struct cat_msg m;
	size_t used;
	ssize_t n;

	(void)arg;
	for (int i = 0; i < N_FAKES; i++)
		pfd[i] = (struct pollfd){ .fd = F.fd[i], .events = POLLIN };
	while (!F.stop) {
		if (poll(pfd, N_FAKES, 5) <= 0)
			continue;
		for (int i = 0; i < N_FAKES; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			sl = sizeof(from);
			n = recvfrom(F.fd[i], buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &sl);
			if (n <= 0 || cat_wire_decode(buf, (size_t)n, &m,
						      &used) != CAT_WIRE_OK)
				continue;
			pthread_mutex_lock(&F.lock);
			if (F.n_seen < SEEN_MAX)
				F.seen[F.n_seen++] = (struct seen){
					.fake = i, .op = m.op, .epoch = m.epoch,
					.client_id = m.client_id, .seq = m.seq,
					.at_ms = now_ms() };
			pthread_mutex_unlock(&F.lock);
			if (i == LIVE)
				answer(F.fd[i], &from, &m);
		}
	}
	return NULL;
}

static int setup(void **state)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	(void)state;
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.lock, NULL);
	for (int i = 0; i < N_FAKES; i++) {
		F.fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(F.fd[i] >= 0);
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(F.fd[i], (struct sockaddr *)&sa,
				      sizeof(sa)), 0);
		assert_int_equal(getsockname(F.fd[i], (struct sockaddr *)&sa,
					     &sl), 0);
		F.port[i] = ntohs(sa.sin_port);
	}
	snprintf(F.map1, sizeof(F.map1),
		 "epoch 1\nslots 1024\nnode 1 127.0.0.1:%u\n"
		 "node 2 127.0.0.1:%u\nchain 1 1 2\nassign 0-1023 1\n",
		 F.port[SILENT], F.port[LIVE]);
	snprintf(F.map2, sizeof(F.map2),
		 "epoch 2\nslots 1024\nnode 1 127.0.0.1:%u\n"
		 "node 2 127.0.0.1:%u\nchain 1 2\nassign 0-1023 1\n",
		 F.port[SILENT], F.port[LIVE]);
	assert_int_equal(pthread_create(&F.thread, NULL, fake_loop, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	F.stop = 1;
	pthread_join(F.thread, NULL);
	for (int i = 0; i < N_FAKES; i++)
		close(F.fd[i]);
	pthread_mutex_destroy(&F.lock);
	return 0;
}

/* A client that knows only LIVE as its bootstrap node. */
static struct cat_client *open_client(int timeout_ms, int retries,
				      int deadline_ms)
{
	struct cat_client_opts o;
	struct cat_client *c;
	char host[64];
	int err = 1;

	snprintf(host, sizeof(host), "127.0.0.1:%u", F.port[LIVE]);
	cat_client_opts_init(&o, host);
	o.timeout_ms = timeout_ms;
	o.retries = retries;
	o.deadline_ms = deadline_ms;
	c = cat_client_open(&o, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	/* The epoch-1 map up front: the request starts with it cached. */
	assert_int_equal(cat_client_refresh_map(c), 0);
	assert_int_equal(cat_client_map_epoch(c), 1);
	return c;
}

/* The PUTs received, in order: at most cap of them into out. */
static int puts_seen(struct seen *out, int cap)
{
	int n = 0;

	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < F.n_seen; i++)
		if (F.seen[i].op == CAT_OP_PUT && n < cap)
			out[n++] = F.seen[i];
	pthread_mutex_unlock(&F.lock);
	return n;
}

static int map_gets_seen_after(int64_t t)
{
	int n = 0;

	pthread_mutex_lock(&F.lock);
	for (int i = 0; i < F.n_seen; i++)
		n += F.seen[i].op == CAT_OP_MAP_GET && F.seen[i].at_ms >= t &&
		     F.seen[i].fake == LIVE;
	pthread_mutex_unlock(&F.lock);
	return n;
}

static void test_default_budget_follows_the_new_map_with_one_request_id(
	void **state)
{
	struct cat_client *c = open_client(0, 0, 0);
	struct seen s[SEEN_MAX];
	uint64_t version = 0;
	int64_t t0, took;
	int n, rc;

	(void)state;
	t0 = now_ms();
	F.switch_ms = t0 + 1000;     /* "catena-control failed the head" */
	rc = cat_client_put(c, "k", 1, "v", 1, &version);
	took = now_ms() - t0;
	assert_int_equal(rc, 0);
	assert_int_equal(version, 7);
	assert_int_equal(cat_client_map_epoch(c), 2);
	/* Found at the first re-send after the switch (200, 400, then
	 * 500 ms apart: sends at 0, 200, 600, 1100). */
	assert_true(took >= 1000);
	assert_true(took < 1000 + CAT_CLIENT_TIMEOUT_CAP_MS + 400);

	n = puts_seen(s, SEEN_MAX);
	assert_true(n >= 4);
	for (int i = 0; i < n; i++) {
		/* One request id throughout: the node's dedup relies on it. */
		assert_int_equal(s[i].client_id, cat_client_id(c));
		assert_int_equal(s[i].seq, s[0].seq);
		assert_int_equal(s[i].fake, i < n - 1 ? SILENT : LIVE);
		assert_int_equal(s[i].epoch, i < n - 1 ? 1u : 2u);
	}
	/* The re-sends back off: each wait at least the last, none over
	 * the cap (plus slack), the first about timeout_ms. */
	assert_true(s[1].at_ms - s[0].at_ms >= 180);
	for (int i = 2; i < n - 1; i++) {
		int64_t gap = s[i].at_ms - s[i - 1].at_ms;

		assert_true(gap >= s[i - 1].at_ms - s[i - 2].at_ms - 30);
		assert_true(gap <= CAT_CLIENT_TIMEOUT_CAP_MS + 150);
	}
	assert_true(s[2].at_ms - s[1].at_ms >= 350);
	/* The map was asked of the live node at every re-send, not once. */
	assert_true(map_gets_seen_after(t0) >= n - 2);
	cat_client_close(c);
}

static void test_explicit_count_keeps_its_meaning(void **state)
{
	struct cat_client *c = open_client(100, 2, 0);
	struct seen s[SEEN_MAX];
	int64_t t0, took;
	int n, rc;

	(void)state;
	t0 = now_ms();
	rc = cat_client_put(c, "k", 1, "v", 1, NULL);
	took = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	/* 3 tries of 100 ms each, no backoff, and no more. */
	assert_true(took >= 290 && took < 1000);
	n = puts_seen(s, SEEN_MAX);
	assert_int_equal(n, 3);
	for (int i = 1; i < n; i++) {
		int64_t gap = s[i].at_ms - s[i - 1].at_ms;

		assert_int_equal(s[i].seq, s[0].seq);
		assert_true(gap >= 90 && gap < 250);
	}
	cat_client_close(c);
}

static void test_deadline_bounds_a_request_nobody_answers(void **state)
{
	struct cat_client *c = open_client(0, 0, 700);
	int64_t t0, took;
	int rc;

	(void)state;
	t0 = now_ms();
	rc = cat_client_put(c, "k", 1, "v", 1, NULL);
	took = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(took >= 690 && took < 1200);
	assert_string_equal(cat_client_strerror(rc),
			    "no reply within the retry budget");
	cat_client_close(c);
}

static void test_bad_deadline_is_refused(void **state)
{
	struct cat_client_opts o;
	int err = 0;

	(void)state;
	cat_client_opts_init(&o, "127.0.0.1");
	o.deadline_ms = -1;
	assert_null(cat_client_open(&o, &err));
	assert_int_equal(err, -EINVAL);
	o.deadline_ms = CAT_CLIENT_DEADLINE_MAX_MS + 1;
	assert_null(cat_client_open(&o, &err));
	assert_int_equal(err, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_default_budget_follows_the_new_map_with_one_request_id,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_explicit_count_keeps_its_meaning, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_deadline_bounds_a_request_nobody_answers, setup,
			teardown),
		cmocka_unit_test(test_bad_deadline_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
