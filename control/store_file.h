/*
 * catena-control map store, file backend: state_dir/map.json holds the
 * current map (epoch and canonical text), the epoch history and the node
 * marks (failed, drained) that must survive a restart. Every save is
 * atomic and durable (write a temporary file, fsync, rename, fsync the
 * directory) and returns only once the data is on disk, so a map is never
 * sent before it is stored. Single-threaded; never prints.
 */
#ifndef CAT_CTL_STORE_FILE_H
#define CAT_CTL_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "replication/map.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_CTL_REASON_MAX 256u
#define CAT_CTL_STORE_PATH_MAX 512u

enum cat_ctl_mark {
	CAT_CTL_MARK_NONE = 0,
	CAT_CTL_MARK_FAILED,   /* left its chains on a heartbeat timeout */
	CAT_CTL_MARK_DRAINED,  /* left its chains on node_drain */
};

struct cat_ctl_hist {
	uint32_t epoch;
	int64_t time;                       /* Unix seconds */
	char reason[CAT_CTL_REASON_MAX];
};

/* Another backend's read and durable write of the map.json document: get
 * returns 0 with a malloc'd buffer, -ENOENT when nothing is stored; put
 * returns 0 only once the document is durable. */
typedef int (*cat_ctl_store_get_fn)(void *arg, char **data, size_t *len,
				    char *err, size_t errlen);
typedef int (*cat_ctl_store_put_fn)(void *arg, const char *data, size_t len,
				    char *err, size_t errlen);

struct cat_ctl_store {
	char dir[CAT_CTL_STORE_PATH_MAX];
	char path[CAT_CTL_STORE_PATH_MAX + 16];
	char tmp[CAT_CTL_STORE_PATH_MAX + 16];
	int lock_fd;                        /* flock on state_dir/map.lock */
	uint32_t epoch;                     /* 0: nothing stored yet */
	struct cat_ctl_hist *hist;          /* oldest first */
	size_t n_hist, cap_hist;
	uint16_t n_marks;
	uint16_t mark_id[CAT_MAP_NODES_MAX];
	uint8_t mark[CAT_MAP_NODES_MAX];    /* enum cat_ctl_mark */
	/* Each node's process (boot id of its hello), kept so that a
	 * catena-control that restarts still tells a node that restarted
	 * meanwhile, with an empty store, from one that kept running. */
	uint16_t n_boots;
	uint16_t boot_id[CAT_MAP_NODES_MAX];
	uint64_t boot[CAT_MAP_NODES_MAX];
	/* The operator's resharding settings, which a restart must not undo
	 * (control/reshard.c): moves paused, a rebalance still to finish,
	 * the state transfer rate pushed to the nodes. */
	struct {
		uint8_t paused;
		uint8_t rebalance;
		uint8_t rate_set;
		uint64_t rate;          /* bytes/s per worker, 0: no limit */
	} reshard;
	/* The seed of the data network's link keys (replication/linkauth.h):
	 * catena-control's alone, never sent to a node, made on the first
	 * start with a cluster secret ("link_seed", 64 hex digits). */
	uint8_t link_seed[32];
	uint8_t link_seed_set;
	/* Set by cat_ctl_store_init_io: the same document, kept elsewhere
	 * (store_etcd). NULL for the file backend. */
	cat_ctl_store_get_fn io_get;
	cat_ctl_store_put_fn io_put;
	void *io_arg;
};

/**
 * Prepare s for directory dir, creating it (and its parents, mode 0750)
 * if missing, and take an exclusive lock on dir/map.lock so that two
 * control planes never write one store (-EBUSY if another holds it).
 * Nothing is read yet. Returns 0 or a negative errno with err.
 */
int cat_ctl_store_init(struct cat_ctl_store *s, const char *dir, char *err,
		       size_t errlen);

/**
 * Prepare s for a backend that keeps the same document elsewhere (etcd):
 * no directory, no lock; load and save go through get and put. name
 * stands for the path in messages. Returns 0.
 */
int cat_ctl_store_init_io(struct cat_ctl_store *s, const char *name,
			  cat_ctl_store_get_fn get, cat_ctl_store_put_fn put,
			  void *arg);

/**
 * Load map.json: returns 0 and *map (free with cat_map_free) with the
 * history and marks in s; -ENOENT if there is no map.json (an empty
 * store); -EINVAL with err for a file that is not a valid store (bad JSON,
 * a map that does not parse, an epoch that disagrees with the map's own);
 * other negative errnos from reading.
 */
int cat_ctl_store_load(struct cat_ctl_store *s, struct cat_map **map,
		       char *err, size_t errlen);

/**
 * Store m as the current map, with the current marks. If m's epoch is new
 * a history entry (epoch, now, reason) is appended; saving the same epoch
 * again only rewrites the marks. Returns 0 once map.json is durable;
 * -ESTALE if m's epoch is below the stored one; a negative errno with err
 * if writing failed (then the history is as before the call, and the old
 * map.json is intact).
 */
int cat_ctl_store_save(struct cat_ctl_store *s, const struct cat_map *m,
		       const char *reason, int64_t now, char *err,
		       size_t errlen);

/** Mark of node id (CAT_CTL_MARK_NONE if none). */
enum cat_ctl_mark cat_ctl_store_mark(const struct cat_ctl_store *s,
				     uint16_t id);

/** Set (or with CAT_CTL_MARK_NONE clear) a node's mark; stored on the next
 * cat_ctl_store_save. Returns 0 or -ENOSPC. */
int cat_ctl_store_set_mark(struct cat_ctl_store *s, uint16_t id,
			   enum cat_ctl_mark mark);

/** A node's stored boot id, 0 if none. */
uint64_t cat_ctl_store_boot(const struct cat_ctl_store *s, uint16_t id);

/** Set a node's boot id (1..INT64_MAX; 0 forgets it); stored on the next
 * save. 1 if it changed, 0 if not, -ENOSPC. */
int cat_ctl_store_set_boot(struct cat_ctl_store *s, uint16_t id, uint64_t boot);

/** Name of a mark as stored ("failed", "drained"; NULL for none). */
const char *cat_ctl_store_mark_name(enum cat_ctl_mark mark);

/** Free what s holds (not s itself) and release the lock. */
void cat_ctl_store_fini(struct cat_ctl_store *s);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_STORE_FILE_H */
