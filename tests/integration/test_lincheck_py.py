"""
Tests of the Python linearizability checker (lincheck.py) alone: no node, no
network, no root. The shared fixtures (tests/sim/lincheck_fixtures.json,
also run by the C checker's tests), the explanation, the budget, the
multi-key helpers, and a randomized cross-check against a brute-force
permutation search written here from the model's definition. Every
"linearizable" verdict is also checked by replaying its witness.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_lincheck_py.py
"""

import itertools
import json
import os
import random
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lincheck as L  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(HERE), "sim", "lincheck_fixtures.json")


# --- reference model, independent of lincheck._step: compute the outcome
# an op WOULD have, then compare with what the client saw ---

def ref_apply(op, state):
    """(out, result, new_state) of op in state (None = absent, else int)."""
    k = op.kind
    if k == "get":
        return ("absent", 0, state) if state is None else ("ok", state, state)
    if k == "put":
        return "ok", 0, op.arg
    if k == "del":
        return ("absent" if state is None else "ok"), 0, None
    if k == "cas":
        if state is None:
            return "absent", 0, state
        if state != op.arg:
            return "cas_failed", 0, state
        return "ok", 0, op.arg2
    if k == "cas_absent":
        return ("ok", 0, op.arg) if state is None else ("cas_failed", 0, state)
    r = ((0 if state is None else state) + op.arg + 2**63) % 2**64 - 2**63
    return "ok", r, r


def ref_matches(op, state):
    """(matches, new_state)."""
    out, result, new = ref_apply(op, state)
    if op.out == "unknown":
        return True, new
    if out != op.out:
        return False, new
    if out == "ok" and op.kind in ("get", "incr"):
        return result == op.result, new
    return True, new


def assert_witness(ops, initial, order):
    ops = [L._as_op(o) for o in ops]
    assert len(set(order)) == len(order)
    state = initial
    for pos, i in enumerate(order):
        ok, state = ref_matches(ops[i], state)
        assert ok, "witness step %d (#%d %s) does not replay" % (pos, i, ops[i])
        for j in order[pos + 1:]:
            assert not (ops[j].ret is not None and ops[j].ret < ops[i].call), \
                "witness breaks real-time order: #%d before #%d" % (i, j)
    missing = [i for i, o in enumerate(ops)
               if o.ret is not None and i not in order]
    assert not missing, "ops with a response missing from witness: %s" % missing


def brute_force(ops, initial):
    """Every subset of the unknown ops, every permutation of known+subset."""
    ops = [L._as_op(o) for o in ops]
    known = [i for i, o in enumerate(ops) if o.ret is not None]
    unk = [i for i, o in enumerate(ops) if o.ret is None]
    for r in range(len(unk) + 1):
        for sub in itertools.combinations(unk, r):
            for perm in itertools.permutations(known + list(sub)):
                if any(ops[perm[b]].ret is not None and
                       ops[perm[b]].ret < ops[perm[a]].call
                       for a in range(len(perm))
                       for b in range(a + 1, len(perm))):
                    continue
                state = initial
                for i in perm:
                    ok, state = ref_matches(ops[i], state)
                    if not ok:
                        break
                else:
                    return True
    return False


def checked(ops, initial=None, **kw):
    """lincheck.check, with every positive verdict's witness replayed."""
    res = L.check(ops, initial, **kw)
    if res.ok is True:
        assert_witness(ops, initial, res.order)
    return res


# --- the shared fixtures ---

def load_fixtures():
    with open(FIXTURES) as f:
        return json.load(f)["fixtures"]


FIX = load_fixtures()


def test_fixture_file_covers_every_verdict():
    kinds = [f["expect"] for f in FIX]
    assert kinds.count("ok") >= 20
    assert kinds.count("fail") >= 20
    assert kinds.count("invalid") >= 5
    assert len({f["name"] for f in FIX}) == len(FIX)


@pytest.mark.parametrize("fx", FIX, ids=[f["name"] for f in FIX])
def test_shared_fixture(fx):
    if fx["expect"] == "invalid":
        with pytest.raises(ValueError, match="malformed history"):
            L.check(fx["ops"], fx["initial"])
        return
    res = checked(fx["ops"], fx["initial"])
    assert res.ok is (fx["expect"] == "ok"), res.explain
    if res.ok is False:
        assert res.explain.startswith("NOT linearizable")
    # Small fixtures: the brute force must agree too.
    if len(fx["ops"]) <= 7:
        assert brute_force(fx["ops"], fx["initial"]) is res.ok


# --- report and API ---

def test_explain_names_the_stuck_op():
    ops = [L.Op("put", 1, 0, 1, arg=1, out="ok"),
           L.Op("put", 2, 2, 3, arg=2, out="ok"),
           L.Op("get", 3, 4, 5, out="ok", result=1)]
    res = checked(ops)
    assert res.ok is False
    assert "at best 2 ops linearized" in res.explain
    assert "#2 c3 GET->1 [4,5]" in res.explain
    assert "leaving the key = 2" in res.explain


def test_result_refuses_truthiness():
    # `assert check(...)` would pass on a failed check: forbid it.
    res = L.check([])
    assert res.ok is True
    with pytest.raises(TypeError):
        bool(res)


def test_dicts_and_ops_are_equivalent():
    d = [{"kind": "put", "client": 1, "call": 0, "ret": 1, "arg": 5,
          "out": "ok"},
         {"kind": "incr", "client": 2, "call": 2, "ret": 3, "arg": 2,
          "out": "ok", "result": 7}]
    assert checked(d).ok is True
    assert checked([L.Op.from_dict(x) for x in d]).ok is True
    with pytest.raises(ValueError):
        L.check([{"kind": "put", "bogus": 1}])


def test_initial_state():
    ops = [L.Op("get", 1, 0, 1, out="ok", result=7),
           L.Op("cas", 1, 2, 3, arg=7, arg2=8, out="ok")]
    assert checked(ops).ok is False
    assert checked(ops, initial=7).ok is True


def test_gives_up_on_budget():
    # 10 concurrent PUTs and a read of a value none wrote: ~10 * 2^9
    # configurations to exhaust.
    ops = [L.Op("put", i, 0, 100, arg=i, out="ok") for i in range(10)]
    ops.append(L.Op("get", 20, 0, 100, out="ok", result=99))
    res = L.check(ops, max_states=500)
    assert res.ok is None
    assert res.states == 500
    assert res.explain.startswith("gave up")
    assert L.check(ops).ok is False
    ops[-1].result = 9
    assert checked(ops).ok is True


def test_split_and_check_keys():
    ops = [{"key": "a", "kind": "put", "client": 1, "call": 0, "ret": 1,
            "arg": 1, "out": "ok"},
           {"key": "b", "kind": "put", "client": 1, "call": 2, "ret": 3,
            "arg": 2, "out": "ok"},
           {"key": "a", "kind": "get", "client": 2, "call": 4, "ret": 5,
            "out": "ok", "result": 1},
           {"key": "b", "kind": "get", "client": 2, "call": 6, "ret": 7,
            "out": "ok", "result": 2}]
    parts = L.split_by_key(ops)
    assert sorted(parts) == ["a", "b"]
    assert [o.kind for o in parts["a"]] == ["put", "get"]
    res = L.check_keys(ops)
    assert L.all_ok(res) is True
    ops[3]["result"] = 1    # b read a's value: only b fails
    res = L.check_keys(ops)
    assert res["a"].ok is True and res["b"].ok is False
    assert L.all_ok(res) is False
    res = L.check_keys(ops, initial={"b": 1})
    assert res["b"].ok is False


# --- randomized cross-check against the brute force ---

def gen_history(rng, n, clients, sequential, unknown_pct, initial, span=6):
    """Random ops, each with a random linearization point inside its
    interval (unknown ops: after the call, or never); outcomes come from
    running the model in that order, so the history is linearizable."""
    ops, pts = [], []
    free = [0] * clients
    for i in range(n):
        c = rng.randrange(clients)
        start = 10 * i if sequential else free[c] + rng.randrange(span // 4 + 1)
        length = rng.randrange(9) if sequential else rng.randrange(span)
        unk = rng.randrange(100) < unknown_pct
        free[c] = start + length + 1
        pt = (start + rng.randrange(length + 1)) * 2 + (1 if unk else 0)
        if unk and rng.randrange(2):
            pt = None
        ops.append(L.Op("get", c, start, None if unk else start + length))
        pts.append(pt)
    state = initial
    written = [] if state is None else [state]
    next_val = 1000
    order = sorted(range(n), key=lambda i: (pts[i] is None, pts[i] or 0, i))
    for i in order:
        o = ops[i]
        o.kind = rng.choice(L.KINDS)
        if o.kind in ("put", "cas_absent"):
            o.arg, next_val = next_val, next_val + 1
        elif o.kind == "cas":
            if written and rng.randrange(4):
                o.arg = rng.choice(written)
            else:
                o.arg, next_val = next_val, next_val + 1
            o.arg2, next_val = next_val, next_val + 1
        elif o.kind == "incr":
            o.arg = rng.randrange(3) + 1
        if o.ret is None:
            o.out = "unknown"
            if pts[i] is None:
                continue
            _, _, state = ref_apply(o, state)
        else:
            o.out, o.result, state = ref_apply(o, state)
        if state is not None:
            written.append(state)
    return ops, written


def perturb(rng, ops, written):
    known = [o for o in ops if o.ret is not None]
    if not known:
        return
    o = rng.choice(known)
    if o.kind == "get":
        if written and rng.randrange(4):
            o.out, o.result = "ok", rng.choice(written)
        else:
            o.out = "absent" if o.out == "ok" else "ok"
    elif o.kind == "incr":
        o.result += rng.choice((-1, 1))
    elif o.kind == "del":
        o.out = "absent" if o.out == "ok" else "ok"
    elif o.kind == "cas":
        o.out = rng.choice([x for x in ("ok", "absent", "cas_failed")
                            if x != o.out])
    elif o.kind == "cas_absent":
        o.out = "cas_failed" if o.out == "ok" else "ok"
    else:
        others = [p for p in ops if p is not o and p.kind == "put"]
        if others:
            p = rng.choice(others)
            o.arg, p.arg = p.arg, o.arg
    if not rng.randrange(4):
        m = rng.choice(ops)
        d = rng.randrange(20)
        m.call += d
        if m.ret is not None:
            m.ret += d


@pytest.mark.parametrize("mode,sequential,unknown_pct,seeds", [
    ("sequential", True, 0, 300),
    ("concurrent", False, 0, 300),
    ("unknown_outcomes", False, 25, 300),
])
def test_random_vs_brute_force(mode, sequential, unknown_pct, seeds):
    rng = random.Random("lincheck-" + mode)
    counts = {True: 0, False: 0}
    for seed in range(seeds):
        n = rng.randint(2, 7)
        initial = 1 if rng.randrange(4) == 0 else None
        ops, written = gen_history(rng, n, rng.randint(2, 4), sequential,
                                   unknown_pct, initial)
        assert brute_force(ops, initial) is True
        assert checked(ops, initial).ok is True
        if rng.randrange(3):
            perturb(rng, ops, written)
        want = brute_force(ops, initial)
        got = checked(ops, initial)
        assert got.ok is want, "seed %d: brute force %s, checker %s\n%s\n%s" % (
            seed, want, got.ok, "\n".join(map(str, ops)), got.explain)
        counts[want] += 1
    # Both verdicts must be well represented, or the test proves little.
    assert counts[True] >= seeds // 5 and counts[False] >= seeds // 5, counts


def test_many_unknown_writes_stay_cheap():
    ops = [L.Op("put", 1, 0, 1, arg=0, out="ok")]
    for i in range(60):
        ops.append(L.Op("del" if i % 7 == 3 else "put", 2 + i % 5, 2 + 3 * i,
                        None, arg=100 + i))
        ops.append(L.Op("get", 1, 2 + 3 * i, 3 + 3 * i, out="ok", result=0))
    ops.append(L.Op("put", 1, 500, 501, arg=1, out="ok"))
    ops.append(L.Op("get", 1, 502, 503, out="ok", result=1))
    assert checked(ops, max_states=100000).ok is True
    ops[-1].result = 0
    res = L.check(ops, max_states=100000)
    assert res.ok is False and res.states < 10000, res.states
    ops[-1].result = 140
    assert checked(ops, max_states=100000).ok is True


def test_500_ops_6_clients_get_a_verdict():
    rng = random.Random(4)
    worst = 0.0
    for _ in range(3):
        ops, written = gen_history(rng, 500, 6, False, 0, None, span=40)
        t0 = time.monotonic()
        assert checked(ops).ok is True
        end = max(o.ret for o in ops)
        ops.append(L.Op("put", 0, end + 1, end + 2, arg=-5, out="ok"))
        ops.append(L.Op("get", 0, end + 3, end + 4, out="ok",
                        result=written[0]))
        assert L.check(ops).ok is False
        worst = max(worst, time.monotonic() - t0)
    # Timing is printed for the record, never asserted.
    print("python: 500 ops, 6 clients, good + bad check: worst %.0f ms"
          % (worst * 1e3))
