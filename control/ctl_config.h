/*
 * catena-control configuration: a small strict INI reader for the
 * [control] section (docs/CONTROL.md). Unknown sections and keys,
 * duplicates, empty values and out-of-range numbers are errors naming the
 * key. Startup only; never prints, never exits: the caller reports.
 */
#ifndef CAT_CTL_CONFIG_H
#define CAT_CTL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAT_CTL_PATH_MAX 256u

enum cat_ctl_listen_kind {
	CAT_CTL_LISTEN_UNIX,
	CAT_CTL_LISTEN_TCP,
};

struct cat_ctl_config {
	char store[16];                       /* "file" or "etcd" */
	char state_dir[CAT_CTL_PATH_MAX];
	enum cat_ctl_listen_kind node_kind;
	char node_path[108];                  /* unix: socket path */
	uint32_t node_ip;                     /* tcp: host byte order */
	uint16_t node_port;                   /* tcp */
	char node_listen[CAT_CTL_PATH_MAX];   /* as written, for messages */
	char mgmt_socket[108];
	uint32_t heartbeat_timeout_ms;        /* 10..600000 */
	char initial_map[CAT_CTL_PATH_MAX];   /* "" if not set */
	/* store = etcd (docs/CONTROL.md, "Store (etcd backend)") */
	char etcd_endpoints[CAT_CTL_PATH_MAX]; /* comma list of http://H:P */
	char etcd_prefix[128];                /* key prefix, "/catena/" */
	uint32_t lease_ms;                    /* leader lease, 500..60000 */
	char instance[64];                    /* "" : hostname:pid */
	int restore_replicas;                 /* 1: add joiners to short chains */
	uint32_t replication_factor;          /* 0: longest chain at start, 1..8 */
	char secret_file[CAT_CTL_PATH_MAX];   /* "": node channel unauthenticated */
	/* Connection limits (docs/CONTROL.md, "Connections and limits"). */
	uint32_t auth_timeout_ms;      /* node channel: hello (and auth) within */
	uint32_t mgmt_send_timeout_ms; /* mgmt: answers unread this long: dropped */
	uint32_t mgmt_idle_timeout_ms; /* mgmt: no request this long: closed; 0 never */
	uint32_t verify_interval_s;    /* background verify every; 0 off */
	uint32_t rebuild_wait_ms;      /* a chain that lost every replica waits
					* this long for nodes' logs (rebuild.h) */
	/* Prometheus endpoint (control/metrics.h): metrics_listen IPV4:PORT. */
	int metrics_on;                /* 0: "off", the default */
	uint32_t metrics_ip;           /* host byte order */
	uint16_t metrics_port;
};

/** Defaults of docs/CONTROL.md (no initial_map). */
void cat_ctl_config_defaults(struct cat_ctl_config *c);

/**
 * Read path into c (defaults first). Returns 0, or a negative errno with
 * one line in err: "line 4: [control] foo: unknown key", or the open
 * error.
 */
int cat_ctl_config_load(const char *path, struct cat_ctl_config *c,
			char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* CAT_CTL_CONFIG_H */
