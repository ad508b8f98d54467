/*
 * catena-node agent: the cluster map's life cycle on the main lcore.
 * Maps are immutable; a new one is published with one pointer store, each
 * worker switches at the top of its next loop iteration, and the old one is
 * freed only when no worker has it as its current map after a grace period.
 * Never called by a worker; never prints (main logs what it returns).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "dataplane/agent.h"
#include "replication/chain.h"

static void ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xffu,
		 (ip >> 8) & 0xffu, ip & 0xffu);
}

int cat_agent_map_check(const struct cat_map *m, const struct cat_config *c,
			char *err, size_t errlen)
{
	const struct cat_map_node *nd = cat_map_node_by_id(m, (uint16_t)c->node_id);
	char a[16], b[16];

	if (nd == NULL) {
		snprintf(err, errlen, "[node] id %u is not a node of the cluster map",
			 c->node_id);
		return -EINVAL;
	}
	if (nd->ip != c->ip || nd->udp_port != c->udp_port) {
		ip_str(c->ip, a, sizeof(a));
		ip_str(nd->ip, b, sizeof(b));
		snprintf(err, errlen, "[node] ip %s udp_port %u differ from node %u "
			 "in the cluster map (%s port %u)", a, c->udp_port,
			 c->node_id, b, nd->udp_port);
		return -EINVAL;
	}
	if (c->slots != 0 && m->slot_count != c->slots) {
		snprintf(err, errlen, "[store] slots = %u but the cluster map has "
			 "slots %u (leave [store] slots out to take the map's)",
			 c->slots, m->slot_count);
		return -EINVAL;
	}
	return 0;
}

int cat_agent_map_check_workers(const struct cat_map *m, uint16_t node_id,
				uint16_t n_workers, char *err, size_t errlen)
{
	const struct cat_map_node *nd = cat_map_node_by_id(m, node_id);

	if (nd == NULL || nd->workers == 0 || nd->workers == n_workers)
		return 0;
	snprintf(err, errlen, "workers %u %u: this node runs %u worker%s (give "
		 "EAL %u worker lcores, or announce %u)", node_id, nd->workers,
		 n_workers, n_workers == 1 ? "" : "s", nd->workers, n_workers);
	return -EINVAL;
}

int cat_agent_map_single(const struct cat_config *c, const uint8_t mac[6],
			 struct cat_map **out, char *err, size_t errlen)
{
	char text[512], ip[16], perr[256];
	int n, rc;

	ip_str(c->ip, ip, sizeof(ip));
	n = snprintf(text, sizeof(text),
		     "epoch 1\nslots %u\ncraq off\n"
		     "node %u %s:%u %02x:%02x:%02x:%02x:%02x:%02x\n"
		     "chain 1 %u\nassign 0-%u 1\n",
		     c->slots, c->node_id, ip, c->udp_port, mac[0], mac[1], mac[2],
		     mac[3], mac[4], mac[5], c->node_id, c->slots - 1);
	rc = cat_map_parse(text, (size_t)n, out, perr, sizeof(perr));
	if (rc < 0)
		snprintf(err, errlen, "single-node map: %s", perr);
	return rc;
}

struct cat_dp_map *cat_agent_map_wrap(struct cat_map *m, uint16_t node_id)
{
	struct cat_dp_map *dm;
	uint16_t i;
	int n;

	for (i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].id == node_id)
			break;
	if (i == m->n_nodes) {
		errno = EINVAL;
		return NULL;
	}
	dm = calloc(1, sizeof(*dm));
	if (dm == NULL)
		return NULL;
	dm->text = malloc(CAT_MAP_TEXT_MAX);
	if (dm->text == NULL) {
		free(dm);
		errno = ENOMEM;
		return NULL;
	}
	n = cat_map_format(m, dm->text, CAT_MAP_TEXT_MAX);
	if (n < 0) {
		free(dm->text);
		free(dm);
		errno = -n;
		return NULL;
	}
	dm->text_len = (uint32_t)n;
	dm->map = m;
	dm->self_idx = i;
	return dm;
}

void cat_agent_map_free(struct cat_dp_map *dm)
{
	if (dm == NULL)
		return;
	cat_map_free(dm->map);
	free(dm->text);
	free(dm);
}

int cat_agent_publish(struct cat_agent *a, struct cat_dp_map *dm)
{
	struct cat_dp_map *old = a->dp->map;

	if (old != NULL) {
		if (a->n_retired == CAT_AGENT_RETIRED_MAX)
			return -EBUSY;
		a->retired[a->n_retired++] = old;
	}
	rcu_assign_pointer(a->dp->map, dm);
	return 0;
}

uint32_t cat_agent_epoch(const struct cat_agent *a)
{
	const struct cat_dp_map *dm = a->dp->map;

	return dm != NULL ? dm->map->epoch : 0;
}

/* 1 if dm's canonical text is that of the map in force. */
static int same_as_current(const struct cat_agent *a, const struct cat_dp_map *dm)
{
	const struct cat_dp_map *cur = a->dp->map;

	return cur != NULL && cur->text_len == dm->text_len &&
	       memcmp(cur->text, dm->text, dm->text_len) == 0;
}

int cat_agent_apply(struct cat_agent *a, struct cat_map *m, const char *origin,
		    int same_ok, char *msg, size_t msglen)
{
	uint32_t cur = cat_agent_epoch(a);
	struct cat_config chk = *a->cfg;
	struct cat_dp_map *dm;
	char err[256];
	int rc;

	chk.slots = a->dp->slot_count;
	rc = cat_agent_map_check(m, &chk, err, sizeof(err));
	if (rc == 0)
		rc = cat_agent_map_check_workers(m, (uint16_t)chk.node_id,
						 a->dp->n_workers, err, sizeof(err));
	if (rc == 0 && (m->epoch < cur || (m->epoch == cur && !same_ok))) {
		snprintf(err, sizeof(err), "epoch %u is not above the current %u",
			 m->epoch, cur);
		rc = -ESTALE;
	}
	if (rc < 0) {
		snprintf(msg, msglen, "%s: %s; keeping epoch %u", origin, err, cur);
		cat_map_free(m);
		return rc;
	}
	dm = cat_agent_map_wrap(m, (uint16_t)a->cfg->node_id);
	if (dm == NULL) {
		rc = -errno;
		snprintf(msg, msglen, "%s: %s; keeping epoch %u", origin,
			 strerror(errno), cur);
		cat_map_free(m);
		return rc;
	}
	if (m->epoch == cur) {
		/* The same epoch again (e.g. a control plane that restarted)
		 * is already applied if it is the same map; another map
		 * under the same epoch is a bug somewhere, never installed. */
		rc = same_as_current(a, dm) ? 1 : -ESTALE;
		cat_agent_map_free(dm);
		if (rc == 1)
			snprintf(msg, msglen, "%s: epoch %u is already in force",
				 origin, cur);
		else
			snprintf(msg, msglen, "%s: epoch %u differs from the map in "
				 "force under the same epoch; keeping it", origin, cur);
		return rc;
	}
	if (a->keys != NULL)
		dm->keys = *a->keys;
	rc = cat_agent_publish(a, dm);
	if (rc < 0) {
		snprintf(msg, msglen, "%s: too many maps awaiting retirement; "
			 "keeping epoch %u", origin, cur);
		cat_agent_map_free(dm);
		return rc;
	}
	snprintf(msg, msglen, "%s: epoch %u published (%u nodes, %u chains)",
		 origin, dm->map->epoch, dm->map->n_nodes, dm->map->n_chains);
	return 0;
}

int cat_agent_reload(struct cat_agent *a, char *msg, size_t msglen)
{
	const struct cat_config *c = a->cfg;
	struct cat_map *m = NULL;
	char err[256], origin[300];
	int rc;

	if (c->map_path[0] == '\0') {
		snprintf(msg, msglen, "SIGHUP: no [cluster] map configured, nothing to reload");
		return -ENOENT;
	}
	rc = cat_map_load(c->map_path, &m, err, sizeof(err));
	if (rc < 0) {
		snprintf(msg, msglen, "SIGHUP: cluster map %s: %s; keeping epoch %u",
			 c->map_path, err, cat_agent_epoch(a));
		return rc;
	}
	snprintf(origin, sizeof(origin), "cluster map %s", c->map_path);
	rc = cat_agent_apply(a, m, origin, 0, msg, msglen);
	if (rc < 0) {
		/* Failures keep the "SIGHUP:" prefix operators look for. */
		char tmp[600];

		snprintf(tmp, sizeof(tmp), "SIGHUP: %s", msg);
		snprintf(msg, msglen, "%s", tmp);
	}
	return rc;
}

static int in_use(const struct cat_agent *a, const struct cat_dp_map *dm)
{
	for (uint32_t i = 0; i < a->dp->n_workers; i++)
		if (__atomic_load_n(&a->workers[i]->dmap_seen, __ATOMIC_ACQUIRE) == dm)
			return 1;
	return 0;
}

unsigned int cat_agent_retire(struct cat_agent *a)
{
	unsigned int freed = 0;
	uint32_t i, keep = 0;

	if (a->n_retired == 0)
		return 0;
	/*
	 * Grace period first, check second: a worker that loaded an old map
	 * pointer just before the newer one was published stores it as its
	 * current map before its next quiescent state, so only after a grace
	 * period does "no worker has it" stay true for good. Telemetry
	 * callbacks reading the map are registered readers and are waited
	 * for too.
	 */
	synchronize_rcu();
	for (i = 0; i < a->n_retired; i++) {
		if (in_use(a, a->retired[i])) {
			a->retired[keep++] = a->retired[i];
			continue;
		}
		cat_agent_map_free(a->retired[i]);
		freed++;
	}
	a->n_retired = keep;
	return freed;
}

int cat_agent_suspects(struct cat_agent *a, char *msg, size_t msglen)
{
	const struct cat_dp_map *dm = a->dp->map;
	const struct cat_map *m;

	if (dm == NULL)
		return 0; /* no map, no chains, no successors */
	m = dm->map;

	for (uint32_t w = 0; w < a->dp->n_workers; w++) {
		uint16_t p = cat_chain_suspect_peer(a->workers[w]->chain);
		int known = 0;
		size_t used;

		if (p == a->suspect[w])
			continue;
		for (uint32_t o = 0; o < a->dp->n_workers; o++)
			if (o != w && a->suspect[o] == p)
				known = 1;
		a->suspect[w] = p;
		if (p == 0 || known)
			continue;
		/* Which chains have that node as our successor. */
		used = (size_t)snprintf(msg, msglen, "peer %u stopped answering on chain ", p);
		for (uint16_t ci = 0, listed = 0; ci < m->n_chains && used < msglen; ci++) {
			const struct cat_map_chain *c = &m->chains[ci];
			int pos = cat_map_chain_pos(c, a->dp->node_id);

			if (pos >= 0 && pos + 1 < c->len && c->nodes[pos + 1] == p)
				used += (size_t)snprintf(msg + used, msglen - used,
							 "%s%u", listed++ ? "," : "", c->id);
		}
		if (used < msglen)
			snprintf(msg + used, msglen - used, " (epoch %u, worker %u): "
				 "reported, no action until a new map", m->epoch, w);
		a->dp->peer_suspect_reports++;
		return 1;
	}
	return 0;
}

void cat_agent_fini(struct cat_agent *a)
{
	if (a->dp == NULL)
		return; /* nothing was published */
	for (uint32_t i = 0; i < a->n_retired; i++)
		cat_agent_map_free(a->retired[i]);
	a->n_retired = 0;
	cat_agent_map_free(a->dp->map);
	a->dp->map = NULL;
}
