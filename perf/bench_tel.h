/*
 * perf/bench_tel.h: catena-bench's view of a node's capacity. Reads a
 * catena-node's /catena/lcores over the node's DPDK telemetry socket
 * (the same one dpdk-telemetry.py talks to), so a benchmark can say how
 * busy the node's worker cores were while it measured, and which side,
 * node or bench, ran out of core first. Called before and after a
 * measured phase, never from the load loop.
 */
#ifndef CAT_BENCH_TEL_H
#define CAT_BENCH_TEL_H

#include <stddef.h>
#include <stdint.h>

/* One node's workers, summed. */
struct cat_btel_lcores {
	uint64_t busy_tsc;   /* TSC in loop iterations that did work */
	uint64_t idle_tsc;   /* ... that found none (sleeps, waits) */
	uint64_t requests;   /* client requests its workers decoded */
	uint64_t tsc_hz;
	unsigned workers;
};

/**
 * The telemetry socket of a node: where names a file prefix (the node's
 * EAL --file-prefix, e.g. "node1": /var/run/dpdk/node1/dpdk_telemetry.v2,
 * or under $XDG_RUNTIME_DIR/dpdk for a non-root user) or, starting with
 * '/', the socket's path itself. Writes it to path (size len); 0 or
 * -ENAMETOOLONG.
 */
int cat_btel_socket_path(const char *where, char *path, size_t len);

/**
 * Read /catena/lcores from the node at socket path. 0, or a negative
 * errno with a message in err (no such socket, not a catena-node, a
 * reply without busy_tsc: a node older than this bench).
 */
int cat_btel_read_lcores(const char *path, struct cat_btel_lcores *out,
			 char *err, size_t errlen);

#endif /* CAT_BENCH_TEL_H */
