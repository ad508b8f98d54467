/*
 * catena-control configuration reader. The INI dialect is the one the
 * node's rte_cfgfile accepts (sections, key = value, ';' or '#' comments,
 * also after a value when preceded by a blank), without DPDK: control/
 * must not depend on it. Never prints.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "control/err.h"
#include "control/ctl_config.h"

#define LINE_MAX_LEN 1024

void cat_ctl_config_defaults(struct cat_ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->store, "file");
	strcpy(c->state_dir, "/var/lib/catena");
	c->node_kind = CAT_CTL_LISTEN_UNIX;
	strcpy(c->node_listen, "unix:/run/catena/nodes.sock");
	strcpy(c->node_path, "/run/catena/nodes.sock");
	strcpy(c->mgmt_socket, "/run/catena/control.sock");
	c->heartbeat_timeout_ms = 1000;
	c->restore_replicas = 1;
	c->rebuild_wait_ms = 30000;
	strcpy(c->etcd_endpoints, "http://127.0.0.1:2379");
	strcpy(c->etcd_prefix, "/catena/");
	c->lease_ms = 2000;
	c->auth_timeout_ms = 5000;
	c->mgmt_send_timeout_ms = 10000;
	c->mgmt_idle_timeout_ms = 600000;
	c->verify_interval_s = 300;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int set_path(char *dst, size_t cap, const char *v, char *why,
		    size_t whylen)
{
	if (strlen(v) >= cap) {
		snprintf(why, whylen, "longer than %zu bytes", cap - 1);
		return -EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

/* "A.B.C.D:PORT": 0 with ip (host byte order) and port, or -EINVAL. */
static int parse_ipv4_port(const char *v, uint32_t *ip, uint16_t *port)
{
	const char *colon = strrchr(v, ':');
	char addr[32], *end;
	struct in_addr ia;
	unsigned long n;

	if (colon == NULL || (size_t)(colon - v) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, v, (size_t)(colon - v));
	addr[colon - v] = '\0';
	errno = 0;
	n = strtoul(colon + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &ia) != 1 || colon[1] == '\0' ||
	    *end != '\0' || errno != 0 || n == 0 || n > 65535 ||
	    colon[1] == '+' || colon[1] == '-')
		return -EINVAL;
	*ip = ntohl(ia.s_addr);
	*port = (uint16_t)n;
	return 0;
}

static int parse_listen(struct cat_ctl_config *c, const char *v, char *why,
			size_t whylen)
{
	if (strlen(v) >= sizeof(c->node_listen)) {
		snprintf(why, whylen, "too long");
		return -EINVAL;
	}
	strcpy(c->node_listen, v);
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] == '\0' || strlen(v + 5) >= sizeof(c->node_path)) {
			snprintf(why, whylen, "unix socket path empty or over %zu bytes",
				 sizeof(c->node_path) - 1);
			return -EINVAL;
		}
		c->node_kind = CAT_CTL_LISTEN_UNIX;
		strcpy(c->node_path, v + 5);
		return 0;
	}
	if (strncmp(v, "tcp:", 4) == 0 &&
	    parse_ipv4_port(v + 4, &c->node_ip, &c->node_port) == 0) {
		c->node_kind = CAT_CTL_LISTEN_TCP;
		return 0;
	}
	snprintf(why, whylen, "expected unix:PATH or tcp:IPV4:PORT");
	return -EINVAL;
}

/* Keys that are a number of milliseconds in a range. */
struct num_key {
	const char *name;
	size_t off;
	unsigned long min, max;
};

static const struct num_key numeric[] = {
	{ "heartbeat_timeout_ms", offsetof(struct cat_ctl_config, heartbeat_timeout_ms), 10, 600000 },
	{ "lease_ms", offsetof(struct cat_ctl_config, lease_ms), 500, 60000 },
	{ "auth_timeout_ms", offsetof(struct cat_ctl_config, auth_timeout_ms), 100, 600000 },
	{ "mgmt_send_timeout_ms", offsetof(struct cat_ctl_config, mgmt_send_timeout_ms), 100, 3600000 },
	{ "mgmt_idle_timeout_ms", offsetof(struct cat_ctl_config, mgmt_idle_timeout_ms), 0, 86400000 },
	{ "verify_interval_s", offsetof(struct cat_ctl_config, verify_interval_s), 0, 604800 },
	{ "rebuild_wait_ms", offsetof(struct cat_ctl_config, rebuild_wait_ms), 0, 3600000 },
};

static int set_key(struct cat_ctl_config *c, const char *k, const char *v,
		   char *why, size_t whylen)
{
	if (strcmp(k, "store") == 0) {
		if (strcmp(v, "file") == 0 || strcmp(v, "etcd") == 0) {
			strcpy(c->store, v);
			return 0;
		}
		snprintf(why, whylen, "expected file or etcd");
		return -EINVAL;
	}
	if (strcmp(k, "state_dir") == 0)
		return set_path(c->state_dir, sizeof(c->state_dir), v, why, whylen);
	if (strcmp(k, "node_listen") == 0)
		return parse_listen(c, v, why, whylen);
	if (strcmp(k, "mgmt_socket") == 0)
		return set_path(c->mgmt_socket, sizeof(c->mgmt_socket), v, why,
				whylen);
	if (strcmp(k, "initial_map") == 0)
		return set_path(c->initial_map, sizeof(c->initial_map), v, why,
				whylen);
	if (strcmp(k, "etcd_endpoints") == 0) {
		/* Each endpoint is http://HOST:PORT; the store checks the
		 * scheme, this only bounds the length. */
		if (strncmp(v, "http://", 7) != 0) {
			snprintf(why, whylen, "expected http://HOST:PORT[,...]");
			return -EINVAL;
		}
		return set_path(c->etcd_endpoints, sizeof(c->etcd_endpoints), v,
				why, whylen);
	}
	if (strcmp(k, "etcd_prefix") == 0)
		return set_path(c->etcd_prefix, sizeof(c->etcd_prefix) - 8, v, why,
				whylen);
	if (strcmp(k, "secret_file") == 0)
		return set_path(c->secret_file, sizeof(c->secret_file), v, why,
				whylen);
	if (strcmp(k, "instance") == 0)
		return set_path(c->instance, sizeof(c->instance), v, why, whylen);
	if (strcmp(k, "metrics_listen") == 0) {
		c->metrics_on = strcmp(v, "off") != 0;
		if (c->metrics_on &&
		    parse_ipv4_port(v, &c->metrics_ip, &c->metrics_port) < 0) {
			snprintf(why, whylen, "expected IPV4:PORT or off");
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(k, "restore_replicas") == 0) {
		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
			snprintf(why, whylen, "expected 'on' or 'off'");
			return -EINVAL;
		}
		c->restore_replicas = strcmp(v, "on") == 0;
		return 0;
	}
	if (strcmp(k, "replication_factor") == 0) {
		if (strlen(v) != 1 || v[0] < '0' || v[0] > '8') {
			snprintf(why, whylen, "expected a number 0..8 (0: the longest chain of the map at start)");
			return -EINVAL;
		}
		c->replication_factor = (uint32_t)(v[0] - '0');
		return 0;
	}
	for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++) {
		const struct num_key *nk = &numeric[i];
		char *end;
		unsigned long n;

		if (strcmp(k, nk->name) != 0)
			continue;
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*end != '\0' || errno != 0 || v[0] < '0' || v[0] > '9' ||
		    n < nk->min || n > nk->max) {
			snprintf(why, whylen, "expected a number %lu..%lu",
				 nk->min, nk->max);
			return -EINVAL;
		}
		*(uint32_t *)((char *)c + nk->off) = (uint32_t)n;
		return 0;
	}
	snprintf(why, whylen, "unknown key");
	return -ENOENT;
}

static const char *const known[] = {
	"store", "state_dir", "node_listen", "mgmt_socket",
	"heartbeat_timeout_ms", "initial_map",
	"etcd_endpoints", "etcd_prefix", "lease_ms", "instance",
	"restore_replicas", "replication_factor", "secret_file",
	"auth_timeout_ms", "mgmt_send_timeout_ms", "mgmt_idle_timeout_ms",
	"metrics_listen", "verify_interval_s", "rebuild_wait_ms",
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

/* What the reader knows between lines. */
struct reader {
	struct cat_ctl_config *c;
	unsigned int lineno;
	unsigned int seen[N_KNOWN];     /* line of each known key, 0 not yet */
	int in_control;
};

/* "[control]", with an optional comment after it. */
static int section_line(struct reader *r, char *s, char *err, size_t errlen)
{
	char *e = strchr(s, ']');
	char *rest = e != NULL ? trim(e + 1) : NULL;

	if (rest == NULL || (*rest != '\0' && *rest != ';' && *rest != '#')) {
		cat_ctl_errf(err, errlen, "line %u: bad section line", r->lineno);
		return -EINVAL;
	}
	*e = '\0';
	if (strcmp(trim(s + 1), "control") != 0) {
		cat_ctl_errf(err, errlen,
			"line %u: [%.40s]: unknown section (only [control])",
			r->lineno, trim(s + 1));
		return -EINVAL;
	}
	r->in_control = 1;
	return 0;
}

/* The value after '=', without a comment: a comment needs a blank before
 * it, so a path may contain '#' or ';' where it is not preceded by one. */
static char *value_of(char *v)
{
	for (char *cm = v; *cm != '\0'; cm++)
		if ((*cm == ';' || *cm == '#') &&
		    (cm == v || cm[-1] == ' ' || cm[-1] == '\t')) {
			*cm = '\0';
			break;
		}
	return trim(v);
}

/* "key = value" inside [control]: a known key, once, not empty. */
static int key_line(struct reader *r, char *s, char *err, size_t errlen)
{
	char *eq = strchr(s, '='), *k, *v, why[160];
	size_t i;
	int rc;

	if (eq == NULL) {
		cat_ctl_errf(err, errlen, "line %u: expected 'key = value'", r->lineno);
		return -EINVAL;
	}
	*eq = '\0';
	k = trim(s);
	v = value_of(eq + 1);
	if (!r->in_control) {
		cat_ctl_errf(err, errlen, "line %u: %.40s: key outside [control]",
			     r->lineno, k);
		return -EINVAL;
	}
	for (i = 0; i < N_KNOWN && strcmp(known[i], k) != 0; i++)
		;
	if (i == N_KNOWN) {
		cat_ctl_errf(err, errlen, "line %u: [control] %.40s: unknown key",
			     r->lineno, k);
		return -EINVAL;
	}
	if (r->seen[i]) {
		cat_ctl_errf(err, errlen,
			"line %u: [control] %s: given twice (first on line %u)",
			r->lineno, k, r->seen[i]);
		return -EINVAL;
	}
	r->seen[i] = r->lineno;
	if (*v == '\0') {
		cat_ctl_errf(err, errlen, "line %u: [control] %s: empty value",
			     r->lineno, k);
		return -EINVAL;
	}
	rc = set_key(r->c, k, v, why, sizeof(why));
	if (rc < 0)
		cat_ctl_errf(err, errlen, "line %u: [control] %s: %s: \"%.60s\"",
			     r->lineno, k, why, v);
	return rc;
}

int cat_ctl_config_load(const char *path, struct cat_ctl_config *c,
			char *err, size_t errlen)
{
	char line[LINE_MAX_LEN + 2];
	struct reader r = { .c = c };
	int rc = 0;
	FILE *f;

	cat_ctl_config_defaults(c);
	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		cat_ctl_errf(err, errlen, "%s", strerror(errno));
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *s;

		r.lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			cat_ctl_errf(err, errlen, "line %u: longer than %d bytes",
				     r.lineno, LINE_MAX_LEN);
			rc = -EINVAL;
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		rc = *s == '[' ? section_line(&r, s, err, errlen) :
				 key_line(&r, s, err, errlen);
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		cat_ctl_errf(err, errlen, "read error");
	}
	fclose(f);
	return rc;
}
