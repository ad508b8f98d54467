/*
 * catena-control's policy: which map comes next, decided from the map in
 * force and a typed view of the nodes, and nothing else. Pure: no I/O, no
 * clock, no JSON, no allocation but the next map. catena-control builds
 * the view from its node table and heartbeats (control/nodechan.c) and
 * commits what the policy returns; catena-sim builds it from its simulated
 * nodes and runs the same code, so the policy that decides epochs is the
 * one the simulator tests. The map arithmetic itself is control/planner.h.
 */
#ifndef CAT_CTL_POLICY_H
#define CAT_CTL_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "control/planner.h"
#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cat_ctl_node_state {
	CAT_CTL_NODE_NEW,      /* not heard from since this process started */
	CAT_CTL_NODE_UP,       /* heartbeating */
	CAT_CTL_NODE_FAILED,   /* heartbeats stopped: left its chains */
	CAT_CTL_NODE_DRAINED,  /* taken out of its chains by an operator */
	CAT_CTL_NODE_RETURNED, /* failed, heartbeating again, not rejoined */
};

/*
 * One entry of a node's state transfer report (heartbeat "xfer",
 * docs/CONTROL.md "Joining a chain"): a chain it streams to a joiner as
 * its tail, joins, or holds reads of as a new tail.
 */
struct cat_ctl_xfer {
	uint16_t chain, joiner;      /* chain id; joiner 0: none */
	uint32_t epoch;              /* the map epoch the report is of */
	uint32_t chain_slots;        /* slots the chain has */
	uint32_t slots;              /* of them, streamed by this node */
	uint32_t caught_up;          /* of them, with the joiner caught up */
	uint32_t snapshotting;
	uint32_t held;               /* slots holding reads (SYNC pending) */
	uint64_t keys, bytes;        /* copied so far */
	uint64_t joined, lag;
};

/* A node as the policy sees it. */
/* What a node said of its durable log after its hello. */
enum cat_ctl_durable {
	CAT_CTL_DURABLE_NONE,        /* no log (or a node that predates it) */
	CAT_CTL_DURABLE_REPORTING,   /* hello said "durable": versions coming */
	CAT_CTL_DURABLE_DONE,        /* every slot's version received */
};

struct cat_ctl_pnode {
	uint16_t id;
	enum cat_ctl_node_state state;
	uint8_t connected;           /* its node channel is open */
	uint8_t heard;               /* the data network hears it */
	uint32_t epoch;              /* the map epoch it runs */
	uint32_t xfer_epoch;         /* the epoch xfer is of */
	uint16_t n_xfer;
	const struct cat_ctl_xfer *xfer;
	/* Failure detection (monotonic ms, 0 never). */
	uint64_t last_hb_ms;         /* last hello or heartbeat */
	uint64_t hello_ms;           /* last hello */
	uint64_t heard_by_ms;        /* another node last reported hearing it */
	/* Rebuild after every replica of a chain was lost (control/rebuild.h). */
	uint8_t held;                /* gets no map: its chain waits for logs */
	enum cat_ctl_durable durable;
	const uint64_t *dver;        /* DONE: the version of every slot */
};

struct cat_ctl_view {
	const struct cat_map *map;
	uint16_t n_nodes;
	const struct cat_ctl_pnode *nodes;
	uint32_t rf;                 /* replication factor to restore */
	uint8_t restore;             /* restore_replicas: short chains get joiners */
	uint8_t paused;              /* resharding paused: moves make no step */
	/* By chain index: the chain lost every replica and waits to be
	 * rebuilt from a log; no joiner is added to it meanwhile. NULL: none. */
	const uint8_t *rebuilding;
	/* A step wanted and refused by the planner is told here (text for
	 * the event log), and the policy goes on to the next chain. NULL:
	 * not told. */
	void (*note)(void *arg, const char *text);
	void *note_arg;
};

enum cat_ctl_step_kind {
	CAT_CTL_STEP_NONE,
	CAT_CTL_STEP_HANDOVER,   /* chain's joiner caught up: now its tail */
	CAT_CTL_STEP_RESTORE,    /* chain short of replicas: node joins it */
	CAT_CTL_STEP_MOVE_JOIN,  /* move through chain: node joins it */
	CAT_CTL_STEP_MOVE_LEAVE, /* move through chain: node leaves it */
	CAT_CTL_STEP_MOVE_FINISH,/* move through chain: slots on the target */
};

/* One map change the policy decided. */
struct cat_ctl_step {
	enum cat_ctl_step_kind kind;
	uint16_t chain;              /* id of the chain it changes */
	uint16_t node;               /* the joiner or leaver (0: none) */
	uint16_t tail;               /* HANDOVER, RESTORE: the streaming tail */
	uint32_t len;                /* RESTORE: the chain's length before */
	uint64_t keys, bytes;        /* HANDOVER: what the tail reported copied */
	int was_move;                /* HANDOVER: of a transitional chain */
	struct cat_map *next;        /* epoch + 1; the caller owns it */
};

/** Node id's entry in v, or NULL. */
const struct cat_ctl_pnode *cat_ctl_policy_node(const struct cat_ctl_view *v,
						uint16_t id);

/**
 * Node id's report on chain (with joiner; joiner UINT16_MAX: any) made
 * at epoch (UINT32_MAX: any), or NULL.
 */
const struct cat_ctl_xfer *cat_ctl_policy_report(const struct cat_ctl_view *v,
						 uint16_t id, uint16_t chain,
						 uint16_t joiner,
						 uint32_t epoch);

/**
 * Replication restore: the first chain whose joiner the tail reports
 * caught up on every slot is handed over; else (with v->restore) the
 * first chain shorter than v->rf gets a joiner: an up or returned node,
 * connected, heard, on the current epoch, outside it, in the fewest
 * chains. Returns 1 with *st filled (st->next to commit), 0 if nothing is
 * due, or -ENOMEM.
 */
int cat_ctl_policy_rejoin(const struct cat_ctl_view *v, struct cat_ctl_step *st);

/**
 * Whether every member of chain index ci runs the current map and none
 * holds reads: until a new tail has what its predecessor has (SYNC), a
 * write the old tail answered may live only on the old tail and the node
 * before it, so a planned step could lose it.
 */
int cat_ctl_policy_settled(const struct cat_ctl_view *v, uint16_t ci);

/**
 * One step of the move through transitional chain via (unless paused):
 * once its members are settled, the planner's next step, a join only to a
 * node that can take the stream now (up or returned, connected, on the
 * current epoch). Returns 1 with *st, 0 if it waits, or -ENOMEM.
 */
int cat_ctl_policy_move(const struct cat_ctl_view *v, uint16_t via,
			struct cat_ctl_step *st);

/**
 * Whether node p's heartbeats are timed: every node that serves (up, or
 * back after a failure), and any node a chain holds, whatever an operator
 * called it (a drained member nobody would fail is an outage waiting).
 */
int cat_ctl_policy_timed(const struct cat_ctl_view *v,
			 const struct cat_ctl_pnode *p);

/**
 * A member cut off from the data network: up and connected, heard by no
 * node for timeout_ms while some other up node was heard (so the data
 * network works), with the map in force since since_ms at least that
 * long. Returns its id or 0; never a node while no node reports what it
 * hears (reports 0).
 */
uint16_t cat_ctl_policy_unheard(const struct cat_ctl_view *v, int reports,
				uint64_t now_ms, uint64_t since_ms,
				uint32_t timeout_ms);

/* The choice of a rebuild's source (cat_ctl_policy_rebuild_source). */
struct cat_ctl_rebuild_pick {
	uint16_t node;               /* the source, 0: no candidate */
	uint16_t candidates;         /* nodes with a complete report */
	uint32_t slots;              /* the chain's slots */
	uint32_t with_data;          /* ... at a version above 0 on some node */
	uint32_t at_newest;          /* ... where the source is at the newest */
	uint32_t kept_at_newest;     /* ... where the kept member is */
	uint64_t source_sum, kept_sum; /* sums of their versions */
};

/**
 * The node to rebuild chain index ci from after it lost every replica
 * (kept: the member catena-control kept in it): among connected nodes
 * whose durable report is complete, the one at the newest version in the
 * most of the chain's slots, then with the highest sum of versions, then
 * kept, then the lowest id. A slot's writes are one sequence down a
 * chain, so a higher version is a longer prefix of it: the node at the
 * newest version of every slot holds every write any log kept.
 */
void cat_ctl_policy_rebuild_source(const struct cat_ctl_view *v, uint16_t ci,
				   uint16_t kept,
				   struct cat_ctl_rebuild_pick *r);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_POLICY_H */
