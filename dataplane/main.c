/*
 * catena-node: process setup and teardown. Parses the application
 * arguments, config and cluster map, initialises EAL, the mbuf pool, the
 * store, the handover rings, the port, the chain engines and telemetry,
 * launches one worker per worker lcore, then runs the node agent loop
 * (table sizing, SIGHUP map reload, map retirement, suspect peers, the
 * control channel) until
 * SIGINT/SIGTERM and tears everything down in order, removing the hugepage
 * files of its file prefix. Never touches packets; the only file that
 * exits the process.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pdump.h>
#include <rte_ring.h>

#include "dataplane/eal_dir.h"
#include "dataplane/agent.h"
#include "dataplane/config.h"
#include "dataplane/counters.h"
#include "dataplane/durable.h"
#include "dataplane/nodechan.h"
#include "dataplane/port.h"
#include "dataplane/portplan.h"
#include "dataplane/telemetry.h"
#include "dataplane/worker.h"
#include "replication/service.h"
#include "replication/store.h"
#include "replication/version.h"

#define EXIT_RUNTIME 1  /* EAL, port, resources */
#define EXIT_CONFIG  2  /* bad configuration or arguments */

#define LINK_WAIT_MS 3000u
/* How often the agent checks slot table sizes, and how many tables one
 * check may resize: keeps each pass short and the tables near one bucket
 * per key even under a steady insert load. */
#define MAINTAIN_PERIOD_MS   10

static int logtype;

#define LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, logtype, "catena-node: " fmt "\n", ##__VA_ARGS__)

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t got_hup;

static void on_signal(int signo)
{
	got_signal = signo;
}

static void on_hup(int signo)
{
	(void)signo;
	got_hup = 1;
}

/* Everything main creates, so one teardown handles every exit path. */
struct node {
	struct cat_config cfg;
	struct cat_lease lease;    /* dp.lease with [control] */
	int eal_up;
	int port_up;
	int launched;
	int telemetry_up;
	int pdump_up;           /* rte_pdump_init done: dpdk-dumpcap may attach */
	char prefix[256];       /* EAL file prefix, for hugepage cleanup */
	char runtime_dir[512];  /* EAL runtime directory, removed at exit */
	struct cat_dp dp;
	struct cat_worker *workers[CAT_WORKER_MAX];
	struct cat_map *map0;   /* [cluster] map as loaded, until published */
	struct cat_agent agent;
	struct cat_nodechan control;
	int control_up;         /* control initialised: fini it */
	struct cat_port port;
	int mem_socket;         /* NUMA socket of the pool and rings: the port's */
	struct cat_durable durable; /* [node] durability = log */
};

/* One clear line on stderr, for errors that end the process. */
static void fail_line(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%scatena-node: ", cat_service_err());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/*
 * Remove the hugepage files EAL left for our prefix. Without --huge-unlink
 * EAL keeps "<prefix>map_<n>" files in the hugetlbfs mount so secondary
 * processes can map them; nothing else will ever remove them, and they pin
 * hugepages. Matches "<prefix>map_" exactly so prefix "n1" never touches
 * "n10"'s files. Returns how many files were removed.
 */
static unsigned int remove_hugepage_files(const char *prefix)
{
	char line[1024], pat[300];
	unsigned int removed = 0;
	size_t plen;
	FILE *mounts;

	if (prefix[0] == '\0')
		return 0;
	snprintf(pat, sizeof(pat), "%smap_", prefix);
	plen = strlen(pat);
	mounts = fopen("/proc/mounts", "r");
	if (mounts == NULL)
		return 0;
	while (fgets(line, sizeof(line), mounts) != NULL) {
		char dev[256], dir[512], type[64];
		struct dirent *de;
		DIR *d;

		if (sscanf(line, "%255s %511s %63s", dev, dir, type) != 3 ||
		    strcmp(type, "hugetlbfs") != 0)
			continue;
		d = opendir(dir);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char path[1024];
			const char *p;

			if (strncmp(de->d_name, pat, plen) != 0)
				continue;
			for (p = de->d_name + plen; *p >= '0' && *p <= '9'; p++)
				;
			if (p == de->d_name + plen || *p != '\0')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (unlink(path) == 0)
				removed++;
		}
		closedir(d);
	}
	fclose(mounts);
	return removed;
}

static void free_rings(struct node *n)
{
	unsigned int i, j;

	for (i = 0; i < CAT_WORKER_MAX; i++) {
		for (j = 0; j < CAT_WORKER_MAX; j++) {
			struct rte_ring *r = n->dp.ring[i][j];
			void *obj;

			if (r == NULL)
				continue;
			/* Handover records still queued when workers stopped. */
			while (rte_ring_dequeue(r, &obj) == 0)
				rte_pktmbuf_free(obj);
			rte_ring_free(r);
			n->dp.ring[i][j] = NULL;
		}
	}
}

/*
 * Undo whatever main set up, in reverse order, and end the process.
 * summary (may be NULL) is printed last, with the count of hugepage files
 * removed appended, so a clean stop says everything in one line.
 */
static void teardown_and_exit(struct node *n, int code, const char *summary)
{
	unsigned int i, removed;

	if (n->launched) {
		cat_worker_request_stop();
		rte_eal_mp_wait_lcore();
	}
	/* Workers stopped: what they logged is written and synced. */
	cat_durable_stop(&n->durable);
	if (n->telemetry_up)
		cat_telemetry_disable();
	if (n->pdump_up)
		(void)rte_pdump_uninit();
	free_rings(n);
	for (i = 0; i < CAT_WORKER_MAX; i++)
		if (n->workers[i] != NULL)
			cat_worker_fini(n->workers[i]);
	if (n->control_up)
		cat_nodechan_fini(&n->control);
	/* Workers have stopped and telemetry is off: nobody reads a map. */
	cat_agent_fini(&n->agent);
	cat_map_free(n->map0);
	free(n->dp.faults);
	if (n->port_up)
		cat_port_fini(&n->port);
	if (n->dp.store != NULL)
		/* main is not an RCU reader, as cat_store_destroy requires. */
		cat_store_destroy(n->dp.store);
	for (i = 0; i < CAT_WORKER_MAX; i++)
		rte_free(n->workers[i]);
	rte_mempool_free(n->dp.pool);
	if (n->eal_up && rte_eal_cleanup() != 0)
		fail_line("rte_eal_cleanup: %s", rte_strerror(rte_errno));
	removed = remove_hugepage_files(n->prefix);
	cat_eal_remove_runtime_dir(n->runtime_dir);
	if (summary != NULL)
		fprintf(stderr, "%s hugepage_files_removed=%u\n", summary, removed);
	exit(code);
}

static void fatal(struct node *n, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%scatena-node: ", cat_service_err());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	teardown_and_exit(n, code, NULL);
}

static void setup_pool(struct node *n)
{
	const struct cat_config *c = &n->cfg;
	uint32_t w = n->dp.n_workers;
	unsigned int cache = RTE_MIN(256u, c->mbufs / 8);
	uint64_t need;

	/* On the port's socket: the NIC writes every received frame into it. */
	n->dp.pool = rte_pktmbuf_pool_create("cat_mbufs", c->mbufs, cache, 0,
					     cat_worker_mbuf_data_room(c->mtu),
					     n->mem_socket);
	if (n->dp.pool == NULL)
		fatal(n, EXIT_RUNTIME, "cannot create pool of %u mbufs: %s", c->mbufs,
		      rte_strerror(rte_errno));
	/* Worst case in flight: full rx and tx rings, full handover rings,
	 * per-lcore caches, reply buffers. Fewer still works, with drops. */
	need = (uint64_t)w * (c->rx_desc + c->tx_desc + CAT_WORKER_TX_BUF) +
	       (uint64_t)w * (w - 1) * c->handover_ring + (uint64_t)(w + 1) * cache;
	if (need > c->mbufs)
		LOG(WARNING, "[dataplane] mbufs = %u may run short under load "
		    "(worst case in flight %" PRIu64 ")", c->mbufs, need);
}

static void setup_rings(struct node *n)
{
	unsigned int i, j, lcore, sock[CAT_WORKER_MAX];

	/* Worker j's lcore (workers are numbered in lcore order). */
	i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
		if (i < CAT_WORKER_MAX)
			sock[i++] = rte_lcore_to_socket_id(lcore);
	for (i = 0; i < n->dp.n_workers; i++) {
		for (j = 0; j < n->dp.n_workers; j++) {
			char name[RTE_RING_NAMESIZE];

			if (i == j)
				continue;
			snprintf(name, sizeof(name), "cat_ho_%u_%u", i, j);
			/* SPSC: only worker i enqueues, only worker j dequeues,
			 * and a preempted producer cannot stall anyone. */
			/* On the consumer's socket: it polls the ring
			 * every iteration, the producer only writes. */
			n->dp.ring[i][j] = rte_ring_create(name, n->cfg.handover_ring,
				(int)sock[j], RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (n->dp.ring[i][j] == NULL)
				fatal(n, EXIT_RUNTIME, "cannot create ring %s: %s", name,
				      rte_strerror(rte_errno));
		}
	}
}

static void setup_workers(struct node *n)
{
	unsigned int lcore, i = 0;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct cat_worker *w;

		w = rte_zmalloc_socket("cat_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
				       (int)rte_lcore_to_socket_id(lcore));
		if (w == NULL)
			fatal(n, EXIT_RUNTIME, "cannot allocate worker state");
		w->dp = &n->dp;
		w->idx = (uint16_t)i;
		w->lcore = lcore;
		n->workers[i++] = w;
		if (cat_worker_init(w) < 0)
			fatal(n, EXIT_RUNTIME, "cannot create the chain engine of worker "
			      "%u (inflight %u x %u bytes, dedup %u): %s", i - 1,
			      n->cfg.repl_inflight, n->cfg.mtu, n->cfg.repl_dedup,
			      strerror(errno));
	}
}

/*
 * NUMA: the port, the pool and rings on its socket, the workers polling
 * it and the main lcore (which allocates and first touches the store, the
 * slot tables and the chain engines) should all share one socket. A config
 * that crosses sockets still runs, slower; it is said once at start.
 */
static void check_numa(struct node *n)
{
	int ws[CAT_WORKER_MAX];
	unsigned int lcore, i = 0;
	char why[512];

	RTE_LCORE_FOREACH_WORKER(lcore)
		if (i < CAT_WORKER_MAX)
			ws[i++] = (int)rte_lcore_to_socket_id(lcore);
	if (cat_numa_check(n->port.socket, (int)rte_socket_id(), ws, i, why,
			   sizeof(why)) > 0)
		LOG(WARNING, "NUMA: %s", why);
}

/*
 * [cluster] map: loaded and checked before EAL, so a bad map is one line
 * and exit 2 without touching hugepages. Also settles [store] slots: the
 * map's when the config leaves it out.
 */
static int load_cluster_map(struct node *n, char *err, size_t errlen)
{
	struct cat_config *c = &n->cfg;
	char why[256];
	int rc;

	if (c->map_path[0] == '\0') {
		if (c->slots == 0)
			c->slots = CAT_CONFIG_SLOTS_DEFAULT;
		return 0;
	}
	rc = cat_map_load(c->map_path, &n->map0, why, sizeof(why));
	if (rc == 0)
		rc = cat_agent_map_check(n->map0, c, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "config %s: [cluster] map %s: %s", c->path,
			 c->map_path, why);
		return rc;
	}
	if (c->slots == 0)
		c->slots = n->map0->slot_count;
	return 0;
}

/* The first map and fault settings, published before any worker runs. */
static void publish_initial(struct node *n)
{
	const uint8_t *mac = n->dp.mac.addr_bytes;
	struct cat_dp_map *dm;
	char err[512];

	n->agent.dp = &n->dp;
	n->agent.workers = n->workers;
	n->agent.cfg = &n->cfg;
	if (n->map0 == NULL && n->cfg.control_connect[0] != '\0') {
		/* The control plane will send the map; until then workers
		 * answer PING, ARP and ICMP, and RETRY to the rest. */
		(void)0;
	} else if (n->map0 == NULL) {
		if (cat_agent_map_single(&n->cfg, mac, &n->map0, err, sizeof(err)) < 0)
			fatal(n, EXIT_CONFIG, "%s", err);
	} else {
		const struct cat_map_node *me =
			cat_map_node_by_id(n->map0, (uint16_t)n->cfg.node_id);
		static const uint8_t zero[6];

		if (memcmp(me->mac, zero, 6) != 0 && memcmp(me->mac, mac, 6) != 0)
			LOG(WARNING, "port MAC " RTE_ETHER_ADDR_PRT_FMT " differs from "
			    "node %u's MAC in the cluster map: peers will send to the "
			    "map's", RTE_ETHER_ADDR_BYTES(&n->dp.mac), n->cfg.node_id);
	}
	if (n->map0 != NULL &&
	    cat_agent_map_check_workers(n->map0, (uint16_t)n->cfg.node_id,
					n->dp.n_workers, err, sizeof(err)) < 0)
		fatal(n, EXIT_CONFIG, "config %s: [cluster] map %s: %s", n->cfg.path,
		      n->cfg.map_path, err);
	if (n->map0 != NULL) {
		dm = cat_agent_map_wrap(n->map0, (uint16_t)n->cfg.node_id);
		if (dm == NULL)
			fatal(n, EXIT_RUNTIME, "cannot prepare the cluster map: %s",
			      strerror(errno));
		n->map0 = NULL;
		(void)cat_agent_publish(&n->agent, dm);
	}

	n->dp.faults = malloc(sizeof(*n->dp.faults));
	if (n->dp.faults == NULL)
		fatal(n, EXIT_RUNTIME, "out of memory");
	*n->dp.faults = n->cfg.faults;
}

/* The control channel's log lines, through the node's log type. */
static void control_log(unsigned int level, const char *msg)
{
	rte_log(level, logtype, "catena-node: %s\n", msg);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * The main lcore is the node agent: it reloads the cluster map on SIGHUP, frees maps the workers left
 * behind, reports suspect peers, and runs the control channel. It sleeps
 * in poll(2) on the control socket, so a control message is handled at
 * once, and does the rest every MAINTAIN_PERIOD_MS. It is an RCU thread
 * online only while it reads the store (digests), offline
 * otherwise (synchronize_rcu included). A signal may land on any thread;
 * polling the flags makes that irrelevant.
 */
static void agent_loop(struct node *n)
{
	uint64_t next_maintain = mono_ms();

	rcu_register_thread();
	rcu_thread_offline();
	while (!got_signal) {
		struct pollfd pfd = { .fd = -1 };
		uint64_t now = mono_ms();
		int timeout = next_maintain > now ? (int)(next_maintain - now) : 0;
		char msg[512];

		pfd.fd = cat_nodechan_pollfd(&n->control, &pfd.events);
		(void)poll(&pfd, pfd.fd >= 0 ? 1 : 0, timeout);
		now = mono_ms();
		cat_nodechan_poll(&n->control, now);
		if (now < next_maintain)
			continue;
		next_maintain = now + MAINTAIN_PERIOD_MS;

		if (cat_port_link_poll(&n->port, now, msg, sizeof(msg)))
			rte_log(n->port.link.up ? RTE_LOG_NOTICE : RTE_LOG_WARNING,
				logtype, "catena-node: %s\n", msg);
		if (got_hup) {
			got_hup = 0;
			if (cat_agent_reload(&n->agent, msg, sizeof(msg)) == 0)
				LOG(NOTICE, "%s", msg);
			else
				LOG(ERR, "%s", msg);
		}
		cat_agent_retire(&n->agent);
		while (cat_agent_suspects(&n->agent, msg, sizeof(msg)))
			LOG(WARNING, "%s", msg);
	}
	rcu_unregister_thread();
}

/*
 * `catena-node --help` (or -h) as the first argument: both halves of the
 * command line. After "--", --help is config.c's and prints the usage.
 */
static void print_help(void)
{
	printf("%s\n\n"
	       "EAL arguments (before \"--\"): the cores, the device and the\n"
	       "hugepage memory, e.g. -l 0,1 -a 0000:03:00.0 --file-prefix node1\n"
	       "(DPDK's \"EAL parameters\" guide lists them all).\n"
	       "catena's arguments (after \"--\"):\n"
	       "  --config FILE              the node's INI config (docs/DEPLOY.md)\n"
	       "  --set SECTION.KEY=VALUE    override one config key (repeatable)\n"
	       "  --ip A.B.C.D               override [node] ip\n"
	       "  --idle busy|backoff|interrupt  override [node] idle\n"
	       "  --help                     this text\n"
	       "catena-node --version prints the version.\n"
	       "Exit status: 0 stopped by SIGINT/SIGTERM, 1 runtime failure (EAL,\n"
	       "port, memory), 2 bad configuration or arguments.\n",
	       cat_config_usage());
}

/* DPDK's levels are syslog's plus one (RTE_LOG_EMERG is 1). */
static int rte_prio(void)
{
	return (int)rte_log_cur_msg_loglevel() - 1;
}

/*
 * Under systemd with stderr on the journal, every line gets its priority:
 * rte_log lines (ours and EAL's) at their level, other stderr lines (the
 * summary at exit, fail_line's as errors) at NOTICE. rte_openlog_stream
 * also replaces EAL's default stream, which copied every line to
 * syslog(3) as well and so to the journal twice. Before EAL, so EAL's own
 * start-up lines have priorities too.
 */
static void journal_logs(void)
{
	FILE *f;

	if (!cat_service_journal_stderr(LOG_NOTICE))
		return;
	f = cat_service_journal_stream(LOG_INFO, rte_prio);
	if (f != NULL)
		(void)rte_openlog_stream(f);
}

/* Application arguments start after the first "--"; EAL never sees them. */
static int split_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return argc;
}

/* The application's own arguments (after "--"), behind argv[0]; NULL
 * when out of memory. The caller frees the array (not the strings). */
static char **app_args(int dd, int argc, char **argv, int *app_argc)
{
	char **app_argv;
	unsigned int i;

	*app_argc = argc - dd;
	if (*app_argc < 1)
		*app_argc = 1;
	app_argv = calloc((size_t)*app_argc + 1, sizeof(*app_argv));
	if (app_argv == NULL)
		return NULL;
	app_argv[0] = argv[0];
	for (i = 1; i < (unsigned int)*app_argc; i++)
		app_argv[i] = argv[dd + (int)i];
	return app_argv;
}

/*
 * Config first: a bad config, map or secret is reported before EAL prints
 * anything or takes any hugepage. Returns 0 to go on, 1 when the arguments
 * asked for help (the text in err), or -errno with the reason in err.
 */
static int load_config(struct node *n, int dd, int argc, char **argv,
		       char *err, size_t errlen)
{
	char **app_argv;
	int app_argc, rc;

	app_argv = app_args(dd, argc, argv, &app_argc);
	if (app_argv == NULL)
		exit(EXIT_RUNTIME);
	rc = cat_config_from_args(&n->cfg, app_argc, app_argv, err, errlen);
	free(app_argv);
	if (rc == 0)
		rc = load_cluster_map(n, err, errlen);
	if (rc == 0)
		rc = cat_nodechan_preflight(&n->cfg, err, errlen);
	return rc;
}

/* EAL, then what needs it before anything else: the file prefix for the
 * hugepage cleanup, the log type, the signal handlers. */
static void start_eal(struct node *n, int dd, char **argv)
{
	struct sigaction sa;
	const char *rdir, *slash;

	/* EAL parses with getopt too: make it start from scratch. */
	optind = 0;

	if (rte_eal_init(dd, argv) < 0) {
		fail_line("EAL init failed: %s", rte_strerror(rte_errno));
		exit(EXIT_RUNTIME);
	}
	n->eal_up = 1;
	/* The prefix is the last component of EAL's runtime directory. */
	rdir = rte_eal_get_runtime_dir();
	snprintf(n->runtime_dir, sizeof(n->runtime_dir), "%s", rdir);
	slash = strrchr(rdir, '/');
	snprintf(n->prefix, sizeof(n->prefix), "%s", slash ? slash + 1 : rdir);

	logtype = rte_log_register_type_and_pick_level("catena.node", RTE_LOG_INFO);
	if (logtype < 0)
		logtype = RTE_LOGTYPE_USER1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

/* The port and the worker lcores EAL was given: exits if they cannot
 * make a node. */
static void check_eal_resources(struct node *n)
{
	/* Without a device EAL starts fine and every ethdev call after this
	 * would be about a port that does not exist. */
	if (rte_eth_dev_count_avail() == 0)
		fatal(n, EXIT_CONFIG, "no DPDK port: EAL found no Ethernet device. "
		      "Give one with --vdev (e.g. --vdev net_af_packet0,iface=eth1 "
		      "or --vdev net_memif0,role=server,...) or bind a NIC to a "
		      "DPDK driver (dpdk-devbind.py -b vfio-pci ADDR) and allow it "
		      "with -a ADDR; --no-pci hides every PCI device");
	if (!rte_eth_dev_is_valid_port(n->cfg.port_id))
		fatal(n, EXIT_CONFIG, "[node] port_id %u: no such DPDK port (%u available, "
		      "ids from 0 in the order of --vdev / -a; dpdk-devbind.py "
		      "--status lists NICs)", n->cfg.port_id,
		      rte_eth_dev_count_avail());

	n->dp.n_workers = (uint16_t)(rte_lcore_count() - 1);
	if (n->dp.n_workers == 0)
		fatal(n, EXIT_RUNTIME, "no worker lcores: give EAL at least two lcores "
		      "(e.g. -l 0,1); the main lcore does not poll");
	if (n->dp.n_workers > CAT_WORKER_MAX)
		fatal(n, EXIT_RUNTIME, "%u worker lcores, at most %u supported",
		      n->dp.n_workers, CAT_WORKER_MAX);
}

/* The workers' shared parameters, from the config. */
static void fill_dp(struct node *n)
{
	n->dp.port_id = n->cfg.port_id;
	n->dp.burst = (uint16_t)n->cfg.burst;
	/* Interrupt mode backs off too where a queue cannot be armed. */
	n->dp.idle_backoff = n->cfg.idle != CAT_IDLE_BUSY;
	n->dp.idle_interrupt = n->cfg.idle == CAT_IDLE_INTERRUPT;
	n->dp.udp_zero_drop = (uint16_t)n->cfg.udp_zero_drop;
	/* The cluster secret that authenticates the node channel also turns
	 * on link tags: the keys come over that channel with each map. */
	n->dp.link_auth = n->cfg.control_secret_file[0] != '\0';
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		n->dp.link_ctr0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	n->dp.ip_be = htonl(n->cfg.ip);
	n->dp.udp_port_be = htons(n->cfg.udp_port);
	n->dp.udp_port = n->cfg.udp_port;
	n->dp.mtu = n->cfg.mtu;
	n->dp.slot_count = n->cfg.slots;
	n->dp.node_id = (uint16_t)n->cfg.node_id;
	n->dp.repl_inflight = n->cfg.repl_inflight;
	n->dp.repl_dedup = n->cfg.repl_dedup;
	n->dp.repl_suspect_after = n->cfg.repl_suspect_after;
	n->dp.repl_rto_ns = (uint64_t)n->cfg.repl_rto_us * 1000;
	n->dp.repl_xfer_rate = n->cfg.repl_xfer_rate;
	n->dp.repl_xfer_slots = n->cfg.repl_xfer_slots;
	n->dp.tsc_hz = rte_get_tsc_hz();
	/* Memory the port and the workers touch goes on the port's socket
	 * (unknown for virtual devices: then the main lcore's). */
	n->mem_socket = cat_numa_mem_socket(rte_eth_dev_socket_id(n->cfg.port_id),
					    (int)rte_socket_id());
}

static void setup_store(struct node *n)
{
	struct cat_store_params sp;

	sp.slot_count = n->cfg.slots;
	sp.mem_limit = n->cfg.mem_limit_mb << 20;
	n->dp.store = cat_store_create(&sp);
	if (n->dp.store == NULL)
		fatal(n, EXIT_RUNTIME, "cannot create store (%u slots): %s",
		      n->cfg.slots, strerror(errno));
	/* Under catena-control the map can change behind a node's back (it
	 * is cut off and taken out): reads need a lease from the chain. */
	if (n->cfg.control_connect[0] != '\0') {
		cat_lease_init(&n->lease);
		n->dp.lease = &n->lease;
	}
}

/* mkdir -p for the log's default place (/var/lib/catena/nodeID). */
static void make_parents(const char *dir)
{
	char p[256];

	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			(void)mkdir(p, 0755);
			*s = '/';
		}
}

/*
 * [node] durability = log: replay the log into the store before anything
 * serves, then start the log writer. A log that cannot be read or opened
 * stops the node (exit 2: the operator's disk or setting), never a node
 * that silently starts empty.
 */
static void setup_durable(struct node *n)
{
	const struct cat_dlog_replay *r = &n->durable.replay;
	char err[1024] = "";
	uint64_t keys = 0;
	int rc;

	if (n->cfg.durability == 0)
		return;
	if (n->cfg.log_dir[0] == '\0')
		snprintf(n->cfg.log_dir, sizeof(n->cfg.log_dir), "/var/lib/catena/node%u",
			 n->cfg.node_id);
	make_parents(n->cfg.log_dir);
	/* Replay writes every slot: this thread is their writer for now. */
	rcu_register_thread();
	rc = cat_durable_start(&n->durable, &n->cfg, n->dp.store, n->dp.n_workers,
			       err, sizeof(err));
	for (uint32_t s = 0; rc == 0 && s < n->cfg.slots; s++)
		keys += cat_store_slot_keys(n->dp.store, s);
	rcu_unregister_thread();
	if (rc < 0)
		fatal(n, EXIT_CONFIG, "durability = log: %s", err);
	n->dp.durable = &n->durable;
	if (n->cfg.fsync_ms)
		LOG(NOTICE, "durability = log in %s, fsync every %u ms (a power cut "
		    "may lose the last %u ms of acknowledged writes)", n->cfg.log_dir,
		    n->cfg.fsync_ms, n->cfg.fsync_ms);
	else
		LOG(NOTICE, "durability = log in %s, fsync always (a client is "
		    "answered once its write is on disk)", n->cfg.log_dir);
	if (n->durable.recovery.snap_seq)
		LOG(NOTICE, "durability: snapshot %016" PRIx64 ": %" PRIu64 " records (%"
		    PRIu64 " bytes) in %.1f ms, then the log after it",
		    n->durable.recovery.snap_seq, n->durable.recovery.snap_records,
		    n->durable.recovery.snap_bytes,
		    (double)n->durable.recovery.snap_ns / 1e6);
	if (n->durable.recovery.note[0])
		LOG(WARNING, "durability: %s", n->durable.recovery.note);
	LOG(NOTICE, "durability: replayed %" PRIu64 " records (%" PRIu64 " bytes, %"
	    PRIu64 " segments) in %.1f ms: %" PRIu64 " keys", r->records, r->bytes,
	    r->segments, (double)n->durable.replay_ns / 1e6, keys);
	if (r->torn || r->corrupt)
		LOG(WARNING, "durability: %s", r->note);
	if (n->durable.replay_errors)
		LOG(ERR, "durability: %" PRIu64 " records of the log were not applied "
		    "(see above)", n->durable.replay_errors);
}

static void setup_port(struct node *n)
{
	struct cat_port_params pp;
	char err[1024];

	pp.port_id = n->cfg.port_id;
	pp.n_queues = n->dp.n_workers;
	pp.rx_desc = (uint16_t)n->cfg.rx_desc;
	pp.tx_desc = (uint16_t)n->cfg.tx_desc;
	pp.mtu = n->cfg.mtu;
	pp.ip = n->cfg.ip;
	pp.udp_port = n->cfg.udp_port;
	pp.steering = n->cfg.steering;
	pp.socket = n->mem_socket;
	pp.pool = n->dp.pool;
	pp.link_wait_ms = LINK_WAIT_MS;
	pp.rx_intr = n->cfg.idle == CAT_IDLE_INTERRUPT;
	if (cat_port_init(&n->port, &pp, err, sizeof(err)) < 0)
		fatal(n, EXIT_RUNTIME, "%s", err);
	n->port_up = 1;
	n->dp.mac = n->port.mac;
	n->dp.tx_cksum_offload = (uint16_t)n->port.tx_cksum_offload;
	/* Worker ports are accepted whatever the steering: a map may
	 * announce them ("workers ID N") to clients before or without flow
	 * rules, and a request on the wrong queue is handed over as usual. */
	if (n->dp.n_workers > 1)
		n->dp.worker_ports = n->dp.n_workers;
	LOG(NOTICE, "port %u (%s) steering %s: %s", n->cfg.port_id, n->port.driver,
	    cat_steer_mode_name(n->port.steer), n->port.steer_why);
	check_numa(n);
	if (!n->port.link.up)
		LOG(WARNING, "port %u: link still down after %u ms; serving anyway",
		    n->cfg.port_id, LINK_WAIT_MS);
}

/* What runs beside the workers on the main lcore and the service
 * threads: the node channel, telemetry, pdump. */
static void start_services(struct node *n)
{
	char err[1024];
	int rc;

	rc = cat_nodechan_init(&n->control, &n->cfg, &n->agent, control_log,
			        err, sizeof(err));
	if (rc < 0)
		fatal(n, EXIT_CONFIG, "%s", err);
	n->control_up = 1;

	rc = cat_telemetry_register(&n->dp, n->workers, &n->cfg);
	if (rc < 0)
		LOG(WARNING, "telemetry commands not registered: %s", strerror(-rc));
	/* dpdk-dumpcap (a secondary process) captures by asking us, over
	 * EAL's multi-process channel, to copy rx/tx into its ring: nothing
	 * runs on the hot path until one attaches. Needs hugepage files a
	 * secondary can map (no --huge-unlink, no --in-memory). */
	if (rte_pdump_init() == 0)
		n->pdump_up = 1;
	else
		LOG(WARNING, "pdump not enabled (dpdk-dumpcap cannot attach): %s",
		    rte_strerror(rte_errno));
	cat_telemetry_set_control(&n->control);
	cat_telemetry_set_port(&n->port);
	n->control.port = &n->port;
	n->telemetry_up = 1;
}

static void launch_workers(struct node *n)
{
	unsigned int i;
	int rc;

	for (i = 0; i < n->dp.n_workers; i++) {
		rc = rte_eal_remote_launch(cat_worker_main, n->workers[i],
					   n->workers[i]->lcore);
		if (rc != 0)
			fatal(n, EXIT_RUNTIME, "cannot launch worker on lcore %u: %s",
			      n->workers[i]->lcore, strerror(-rc));
		n->launched = 1;
	}
	/* idle = interrupt: each worker arms its queue's rx interrupt as it
	 * starts; say here which could not (they back off instead). */
	for (i = 0; n->dp.idle_interrupt && i < n->dp.n_workers; i++) {
		struct cat_worker *w = n->workers[i];

		for (int t = 0; t < 1000 && !__atomic_load_n(&w->idle_known,
							     __ATOMIC_ACQUIRE); t++)
			rte_delay_us_sleep(1000);
		if (w->idle_note[0] != '\0')
			LOG(WARNING, "worker %u (queue %u): idle = interrupt: %s",
			    w->idx, w->idx, w->idle_note);
		else
			LOG(INFO, "worker %u (queue %u): idle = interrupt: blocks on rx interrupts after %s",
			    w->idx, w->idx, "64 empty polls");
	}
}

/* What the node runs with, and the "ready" line scripts wait for. */
static void say_ready(struct node *n)
{
	char ipbuf[INET_ADDRSTRLEN], status[256];
	struct in_addr ia;

	ia.s_addr = n->dp.ip_be;
	inet_ntop(AF_INET, &ia, ipbuf, sizeof(ipbuf));
	LOG(INFO, "node %u mac " RTE_ETHER_ADDR_PRT_FMT " port %u idle %s mtu %u "
	    "(value limit %u - key length)", n->cfg.node_id,
	    RTE_ETHER_ADDR_BYTES(&n->dp.mac), n->cfg.port_id,
	    n->dp.idle_interrupt ? "interrupt" : n->dp.idle_backoff ? "backoff" : "busy",
	    n->cfg.mtu,
	    cat_wire_value_max(cat_dp_value_mtu(&n->dp), 0));
	if (n->dp.map != NULL)
		LOG(INFO, "cluster map %s: epoch %u, %u nodes, %u chains",
		    n->cfg.map_path[0] ? n->cfg.map_path : "(single node)",
		    n->dp.map->map->epoch, n->dp.map->map->n_nodes,
		    n->dp.map->map->n_chains);
	else
		LOG(NOTICE, "no cluster map yet: waiting for control plane %s "
		    "(PING, ARP and ICMP are answered, requests get RETRY)",
		    n->cfg.control_connect);
	LOG(NOTICE, "data network authentication: %s; read leases %s",
	    cat_dp_data_auth(&n->dp), n->dp.lease != NULL ? "on ([control])" : "off (no [control])");
	printf("catena-node: ready ip=%s port=%u workers=%u slots=%u node=%u epoch=%u\n",
	       ipbuf, n->cfg.udp_port, n->dp.n_workers, n->cfg.slots, n->cfg.node_id,
	       cat_agent_epoch(&n->agent));
	fflush(stdout);
	/* Type=notify: the port is up and the workers poll it, so a unit
	 * ordered After= this one starts against a node that answers. */
	snprintf(status, sizeof(status), "READY=1\nSTATUS=node %u serving on %s:%u, "
		 "%u workers, epoch %u", n->cfg.node_id, ipbuf, n->cfg.udp_port,
		 n->dp.n_workers, cat_agent_epoch(&n->agent));
	cat_service_notify(status);
}

/* Stop the workers and end the process with the one-line summary. */
static void stop(struct node *n)
{
	char summary[512];

	cat_service_notify("STOPPING=1");
	cat_worker_request_stop();
	rte_eal_mp_wait_lcore();
	n->launched = 0;
	snprintf(summary, sizeof(summary), "catena-node: stopped by %s: rx_packets=%"
		 PRIu64 " tx_packets=%" PRIu64 " requests=%" PRIu64 " replies=%" PRIu64
		 " handovers=%" PRIu64 " drops=%" PRIu64,
		 got_signal == SIGINT ? "SIGINT" : "SIGTERM",
		 cat_counters_total(&n->dp, n->workers, "rx_packets"),
		 cat_counters_total(&n->dp, n->workers, "tx_packets"),
		 cat_counters_total(&n->dp, n->workers, "requests"),
		 cat_counters_total(&n->dp, n->workers, "replies"),
		 cat_counters_total(&n->dp, n->workers, "handover_sent"),
		 cat_counters_drops_total(&n->dp, n->workers));
	teardown_and_exit(n, 0, summary);
}

int main(int argc, char **argv)
{
	static struct node node;
	struct node *n = &node;
	char err[1024];
	int dd, rc;

	if (cat_version_arg(argc, argv, "catena-node"))
		return 0;
	dd = split_args(argc, argv);
	if (dd > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		print_help();
		return 0;
	}
	journal_logs();
	rc = load_config(n, dd, argc, argv, err, sizeof(err));
	if (rc == 1) {
		printf("%s\n", err);
		return 0;
	}
	if (rc < 0) {
		fail_line("%s", err);
		cat_map_free(n->map0);
		return EXIT_CONFIG;
	}

	start_eal(n, dd, argv);
	check_eal_resources(n);
	fill_dp(n);
	setup_pool(n);
	setup_store(n);
	setup_durable(n);
	setup_rings(n);
	setup_port(n);
	/* The single-node map names our MAC: known only now. */
	publish_initial(n);
	setup_workers(n);
	start_services(n);
	launch_workers(n);
	say_ready(n);

	agent_loop(n);

	stop(n);
	return 0;
}
