/*
 * catena-node configuration: the INI file (read with rte_cfgfile), the
 * command-line overrides after `--`, and their validation.
 * Setup code only: runs on the main thread before any worker starts. Never
 * prints (errors go back as a negative errno plus a message buffer) and
 * never accepts a key it does not know: a typo must be an error.
 */
#ifndef CAT_CONFIG_H
#define CAT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/portplan.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cat_idle_mode {
	CAT_IDLE_BUSY = 0,    /* poll without pause: lowest latency, one core per worker */
	CAT_IDLE_BACKOFF = 1, /* sleep (RCU-offline) after empty polls: shared cores */
	CAT_IDLE_INTERRUPT = 2, /* block on rx interrupts after empty polls (backoff
				 * where the port has none) */
};

/*
 * The fault injector's settings ([faults]; also switchable at run time with
 * the /catena/faults telemetry command). Applied on the tx path to
 * replication traffic, and to client replies when client_replies = 1.
 */
struct cat_faults_cfg {
	uint64_t seed;           /* worker w draws from seed + w */
	uint32_t delay_us;       /* fixed extra delay, 0..1000000 */
	uint32_t jitter_us;      /* plus uniform 0..jitter_us */
	uint32_t reorder_pct;    /* % of packets delayed further (reordered) */
	uint32_t drop_pct;       /* % of packets dropped */
	uint32_t client_replies; /* 1: client replies get the faults too */
	uint32_t corrupt_fwd_to; /* test-only: alter every put FWD to this node */
	uint32_t log_writer_pause; /* test-only: the log writer writes nothing */
};

/* [store] slots when neither the file nor a cluster map says otherwise. */
#define CAT_CONFIG_SLOTS_DEFAULT 1024u

/** Everything catena-node is configured with. Values are validated. */
struct cat_config {
	/* [node] */
	uint32_t node_id;        /* 1..65535 */
	uint32_t ip;             /* IPv4 address, host byte order; 0 = unset */
	uint16_t udp_port;       /* 1..65535 */
	uint16_t port_id;        /* DPDK ethdev port id */
	uint32_t mtu;            /* 576..9000; the value limit follows it */
	enum cat_idle_mode idle;
	enum cat_steer_want steering; /* auto | flow | rss | software */
	int udp_zero_drop;       /* udp_checksum_zero: 0 accept, 1 drop */
	int durability;          /* 0 none, 1 log (dataplane/durable.h) */
	uint32_t fsync_ms;       /* fsync: 0 always, else every_ms N */
	char log_dir[256];       /* the log; "" = /var/lib/catena/node<ID> */
	uint64_t log_snapshot_mb; /* snapshot after this much log; 0 = never */
	uint64_t log_snapshot_rate; /* snapshot bytes/s, 0 = no limit */
	/* [store] */
	uint32_t slots;          /* power of two, 1..65536; 0 = not set: the
				  * cluster map's slot count, else 1024 */
	uint64_t mem_limit_mb;   /* 1..1048576 */
	/* [dataplane] */
	uint32_t burst;          /* 1..512 */
	uint32_t rx_desc;        /* 64..16384 */
	uint32_t tx_desc;        /* 64..16384 */
	uint32_t mbufs;          /* 1023..4194303 */
	uint32_t handover_ring;  /* power of two, 64..65536 */
	/* [cluster] */
	char map_path[256];      /* cluster map file; "" = single-node map, or
				  * with [control] no map until one arrives */
	/* [control] */
	char control_connect[256]; /* "unix:PATH" or "tcp:A.B.C.D:PORT"; "" = none */
	uint32_t heartbeat_ms;   /* heartbeat period, 10..60000 */
	char control_secret_file[256]; /* cluster secret; "" = unauthenticated */
	/* [replication] (per worker) */
	uint32_t repl_inflight;  /* in-flight writes, 16..1048576 */
	uint32_t repl_dedup;     /* remembered client requests, 16..16777216 */
	uint32_t repl_rto_us;    /* retransmission timeout, 100..10000000 */
	uint32_t repl_suspect_after; /* retransmissions before suspect, 1..100000 */
	uint64_t repl_xfer_rate; /* state transfer bytes/s per worker, 0 = no limit */
	uint32_t repl_xfer_slots; /* slots snapshotted at once per worker, 1..8 */
	/* [faults] */
	struct cat_faults_cfg faults;

	char path[256];          /* config file this came from (for messages) */
};

/** Fill *c with the documented defaults (ip unset). */
void cat_config_defaults(struct cat_config *c);

/**
 * Set one key from its text form, validating it.
 * `origin` prefixes the error message (e.g. "config node.conf" or "--set").
 * Returns 0, -ENOENT for an unknown section or key, -EINVAL for a bad value;
 * on error writes one line (no newline) into err[0..errlen).
 */
int cat_config_set(struct cat_config *c, const char *origin,
		   const char *section, const char *key, const char *value,
		   char *err, size_t errlen);

/**
 * Load an INI file into *c (on top of what *c holds). Every section and key
 * is checked; duplicates are rejected. Returns 0 or a negative errno with a
 * message in err naming the file, section, key and value.
 */
int cat_config_load(struct cat_config *c, const char *path,
		    char *err, size_t errlen);

/**
 * Parse the application arguments (those after EAL's `--`; argv[0] is not
 * an option): `--config FILE` (required), then any `--set SECTION.KEY=VALUE`,
 * `--ip A.B.C.D`, `--idle busy|backoff`, which override the file whatever
 * their position. Fills *c (defaults, file, overrides) and checks that the
 * required keys are present. Returns 0, 1 if --help was asked (usage text in
 * err), or a negative errno with a message in err.
 */
int cat_config_from_args(struct cat_config *c, int argc, char **argv,
			 char *err, size_t errlen);

/** Usage text for the application arguments. */
const char *cat_config_usage(void);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CONFIG_H */
