/*
 * catena-control map store, etcd backend, and the leader lease that lets
 * several catena-control instances share one etcd with exactly one acting.
 * Talks to etcd v3 through its JSON gateway (HTTP POST /v3/...) with
 * libcurl. Every call blocks for at most CAT_CTL_ETCD_HTTP_MS per endpoint
 * tried. The map is written only by a compare-and-swap that also checks
 * this instance still holds the leader key. Single-threaded; never prints.
 */
#ifndef CAT_CTL_STORE_ETCD_H
#define CAT_CTL_STORE_ETCD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_CTL_ETCD_HTTP_MS 300L       /* one request, connect included */
#define CAT_CTL_ETCD_ENDPOINTS_MAX 8u
#define CAT_CTL_ETCD_DOC_MAX (64u << 20) /* refuse a stored document over this */

struct cat_ctl_etcd {
	char ep[CAT_CTL_ETCD_ENDPOINTS_MAX][128];
	unsigned int n_ep, cur_ep;       /* cur_ep: the one that answered last */
	char map_key[160], leader_key[160];
	char instance[64];
	uint32_t lease_ms;
	void *curl;                      /* CURL * */
	int64_t lease_id;                /* 0: none */
	int64_t leader_rev;              /* create_revision of our leader key, 0: not leader */
	int64_t map_rev;                 /* mod_revision of the map last read or written, 0: none */
	uint64_t lease_until_ms;         /* monotonic: the lease surely still holds before this */
	int lost;                        /* a map CAS failed: someone else wrote */
};

/**
 * Prepare e: endpoints is a comma list of http://HOST:PORT, prefix the key
 * prefix ("/catena/"), instance this instance's name (unique among the
 * instances sharing the prefix). No request is made yet. Returns 0 or a
 * negative errno with err.
 */
int cat_ctl_etcd_init(struct cat_ctl_etcd *e, const char *endpoints,
		      const char *prefix, const char *instance,
		      uint32_t lease_ms, char *err, size_t errlen);

/**
 * One election attempt: if <prefix>leader does not exist, grant a lease
 * (TTL = lease_ms rounded up to seconds) and create the key with it in a
 * txn that succeeds only if the key still does not exist. Returns 1 (now
 * leader: lease_until_ms set), 0 (someone else leads; who in leader if
 * not NULL), or a negative errno with err (etcd unreachable).
 */
int cat_ctl_etcd_campaign(struct cat_ctl_etcd *e, uint64_t now_ms,
			  char *leader, size_t leader_cap, char *err,
			  size_t errlen);

/**
 * Renew the lease (one keepalive). On success lease_until_ms becomes the
 * time the request was sent plus lease_ms: etcd started the new TTL after
 * that, so this instance's view of the lease always ends first. Returns 0,
 * -ENOENT if the lease is gone (expired or revoked), another negative
 * errno if etcd did not answer.
 */
int cat_ctl_etcd_keepalive(struct cat_ctl_etcd *e, uint64_t now_ms,
			   char *err, size_t errlen);

/**
 * Is this instance still the leader by etcd's own record (the leader key
 * exists with our create revision)? 1, 0, or a negative errno.
 */
int cat_ctl_etcd_check_leader(struct cat_ctl_etcd *e, char *err,
			      size_t errlen);

/** Give up leadership: delete our leader key (if still ours) and revoke
 * the lease, best effort, so that a follower takes over at once. */
void cat_ctl_etcd_resign(struct cat_ctl_etcd *e);

/** Forget the lease and leadership locally (after losing it). */
void cat_ctl_etcd_forget(struct cat_ctl_etcd *e);

/* cat_ctl_store_get_fn / put_fn for store_file's cat_ctl_store_init_io:
 * get reads <prefix>map and remembers its mod_revision; put is a txn that
 * writes it only if its mod_revision is still the remembered one and our
 * leader key is still ours (-ESTALE and e->lost set otherwise). arg is the
 * struct cat_ctl_etcd. */
int cat_ctl_etcd_get_map(void *arg, char **data, size_t *len, char *err,
			 size_t errlen);
int cat_ctl_etcd_put_map(void *arg, const char *data, size_t len, char *err,
			 size_t errlen);

/** Free what e holds. */
void cat_ctl_etcd_fini(struct cat_ctl_etcd *e);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_STORE_ETCD_H */
