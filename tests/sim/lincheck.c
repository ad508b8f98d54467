/*
 * catena lincheck: linearizability of one key's register history (see
 * lincheck.h). Test-side code for the simulator: it allocates freely, but
 * never prints and never searches without a bound.
 *
 * The search is Lowe's formulation of Wing & Gong (WGL, as in Porcupine):
 * the history becomes a time-ordered list of call and return entries; any
 * call entry before the first remaining return entry is a candidate to be
 * linearized next. Linearizing an op removes its call and return entries
 * ("lifts" them, dancing-links style, so backtracking is O(1)); reaching a
 * return entry means that op's deadline came while it was still pending, so
 * the search backtracks. Configurations (set of linearized ops, register
 * state) already explored are memoized, which is what turns the factorial
 * search into one bounded by the number of distinct configurations.
 *
 * Ops with no response (unknown outcome) have no return entry: they never
 * force a backtrack, and the search succeeds as soon as every op WITH a
 * response is linearized -- an unknown op may be linearized after all of
 * them, which is indistinguishable from never taking effect. Left at that,
 * each such op multiplies the configurations (it may be applied anywhere,
 * or not), so four rules keep them affordable, none losing an answer:
 *   - known candidates are tried before unknown ones, so a linearizable
 *     history is usually found without applying any unknown op;
 *   - the memo is a dominance check, not an equality check: configuration B
 *     is pruned when some explored A has the same known ops linearized, the
 *     same register state, and a SUBSET of B's unknown ops linearized (A can
 *     follow any continuation of B: its extra unknown ops have no deadline
 *     and may simply be skipped). Without unknown ops this is exactly WGL's
 *     equality memo;
 *   - an unknown op is applied only right before an op that depends on it
 *     (canonical_pruned says why this loses no linearization), and only if
 *     that op exists (unknown_has_next);
 *   - identical unknown ops (same kind and arguments) are used in call
 *     order only, so which of them were used never splits a configuration.
 * The rules are cross-checked against brute force and against a plain
 * memoized search in test_lincheck.c. What they cannot remove is real
 * ambiguity (e.g. several timed-out INCRs with different deltas: which
 * subset took effect); there the state budget answers "gave up".
 * GETs with unknown outcome are dropped up front: they cannot change state.
 */
#include "lincheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A node of the entry lists. Call entries of known ops point at their return
 * entry through match; unknown ops have only a call entry. */
struct ent {
	struct ent *prev, *next;
	struct ent *match;
	uint64_t time;
	uint32_t op;        /* index into the live op array */
	bool is_call;
};

/* An op that takes part in the search. */
struct lop {
	const struct cat_lin_op *op;
	uint32_t orig;      /* index into the caller's array */
	uint64_t zob;       /* random key for the incremental set hash */
	uint32_t cls;       /* unknown ops: class of identical ops (same kind
			     * and arguments), numbered in a fixed order */
	uint32_t cpos;      /* unknown ops: rank within the class */
	bool known;
};

struct frame {
	struct ent *e;      /* the call entry linearized at this depth */
	uint64_t bound;     /* time of the first known return before it */
	int64_t value;      /* register state before it */
	bool present;
	bool phase_unknown; /* e came from the unknown-op list */
};

/* What, besides the set of linearized ops, decides a configuration's
 * future: the register state and, if the last op linearized had an unknown
 * outcome, that op and the state before it (the pruning rules look at it). */
struct key {
	uint64_t h;         /* hash of all below and of the KNOWN linearized ops */
	int64_t value;
	int64_t ext_value;
	uint32_t ext_op;    /* class of the last op if unknown, else NO_EXT */
	bool present;
	bool ext_present;
};

#define NO_EXT UINT32_MAX

/* One distinct key in the memo, and the list of linearized-op sets seen
 * with it (entries, kept as an antichain: a set that a newer one is a
 * subset of is dropped, since the newer one dominates all it did). */
struct slot {
	struct key k;
	uint32_t head;      /* 1 + first entry; 0 = empty slot */
};

struct memo {
	struct slot *tab;
	size_t mask;        /* table size - 1 (power of two) */
	size_t keys;        /* slots in use */
	size_t used;        /* entries = states memoized */
	uint64_t *arena;    /* entry i's bitset: arena[i * words ...] */
	uint32_t *next;     /* entry i's successor in its slot's list, 1-based */
	size_t cap;         /* entries allocated */
	size_t words;
};

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static uint64_t state_hash(bool present, int64_t value)
{
	return splitmix64((uint64_t)value ^ (present ? 0x5bd1e995ull << 32 : 0));
}

/* ---- the model: one register ---- */

/* Apply op to (present, value) if the op's observed outcome is possible in
 * that state; an UNKNOWN outcome is possible in every state. */
static bool step(const struct cat_lin_op *op, bool *present, int64_t *value)
{
	bool p = *present;
	int64_t v = *value;
	bool unk = op->out == CAT_LIN_OUT_UNKNOWN;

	switch (op->kind) {
	case CAT_LIN_GET:
		if (unk)
			return true;
		if (op->out == CAT_LIN_OUT_ABSENT)
			return !p;
		return p && v == op->result;
	case CAT_LIN_PUT:
		*present = true;
		*value = op->arg;
		return true;
	case CAT_LIN_DEL:
		if (!unk && (op->out == CAT_LIN_OUT_OK) != p)
			return false;
		*present = false;
		*value = 0;
		return true;
	case CAT_LIN_CAS: {
		bool hit = p && v == op->arg;

		if (unk || op->out == CAT_LIN_OUT_OK) {
			if (hit) {
				*value = op->arg2;
				return true;
			}
			return unk;
		}
		if (op->out == CAT_LIN_OUT_CAS_FAILED)
			return p && !hit;
		return !p; /* ABSENT: not_found */
	}
	case CAT_LIN_CAS_ABSENT:
		if (unk || op->out == CAT_LIN_OUT_OK) {
			if (!p) {
				*present = true;
				*value = op->arg;
				return true;
			}
			return unk;
		}
		return p; /* CAS_FAILED */
	case CAT_LIN_INCR: {
		/* Wrapping arithmetic, done unsigned to stay defined. */
		int64_t r = (int64_t)((uint64_t)(p ? v : 0) + (uint64_t)op->arg);

		if (!unk && r != op->result)
			return false;
		*present = true;
		*value = r;
		return true;
	}
	}
	return false;
}

static const char *validate(const struct cat_lin_op *op)
{
	unsigned out = (unsigned)op->out;

	if ((unsigned)op->kind > CAT_LIN_INCR)
		return "unknown op kind";
	if (out > CAT_LIN_OUT_UNKNOWN)
		return "unknown outcome";
	if (op->call == CAT_LIN_NO_RET)
		return "call time is CAT_LIN_NO_RET";
	if ((op->ret == CAT_LIN_NO_RET) != (op->out == CAT_LIN_OUT_UNKNOWN))
		return "outcome UNKNOWN must go with ret CAT_LIN_NO_RET and only with it";
	if (op->ret < op->call)
		return "response before invocation (ret < call)";
	if (op->out == CAT_LIN_OUT_UNKNOWN || op->out == CAT_LIN_OUT_OK)
		return NULL;
	switch (op->kind) {
	case CAT_LIN_GET:
	case CAT_LIN_DEL:
		return op->out == CAT_LIN_OUT_ABSENT ? NULL :
		       "GET/DEL outcome must be ok or absent";
	case CAT_LIN_CAS:
		return NULL;
	case CAT_LIN_CAS_ABSENT:
		return op->out == CAT_LIN_OUT_CAS_FAILED ? NULL :
		       "CAS_ABSENT outcome must be ok or cas_failed";
	default:
		return "PUT/INCR outcome must be ok";
	}
}

/* ---- memo: hash set with subset dominance on unknown ops ---- */

static int memo_init(struct memo *m, size_t words)
{
	memset(m, 0, sizeof(*m));
	m->words = words;
	m->mask = 1023;
	m->tab = calloc(m->mask + 1, sizeof(*m->tab));
	return m->tab ? 0 : -ENOMEM;
}

static void memo_free(struct memo *m)
{
	free(m->tab);
	free(m->arena);
	free(m->next);
}

static bool key_eq(const struct key *a, const struct key *b)
{
	return a->h == b->h && a->present == b->present &&
	       a->value == b->value && a->ext_op == b->ext_op &&
	       (a->ext_op == NO_EXT || (a->ext_present == b->ext_present &&
					a->ext_value == b->ext_value));
}

/* The slot holding k, or the empty slot where it would go. */
static struct slot *memo_find(const struct memo *m, const struct key *k)
{
	for (size_t i = k->h & m->mask;; i = (i + 1) & m->mask) {
		struct slot *s = &m->tab[i];

		if (!s->head || key_eq(&s->k, k))
			return s;
	}
}

/* a's linearized ops are those of b with, possibly, fewer unknown ones:
 * same known ops, unknown ones a subset. */
static bool set_dominates(const uint64_t *a, const uint64_t *b,
			  const uint64_t *kmask, size_t words)
{
	for (size_t w = 0; w < words; w++)
		if ((a[w] & ~b[w]) || (b[w] & kmask[w] & ~a[w]))
			return false;
	return true;
}

/* True if a configuration with key k and linearized set dominated by an
 * entry already seen with that key. */
static bool memo_dominated(const struct memo *m, const struct key *k,
			   const uint64_t *cur, const uint64_t *kmask)
{
	const struct slot *s = memo_find(m, k);

	for (uint32_t e = s->head; e; e = m->next[e - 1])
		if (set_dominates(m->arena + (size_t)(e - 1) * m->words, cur,
				  kmask, m->words))
			return true;
	return false;
}

static int memo_grow(struct memo *m)
{
	if (m->used == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		uint64_t *a = realloc(m->arena, cap * m->words * sizeof(*a));
		uint32_t *nx;

		if (!a)
			return -ENOMEM;
		m->arena = a;
		nx = realloc(m->next, cap * sizeof(*nx));
		if (!nx)
			return -ENOMEM;
		m->next = nx;
		m->cap = cap;
	}
	if ((m->keys + 1) * 2 > m->mask + 1) {
		struct slot *old = m->tab;
		size_t old_size = m->mask + 1;

		m->tab = calloc(old_size * 2, sizeof(*m->tab));
		if (!m->tab) {
			m->tab = old;
			return -ENOMEM;
		}
		m->mask = old_size * 2 - 1;
		for (size_t i = 0; i < old_size; i++)
			if (old[i].head)
				*memo_find(m, &old[i].k) = old[i];
		free(old);
	}
	return 0;
}

/* Record (k, cur); call only if memo_dominated(k, cur) is false. */
static int memo_insert(struct memo *m, const struct key *k,
		       const uint64_t *cur, const uint64_t *kmask)
{
	struct slot *s;
	uint32_t *link;
	int rc = memo_grow(m);

	if (rc)
		return rc;
	s = memo_find(m, k);
	if (!s->head) {
		s->k = *k;
		m->keys++;
	}
	/* Entries cur dominates will never prune anything cur does not. */
	for (link = &s->head; *link;) {
		uint32_t e = *link;

		if (set_dominates(cur, m->arena + (size_t)(e - 1) * m->words,
				  kmask, m->words))
			*link = m->next[e - 1];
		else
			link = &m->next[e - 1];
	}
	memcpy(m->arena + m->used * m->words, cur, m->words * sizeof(*cur));
	m->next[m->used] = s->head;
	m->used++;
	s->head = (uint32_t)m->used;
	return 0;
}

/* ---- entry lists ---- */

static void lift(struct ent *e)
{
	e->prev->next = e->next;
	if (e->next)
		e->next->prev = e->prev;
	if (e->match) {
		struct ent *r = e->match;

		r->prev->next = r->next;
		if (r->next)
			r->next->prev = r->prev;
	}
}

/* Exact inverse of lift; valid because lifts are undone in LIFO order. */
static void unlift(struct ent *e)
{
	if (e->match) {
		struct ent *r = e->match;

		r->prev->next = r;
		if (r->next)
			r->next->prev = r;
	}
	e->prev->next = e;
	if (e->next)
		e->next->prev = e;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	/* At equal times calls go first: touching intervals are concurrent. */
	if (x->is_call != y->is_call)
		return x->is_call ? -1 : 1;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* Sort ents[0..k) and chain them behind head. */
static void build_list(struct ent *head, struct ent *ents, size_t k)
{
	struct ent *prev = head;

	qsort(ents, k, sizeof(*ents), ent_cmp);
	head->prev = NULL;
	for (size_t i = 0; i < k; i++) {
		ents[i].prev = prev;
		prev->next = &ents[i];
		prev = &ents[i];
	}
	prev->next = NULL;
}

/* ---- the search ---- */

struct search {
	struct lop *ops;
	size_t nlive, nknown;
	struct ent khead, uhead;     /* known call+return list, unknown calls */
	struct ent *kents, *uents;
	struct frame *stack;
	size_t depth;
	uint64_t *cur, *kmask;
	struct memo memo;
	size_t max_states;
	bool present;
	int64_t value;
	uint64_t zk;                 /* XOR of zob over linearized known ops */
	size_t known_left;
	uint32_t *cused;             /* per class: members linearized */
	struct cat_lin_report *rep;
	size_t best;                 /* deepest failure recorded so far, +1 */
};

static void note_stuck(struct search *s, const struct ent *ret)
{
	struct cat_lin_report *rep = s->rep;
	size_t t;

	if (!rep || s->depth + 1 <= s->best)
		return;
	s->best = s->depth + 1;
	rep->prefix_len = s->depth;
	t = s->depth < CAT_LIN_REPORT_TAIL ? s->depth : CAT_LIN_REPORT_TAIL;
	rep->tail_len = t;
	for (size_t i = 0; i < t; i++)
		rep->tail[i] = s->ops[s->stack[s->depth - t + i].e->op].orig;
	rep->stuck = s->ops[ret->op].orig;
	rep->stuck_present = s->present;
	rep->stuck_value = s->value;
}

static bool same_state(bool p0, int64_t v0, bool p1, int64_t v1)
{
	return p0 == p1 && (!p0 || v0 == v1);
}

/* Canonical placement of unknown ops. When the op U on top of the stack has
 * an unknown outcome and op Y (leading to state p, v) is about to follow
 * it, prune if Y does not need U right before it:
 *   - Y alone from U's pre-state is valid and reaches the same state: U is
 *     erased by Y, so U,Y is equivalent to skipping U (fewer unknown ops
 *     applied dominates);
 *   - Y,U from U's pre-state is valid and reaches the same state: U,Y is
 *     equivalent to Y,U, and U can be applied later, where it matters (for
 *     two unknown ops, the one with the lower index goes first).
 * Any valid linearization can be rewritten, by these moves, into one where
 * no pair is pruned (each move drops an unknown op, moves one past a known
 * op, or removes an inversion between two unknown ops), so the search stays
 * complete. It keeps timed-out ops from multiplying configurations: an
 * unknown op is applied only right before an op whose outcome depends on it.
 * Because the decision depends on the stack top, the memo key carries it
 * (struct key's ext fields). */
static bool canonical_pruned(const struct search *s, uint32_t u, bool p0,
			     int64_t v0, uint32_t y, bool p, int64_t v)
{
	const struct lop *o = &s->ops[y];

	if (!step(o->op, &p0, &v0))
		return false;
	if (same_state(p0, v0, p, v))
		return true;
	if (!o->known && o->cls >= s->ops[u].cls)
		return false;
	step(s->ops[u].op, &p0, &v0);
	return same_state(p0, v0, p, v);
}

/* Would Y (live index y, taking the state from (p, v)) be pruned right
 * after the op on top of the stack? */
static bool pruned_after_top(const struct search *s, uint32_t y, bool p,
			     int64_t v)
{
	const struct frame *t;

	if (!s->depth || !s->stack[s->depth - 1].phase_unknown)
		return false;
	t = &s->stack[s->depth - 1];
	return canonical_pruned(s, t->e->op, t->present, t->value, y, p, v);
}

/* Look-ahead for unknown op u, about to be applied in the current state
 * and leading to (p, v): is there any next step at all? Most are not (an
 * unknown op is only useful right before an op that depends on it), and
 * skipping those spares a memo entry each. */
static bool unknown_has_next(const struct search *s, uint32_t u, bool p,
			     int64_t v, uint64_t bound)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct ent *x = pass ? s->uhead.next : s->khead.next;

		for (; x && (pass ? x->time <= bound : x->is_call);
		     x = x->next) {
			bool q = p;
			int64_t w = v;

			const struct lop *xo = &s->ops[x->op];

			if (x->op == u || !step(xo->op, &q, &w))
				continue;
			if (!xo->known && xo->cpos != s->cused[xo->cls] +
			    (xo->cls == s->ops[u].cls))
				continue;
			if (!canonical_pruned(s, u, s->present, s->value,
					      x->op, q, w))
				return true;
		}
	}
	return false;
}

static uint64_t ext_hash(uint32_t op, bool present, int64_t value)
{
	return splitmix64(((uint64_t)op << 1 | present) ^
			  splitmix64((uint64_t)value));
}

/* Try to linearize call entry e now. Returns 1 if it was, 0 if not (outcome
 * impossible here, pruned, or configuration dominated), or a negative errno. */
static int try_op(struct search *s, struct ent *e, uint64_t bound, bool unk)
{
	struct lop *o = &s->ops[e->op];
	bool p = s->present;
	int64_t v = s->value;
	uint64_t zk = s->zk;
	uint64_t bit = 1ull << (e->op % 64);
	size_t w = e->op / 64;
	struct key k;
	int rc;

	/* Identical unknown ops are interchangeable: take them in rank
	 * order only, so which ones were used never splits a configuration. */
	if (unk && o->cpos != s->cused[o->cls])
		return 0;
	if (!step(o->op, &p, &v))
		return 0;
	if (pruned_after_top(s, e->op, p, v))
		return 0;
	if (unk && !unknown_has_next(s, e->op, p, v, bound))
		return 0;
	if (o->known)
		zk ^= o->zob;
	k = (struct key){ .h = zk ^ state_hash(p, v), .present = p,
			  .value = p ? v : 0, .ext_op = NO_EXT };
	s->cur[w] |= bit;
	/* A configuration with no unknown op on top dominates every
	 * ext variant of itself: it may take any step they may. */
	if (memo_dominated(&s->memo, &k, s->cur, s->kmask))
		goto skip;
	if (unk) {
		k.ext_op = o->cls;
		k.ext_present = s->present;
		k.ext_value = s->present ? s->value : 0;
		k.h ^= ext_hash(o->cls, k.ext_present, k.ext_value);
		if (memo_dominated(&s->memo, &k, s->cur, s->kmask))
			goto skip;
	}
	if (s->memo.used >= s->max_states) {
		s->cur[w] &= ~bit;
		return -E2BIG;
	}
	rc = memo_insert(&s->memo, &k, s->cur, s->kmask);
	if (rc) {
		s->cur[w] &= ~bit;
		return rc;
	}
	s->stack[s->depth++] = (struct frame){ .e = e, .bound = bound,
		.present = s->present, .value = s->value, .phase_unknown = unk };
	s->present = p;
	s->value = v;
	s->zk = zk;
	if (o->known)
		s->known_left--;
	else
		s->cused[o->cls]++;
	lift(e);
	return 1;
skip:
	s->cur[w] &= ~bit;
	return 0;
}

static int search_run(struct search *s)
{
	struct ent *e = s->khead.next;
	bool unk = false;       /* walking the unknown-op list */
	uint64_t bound = 0;     /* in that walk: first known return time */
	struct ent *first_ret = NULL;
	int rc;

	for (;;) {
		if (s->known_left == 0)
			return 1;
		if (!unk) {
			if (e && e->is_call) {
				rc = try_op(s, e, 0, false);
				if (rc < 0)
					return rc;
				e = rc ? s->khead.next : e->next;
				continue;
			}
			/* First pending deadline: unknown ops called up to
			 * it are the remaining candidates. */
			first_ret = e;
			bound = e ? e->time : CAT_LIN_NO_RET;
			unk = true;
			e = s->uhead.next;
			continue;
		}
		if (e && e->time <= bound) {
			rc = try_op(s, e, bound, true);
			if (rc < 0)
				return rc;
			if (rc) {
				unk = false;
				e = s->khead.next;
			} else {
				e = e->next;
			}
			continue;
		}
		/* No candidate left: the op of first_ret cannot be placed. */
		if (first_ret)
			note_stuck(s, first_ret);
		if (s->depth == 0)
			return 0;
		struct frame *f = &s->stack[--s->depth];
		struct lop *o = &s->ops[f->e->op];

		unlift(f->e);
		s->cur[f->e->op / 64] &= ~(1ull << (f->e->op % 64));
		s->present = f->present;
		s->value = f->value;
		if (o->known) {
			s->zk ^= o->zob;
			s->known_left++;
		} else {
			s->cused[o->cls]--;
		}
		unk = f->phase_unknown;
		bound = f->bound;
		e = f->e->next;
		if (unk) {
			/* Restore first_ret for the explanation: the first
			 * return entry in the (restored) known list. */
			first_ret = s->khead.next;
			while (first_ret && first_ret->is_call)
				first_ret = first_ret->next;
		}
	}
}

struct cls_ent {
	int64_t arg, arg2;
	uint32_t kind;
	uint32_t rank;      /* position in the (sorted) unknown list */
	uint32_t op;
};

static int cls_cmp(const void *a, const void *b)
{
	const struct cls_ent *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->arg != y->arg)
		return x->arg < y->arg ? -1 : 1;
	if (x->arg2 != y->arg2)
		return x->arg2 < y->arg2 ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Group the nu unknown ops (s->uents, already sorted) into classes of
 * identical ops, ranking members by call time. */
static int assign_classes(struct search *s, size_t nu)
{
	struct cls_ent *c = calloc(nu + 1, sizeof(*c));
	uint32_t ncls = 0;

	s->cused = calloc(nu + 1, sizeof(*s->cused));
	if (!c || !s->cused) {
		free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nu; i++) {
		const struct cat_lin_op *op = s->ops[s->uents[i].op].op;
		bool one = op->kind == CAT_LIN_PUT || op->kind == CAT_LIN_INCR ||
			   op->kind == CAT_LIN_CAS_ABSENT;

		c[i] = (struct cls_ent){ .kind = (uint32_t)op->kind,
			.arg = one || op->kind == CAT_LIN_CAS ? op->arg : 0,
			.arg2 = op->kind == CAT_LIN_CAS ? op->arg2 : 0,
			.rank = (uint32_t)i, .op = s->uents[i].op };
	}
	qsort(c, nu, sizeof(*c), cls_cmp);
	for (size_t i = 0, pos = 0; i < nu; i++, pos++) {
		if (i && cls_cmp(&c[i - 1], &c[i]) != 0 &&
		    (c[i - 1].kind != c[i].kind || c[i - 1].arg != c[i].arg ||
		     c[i - 1].arg2 != c[i].arg2)) {
			ncls++;
			pos = 0;
		}
		s->ops[c[i].op].cls = ncls;
		s->ops[c[i].op].cpos = (uint32_t)pos;
	}
	free(c);
	return 0;
}

int cat_lin_check(const struct cat_lin_op *ops, size_t n,
		  const struct cat_lin_init *init, size_t max_states,
		  struct cat_lin_report *rep)
{
	struct search s;
	size_t nk = 0, nu = 0;
	int rc = -ENOMEM;

	if (rep) {
		uint32_t *order = rep->order;
		size_t cap = rep->order_cap;

		memset(rep, 0, sizeof(*rep));
		rep->order = order;
		rep->order_cap = cap;
		rep->n_ops = n;
		rep->result = -EINVAL;
	}
	if (n > CAT_LIN_MAX_OPS || (n && !ops)) {
		if (rep)
			rep->bad_reason = n ? "too many ops" : "ops is NULL";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *why = validate(&ops[i]);

		if (why) {
			if (rep) {
				rep->bad_op = (uint32_t)i;
				rep->bad_reason = why;
			}
			return -EINVAL;
		}
	}

	memset(&s, 0, sizeof(s));
	s.rep = rep;
	s.max_states = max_states ? max_states : CAT_LIN_DEFAULT_MAX_STATES;
	if (s.max_states > UINT32_MAX - 1)
		s.max_states = UINT32_MAX - 1;
	s.present = init && init->present;
	s.value = s.present ? init->value : 0;

	s.ops = calloc(n ? n : 1, sizeof(*s.ops));
	if (!s.ops)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool known = ops[i].out != CAT_LIN_OUT_UNKNOWN;

		if (!known && ops[i].kind == CAT_LIN_GET)
			continue; /* can neither fail nor change the state */
		s.ops[s.nlive] = (struct lop){ .op = &ops[i],
			.orig = (uint32_t)i, .known = known,
			.zob = splitmix64(0x6c696e636865636bull + i) };
		s.nlive++;
		if (known)
			nk++;
		else
			nu++;
	}
	s.nknown = s.known_left = nk;

	size_t words = (s.nlive + 63) / 64 + 1;

	s.kents = calloc(2 * nk + 1, sizeof(*s.kents));
	s.uents = calloc(nu + 1, sizeof(*s.uents));
	s.stack = calloc(s.nlive + 1, sizeof(*s.stack));
	s.cur = calloc(words, sizeof(*s.cur));
	s.kmask = calloc(words, sizeof(*s.kmask));
	if (!s.kents || !s.uents || !s.stack || !s.cur || !s.kmask)
		goto out;
	if (memo_init(&s.memo, words))
		goto out;

	size_t ki = 0, ui = 0;

	for (uint32_t i = 0; i < s.nlive; i++) {
		const struct cat_lin_op *op = s.ops[i].op;

		if (!s.ops[i].known) {
			s.uents[ui++] = (struct ent){ .time = op->call,
				.op = i, .is_call = true };
			continue;
		}
		s.kmask[i / 64] |= 1ull << (i % 64);
		s.kents[ki++] = (struct ent){ .time = op->call, .op = i,
					      .is_call = true };
		s.kents[ki++] = (struct ent){ .time = op->ret, .op = i };
	}
	build_list(&s.khead, s.kents, ki);
	build_list(&s.uhead, s.uents, ui);
	/* Sorting moved the entries: link calls to returns afterwards. */
	{
		struct ent **ret_of = calloc(s.nlive + 1, sizeof(*ret_of));

		if (!ret_of)
			goto out_memo;
		for (size_t i = 0; i < ki; i++)
			if (!s.kents[i].is_call)
				ret_of[s.kents[i].op] = &s.kents[i];
		for (size_t i = 0; i < ki; i++)
			if (s.kents[i].is_call)
				s.kents[i].match = ret_of[s.kents[i].op];
		free(ret_of);
	}

	rc = assign_classes(&s, ui);
	if (rc)
		goto out_memo;
	rc = search_run(&s);
	if (rep) {
		rep->states = s.memo.used;
		if (rc == 1 && rep->order && rep->order_cap >= n) {
			for (size_t i = 0; i < s.depth; i++)
				rep->order[i] = s.ops[s.stack[i].e->op].orig;
			rep->order_len = s.depth;
		}
	}
out_memo:
	memo_free(&s.memo);
out:
	free(s.ops);
	free(s.kents);
	free(s.uents);
	free(s.stack);
	free(s.cur);
	free(s.kmask);
	free(s.cused);
	if (rep)
		rep->result = rc;
	return rc;
}

/* ---- explanations ---- */

static const char *const kind_name[] = {
	[CAT_LIN_GET] = "GET", [CAT_LIN_PUT] = "PUT", [CAT_LIN_DEL] = "DEL",
	[CAT_LIN_CAS] = "CAS", [CAT_LIN_CAS_ABSENT] = "CAS_ABSENT",
	[CAT_LIN_INCR] = "INCR",
};

static const char *const out_name[] = {
	[CAT_LIN_OUT_OK] = "ok", [CAT_LIN_OUT_ABSENT] = "absent",
	[CAT_LIN_OUT_CAS_FAILED] = "cas_failed",
	[CAT_LIN_OUT_UNKNOWN] = "unknown",
};

int cat_lin_format_op(const struct cat_lin_op *op, char *buf, size_t len)
{
	char args[64] = "", out[32], ret[24];
	unsigned k = (unsigned)op->kind, o = (unsigned)op->out;

	if (k > CAT_LIN_INCR || o > CAT_LIN_OUT_UNKNOWN)
		return snprintf(buf, len, "c%u <invalid op>", op->client);
	switch (op->kind) {
	case CAT_LIN_PUT:
	case CAT_LIN_CAS_ABSENT:
	case CAT_LIN_INCR:
		snprintf(args, sizeof(args), "(%lld)", (long long)op->arg);
		break;
	case CAT_LIN_CAS:
		snprintf(args, sizeof(args), "(%lld,%lld)",
			 (long long)op->arg, (long long)op->arg2);
		break;
	default:
		break;
	}
	if (op->out == CAT_LIN_OUT_OK &&
	    (op->kind == CAT_LIN_GET || op->kind == CAT_LIN_INCR))
		snprintf(out, sizeof(out), "%lld", (long long)op->result);
	else
		snprintf(out, sizeof(out), "%s", out_name[o]);
	if (op->ret == CAT_LIN_NO_RET)
		snprintf(ret, sizeof(ret), "inf");
	else
		snprintf(ret, sizeof(ret), "%llu", (unsigned long long)op->ret);
	return snprintf(buf, len, "c%u %s%s->%s [%llu,%s]", op->client,
			kind_name[k], args, out,
			(unsigned long long)op->call, ret);
}

/* snprintf into buf at *pos, tracking the full length like snprintf does. */
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(*pos < len ? buf + *pos : NULL,
		      *pos < len ? len - *pos : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		*pos += (size_t)k;
}

static void put_op(char *buf, size_t len, size_t *pos,
		   const struct cat_lin_op *ops, size_t n, uint32_t i)
{
	char tmp[160];

	if (i >= n) {
		put(buf, len, pos, "#%u <out of range>", i);
		return;
	}
	cat_lin_format_op(&ops[i], tmp, sizeof(tmp));
	put(buf, len, pos, "#%u %s", i, tmp);
}

int cat_lin_explain(const struct cat_lin_op *ops, size_t n,
		    const struct cat_lin_report *rep, char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	switch (rep->result) {
	case 1:
		put(buf, len, &pos, "linearizable: %zu ops, %zu search states",
		    rep->n_ops, rep->states);
		break;
	case 0:
		put(buf, len, &pos, "NOT linearizable (%zu ops, %zu states "
		    "explored): at best %zu ops linearized", rep->n_ops,
		    rep->states, rep->prefix_len);
		if (rep->tail_len) {
			put(buf, len, &pos, ", ending with:");
			for (size_t i = 0; i < rep->tail_len; i++) {
				put(buf, len, &pos, "\n  ");
				put_op(buf, len, &pos, ops, n, rep->tail[i]);
			}
		}
		put(buf, len, &pos, "\nleaving the key ");
		if (rep->stuck_present)
			put(buf, len, &pos, "= %lld",
			    (long long)rep->stuck_value);
		else
			put(buf, len, &pos, "absent");
		put(buf, len, &pos, "; then no order could place ");
		put_op(buf, len, &pos, ops, n, rep->stuck);
		put(buf, len, &pos, " before its response");
		break;
	case -E2BIG:
		put(buf, len, &pos, "gave up: %zu search states explored "
		    "(budget) on %zu ops without an answer", rep->states,
		    rep->n_ops);
		break;
	case -EINVAL:
		put(buf, len, &pos, "malformed history: ");
		if (rep->bad_reason && n && rep->bad_op < n) {
			put_op(buf, len, &pos, ops, n, rep->bad_op);
			put(buf, len, &pos, ": ");
		}
		put(buf, len, &pos, "%s",
		    rep->bad_reason ? rep->bad_reason : "invalid argument");
		break;
	default:
		put(buf, len, &pos, "error %d", rep->result);
		break;
	}
	return (int)pos;
}
