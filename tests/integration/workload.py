#!/usr/bin/python3
"""
catena integration workload: runs INSIDE a client network namespace
(`ip netns exec NS /usr/bin/python3 workload.py ARGS`), talks to one node
with catena_proto (raw frames and pipelined batches, test-only) or the
catena package's Client (client/python), and prints one JSON result on
stdout. ARGS is a JSON object, or @FILE naming a file holding one. It must never be run from the
root namespace: the tests only send between namespaces they created.

Modes (args["mode"]):
  ops       run a list of requests/raw datagrams in order, report replies
  fill      write N keys (batched, pipelined) and read them all back
  withdraw  the double-withdrawal loop: GET balance, CAS balance-amount
  garbage   send seeded random/malformed datagrams, account for replies
  putstream PUT keys one after another until n or the node stops answering,
            printing a line per acknowledged PUT as it comes (so the test
            knows every acknowledged write even when the node is killed)
  getcheck  GET the keys putstream wrote and compare value and version
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catena_proto as cp  # noqa: E402  (puts client/python on sys.path)
import catena  # noqa: E402

OPS = {"get": cp.OP_GET, "put": cp.OP_PUT, "del": cp.OP_DEL,
       "cas": cp.OP_CAS, "incr": cp.OP_INCR, "ping": cp.OP_PING}


def rdict(m):
    d = m.to_dict()
    d["value_text"] = m.value.decode("latin-1")
    d["key_text"] = m.key.decode("latin-1")
    return d


def as_bytes(v):
    if v is None:
        return b""
    if isinstance(v, dict):
        if "hex" in v:
            return bytes.fromhex(v["hex"])
        if "repeat" in v:
            return v["repeat"].encode() * v["n"]
    return v.encode("latin-1")


def build(c, o):
    """A request Msg from an op dict {op, key, value, arg, flags, slot}."""
    op = o["op"]
    opcode = OPS[op] if op in OPS else int(op)
    key = as_bytes(o.get("key"))
    value = as_bytes(o.get("value"))
    arg = int(o.get("arg", 0))
    flags = int(o.get("flags", 0))
    if op == "cas" and "expected_value" in o:
        exp = as_bytes(o["expected_value"])
        value = exp + value
        arg = len(exp)
        flags |= cp.F_CAS_VALUE
    slot = o.get("slot")
    if slot is None and opcode == cp.OP_PING:
        slot = 0
    return c.make(opcode, key, value, arg & 0xFFFFFFFFFFFFFFFF, flags, slot)


def collect(c, want_seqs, timeout):
    """Replies (by seq) until every seq in want_seqs is answered or timeout;
    also the number of datagrams they came in and anything undecodable."""
    got, datagrams, undecodable, extra = {}, 0, [], []
    deadline = time.monotonic() + timeout
    while set(want_seqs) - set(got) and time.monotonic() < deadline:
        d = c.recv_raw(deadline - time.monotonic())
        if d is None:
            break
        datagrams += 1
        try:
            for r in cp.decode_all(d):
                if r.seq in want_seqs and r.seq not in got:
                    got[r.seq] = r
                else:
                    extra.append(rdict(r))
        except cp.DecodeError as e:
            undecodable.append({"reason": e.reason, "hex": d.hex()})
    return got, datagrams, undecodable, extra


def mode_ops(a):
    c = cp.Client(a["host"], a.get("port", cp.DEFAULT_PORT),
                  slots=a.get("slots", 1024), timeout=a.get("timeout", 0.5),
                  retries=a.get("retries", 5),
                  client_id=a.get("client_id"))
    results = []
    for o in a["ops"]:
        op = o["op"]
        if op == "sleep":
            time.sleep(o["seconds"])
            results.append({})
        elif op == "raw":
            # One datagram as given; whatever comes back within `wait`.
            c.send_raw(bytes.fromhex(o["hex"]))
            replies, undecodable = [], []
            for d in c.drain(o.get("wait", 0.3)):
                try:
                    replies += [rdict(r) for r in cp.decode_all(d)]
                except cp.DecodeError as e:
                    undecodable.append({"reason": e.reason, "hex": d.hex()})
            results.append({"replies": replies, "undecodable": undecodable})
        elif op == "packet":
            # Several messages in ONE datagram, sent once, no retry.
            msgs = [build(c, m) for m in o["msgs"]]
            data = b"".join(m.encode() for m in msgs)
            c.send_raw(data)
            got, dgrams, undec, extra = collect(
                c, [m.seq for m in msgs], o.get("wait", 2.0))
            results.append({
                "bytes": len(data),
                "datagrams": dgrams,
                "replies": [rdict(got[m.seq]) if m.seq in got else None
                            for m in msgs],
                "undecodable": undec, "extra": extra})
        elif op == "resend":
            # The identical bytes of one request, sent `times` times; every
            # reply that carries its seq is reported.
            m = build(c, o["msg"])
            data = m.encode()
            replies = []
            for _ in range(o.get("times", 2)):
                c.send_raw(data)
                for d in c.drain(o.get("wait", 0.3)):
                    replies += [rdict(r) for r in cp.decode_all(d)
                                if r.seq == m.seq]
            results.append({"sent_hex": data.hex(), "replies": replies})
        else:
            m = build(c, o)
            try:
                r = c.exchange([m])[0]
                results.append(rdict(r))
            except cp.Timeout as e:
                results.append({"timeout": str(e)})
    return {"results": results, "resends": c.resends,
            "client_id": c.client_id}


def mode_fill(a):
    """PUT n keys, then GET them all back, over `clients` sockets (distinct
    UDP source ports, so a multi-queue node spreads them over its queues)."""
    n = a["n"]
    prefix = a.get("prefix", "key")
    vsize = a.get("value_size", 16)
    nclients = a.get("clients", 1)
    per_packet = a.get("per_packet")
    window = a.get("window", 8)
    clients = [cp.Client(a["host"], a.get("port", cp.DEFAULT_PORT),
                         slots=a.get("slots", 1024),
                         timeout=a.get("timeout", 0.5),
                         retries=a.get("retries", 8)) for _ in range(nclients)]

    def key(i):
        return ("%s-%06d" % (prefix, i)).encode()

    def val(i):
        base = ("v%d-" % i).encode()
        return (base * (vsize // len(base) + 1))[:vsize]

    t0 = time.monotonic()
    statuses = {}
    slots_written = {}
    put_versions = {}
    for ci, c in enumerate(clients):
        idx = list(range(ci, n, nclients))
        msgs = [c.make(cp.OP_PUT, key(i), val(i)) for i in idx]
        for i, m in zip(idx, msgs):
            slots_written[m.slot] = slots_written.get(m.slot, 0) + 1
        for i, r in zip(idx, c.exchange(msgs, per_packet, window)):
            statuses["PUT " + r.status_name] = (
                statuses.get("PUT " + r.status_name, 0) + 1)
            put_versions[i] = r.arg
    t_put = time.monotonic() - t0

    t1 = time.monotonic()
    mismatches = []
    get_ok = 0
    for ci, c in enumerate(clients):
        idx = list(range(ci, n, nclients))
        # Read with a different client than the writer where possible.
        rc = clients[(ci + 1) % nclients]
        msgs = [rc.make(cp.OP_GET, key(i)) for i in idx]
        for i, r in zip(idx, rc.exchange(msgs, per_packet, window)):
            statuses["GET " + r.status_name] = (
                statuses.get("GET " + r.status_name, 0) + 1)
            if r.status == cp.ST_OK and r.value == val(i):
                get_ok += 1
                if r.arg != put_versions.get(i):
                    mismatches.append({"i": i, "why": "version",
                                       "put": put_versions.get(i),
                                       "get": r.arg})
            elif len(mismatches) < 20:
                mismatches.append({"i": i, "status": r.status_name,
                                   "value": r.value[:64].decode("latin-1")})
    t_get = time.monotonic() - t1
    return {"n": n, "get_ok": get_ok, "statuses": statuses,
            "mismatches": mismatches[:20], "put_seconds": round(t_put, 3),
            "get_seconds": round(t_get, 3),
            "resends": sum(c.resends for c in clients),
            "stray": sum(c.stray for c in clients),
            "slots_written": {str(k): v for k, v in slots_written.items()}}


def mode_withdraw(a):
    """Withdraw `amount` from an account until it holds less than that.
    Each withdrawal reads balance+version and CASes on the version, with
    the catena package's Client as an application would."""
    c = catena.Client("%s:%d" % (a["host"], a.get("port", cp.DEFAULT_PORT)),
                      timeout=a.get("timeout", 1.0),
                      retries=a.get("retries", 5))
    key, amount = a["key"], a["amount"]
    start_at = a.get("start_at")
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))
    succ = cas_failed = ambiguous = gets = 0
    errors = []
    deadline = time.monotonic() + a.get("max_seconds", 60)
    while time.monotonic() < deadline:
        try:
            bal, ver = c.get(key, with_version=True)
        except catena.CatenaError as e:
            errors.append("GET %s" % e)
            break
        gets += 1
        if bal is None:
            errors.append("GET NOT_FOUND")
            break
        bal = int(bal)
        if bal < amount:
            break
        before = c.stats["resends"]
        try:
            c.cas(key, str(bal - amount), version=ver)
            succ += 1
        except catena.CasFailed:
            cas_failed += 1
            # A re-sent CAS answered CAS_FAILED may have applied on its
            # first try (a node without a dedup table): outcome unknown.
            if c.stats["resends"] != before:
                ambiguous += 1
        except catena.CatenaError as e:
            errors.append("CAS %s" % e)
            break
        if a.get("yield_every") and (succ + cas_failed) % a["yield_every"] == 0:
            time.sleep(0)
    c.close()
    return {"successes": succ, "cas_failed": cas_failed, "gets": gets,
            "ambiguous": ambiguous, "resends": c.stats["resends"],
            "errors": errors, "timed_out": time.monotonic() >= deadline}


def garbage_payloads(seed, count, slots):
    """Seeded malformed datagrams. kind 'random': random bytes; 'header':
    correct magic and version, the rest random (lengths, reserved, flags);
    'semantic': well-formed framing with random op/flags/slot/arg/key."""
    rnd = random.Random(seed)
    tag = 0x6A7BA6E0
    out = []
    for i in range(count):
        kind = rnd.choices(["random", "header", "semantic"], [4, 4, 2])[0]
        if kind == "random":
            p = rnd.randbytes(rnd.randrange(0, 300))
            if len(p) >= 2 and p[0] == 0x7E and p[1] == 0xCA:
                p = b"\x00" + p[1:]
        elif kind == "header":
            p = bytearray(rnd.randbytes(cp.HDR_LEN + rnd.randrange(0, 200)))
            p[0:3] = bytes([0x7E, 0xCA, 1])
            p[12:16] = tag.to_bytes(4, "little")
            p[16:24] = i.to_bytes(8, "little")
            if rnd.random() < 0.5:   # keep lengths small, often plausible
                p[32:34] = rnd.randrange(0, 300).to_bytes(2, "little")
                p[34:36] = b"\0\0" if rnd.random() < 0.8 else p[34:36]
                p[36:40] = rnd.randrange(0, 300).to_bytes(4, "little")
            if rnd.random() < 0.3:
                p = p[:rnd.randrange(0, len(p) + 1)]
            p = bytes(p)
        else:
            op = rnd.choice([0, 1, 2, 3, 4, 5, 6, 7, 0x3f, 0x40, 0x7f, 0xff,
                             rnd.randrange(256)])
            key = rnd.randbytes(rnd.choice([0, 1, 8, 250, 251, 300]))
            value = rnd.randbytes(rnd.choice([0, 1, 16, 1000]))
            if len(key) + len(value) + cp.HDR_LEN > 1472:
                value = value[:1472 - cp.HDR_LEN - len(key)]
            flags = rnd.choice([0, 0, 0, cp.F_REPLY, cp.F_CAS_VALUE, cp.F_MORE,
                                rnd.randrange(256)])
            slot = (cp.slot_of(key, slots) if rnd.random() < 0.6
                    else rnd.randrange(65536))
            arg = rnd.choice([0, 1, len(value), len(value) + 1,
                              rnd.randrange(1 << 64)])
            m = cp.Msg(op=op, key=key, value=value, arg=arg, flags=flags,
                       slot=slot, client_id=tag, seq=i,
                       status=0 if rnd.random() < 0.9 else rnd.randrange(256))
            p = m.encode()
            nmsg = rnd.randrange(0, 3)   # sometimes trailing messages/junk
            for _ in range(nmsg):
                p += rnd.choice([m.encode(), rnd.randbytes(rnd.randrange(60))])
            p = p[:1472]
        out.append((kind, p))
    return tag, out


def mode_garbage(a):
    c = cp.Client(a["host"], a.get("port", cp.DEFAULT_PORT))
    tag, payloads = garbage_payloads(a["seed"], a["count"],
                                     a.get("slots", 1024))
    by_id = {}
    for i, (_, p) in enumerate(payloads):
        if len(p) >= 24:
            by_id[(int.from_bytes(p[12:16], "little"),
                   int.from_bytes(p[16:24], "little"))] = i
    replied = set()
    bad = []
    statuses = {}
    nreplies = 0
    kinds = {}

    def take(datagrams):
        nonlocal nreplies
        for d in datagrams:
            try:
                msgs = cp.decode_all(d)
            except cp.DecodeError as e:
                bad.append({"why": "undecodable " + e.reason, "hex": d.hex()})
                continue
            for r in msgs:
                nreplies += 1
                statuses[r.status_name] = statuses.get(r.status_name, 0) + 1
                if not r.flags & cp.F_REPLY or r.status >= len(cp.STATUS_NAMES):
                    bad.append({"why": "not a reply", "msg": rdict(r)})
                i = by_id.get((r.client_id, r.seq))
                if i is None:
                    bad.append({"why": "unmatched", "msg": rdict(r)})
                else:
                    replied.add(i)

    batch = a.get("batch", 32)
    for b0 in range(0, len(payloads), batch):
        for kind, p in payloads[b0:b0 + batch]:
            kinds[kind] = kinds.get(kind, 0) + 1
            c.send_raw(p)
        take(c.drain(a.get("quiet", 0.05)))
    take(c.drain(0.5))
    lens = [len(p) for _, p in payloads]
    return {"sent": len(payloads), "replied_packets": len(replied),
            "unanswered": len(payloads) - len(replied), "replies": nreplies,
            "statuses": statuses, "kinds": kinds, "bad": bad[:20],
            "nbad": len(bad), "short": sum(1 for n in lens if n < cp.HDR_LEN),
            "bad_magic": sum(1 for _, p in payloads if len(p) >= cp.HDR_LEN
                             and p[:2] != b"\x7e\xca")}


def mode_putstream(a):
    """PUT prefix-i = value-i for i = 0..n-1 in `window`-sized batches; after
    each batch, one line {"acked": [[i, version], ...]} flushed at once. Stops
    at the first request that gets no answer (the node went away)."""
    c = cp.Client(a["host"], a.get("port", cp.DEFAULT_PORT), slots=a.get("slots", 1024),
                  timeout=a.get("timeout", 0.3), retries=a.get("retries", 3))
    prefix = a.get("prefix", "d")
    pad = "." * a.get("pad", 0)      # bytes after value-i: more log per PUT
    window = a.get("window", 4)
    acked, i, n = 0, 0, a["n"]
    while i < n:
        idx = list(range(i, min(n, i + window)))
        msgs = [c.make(cp.OP_PUT, "%s-%06d" % (prefix, j), "value-%d" % j + pad)
                for j in idx]
        try:
            reps = c.exchange(msgs, None, window)
        except cp.Timeout:
            break
        ok = [[j, r.arg] for j, r in zip(idx, reps) if r.status == cp.ST_OK]
        sys.stdout.write(json.dumps({"acked": ok}) + "\n")
        sys.stdout.flush()
        acked += len(ok)
        i += window
    return {"acked_total": acked, "stopped_at": i}


def mode_getcheck(a):
    """GET prefix-i for every [i, version] in a["expect"]: each must be
    value-i at that version. Reports what is missing or different."""
    c = cp.Client(a["host"], a.get("port", cp.DEFAULT_PORT), slots=a.get("slots", 1024),
                  timeout=a.get("timeout", 0.5), retries=a.get("retries", 8))
    prefix = a.get("prefix", "d")
    pad = b"." * a.get("pad", 0)
    exp = a["expect"]
    bad, ok = [], 0
    for k in range(0, len(exp), 64):
        part = exp[k:k + 64]
        msgs = [c.make(cp.OP_GET, "%s-%06d" % (prefix, j)) for j, _ in part]
        for (j, ver), r in zip(part, c.exchange(msgs, None, 8)):
            if (r.status == cp.ST_OK and r.value == ("value-%d" % j).encode() + pad
                    and r.arg == ver):
                ok += 1
            elif len(bad) < 20:
                bad.append({"i": j, "want_version": ver, "status": r.status_name,
                            "version": r.arg, "value": r.value[:40].decode("latin-1")})
    return {"ok": ok, "bad": bad, "checked": len(exp)}


def main():
    if len(sys.argv) != 2:
        print("usage: workload.py JSON|@FILE", file=sys.stderr)
        return 64
    arg = sys.argv[1]
    if arg.startswith("@"):
        with open(arg[1:]) as f:
            arg = f.read()
    a = json.loads(arg)
    fn = {"ops": mode_ops, "fill": mode_fill, "withdraw": mode_withdraw,
          "garbage": mode_garbage, "putstream": mode_putstream,
          "getcheck": mode_getcheck}[a["mode"]]
    t0 = time.monotonic()
    res = fn(a)
    res["elapsed"] = round(time.monotonic() - t0, 3)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
