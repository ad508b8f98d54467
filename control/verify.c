/*
 * catena-control's `verify` (control/verify.h): the digest requests sent
 * to the nodes, their answers collected per node, and the comparison of
 * every slot across the members of its chain that were asked. The answer
 * goes to the management connection that asked, found again by its serial
 * (it may have closed meanwhile). Never blocks; memory per verify grows
 * with the slots the nodes report, freed once it is answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctl.h"
#include "control/mgmt.h"
#include "control/repair.h"
#include "control/verify.h"

#define DIFFER_MAX 100u        /* differing slots listed by verify */

static struct cat_ctl_conn *conn_by_serial(struct cat_ctl *c, uint64_t serial)
{
	for (uint16_t i = 0; i < c->n_conns; i++)
		if (c->conns[i]->serial == serial)
			return c->conns[i];
	return NULL;
}

static void verify_free(struct cat_ctl_verify *v)
{
	for (unsigned int i = 0; i < CAT_MAP_NODES_MAX; i++)
		free(v->dg[i]);
	memset(v, 0, sizeof(*v));
}

int cat_ctl_verify_begin(struct cat_ctl *c, enum cat_ctl_verify_for purpose,
			 struct cat_ctl_conn *conn, uint32_t first,
			 uint32_t last)
{
	struct cat_ctl_verify *v = NULL;
	json_t *m;

	for (unsigned int i = 0; i < CAT_CTL_VERIFY_MAX && v == NULL; i++)
		if (c->verify[i].req == 0)
			v = &c->verify[i];
	if (v == NULL)
		return -EBUSY;
	memset(v, 0, sizeof(*v));
	for (uint16_t i = 0; i < c->n_nodes; i++) {
		const struct cat_ctl_node *n = &c->nodes[i];

		if (n->state == CAT_CTL_NODE_UP && n->conn != NULL &&
		    !n->conn->closing && !n->conn->dead)
			v->asked[v->n_asked++] = n->id;
	}
	if (v->n_asked == 0)
		return -ENOENT;
	if (++c->next_req == 0)
		c->next_req = 1;
	v->req = c->next_req;
	v->purpose = purpose;
	v->first = first;
	v->last = last;
	v->conn_serial = conn != NULL ? conn->serial : 0;
	v->deadline_ms = cat_ctl_now_ms() + CAT_CTL_VERIFY_MS;
	m = json_pack("{s:s,s:I}", "type", "digest_request", "req", (json_int_t)v->req);
	for (uint16_t i = 0; i < v->n_asked; i++)
		cat_ctl_send(cat_ctl_node(c, v->asked[i])->conn, m);
	json_decref(m);
	if (conn != NULL)
		conn->busy = 1; /* answers stay in request order */
	return 0;
}

void cat_ctl_verify_start(struct cat_ctl *c, struct cat_ctl_conn *conn)
{
	int rc = cat_ctl_verify_begin(c, CAT_CTL_VERIFY_FOR_OPERATOR, conn, 0,
				      UINT32_MAX);

	if (rc == -EBUSY)
		cat_ctl_mgmt_reply_err(conn, "verify: %u verify requests already running",
				       CAT_CTL_VERIFY_MAX);
	else if (rc < 0)
		cat_ctl_mgmt_reply_err(conn, "verify: no node is up");
}

int cat_ctl_verify_running(const struct cat_ctl *c, enum cat_ctl_verify_for purpose)
{
	for (unsigned int i = 0; i < CAT_CTL_VERIFY_MAX; i++)
		if (c->verify[i].req != 0 && c->verify[i].purpose == purpose)
			return 1;
	return 0;
}

/* A version or digest: a JSON integer >= 0, or its decimal string (a
 * digest may exceed 2^53, which not every JSON reader keeps exact). */
static int get_u64(json_t *j, uint64_t *v)
{
	const char *s;
	char *end;

	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		*v = (uint64_t)json_integer_value(j);
		return 0;
	}
	s = json_string_value(j);
	if (s == NULL || s[0] < '0' || s[0] > '9' || strlen(s) > 20)
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return *end != '\0' || errno != 0 ? -EINVAL : 0;
}

int cat_ctl_verify_digests(struct cat_ctl *c, uint16_t node, json_t *msg,
			   char *why, size_t whylen)
{
	json_t *jreq = json_object_get(msg, "req"), *slots = json_object_get(msg, "slots");
	json_t *more = json_object_get(msg, "more");
	struct cat_ctl_verify *v = NULL;
	const char *key;
	json_t *val;
	int k = -1;

	if (!json_is_integer(jreq) || !json_is_object(slots) ||
	    (more != NULL && !json_is_boolean(more))) {
		snprintf(why, whylen,
			 "digests: expected \"req\" (number), \"slots\" (object), optional \"more\" (boolean)");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < CAT_CTL_VERIFY_MAX && v == NULL; i++)
		if (c->verify[i].req != 0 &&
		    (json_int_t)c->verify[i].req == json_integer_value(jreq))
			v = &c->verify[i];
	for (uint16_t i = 0; v != NULL && i < v->n_asked; i++)
		if (v->asked[i] == node)
			k = i;
	if (v == NULL || k < 0 || v->answered[k])
		return 0; /* late, or not asked: nothing waits for it */
	json_object_foreach(slots, key, val) {
		struct cat_ctl_digest d;
		char *end;
		unsigned long s;

		errno = 0;
		s = strtoul(key, &end, 10);
		if (key[0] < '0' || key[0] > '9' || *end != '\0' || errno != 0 ||
		    s >= c->map->slot_count || !json_is_array(val) ||
		    json_array_size(val) != 2 ||
		    get_u64(json_array_get(val, 0), &d.version) < 0 ||
		    get_u64(json_array_get(val, 1), &d.digest) < 0) {
			snprintf(why, whylen,
				 "digests: slot \"%.12s\": expected a slot below %u mapped to [version, digest]",
				 key, c->map->slot_count);
			return -EINVAL;
		}
		d.slot = (uint32_t)s;
		if (v->n_dg[k] == v->cap_dg[k]) {
			uint32_t cap = v->cap_dg[k] ? v->cap_dg[k] * 2 : 256;
			struct cat_ctl_digest *p = realloc(v->dg[k], cap * sizeof(*p));

			if (p == NULL) {
				snprintf(why, whylen, "digests: control plane out of memory");
				return -ENOMEM;
			}
			v->dg[k] = p;
			v->cap_dg[k] = cap;
		}
		v->dg[k][v->n_dg[k]++] = d;
	}
	if (!json_is_true(more))
		v->answered[k] = 1;
	return 0;
}

static int cmp_digest(const void *a, const void *b)
{
	const struct cat_ctl_digest *x = a, *y = b;

	return (x->slot > y->slot) - (x->slot < y->slot);
}

static const struct cat_ctl_digest *find_digest(const struct cat_ctl_verify *v,
						int k, uint32_t slot)
{
	struct cat_ctl_digest key = { .slot = slot };

	return bsearch(&key, v->dg[k], v->n_dg[k], sizeof(key), cmp_digest);
}

/* What the asked members of slot s's chain hold of it, in chain order:
 * their versions, digests and ids. Returns how many members were asked. */
unsigned int cat_ctl_verify_replicas(const struct cat_ctl_verify *v,
				     const struct cat_map_chain *ch, uint32_t s,
				     uint64_t *ver, uint64_t *dig, uint16_t *who)
{
	unsigned int live = 0;

	for (uint8_t m = 0; m < ch->len; m++) {
		const struct cat_ctl_digest *d;
		int k = -1;

		for (uint16_t i = 0; i < v->n_asked; i++)
			if (v->asked[i] == ch->nodes[m])
				k = i;
		if (k < 0)
			continue; /* not up: nothing to compare */
		d = find_digest(v, k, s);
		/* A slot a replica never wrote is version 0. */
		ver[live] = d != NULL ? d->version : 0;
		dig[live] = d != NULL ? d->digest : 0;
		who[live] = ch->nodes[m];
		live++;
	}
	return live;
}

/* One entry of the answer's "differ": each replica's version and digest
 * by node id, digests as decimal strings (they may exceed 2^53). */
static json_t *differ_entry(uint32_t s, uint16_t chain, unsigned int live,
			    const uint64_t *ver, const uint64_t *dig,
			    const uint16_t *who)
{
	json_t *vj = json_object(), *dj = json_object();

	for (unsigned int i = 0; i < live; i++) {
		char id[8], dec[24];

		snprintf(id, sizeof(id), "%u", who[i]);
		snprintf(dec, sizeof(dec), "%llu", (unsigned long long)dig[i]);
		json_object_set_new(vj, id, json_integer((json_int_t)ver[i]));
		json_object_set_new(dj, id, json_string(dec));
	}
	return json_pack("{s:I,s:I,s:o,s:o}", "slot", (json_int_t)s,
			 "chain", (json_int_t)chain, "versions", vj,
			 "digests", dj);
}

static void verify_answer(struct cat_ctl *c, struct cat_ctl_verify *v,
			  struct cat_ctl_conn *conn)
{
	uint16_t missing[CAT_MAP_NODES_MAX];
	unsigned int n_missing = 0;
	json_int_t checked = 0, n_differ = 0;
	json_t *differ;
	char list[400];

	for (uint16_t i = 0; i < v->n_asked; i++)
		if (!v->answered[i])
			missing[n_missing++] = v->asked[i];
	if (n_missing > 0) {
		cat_ctl_list_ids(list, sizeof(list), missing, n_missing);
		cat_ctl_mgmt_reply_err(conn, "verify: no digests within %u ms from nodes %s",
				       CAT_CTL_VERIFY_MS, list);
		return;
	}
	for (uint16_t i = 0; i < v->n_asked; i++)
		qsort(v->dg[i], v->n_dg[i], sizeof(v->dg[i][0]), cmp_digest);
	differ = json_array();
	for (uint32_t s = 0; s < c->map->slot_count; s++) {
		const struct cat_map_chain *ch = cat_map_slot_chain(c->map, s);
		uint64_t ver[CAT_MAP_CHAIN_LEN_MAX], dig[CAT_MAP_CHAIN_LEN_MAX];
		uint16_t who[CAT_MAP_CHAIN_LEN_MAX];
		unsigned int live = cat_ctl_verify_replicas(v, ch, s, ver, dig, who), same = 1;

		for (unsigned int i = 1; i < live; i++)
			if (ver[i] != ver[0] || dig[i] != dig[0])
				same = 0;
		if (live == 0)
			continue;
		checked++;
		if (same)
			continue;
		if (n_differ++ < DIFFER_MAX)
			json_array_append_new(differ, differ_entry(s, ch->id, live,
								   ver, dig, who));
	}
	cat_ctl_mgmt_reply_ok(conn, json_pack("{s:I,s:I,s:I,s:o,s:o}", "epoch",
			      (json_int_t)c->map->epoch, "slots_checked", checked,
			      "differ_count", n_differ, "differ", differ,
			      "nodes", cat_ctl_mgmt_id_array(v->asked, v->n_asked)));
}

void cat_ctl_verify_tick(struct cat_ctl *c, uint64_t now_ms)
{
	for (unsigned int i = 0; i < CAT_CTL_VERIFY_MAX; i++) {
		struct cat_ctl_verify *v = &c->verify[i];
		struct cat_ctl_conn *conn;
		int all = 1;

		if (v->req == 0)
			continue;
		for (uint16_t k = 0; k < v->n_asked; k++)
			all &= v->answered[k];
		if (!all && now_ms < v->deadline_ms)
			continue;
		conn = v->conn_serial ? conn_by_serial(c, v->conn_serial) : NULL;
		if (v->purpose != CAT_CTL_VERIFY_FOR_OPERATOR) {
			for (uint16_t k = 0; k < v->n_asked; k++)
				qsort(v->dg[k], v->n_dg[k], sizeof(v->dg[k][0]),
				      cmp_digest);
			cat_ctl_repair_verified(c, v, conn);
		} else if (conn != NULL) {
			verify_answer(c, v, conn);
		}
		if (conn != NULL)
			conn->busy = 0;
		verify_free(v);
	}
}

uint64_t cat_ctl_verify_deadline(const struct cat_ctl *c)
{
	uint64_t d = UINT64_MAX;

	for (unsigned int i = 0; i < CAT_CTL_VERIFY_MAX; i++)
		if (c->verify[i].req != 0 && c->verify[i].deadline_ms < d)
			d = c->verify[i].deadline_ms;
	return d;
}

void cat_ctl_verify_fini(struct cat_ctl *c)
{
	for (unsigned int i = 0; i < CAT_CTL_VERIFY_MAX; i++)
		verify_free(&c->verify[i]);
}
