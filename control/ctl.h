/*
 * catena-control state: the current map, what the control plane knows of
 * each node, the open connections of the node channel and the management
 * socket, and the event log. cat_ctl_commit is the one way to change the
 * map: validate, store durably, then push. Single-threaded (the event loop
 * in control_main.c); nothing here blocks except the store's fsync.
 */
#ifndef CAT_CTL_H
#define CAT_CTL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "replication/chanauth.h"
#include "control/ctl_config.h"
#include "control/policy.h"
#include "control/repair.h"
#include "control/store_etcd.h"
#include "control/store_file.h"
#include "control/verify.h"
#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_CTL_LINE_MAX 65536u          /* bytes a line, without the LF */
#define CAT_CTL_OUT_MAX (8u << 20)       /* unsent bytes before a peer is dropped */
/* Each listener has a budget of its own, so one cannot lock the other
 * out: a flood of idle management connections never keeps a node from
 * rejoining, and a flood on the node channel never keeps an operator
 * out. The node budget holds every node of a full map twice over (a
 * restarted node connects while its old connection is still open). */
#define CAT_CTL_NODE_CONNS_MAX (2u * CAT_MAP_NODES_MAX)
#define CAT_CTL_MGMT_CONNS_MAX 64u
#define CAT_CTL_CONNS_MAX (CAT_CTL_NODE_CONNS_MAX + CAT_CTL_MGMT_CONNS_MAX)
/* A management connection is served only while what it has not read yet
 * is under one answer line: an answer is made when the last one has gone,
 * so a client that does not read costs this much memory and no time. */
#define CAT_CTL_MGMT_OUT_SOFT (CAT_CTL_LINE_MAX + 2u)
#define CAT_CTL_MGMT_EVICT_MS 200u      /* idle this long: may make room */
#define CAT_CTL_MGMT_LINES_ROUND 8u     /* requests a connection, a round */
#define CAT_CTL_MGMT_ROUND_MS 5u        /* management work a loop round */
#define CAT_CTL_EVENTS_MAX 100u
#define CAT_CTL_EVENT_TEXT 400u
#define CAT_CTL_SUSPECT_MAX 8u
#define CAT_CTL_VERIFY_MAX 4u            /* verify requests in flight */
#define CAT_CTL_VERIFY_MS 2000u          /* how long verify waits for digests */

enum cat_ctl_conn_kind {
	CAT_CTL_CONN_NODE,
	CAT_CTL_CONN_MGMT,
};

enum cat_ctl_auth_state {
	CAT_CTL_AUTH_OFF,        /* no cluster secret: lines are plain JSON */
	CAT_CTL_AUTH_CHALLENGED, /* challenge sent; the node's nonce is next */
	CAT_CTL_AUTH_ON,         /* every line is "<tag> <json>" both ways */
	CAT_CTL_AUTH_REFUSED,    /* failed: closing, nothing more is read */
};

struct cat_ctl_conn {
	int fd;
	enum cat_ctl_conn_kind kind;
	uint64_t serial;      /* unique per connection: late answers find it by this */
	char *in;             /* CAT_CTL_LINE_MAX + 1 bytes */
	size_t in_len;
	int in_overflow;      /* line too long seen: answered, closing */
	char *out;
	size_t out_len, out_cap;
	int eof;              /* the peer closed its side: read nothing more */
	int closing;          /* close once out is flushed; read nothing more */
	int dead;             /* close now */
	uint16_t node;        /* node channel: id from its hello, 0 before */
	/* Node channel with a cluster secret (replication/chanauth.h): the
	 * challenge's nonce, then the session once the node answered. */
	enum cat_ctl_auth_state auth_state;
	uint8_t auth_nonce[CAT_AUTH_NONCE_LEN];
	struct cat_auth_session *auth;
	char peer[64];        /* node channel: the peer's address, for events */
	int busy;             /* mgmt: a verify is pending; hold later requests */
	uint64_t opened_ms;   /* accepted at (monotonic) */
	uint64_t out_since_ms; /* out last drained or became non-empty */
	uint64_t active_ms;   /* mgmt: last request line, or opened_ms */
	short revents;        /* this loop round's poll result */
};

/* Kinds of connection refusals and drops: counted, and told in events
 * once per burst (cat_ctl_burst_note), not once per connection. */
enum cat_ctl_burst_kind {
	CAT_CTL_BURST_NODE_REFUSED,   /* node budget full of live nodes */
	CAT_CTL_BURST_NODE_EVICTED,   /* not yet hello: closed to make room */
	CAT_CTL_BURST_NODE_TIMEOUT,   /* no hello within auth_timeout_ms */
	CAT_CTL_BURST_NODE_AUTH,      /* authentication failed */
	CAT_CTL_BURST_MGMT_REFUSED,   /* management budget full */
	CAT_CTL_BURST_MGMT_SLOW,      /* answers unread past mgmt_send_timeout_ms */
	CAT_CTL_BURST_MGMT_IDLE,      /* idle: timed out, or closed to make room */
	CAT_CTL_BURST_STALL,          /* the loop itself stalled */
	CAT_CTL_BURST_KINDS
};

struct cat_ctl_burst {
	uint64_t total;       /* since start */
	uint64_t pending;     /* in this burst, not told yet */
	uint64_t first_ms;    /* this burst's first (0: no burst) */
	uint64_t last_ms;     /* this burst's latest */
	uint64_t told_ms;     /* last event about this burst */
	uint64_t max;         /* stall: longest, ms */
	char last[200];       /* the latest one, as its event would say it */
	const char *why;      /* the reason this burst is about (see below) */
};

/* A node's version string (its hello's "version"), NUL included. */
#define CAT_CTL_VERSION_MAX 64

struct cat_ctl_node {
	uint16_t id;
	enum cat_ctl_node_state state;
	struct cat_ctl_conn *conn;  /* NULL when not connected */
	uint64_t last_hb_ms;        /* monotonic ms of hello/heartbeat, 0 never */
	uint32_t epoch;             /* map epoch the node last reported */
	int64_t in_flight;
	json_t *port;               /* last heartbeat's port object (mtu,
				     * value_max, link, ...), or NULL */
	uint16_t n_suspect;
	uint16_t suspect[CAT_CTL_SUSPECT_MAX];
	json_t *stats;              /* last heartbeat's stats object, or NULL */
	struct cat_ctl_xfer *xfer;  /* last heartbeat's state transfer report */
	uint16_t n_xfer;            /* ... entries */
	uint32_t xfer_epoch;        /* ... made at this epoch */
	/* The data network as the heartbeats tell it ("heard"): when another
	 * node last reported hearing this one, and when this one last
	 * reported hearing anybody; 0 never. */
	uint64_t heard_by_ms, heard_any_ms;
	uint64_t hello_ms;          /* its last hello */
	uint64_t boot;              /* the node process's boot id (hello), 0 unknown */
	char version[CAT_CTL_VERSION_MAX]; /* its last hello's "version", "" unknown */
	/* durability = log: what its "durable" lines after the hello said
	 * it holds (control/rebuild.h): the version of each slot, slot_count
	 * entries once complete; NULL before. */
	enum cat_ctl_durable durable;
	uint8_t dfresh;             /* its hello came at epoch 0: the versions
				     * are what its log replayed, untouched */
	uint64_t *dver;
	uint32_t dver_n;            /* versions received so far */
	json_t *dstat;              /* last heartbeat's "durable", or NULL */
};

struct cat_ctl_metrics;

struct cat_ctl_event {
	int64_t time;               /* Unix seconds (of the latest repeat) */
	uint32_t epoch;
	uint32_t count;             /* times in a row it happened (text says "(xN)") */
	uint64_t seq;               /* 1, 2, ...: a repeat takes a new one */
	uint16_t len;               /* text's length without the "(xN)" */
	char text[CAT_CTL_EVENT_TEXT];
};

/* A slot move in progress, by its transitional chain (control/reshard.c). */
#define CAT_CTL_MOVES_MAX 16u
struct cat_ctl_move {
	uint16_t via;               /* 0: free entry */
	int cancelled;
	uint64_t started_ms;
	uint64_t steps;             /* epochs it made */
	uint64_t keys, bytes;       /* copied by joins that finished */
	uint32_t joins;             /* joins that finished */
	uint64_t cur_keys, cur_bytes, lag; /* the join running now */
};

/* A move a rebalance queued: count slots from chain `from` to `to`. */
#define CAT_CTL_QUEUED_MAX 64u
struct cat_ctl_queued {
	uint16_t from, to;
	uint32_t count;
};

struct cat_ctl {
	struct cat_ctl_config cfg;
	struct cat_ctl_store store;
	struct cat_map *map;
	uint16_t n_nodes;
	struct cat_ctl_node nodes[CAT_MAP_NODES_MAX];
	uint16_t n_conns;
	struct cat_ctl_conn *conns[CAT_CTL_CONNS_MAX];
	uint64_t next_serial;
	uint32_t n_events, next_event;  /* ring of the last CAT_CTL_EVENTS_MAX */
	uint64_t event_seq;             /* the newest event's seq */
	struct cat_ctl_event events[CAT_CTL_EVENTS_MAX];
	uint64_t start_ms;
	int64_t start_unix;
	uint32_t next_req;
	struct cat_ctl_verify verify[CAT_CTL_VERIFY_MAX];
	int quiet;                      /* 1: events are not written to stderr */
	struct cat_ctl_etcd *etcd;      /* store = etcd: the client and lease; else NULL */
	uint32_t rf;                    /* replication factor to restore */
	uint64_t join_started_ms[CAT_MAP_CHAINS_MAX]; /* by chain index, 0 none */
	uint32_t heard_epoch;           /* the map epoch heard_since is of */
	uint64_t heard_since_ms;        /* when catena-control saw it first */
	int heard_reports;              /* some node reports "heard" at all */
	struct cat_ctl_move moves[CAT_CTL_MOVES_MAX];
	struct cat_ctl_queued queued[CAT_CTL_QUEUED_MAX];
	unsigned int n_queued;
	struct cat_auth_secret *secret; /* [control] secret_file; NULL: none */
	uint64_t auth_refused;          /* node connections that failed auth */
	uint16_t n_node_conns, n_mgmt_conns;
	struct cat_ctl_burst burst[CAT_CTL_BURST_KINDS];
	uint64_t stall_last_ms;         /* the last stall's end (monotonic), 0 none */
	struct cat_ctl_metrics *metrics; /* metrics_listen; NULL: off */
	struct cat_ctl_repair repair;   /* repairs and the background verify */
	/* Chains that lost every replica and wait for the logs of returning
	 * nodes before one of them serves again (control/rebuild.h). */
	uint16_t n_rebuild;
	uint16_t rebuild_chain[CAT_MAP_CHAINS_MAX];    /* chain ids */
	uint64_t rebuild_since_ms[CAT_MAP_CHAINS_MAX];
	uint64_t rebuilds;              /* chains rebuilt from another node's log */
	uint8_t rebuild_flags[CAT_MAP_CHAINS_MAX]; /* the view's, by chain index */
};

/**
 * Count one refusal or drop of kind k (or, for CAT_CTL_BURST_STALL, one
 * stall of ms milliseconds). The first of a burst is an event at once; the
 * rest are told in one summary when the burst ends (2 s without one) or
 * once a minute while it goes on.
 */
void cat_ctl_burst_note(struct cat_ctl *c, enum cat_ctl_burst_kind k,
			uint64_t now_ms, uint64_t ms, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/**
 * The same, for a kind with several reasons: why (a static string, the
 * reason without who or when) starts a new burst when it is not the
 * current one's, so a new cause is told at once and never hides in the
 * summary of another.
 */
void cat_ctl_burst_note_why(struct cat_ctl *c, enum cat_ctl_burst_kind k,
			    const char *why, uint64_t now_ms, uint64_t ms,
			    const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/** Tell the summaries of bursts that ended. Called every loop round. */
void cat_ctl_burst_tick(struct cat_ctl *c, uint64_t now_ms);
/** Counted refusals of kind k since start. */
static inline uint64_t cat_ctl_burst_total(const struct cat_ctl *c,
					   enum cat_ctl_burst_kind k)
{
	return c->burst[k].total;
}

/**
 * The control loop was stalled for stall_ms (work or descheduling, not
 * waiting), gap_ms since it last looked at the node channel: nobody looked
 * meanwhile, so that time does not count against any node's heartbeat
 * deadline (they move on by gap_ms, never past now). Counted and shown in
 * `status`.
 */
void cat_ctl_loop_stalled(struct cat_ctl *c, uint64_t now_ms,
			  uint64_t stall_ms, uint64_t gap_ms);

/**
 * Whether the other nodes hear node n on the data network: some node
 * reported hearing it within the heartbeat timeout (or no node reports
 * what it hears: nothing to go by, so yes).
 */
int cat_ctl_node_heard(const struct cat_ctl *c, const struct cat_ctl_node *n,
		       uint64_t now_ms);

/**
 * The policy's view of the cluster now (control/policy.h): nodes is room
 * for CAT_MAP_NODES_MAX entries. Valid until the node table or the map
 * changes (it points into both); refusals the policy notes are events.
 */
void cat_ctl_view(struct cat_ctl *c, uint64_t now_ms, struct cat_ctl_view *v,
		  struct cat_ctl_pnode *nodes);

/** Monotonic milliseconds. */
uint64_t cat_ctl_now_ms(void);
/** Unix seconds. */
int64_t cat_ctl_now_unix(void);

/**
 * Record an event: one line "catena-control: epoch E: TEXT" on stderr
 * (unless quiet) and in the ring that `status` and `events` show. The
 * same text as the newest event's makes no new entry: that entry's count
 * goes up, its text ends in "(xN)", its time and epoch become this one's
 * and it takes the next seq (so `events --follow` shows it again).
 */
void cat_ctl_event(struct cat_ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** State name as the management socket shows it ("up", "failed", ...). */
const char *cat_ctl_state_name(enum cat_ctl_node_state st);

/** Node entry by id, or NULL. */
struct cat_ctl_node *cat_ctl_node(struct cat_ctl *c, uint16_t id);

/**
 * Release what a node entry holds from its heartbeats (port, stats, xfer)
 * and clear the pointers: the one place that knows which fields own a
 * reference, for every path that drops entries.
 */
void cat_ctl_node_release(struct cat_ctl_node *n);

/**
 * Rebuild the node table after c->map changed: new nodes enter as NEW (or
 * as their stored mark says), nodes no longer in the map are dropped and
 * their connection is told so and closed.
 */
void cat_ctl_sync_nodes(struct cat_ctl *c);

/**
 * Queue one JSON object as a line on conn (compact, LF-terminated). An
 * unsendable object, or a peer that let CAT_CTL_OUT_MAX bytes pile up,
 * marks the connection dead. Returns 0 or a negative errno. Does not take
 * msg: the caller still owns its reference.
 */
int cat_ctl_send(struct cat_ctl_conn *conn, json_t *msg);

/** Queue {"type":"error","error":why} and close the node connection after it. */
void cat_ctl_node_error(struct cat_ctl_conn *conn, const char *why);

/**
 * With a cluster secret and no link seed in the store yet (first start,
 * or a store made without a secret): make one and store it durably before
 * any map goes out. 0, or -errno with err (catena-control must not start:
 * keys it hands out would not survive its restart).
 */
int cat_ctl_link_seed_ensure(struct cat_ctl *c, char *err, size_t errlen);

/** Queue the current map to a node connection and note it was pushed;
 * with a cluster secret the line carries the node's link keys for this
 * epoch ("linkkeys", docs/PROTOCOL.md "Link authentication"). */
int cat_ctl_push_map(struct cat_ctl *c, struct cat_ctl_conn *conn);

/**
 * Make next the current map: validate it against the current one, store
 * it durably with reason, and only then push it to every node connection.
 * Takes ownership of next either way. Returns 0, or a negative errno with
 * err (the current map stays; a store failure is also an event).
 */
int cat_ctl_commit(struct cat_ctl *c, struct cat_map *next,
		   const char *reason, char *err, size_t errlen);

/** Node ids as "1 2 3" into buf (truncated at cap). */
void cat_ctl_list_ids(char *buf, size_t cap, const uint16_t *ids,
		      unsigned int n);

/**
 * cat_ctl_commit for a change catena-control decided itself: a failure
 * is an event ("WHY, but the change failed: ..."). 0 or -EIO.
 */
int cat_ctl_commit_or_say(struct cat_ctl *c, struct cat_map *next,
			  const char *why);

/** Chain ids node id is a member of, written as "1 2 3" into buf. Returns
 * how many. */
unsigned int cat_ctl_chains_of(const struct cat_map *m, uint16_t id,
			       char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_H */
