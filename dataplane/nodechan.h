/*
 * catena-node's end of docs/CONTROL.md's node channel (line-delimited
 * JSON to catena-control over a Unix socket or TCP): hello, heartbeats,
 * maps applied through the agent, digests.
 * Main lcore only, non-blocking: never waits on the control plane, never
 * touches worker state except through the agent's RCU map publication, and
 * never stops the node from serving when the control plane goes away.
 */
#ifndef CAT_NODECHAN_H
#define CAT_NODECHAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dataplane/agent.h"
#include "dataplane/config.h"
#include "dataplane/endpoint.h"
#include "replication/chanauth.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reconnect backoff: first retry after MIN, doubling to MAX. */
#define CAT_NODECHAN_BACKOFF_MIN_MS 100u
#define CAT_NODECHAN_BACKOFF_MAX_MS 2000u
/* Lines from the control plane may be this long (a 64 KiB map text grows
 * when JSON-escaped); a longer one is discarded and counted. */
#define CAT_NODECHAN_RX_LINE_MAX (256u * 1024u)
/* Bytes queued for a control plane that does not read: past this the
 * connection is dropped and made again (it would only hold stale data). */
#define CAT_NODECHAN_TX_MAX (8u * 1024u * 1024u)
/* A digests answer is cut into lines of at most this many bytes (the
 * contract's line limit), all but the last with "more":true. */
#define CAT_NODECHAN_LINE_MAX 65536u
/* With a cluster secret, catena-control's challenge must come this soon
 * after connecting; else it has no secret and the node will not talk. */
#define CAT_NODECHAN_AUTH_WAIT_MS 2000u

struct cat_port;

enum cat_nodechan_state {
	CAT_NODECHAN_OFF = 0,      /* no [control] configured */
	CAT_NODECHAN_WAITING,      /* not connected; next attempt after backoff */
	CAT_NODECHAN_CONNECTING,   /* TCP connect in progress */
	CAT_NODECHAN_UP,           /* connected, hello sent */
	CAT_NODECHAN_AUTHENTICATING, /* connected, waiting for the challenge
				     * (secret_file set): no hello yet */
};

/*
 * What /catena/control shows. Written by the main lcore only, read relaxed
 * by the telemetry thread (one counter at a time).
 */
struct cat_nodechan_status {
	uint64_t state;            /* enum cat_nodechan_state */
	uint64_t last_map_epoch;   /* epoch of the last map message received */
	uint64_t maps_received;
	uint64_t maps_published;   /* maps that became the node's map */
	uint64_t maps_current;     /* same epoch and map as ours: acknowledged */
	uint64_t maps_rejected;    /* bad text, not for this node, stale epoch */
	uint64_t heartbeats_sent;
	uint64_t digest_requests;
	uint64_t connects;         /* connections made */
	uint64_t reconnects;       /* connections made after a lost one */
	uint64_t connect_failures; /* attempts that failed */
	uint64_t disconnects;      /* connections lost or closed by us */
	uint64_t msgs_received;    /* lines from the control plane */
	uint64_t msgs_bad;         /* lines that were not a known message */
	uint64_t errors_received;  /* "error" messages */
	uint64_t rx_bytes;
	uint64_t tx_bytes;
	uint64_t last_digest_us;   /* time the last digests answer took */
	uint64_t auth;             /* 1: the channel needs the cluster secret */
	uint64_t auth_failures;    /* connections dropped for authentication */
	uint64_t link_keys_epoch;  /* epoch of the last link keys opened, 0 none */
};

enum cat_nodechan_auth {
	CAT_NODECHAN_AUTH_OFF,     /* no secret_file: plain JSON lines */
	CAT_NODECHAN_AUTH_WAIT,    /* connected, waiting for the challenge */
	CAT_NODECHAN_AUTH_ON,      /* every line is "<tag> <json>" both ways */
};

/* Main logs through this (level: RTE_LOG_ERR .. RTE_LOG_DEBUG). */
typedef void (*cat_nodechan_log_fn)(unsigned int level, const char *msg);

struct cat_nodechan {
	char endpoint[256];        /* as configured; "" = off */
	struct cat_endpoint ep;
	uint32_t heartbeat_ms;
	uint64_t boot;             /* this process's boot id, told in hello */
	struct cat_agent *agent;
	cat_nodechan_log_fn log;
	int fd;                    /* -1 when not connected */
	uint32_t backoff_ms;
	uint64_t next_attempt_ms;
	uint64_t next_heartbeat_ms;
	uint64_t up_since_ms;
	int down_logged;           /* "unreachable" said once per outage */
	char last_error[256];      /* last "error" text logged */
	char *rx;                  /* CAT_NODECHAN_RX_LINE_MAX + 1 */
	size_t rx_len;
	int rx_discard;            /* dropping the rest of an overlong line */
	char *tx;
	size_t tx_len, tx_off, tx_cap;
	struct cat_nodechan_status st;
	const struct cat_port *port; /* set by main: MTU, link and steering go
				      * out in each heartbeat; NULL = none */
	struct cat_auth_secret *secret; /* [control] secret_file; NULL = none */
	enum cat_nodechan_auth auth_state;
	struct cat_auth_session auth;
};

/**
 * The checks cat_nodechan_init makes of cfg that need no EAL: [control]
 * secret_file without connect, and a secret file that cannot be read or
 * has the wrong size or mode. Run before rte_eal_init so that a bad secret
 * stops the node before it takes hugepages or prints EAL's banner. The
 * secret is read and wiped again. 0, or -errno with a message in err.
 */
int cat_nodechan_preflight(const struct cat_config *cfg, char *err,
			    size_t errlen);

/**
 * Set up from cfg ([control] connect, heartbeat_ms, secret_file: read
 * here, so a bad secret file stops the node at start); agent is the node's
 * (already holding the first map, if any). With no [control] the channel
 * stays off and every other call does nothing. The first connection
 * attempt is made by the first cat_nodechan_poll. Returns 0 or -errno with
 * a message in err. Main thread.
 */
int cat_nodechan_init(struct cat_nodechan *cc, const struct cat_config *cfg,
		       struct cat_agent *agent, cat_nodechan_log_fn log,
		       char *err, size_t errlen);

/**
 * The socket to wait on and the poll(2) events that would make progress
 * (POLLIN, plus POLLOUT while connecting or with output queued), or -1
 * when nothing is pending. Main thread.
 */
int cat_nodechan_pollfd(const struct cat_nodechan *cc, short *events);

/**
 * Do whatever is due, without blocking: connect or reconnect (backoff
 * 100 ms doubling to 2 s), read and act on complete lines (map, digest
 * request, error), send the heartbeat, flush queued output. now_ms is a
 * monotonic clock. A digest request walks the store as an RCU reader: the
 * caller (a registered QSBR thread) is offline, and is brought online only
 * for that walk. Main thread.
 */
void cat_nodechan_poll(struct cat_nodechan *cc, uint64_t now_ms);

/**
 * Queue one JSON object as a line to catena-control (the reference is
 * taken). 0, or a negative errno (not connected: the line is dropped).
 * Main thread; for dataplane/dump.c.
 */
int cat_nodechan_send(struct cat_nodechan *cc, uint64_t now, json_t *o);
/** Bytes queued for catena-control and not sent yet. Main thread. */
size_t cat_nodechan_backlog(const struct cat_nodechan *cc);

/** Close the connection and free the buffers. Main thread, at teardown. */
void cat_nodechan_fini(struct cat_nodechan *cc);

#ifdef __cplusplus
}
#endif

#endif /* CAT_NODECHAN_H */
