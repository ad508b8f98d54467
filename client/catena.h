/*
 * libcatena: the kernel UDP client of a catena cluster. Fetches and caches
 * the cluster map, routes each request to its slot's chain (writes to the
 * head, reads to the tail or a CRAQ replica), follows MOVED, retries lost
 * requests with the same request id, and matches replies by request id.
 * Plain sockets and libc only: it must never depend on DPDK, and it never
 * prints (errors are return codes).
 */
#ifndef CATENA_H
#define CATENA_H

#include <stddef.h>
#include <stdint.h>

#include "replication/map.h"
#include "replication/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file
 * @brief libcatena, the catena client library.
 *
 * @par Return codes
 * Every request function returns an int rc:
 *  - @c 0: the node answered OK;
 *  - @c rc > 0: the node answered with a non-OK status; rc is the
 *    enum cat_status value (CAT_ST_NOT_FOUND, CAT_ST_CAS_FAILED,
 *    CAT_ST_MOVED, CAT_ST_TOO_LARGE, ...). CAT_ST_OUTCOME_UNKNOWN means
 *    a re-sent write whose first try's outcome the node no longer
 *    remembers: it was not run again and may or may not have been applied
 *    (docs/PROTOCOL.md, "Request ids and retries");
 *  - @c rc < 0: a local failure, as a negative errno:
 *    - -ETIMEDOUT: no matching reply within the budget (the deadline, or
 *      the first try and all retries);
 *    - -ECONNREFUSED: every try was answered by an ICMP port unreachable
 *      (nothing listens at the address);
 *    - -EINVAL: bad arguments (NULL client, empty key, ...);
 *    - -EMSGSIZE: key or value over the protocol limit, checked locally
 *      before anything is sent;
 *    - -ENOBUFS: (get only) the value is larger than the caller's buffer;
 *    - -EPROTO: the node answered something that breaks the protocol
 *      (e.g. an INCR reply that is not a decimal number, a cluster map
 *      that does not parse);
 *    - -EOPNOTSUPP: (cat_client_refresh_map only) the node answers but
 *      serves no cluster map (a node older than MAP_GET);
 *    - other values: socket errors from the kernel.
 * cat_client_strerror() names any of them.
 *
 * @par Thread safety
 * A client is not thread-safe: use one client per thread (or serialise
 * all calls on it yourself). Distinct clients are independent, and
 * cat_client_strerror() may be called from any thread. A request blocks
 * for at most about its budget ("Budget" below): deadline_ms with the
 * default budget, everything included; with an explicit retry count,
 * (retries + 1) * timeout_ms, plus the cluster map fetches it needs (each
 * bounded the same way) and at most CAT_CLIENT_MOVED_MAX redirects, and
 * deadline_ms if one is given as well.
 *
 * @par Routing
 * The client learns the cluster map (docs/PROTOCOL.md, "Routing and the
 * cluster map") from any node with MAP_GET, lazily on the first keyed
 * request, and caches it. Writes (PUT, DEL, CAS, INCR) go to the head of
 * the key's chain, GETs to its tail, or to a random replica when the map
 * says "craq on". The reply to a write comes from the tail, so replies are
 * accepted from any address. A MOVED reply makes the client refetch the
 * map (first from the node that said MOVED) and resend the same request
 * id to the right node. A request whose node goes silent asks another
 * node for the map's epoch at every re-send, and re-routes as soon as the
 * map has changed (its node may have failed and left the chain).
 * A node that does not know MAP_GET (UNKNOWN_OP) is served as a single
 * node, as before the map existed: every request goes to it and the slot
 * count comes from PING.
 *
 * @par Budget
 * By default (retries 0) a request keeps trying until its deadline,
 * deadline_ms after the call (0 = CAT_CLIENT_DEFAULT_DEADLINE_MS, 5 s):
 * long enough to outlast a node failure with catena-control's shipped
 * settings (heartbeat_timeout_ms 1000, node heartbeat_ms 200: the map
 * without the node is out about 1 s after a crash, at most about 1.8 s
 * after a node is cut off from the data network only; docs/PROTOCOL.md,
 * "How long to retry").
 * The first try waits timeout_ms, each silent one doubles the wait up to
 * CAT_CLIENT_TIMEOUT_CAP_MS (or timeout_ms if larger), and from the first
 * silent try on, every re-send also asks another node (bootstrap list and
 * cached map, the silent node excepted) for the map's epoch, so the
 * request follows the new map within one re-send interval.
 * An explicit retries count is the caller's own budget, as before: that
 * many re-sends, each waiting timeout_ms, no deadline unless deadline_ms
 * is given too (then whichever ends first). Map fetches, RETRY pauses and
 * redirects count against the deadline.
 *
 * @par Requests and retries
 * Each request gets a fresh sequence number (monotonic per client). A try
 * that gets no matching reply within its wait is re-sent with the SAME
 * client id and sequence number, so the node can recognise a retried
 * CAS/INCR as a duplicate; so is a request re-routed after MOVED or a map
 * refresh (MOVED means it was not executed). Only WRONG_SLOT, which also
 * means "not executed", makes the corrected request a new one. Replies
 * are matched on client id, sequence number, op and the reply flag (and
 * the key, when the reply carries one); anything else received (late
 * replies to earlier requests, duplicates) is discarded.
 */

/** Defaults applied to zero fields of struct cat_client_opts. */
#define CAT_CLIENT_DEFAULT_TIMEOUT_MS  200
#define CAT_CLIENT_DEFAULT_DEADLINE_MS 5000
#define CAT_CLIENT_DEFAULT_MTU         1500u

/** The retry count that was the default before the deadline. Given
 *  explicitly it selects that count-limited budget (6 tries of
 *  timeout_ms), too short to be sure to outlast a failover. Kept for
 *  source compatibility. */
#define CAT_CLIENT_DEFAULT_RETRIES 5

/** Largest per-try wait the default budget's doubling reaches (unless
 *  timeout_ms is larger: then timeout_ms). */
#define CAT_CLIENT_TIMEOUT_CAP_MS 500

/** Largest cat_client_opts.deadline_ms accepted (-EINVAL above). */
#define CAT_CLIENT_DEADLINE_MAX_MS 3600000

/** Largest cat_client_opts.retries accepted (-EINVAL above). */
#define CAT_CLIENT_RETRIES_MAX 100000

/** Pass as cat_client_opts.retries to send each request exactly once. */
#define CAT_CLIENT_NO_RETRIES (-1)

/** Bootstrap addresses accepted in cat_client_opts.host (-EINVAL above). */
#define CAT_CLIENT_BOOTSTRAP_MAX 16

/** MOVED replies one request follows before returning CAT_ST_MOVED. */
#define CAT_CLIENT_MOVED_MAX 4

/** Options for cat_client_open(). Zero fields mean "the default". */
struct cat_client_opts {
	/** Bootstrap node(s): one address, or a comma-separated list of up
	 *  to CAT_CLIENT_BOOTSTRAP_MAX, each "HOST" or "HOST:PORT" (dotted
	 *  IPv4 or a host name, resolved once, IPv4 only, at open; spaces
	 *  around entries are ignored). Any node of the cluster will do: the
	 *  map they serve names the rest. Required. */
	const char *host;
	/** UDP port of bootstrap entries without ":PORT";
	 *  0 = CAT_WIRE_DEFAULT_PORT (7470). */
	uint16_t port;
	/** Wait of the first try, in ms; 0 = CAT_CLIENT_DEFAULT_TIMEOUT_MS
	 *  (200). With an explicit retries count every try waits this long;
	 *  with the default budget later tries wait longer ("Budget"). */
	int timeout_ms;
	/** Re-sends after the first try; 0 = as many as deadline_ms allows
	 *  (the default budget), negative (CAT_CLIENT_NO_RETRIES) = no
	 *  re-send at all. */
	int retries;
	/** Client id carried in every request; 0 = a random nonzero 32-bit
	 *  id from getrandom(2). Give one only if you guarantee uniqueness. */
	uint32_t client_id;
	/** MTU of the path to the node, which sets the value limit checked
	 *  locally (cat_wire_value_max); 0 = 1500. */
	uint32_t mtu;
	/** Time one call may take, in ms, from call to return, map fetches
	 *  and RETRY pauses included; 0 = CAT_CLIENT_DEFAULT_DEADLINE_MS
	 *  (5000) with the default retries, none with an explicit count.
	 *  0..CAT_CLIENT_DEADLINE_MAX_MS. */
	int deadline_ms;
};

/** Opaque client handle. */
struct cat_client;

/**
 * Fill *o with the defaults (all zero) and set o->host.
 * Thread safety: touches only *o.
 */
void cat_client_opts_init(struct cat_client_opts *o, const char *host);

/**
 * Open a client: resolve every bootstrap address of o->host and open one
 * unconnected UDP socket (replies may come from any node of a chain).
 * Sends nothing: the cluster map is fetched on the first keyed request
 * (or by cat_client_refresh_map()).
 *
 * @param o    options (copied; o->host need not outlive the call)
 * @param err  if not NULL, receives 0 or a negative errno on failure
 *             (-EINVAL bad options or a malformed host list,
 *             -EHOSTUNREACH a host name did not resolve to an IPv4
 *             address, socket errors, -ENOMEM)
 * @return the client, or NULL on failure. Free with cat_client_close().
 */
struct cat_client *cat_client_open(const struct cat_client_opts *o, int *err);

/** Close the socket and free the client. NULL is a no-op. */
void cat_client_close(struct cat_client *c);

/** Client id this client puts in its requests. */
uint32_t cat_client_id(const struct cat_client *c);

/**
 * Slot count currently believed: the cached map's, or (without a map)
 * the one learnt from PING or WRONG_SLOT replies; 0 before the first
 * request.
 */
uint32_t cat_client_slot_count(const struct cat_client *c);

/** Epoch carried by the last reply received (0 before any). */
uint32_t cat_client_epoch(const struct cat_client *c);

/**
 * Epoch of the cached cluster map; 0 when no map is cached (none fetched
 * yet, or the node serves none). Sends nothing.
 */
uint32_t cat_client_map_epoch(const struct cat_client *c);

/**
 * Fetch the cluster map now (MAP_GET, in chunks, from the bootstrap
 * nodes first, then the nodes of the cached map) and cache it if its
 * epoch is newer than the cached one (a node at the cached epoch ends the
 * fetch after one chunk: the cached map is current). Bounded like a
 * request. Requests call this themselves
 * when needed; call it to learn the map up front or after learning out of
 * band that it changed.
 *
 * @return 0 (a map is cached), -EOPNOTSUPP (the node answered UNKNOWN_OP:
 *         it serves no map; requests then go to it alone), -ETIMEDOUT or
 *         -ECONNREFUSED (no node answered), -EPROTO (a node served text
 *         that does not parse as a map, or only maps older than the cached
 *         one), -ENOMEM, socket errors. A failed refresh keeps the cached
 *         map.
 */
int cat_client_refresh_map(struct cat_client *c);

struct sockaddr_in;

/**
 * cat_client_refresh_map() for a caller that sends its own requests (as
 * catena-udp-bench does, many at a time on its own socket) and so knows
 * which nodes to prefer: first (if not NULL) is asked before the others
 * (the node that answered MOVED has the newer map), avoid (if not NULL)
 * after all of them (a node gone silent). Results as
 * cat_client_refresh_map().
 */
int cat_client_refresh_map_from(struct cat_client *c,
				const struct sockaddr_in *first,
				const struct sockaddr_in *avoid);

/**
 * The node the client fell back to after -EOPNOTSUPP (a node from before
 * the cluster map answered MAP_GET; it is then the whole cluster and
 * requests go to it alone): 0 with its address in *sa, or -ENOENT while
 * the client routes by a map or has not fallen back.
 */
int cat_client_single_node(const struct cat_client *c, struct sockaddr_in *sa);

/**
 * The cached cluster map, or NULL. Owned by the client: valid until the
 * next call on c that may refresh it (any request, or
 * cat_client_refresh_map); read it, do not free it.
 */
const struct cat_map *cat_client_map(const struct cat_client *c);

/**
 * The cached map's text exactly as the node served it (canonical, see
 * cat_map_format), NUL-terminated; *len (if not NULL) = its length.
 * NULL when no map is cached. Lifetime as cat_client_map().
 */
const char *cat_client_map_text(const struct cat_client *c, size_t *len);

/**
 * GET key. On 0, copies the value to buf, sets *vlen to its length and
 * *version to its version. If the value is longer than cap, returns
 * -ENOBUFS, copies nothing, and sets *vlen to the length needed.
 * vlen is required; buf may be NULL if cap is 0; version may be NULL.
 * Not found: returns CAT_ST_NOT_FOUND.
 */
int cat_client_get(struct cat_client *c, const void *key, size_t klen,
		   void *buf, size_t cap, size_t *vlen, uint64_t *version);

/** PUT key = val. On 0, *version (if not NULL) = the new version. */
int cat_client_put(struct cat_client *c, const void *key, size_t klen,
		   const void *val, size_t vlen, uint64_t *version);

/**
 * DEL key. On 0, *version (if not NULL) = the version that was deleted.
 * Not found: CAT_ST_NOT_FOUND.
 */
int cat_client_del(struct cat_client *c, const void *key, size_t klen,
		   uint64_t *version);

/**
 * Compare-and-set on the version: set key = val only if its current
 * version is expect_version (0 = only if the key is absent).
 * On 0, *version = the new version. On CAT_ST_CAS_FAILED, *version = the
 * current version (0 if absent). version may be NULL.
 */
int cat_client_cas(struct cat_client *c, const void *key, size_t klen,
		   uint64_t expect_version, const void *val, size_t vlen,
		   uint64_t *version);

/**
 * Compare-and-set on the value: set key = val only if its current value
 * is exactly expect[0..elen). Both the expected and the new value are
 * checked against the value limit, and travel in one packet, so
 * klen + elen + vlen must fit it too (-EMSGSIZE otherwise).
 * Results as cat_client_cas().
 */
int cat_client_cas_value(struct cat_client *c, const void *key, size_t klen,
			 const void *expect, size_t elen,
			 const void *val, size_t vlen, uint64_t *version);

/**
 * INCR key by delta (may be negative). The value is stored as decimal
 * text; an absent key counts as 0. On 0, *result = the new number and
 * *version (if not NULL) = the new version. CAT_ST_NOT_A_NUMBER and
 * CAT_ST_OVERFLOW come from the node.
 */
int cat_client_incr(struct cat_client *c, const void *key, size_t klen,
		    int64_t delta, int64_t *result, uint64_t *version);

/**
 * PING a bootstrap node (the first; on a lost try the next one, in turn),
 * within the same budget as a request.
 * On 0, *slot_count and *epoch (each may be NULL) are the node's; without
 * a cached map the client also adopts the slot count for routing.
 */
int cat_client_ping(struct cat_client *c, uint32_t *slot_count,
		    uint32_t *epoch);

/**
 * Human-readable name of an rc returned by this library: "OK", a status
 * name ("NOT_FOUND", ...) for rc > 0, an errno description for rc < 0
 * ("no reply within the retry budget" for -ETIMEDOUT). Never NULL; the
 * string is static. Thread-safe.
 */
const char *cat_client_strerror(int rc);

#ifdef __cplusplus
}
#endif

#endif /* CATENA_H */
