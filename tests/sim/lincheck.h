/*
 * catena lincheck: decides whether a concurrent history of operations on ONE
 * key (one register with GET, PUT, DEL, CAS, CAS_ABSENT and INCR) is
 * linearizable. Used by the deterministic simulator on every key's history.
 * Pure C11 and libc only; never prints, never runs without a bound (the
 * search is capped and answers "gave up" instead of running forever).
 */
#ifndef CAT_LINCHECK_H
#define CAT_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** cat_lin_op.ret of an operation whose response never arrived (timed out,
 *  client crashed): it may have taken effect at any time after its call, or
 *  never. Its out must be CAT_LIN_OUT_UNKNOWN. */
#define CAT_LIN_NO_RET UINT64_MAX

/** max_states used when cat_lin_check is passed 0. */
#define CAT_LIN_DEFAULT_MAX_STATES ((size_t)1 << 20)

/** Longest history cat_lin_check accepts (per key). */
#define CAT_LIN_MAX_OPS ((size_t)1 << 20)

/** How many ops of the longest linearized prefix a failure report keeps. */
#define CAT_LIN_REPORT_TAIL 8

/** Operation kinds, and the arguments each one uses (cat_lin_op.arg/arg2). */
enum cat_lin_kind {
	CAT_LIN_GET,        /* no argument */
	CAT_LIN_PUT,        /* arg = value written */
	CAT_LIN_DEL,        /* no argument */
	CAT_LIN_CAS,        /* arg = expected value, arg2 = new value */
	CAT_LIN_CAS_ABSENT, /* arg = new value; succeeds only if the key is absent */
	CAT_LIN_INCR,       /* arg = delta (absent counts as 0; wraps modulo 2^64) */
};

/**
 * Observed outcome of an operation. Allowed per kind (anything else is a
 * malformed history):
 *   GET        OK (result = value read) | ABSENT
 *   PUT        OK
 *   DEL        OK (was present) | ABSENT (was absent: not_found)
 *   CAS        OK (value was arg, now arg2) | CAS_FAILED (present, != arg)
 *              | ABSENT (not_found)
 *   CAS_ABSENT OK (was absent, now arg) | CAS_FAILED (was present)
 *   INCR       OK (result = new value = old + arg)
 *   any kind   UNKNOWN, exactly when ret == CAT_LIN_NO_RET
 */
enum cat_lin_out {
	CAT_LIN_OUT_OK,
	CAT_LIN_OUT_ABSENT,
	CAT_LIN_OUT_CAS_FAILED,
	CAT_LIN_OUT_UNKNOWN,
};

/**
 * One operation as a client saw it. Times are in any monotonic unit shared by
 * all clients of the history (the simulator's clock). Two operations are
 * ordered in real time only if a.ret < b.call strictly: intervals that touch
 * (a.ret == b.call) count as concurrent.
 */
struct cat_lin_op {
	uint32_t client;      /* only used in explanations */
	uint64_t call;        /* invocation time */
	uint64_t ret;         /* response time, >= call; CAT_LIN_NO_RET if none */
	enum cat_lin_kind kind;
	int64_t arg, arg2;    /* see enum cat_lin_kind */
	enum cat_lin_out out;
	int64_t result;       /* GET value / INCR new value when out == OK */
};

/** State of the key before the first operation. NULL means absent. */
struct cat_lin_init {
	bool present;
	int64_t value;
};

/**
 * What cat_lin_check found. The caller owns it; zero it, and optionally set
 * order/order_cap before the call. Everything else is output.
 */
struct cat_lin_report {
	/* in (optional): array receiving a witness linearization on success,
	 * as indices into ops. Filled only if order_cap >= n. Ops with
	 * unknown outcome appear only if the witness needs them to take
	 * effect; the ones left out never took effect (or did so after every
	 * known op, which no one can tell apart). */
	uint32_t *order;
	size_t order_cap;

	/* out: always */
	int result;          /* cat_lin_check's return value */
	size_t n_ops;        /* n as given */
	size_t states;       /* search states memoized (the max_states budget) */
	size_t order_len;    /* entries written to order (success only) */

	/* out: when result == 0 (not linearizable). The deepest point the
	 * search reached: prefix_len ops linearized (the last tail_len of them
	 * in tail[], oldest first, indices into ops), leaving the key in state
	 * (stuck_present, stuck_value), after which op `stuck` -- whose
	 * response deadline had come -- could not be placed. */
	size_t prefix_len;
	size_t tail_len;
	uint32_t tail[CAT_LIN_REPORT_TAIL];
	uint32_t stuck;
	bool stuck_present;
	int64_t stuck_value;

	/* out: when result == -EINVAL. The offending op (index into ops) and
	 * a static string saying what is wrong with it. */
	uint32_t bad_op;
	const char *bad_reason;
};

/**
 * Check one key's history for linearizability (Wing & Gong search with
 * Lowe's just-in-time linearization and memoization of (linearized set,
 * register state), as in Knossos and Porcupine).
 *
 * ops[0..n) in any order (they are sorted internally; ops is not modified).
 * init: state before the history, NULL = absent.
 * max_states: budget of distinct search states memoized; 0 means
 * CAT_LIN_DEFAULT_MAX_STATES. Memory used is about
 * max_states * (32 + n/8) bytes in the worst case.
 * rep: may be NULL; see struct cat_lin_report.
 *
 * Returns 1 if linearizable, 0 if not, -E2BIG if the budget ran out before an
 * answer (gave up), -EINVAL if the history is malformed (ret < call, call ==
 * CAT_LIN_NO_RET, an outcome the kind cannot produce, UNKNOWN with a response
 * time or a response time with UNKNOWN, n > CAT_LIN_MAX_OPS, ops == NULL
 * with n > 0), -ENOMEM if memory ran out.
 *
 * Cost: with every op answered, configurations are bounded by the
 * interleavings of concurrent ops (a 500-op history with 6-8 clients takes
 * about 1-10 ms, linearizable or not). Ops with unknown outcome stay
 * pending until the end of the history, so each can add configurations;
 * linearizable histories stay fast, but proving a history with dozens of
 * timed-out INCR/CAS/DEL ops NOT linearizable may exhaust the budget
 * (-E2BIG). Treat -E2BIG as "not verified", never as a pass.
 *
 * Reentrant and thread-safe: no global state. Allocates (malloc) its search
 * memory and frees it before returning.
 */
int cat_lin_check(const struct cat_lin_op *ops, size_t n,
		  const struct cat_lin_init *init, size_t max_states,
		  struct cat_lin_report *rep);

/**
 * Write a one-line (failure: a few lines) human explanation of rep, as
 * produced by cat_lin_check on the same ops/n, into buf (always
 * NUL-terminated if len > 0). Returns the length the full text needs
 * (snprintf semantics: truncated if >= len).
 */
int cat_lin_explain(const struct cat_lin_op *ops, size_t n,
		    const struct cat_lin_report *rep, char *buf, size_t len);

/**
 * Format one op as e.g. "c3 CAS(5,6)->cas_failed [10,14]" into buf
 * (snprintf semantics). Used by cat_lin_explain; handy for simulator logs.
 */
int cat_lin_format_op(const struct cat_lin_op *op, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CAT_LINCHECK_H */
