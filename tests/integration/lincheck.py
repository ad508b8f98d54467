"""
catena lincheck (Python): is a concurrent history of GET/PUT/DEL/CAS/
CAS_ABSENT/INCR operations on a key linearizable? The pytest twin of
tests/sim/lincheck.c -- same model, same algorithm, same verdicts (both are
held to tests/sim/lincheck_fixtures.json). Stdlib only; never touches the
network; never searches without a bound (max_states).

Model: one register per key, absent or holding an int. Ops:
  get                 -> out "ok" with result=value | "absent"
  put(arg)            -> "ok"
  del                 -> "ok" (was present) | "absent" (not_found)
  cas(arg=e, arg2=n)  -> "ok" (was e, now n) | "cas_failed" (present, != e)
                         | "absent" (not_found)
  cas_absent(arg=n)   -> "ok" (was absent, now n) | "cas_failed"
  incr(arg=d)         -> "ok" with result = old + d (absent counts as 0)
An op with ret=None has no response (timed out): out must be "unknown"; it
may take effect at any time after its call, or never. Real-time order is
strict: a precedes b only if a.ret < b.call (touching intervals overlap).

Algorithm: Wing & Gong with Lowe's just-in-time linearization and
memoization (WGL, as in Knossos and Porcupine); see lincheck.c for the why,
including the rules that keep ops with unknown outcome affordable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable

KINDS = ("get", "put", "del", "cas", "cas_absent", "incr")
OUTS = ("ok", "absent", "cas_failed", "unknown")
DEFAULT_MAX_STATES = 1 << 20
_MASK64 = (1 << 64) - 1

# Outcomes each kind can produce besides "ok" and "unknown".
_OTHER_OUTS = {
    "get": ("absent",),
    "put": (),
    "del": ("absent",),
    "cas": ("cas_failed", "absent"),
    "cas_absent": ("cas_failed",),
    "incr": (),
}


@dataclass
class Op:
    """One operation as a client saw it (mirror of struct cat_lin_op)."""
    kind: str
    client: int = 0
    call: int = 0
    ret: int | None = None   # None: no response, outcome unknown
    arg: int = 0
    arg2: int = 0
    out: str = "unknown"
    result: int = 0          # get value / incr new value when out == "ok"
    key: Any = None          # only used by split_by_key / check_keys

    @classmethod
    def from_dict(cls, d: dict) -> "Op":
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(d) - names
        if extra:
            raise ValueError("unknown op fields: %s" % sorted(extra))
        return cls(**d)

    def __str__(self) -> str:
        args = ""
        if self.kind in ("put", "cas_absent", "incr"):
            args = "(%d)" % self.arg
        elif self.kind == "cas":
            args = "(%d,%d)" % (self.arg, self.arg2)
        out = (str(self.result) if self.out == "ok" and self.kind in
               ("get", "incr") else self.out)
        ret = "inf" if self.ret is None else str(self.ret)
        return "c%s %s%s->%s [%s,%s]" % (self.client, self.kind.upper(),
                                         args, out, self.call, ret)


@dataclass
class Result:
    """ok: True linearizable, False not, None gave up (budget exhausted).
    explain: human text. order: a witness linearization (indices into the
    ops given) when ok is True. states: search states memoized."""
    ok: bool | None
    explain: str
    states: int = 0
    order: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        raise TypeError("test Result.ok explicitly (it may be None: gave up)")


def _as_op(o: Any) -> Op:
    if isinstance(o, Op):
        return o
    if isinstance(o, dict):
        return Op.from_dict(o)
    raise ValueError("op must be an Op or a dict, not %r" % (o,))


def _validate(i: int, op: Op) -> None:
    def bad(why):
        raise ValueError("malformed history: op #%d %s: %s" % (i, op, why))
    if op.kind not in KINDS:
        bad("unknown op kind %r" % op.kind)
    if op.out not in OUTS:
        bad("unknown outcome %r" % op.out)
    for name in ("call", "arg", "arg2", "result"):
        if not isinstance(getattr(op, name), int):
            bad("%s must be an int" % name)
    if op.ret is not None and not isinstance(op.ret, int):
        bad("ret must be an int or None")
    if (op.ret is None) != (op.out == "unknown"):
        bad("outcome 'unknown' must go with ret None and only with it")
    if op.ret is not None and op.ret < op.call:
        bad("response before invocation (ret < call)")
    if op.out not in ("ok", "unknown") and op.out not in _OTHER_OUTS[op.kind]:
        bad("%s cannot return %s" % (op.kind, op.out))


def _wrap(x: int) -> int:
    x &= _MASK64
    return x - (1 << 64) if x >> 63 else x


def _step(op: Op, present: bool, value: int):
    """(present, value) after op, or None if op's outcome is impossible in
    that state. 'unknown' is possible in every state."""
    unk = op.out == "unknown"
    k = op.kind
    if k == "get":
        if unk:
            return present, value
        if op.out == "absent":
            return (present, value) if not present else None
        return (present, value) if present and value == op.result else None
    if k == "put":
        return True, op.arg
    if k == "del":
        if not unk and (op.out == "ok") != present:
            return None
        return False, 0
    if k == "cas":
        hit = present and value == op.arg
        if unk or op.out == "ok":
            if hit:
                return True, op.arg2
            return (present, value) if unk else None
        if op.out == "cas_failed":
            return (present, value) if present and not hit else None
        return (present, value) if not present else None
    if k == "cas_absent":
        if unk or op.out == "ok":
            if not present:
                return True, op.arg
            return (present, value) if unk else None
        return (present, value) if present else None
    # incr
    r = _wrap((value if present else 0) + op.arg)
    if not unk and r != op.result:
        return None
    return True, r


def check(ops: Iterable, initial: int | None = None,
          max_states: int = DEFAULT_MAX_STATES) -> Result:
    """Check one key's history. ops: Op objects or dicts with Op's fields,
    any order. initial: value before the history, None = absent.
    Raises ValueError on a malformed history (the C checker's -EINVAL)."""
    ops = [_as_op(o) for o in ops]
    for i, op in enumerate(ops):
        _validate(i, op)
    if initial is not None and not isinstance(initial, int):
        raise ValueError("initial must be an int or None")
    if max_states <= 0:
        max_states = DEFAULT_MAX_STATES

    # Unknown GETs can neither fail nor change the state: drop them.
    live = [i for i, op in enumerate(ops)
            if not (op.out == "unknown" and op.kind == "get")]
    lops = [ops[i] for i in live]
    known = [op.ret is not None for op in lops]
    known_mask = 0
    for j, k in enumerate(known):
        if k:
            known_mask |= 1 << j
    # Entries: (time, 0 = call / 1 = return, live index). Calls sort before
    # returns at equal times so touching intervals count as concurrent.
    kents = []
    uents = []
    for j, op in enumerate(lops):
        if known[j]:
            kents.append((op.call, 0, j))
            kents.append((op.ret, 1, j))
        else:
            uents.append((op.call, 0, j))
    kents.sort()
    uents.sort()
    klist = _DLink(kents)
    ulist = _DLink(uents)

    # Classes of identical unknown ops, members ranked by call time: they
    # are interchangeable, so they are used in rank order only.
    cls = [0] * len(lops)
    cpos = [0] * len(lops)
    members: dict = {}
    for _, _, j in uents:
        members.setdefault(_effect_key(lops[j]), []).append(j)
    for c, ek in enumerate(sorted(members)):
        for pos, j in enumerate(members[ek]):
            cls[j], cpos[j] = c, pos
    cused = [0] * len(members)

    present = initial is not None
    value = initial if present else 0
    known_left = sum(known)
    lin = 0                       # bitset of linearized live ops
    memo: dict = {}               # (known bits, present, value, ext) -> [unknown bits]
    nstates = 0
    stack = []                    # (node, bound, present, value, unk_phase)
    best = [-1, None]             # deepest failure: depth, snapshot

    def dominated(key, bits):
        u = bits & ~known_mask
        return any(s & ~u == 0 for s in memo.get(key, ()))

    def remember(key, bits):
        u = bits & ~known_mask
        lst = [s for s in memo.get(key, ()) if u & ~s != 0]
        lst.append(u)
        memo[key] = lst

    def canonical_pruned(u, p0, v0, y, nxt):
        # See canonical_pruned in lincheck.c: may y go right after the
        # unknown op u (taken from state (p0, v0)), reaching nxt?
        alone = _step(lops[y], p0, v0)
        if alone is None:
            return False
        if alone == nxt:
            return True            # u is erased by y
        if not known[y] and cls[y] >= cls[u]:
            return False
        return _step(lops[u], *alone) == nxt   # y, u commute

    def unknown_has_next(u, nxt, bound):
        for pass_ in (0, 1):
            x = ulist.head.next if pass_ else klist.head.next
            while x is not None and (x.time <= bound if pass_
                                     else x.is_call):
                y = x.j
                x = x.next
                if y == u:
                    continue
                if not known[y] and cpos[y] != cused[cls[y]] + (
                        cls[y] == cls[u]):
                    continue
                after = _step(lops[y], *nxt)
                if after is not None and not canonical_pruned(
                        u, present, value, y, after):
                    return True
        return False

    def note_stuck(ret_node):
        if len(stack) <= best[0]:
            return
        best[0] = len(stack)
        best[1] = ([live[f[0].j] for f in stack[-8:]],
                   live[ret_node.j], present, value)

    node = klist.head.next
    unk = False
    bound = 0
    first_ret = None
    while True:
        if known_left == 0:
            order = [live[f[0].j] for f in stack]
            return Result(True, "linearizable: %d ops, %d search states"
                          % (len(ops), nstates), nstates, order)
        cand = None
        if not unk:
            if node is not None and node.is_call:
                cand = node
            else:
                first_ret = node
                bound = node.time if node is not None else float("inf")
                unk = True
                node = ulist.head.next
                continue
        elif node is not None and node.time <= bound:
            cand = node
        if cand is None:
            # No candidate left: first_ret's op cannot be placed here.
            if first_ret is not None:
                note_stuck(first_ret)
            if not stack:
                return Result(False, _explain_fail(ops, nstates, *best),
                              nstates)
            cand, bound, present, value, unk = stack.pop()
            cand.unlift()
            lin &= ~(1 << cand.j)
            if known[cand.j]:
                known_left += 1
            else:
                cused[cls[cand.j]] -= 1
            node = cand.next
            if unk:
                first_ret = klist.head.next
                while first_ret is not None and first_ret.is_call:
                    first_ret = first_ret.next
            continue
        node = cand.next
        j = cand.j
        if unk and cpos[j] != cused[cls[j]]:
            continue
        nxt = _step(lops[j], present, value)
        if nxt is None:
            continue
        if stack and stack[-1][4] and canonical_pruned(
                stack[-1][0].j, stack[-1][2], stack[-1][3], j, nxt):
            continue
        if unk and not unknown_has_next(j, nxt, bound):
            continue
        bits = lin | (1 << j)
        kbits = bits & known_mask
        key = (kbits,) + nxt + (None,)
        if dominated(key, bits):
            continue
        if unk:
            key = (kbits,) + nxt + ((cls[j], present, value),)
            if dominated(key, bits):
                continue
        if nstates >= max_states:
            return Result(None, "gave up: %d search states explored "
                          "(budget) on %d ops without an answer"
                          % (nstates, len(ops)), nstates)
        remember(key, bits)
        nstates += 1
        stack.append((cand, bound, present, value, unk))
        present, value = nxt
        lin = bits
        if known[j]:
            known_left -= 1
        else:
            cused[cls[j]] += 1
        cand.lift()
        node = klist.head.next
        unk = False


def _effect_key(op: Op):
    if op.kind == "cas":
        return (op.kind, op.arg, op.arg2)
    if op.kind in ("put", "cas_absent", "incr"):
        return (op.kind, op.arg, 0)
    return (op.kind, 0, 0)


def _explain_fail(ops, nstates, depth, snap) -> str:
    tail, stuck, present, value = snap
    lines = ["NOT linearizable (%d ops, %d states explored): at best %d ops "
             "linearized%s" % (len(ops), nstates, depth,
                               ", ending with:" if tail else "")]
    lines += ["  #%d %s" % (i, ops[i]) for i in tail]
    lines.append("leaving the key %s; then no order could place #%d %s "
                 "before its response"
                 % ("= %d" % value if present else "absent", stuck,
                    ops[stuck]))
    return "\n".join(lines)


class _Node:
    __slots__ = ("prev", "next", "match", "time", "is_call", "j")

    def lift(self):
        self.prev.next = self.next
        if self.next is not None:
            self.next.prev = self.prev
        r = self.match
        if r is not None:
            r.prev.next = r.next
            if r.next is not None:
                r.next.prev = r.prev

    def unlift(self):
        r = self.match
        if r is not None:
            r.prev.next = r
            if r.next is not None:
                r.next.prev = r
        self.prev.next = self
        if self.next is not None:
            self.next.prev = self


class _DLink:
    """Time-ordered entry list with O(1) lift/unlift (dancing links)."""

    def __init__(self, ents):
        self.head = _Node()
        self.head.prev = None
        self.head.match = None
        prev = self.head
        calls = {}
        for time, kind, j in ents:
            n = _Node()
            n.time, n.is_call, n.j, n.match = time, kind == 0, j, None
            n.prev = prev
            prev.next = n
            prev = n
            if n.is_call:
                calls[j] = n
            else:
                calls[j].match = n
        prev.next = None


def split_by_key(ops: Iterable) -> dict:
    """Group a multi-key history (Op.key / dict "key") by key, keeping each
    op's position in its key's list the same relative order as given."""
    out: dict = {}
    for o in ops:
        op = _as_op(o)
        out.setdefault(op.key, []).append(op)
    return out


def check_keys(ops: Iterable, initial: dict | None = None,
               max_states: int = DEFAULT_MAX_STATES) -> dict:
    """Check a multi-key history key by key (linearizability is local, so
    the whole history is linearizable iff every key's is). initial maps key
    -> value (missing = absent). Returns {key: Result}."""
    initial = initial or {}
    return {k: check(v, initial.get(k), max_states)
            for k, v in split_by_key(ops).items()}


def all_ok(results: dict) -> bool | None:
    """Fold check_keys' results: False if any key failed, else None if any
    gave up, else True."""
    oks = [r.ok for r in results.values()]
    if False in oks:
        return False
    if None in oks:
        return None
    return True
