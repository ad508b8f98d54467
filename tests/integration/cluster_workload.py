#!/usr/bin/python3
"""
catena cluster workload: runs INSIDE a client network namespace
(`ip netns exec NS /usr/bin/python3 cluster_workload.py ARGS`), talks to a
three-node cluster through catena_proto.ClusterClient (the catena package's
Client from client/python: map-routed, follows MOVED, retries with the same
request id, probes for a newer map on silence) and prints one JSON result on
stdout. ARGS is a JSON object or @FILE. It must never run in the root
namespace: the tests only send between namespaces they created.

Modes (args["mode"]); every mode takes "seeds" (node IPs to fetch the map
from), "timeout" (per try, s) and "retries":
  ops      requests in order, each routed (or sent to node id "to", no
           routing), reporting status, value, which nodes were asked and
           which answered, and MOVED/RETRY counts
  fill     PUT n distinct keys, then GET them all back
  history  a timed random workload on a few contended keys (GET, PUT,
           CAS by value, CAS-if-absent, INCR, DEL) plus PUTs of unique
           keys; records every op's call/return time (CLOCK_MONOTONIC, one
           clock for every process of this machine) and outcome in
           lincheck's format
  read     GET each key once, recorded as history ops (the final reads)
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catena_proto as cp  # noqa: E402

OPS = {"get": cp.OP_GET, "put": cp.OP_PUT, "del": cp.OP_DEL,
       "cas": cp.OP_CAS, "incr": cp.OP_INCR, "ping": cp.OP_PING,
       "map_get": cp.OP_MAP_GET}


def client(a, idx=0):
    return cp.ClusterClient(a["seeds"], timeout=a.get("timeout", 0.2),
                            retries=a.get("retries", 10),
                            refresh_every=a.get("refresh_every"),
                            rng=random.Random(a.get("seed", 1) * 1000 + idx))


def wait_start(a):
    start_at = a.get("start_at")
    if start_at:
        time.sleep(max(0.0, min(10.0, start_at - time.time())))


def result(r, info):
    d = {"info": info}
    if r is None:
        d["status_name"] = "TIMEOUT"
        return d
    d.update({"status": r.status, "status_name": r.status_name,
              "arg": r.arg, "epoch": r.epoch,
              "value_text": r.value.decode("latin-1"),
              "key_text": r.key.decode("latin-1")})
    return d


def mode_ops(a):
    c = client(a)
    out = []
    for o in a["ops"]:
        op = o["op"]
        if op == "sleep":
            time.sleep(o["seconds"])
            out.append({})
            continue
        if op == "map":
            c.fetch_map()
            out.append({"epoch": c.map.epoch, "text": c.map.text})
            continue
        value = o.get("value", "").encode("latin-1")
        arg, flags = int(o.get("arg", 0)), 0
        if op == "cas" and "expected_value" in o:
            exp = o["expected_value"].encode("latin-1")
            value, arg, flags = exp + value, len(exp), cp.F_CAS_VALUE
        r, info = c.request(OPS[op], o.get("key", ""), value, arg, flags,
                            to=o.get("to"))
        out.append(result(r, info))
    return {"results": out, "stats": c.stats, "epoch": c.map.epoch}


def mode_fill(a):
    c = client(a)
    n, prefix = a["n"], a.get("prefix", "f")
    statuses, bad, chains, answered = {}, [], {}, {}

    def count(tag, r):
        name = tag + " " + (r.status_name if r is not None else "TIMEOUT")
        statuses[name] = statuses.get(name, 0) + 1

    versions = {}
    for i in range(n):
        key = "%s-%05d" % (prefix, i)
        r, info = c.request(cp.OP_PUT, key, ("v%d" % i).encode())
        count("PUT", r)
        if r is not None:
            versions[i] = r.arg
            ch = c.map.slot_chain[cp.slot_of(key.encode(), c.map.slots)]
            chains[str(ch)] = chains.get(str(ch), 0) + 1
            answered[str(info["from"])] = answered.get(str(info["from"]),
                                                       0) + 1
    for i in range(n):
        key = "%s-%05d" % (prefix, i)
        r, info = c.request(cp.OP_GET, key)
        count("GET", r)
        if (r is None or r.status != cp.ST_OK or r.value != b"v%d" % i or
                r.arg != versions.get(i)):
            if len(bad) < 20:
                bad.append({"key": key, "reply": result(r, info),
                            "put_version": versions.get(i)})
    return {"n": n, "statuses": statuses, "bad": bad,
            "chains_written": chains, "write_answered_by": answered,
            "stats": c.stats}


# --- recorded histories (lincheck's op format) ---

class Recorder:
    def __init__(self, c, cid):
        self.c = c
        self.cid = cid
        self.ops = []
        self.errors = []

    def run(self, kind, key, op, value=b"", arg=0, flags=0, lin_arg=0,
            lin_arg2=0):
        call = time.monotonic_ns()
        r, info = self.c.request(op, key, value, arg, flags)
        ret = time.monotonic_ns()
        rec = {"kind": kind, "key": key, "client": self.cid, "call": call,
               "ret": ret, "arg": lin_arg, "arg2": lin_arg2, "out": "ok",
               "result": 0}
        st = r.status if r is not None else None
        if st == cp.ST_OK:
            if kind in ("get", "incr"):
                try:
                    rec["result"] = int(r.value)
                except ValueError:
                    self.errors.append("%s %s: value %r is not a number"
                                       % (kind, key, r.value[:40]))
                    rec["ret"], rec["out"] = None, "unknown"
        elif st == cp.ST_NOT_FOUND and kind in ("get", "del", "cas"):
            rec["out"] = "absent"
        elif st == cp.ST_CAS_FAILED and kind in ("cas", "cas_absent"):
            rec["out"] = "cas_failed"
        elif st is None or st in (cp.ST_MOVED, cp.ST_RETRY):
            # Gave up (silence, or MOVED/RETRY past the budget): an
            # earlier try may still have taken effect.
            rec["ret"], rec["out"] = None, "unknown"
        else:
            self.errors.append("%s %s: status %s" % (kind, key,
                                                     r.status_name))
            rec["ret"], rec["out"] = None, "unknown"
        rec["moved"] = info["moved"]
        self.ops.append(rec)
        return rec


def mode_history(a):
    wait_start(a)
    cid = a["client"]
    c = client(a, cid)
    rnd = random.Random(a.get("seed", 1) * 7919 + cid)
    rec = Recorder(c, cid)
    keys = a["keys"]
    mix = a.get("mix", {"get": 30, "put": 20, "cas": 15, "cas_absent": 5,
                        "incr": 15, "del": 5, "unique": 10})
    kinds = list(mix)
    weights = [mix[k] for k in kinds]
    seen = {}           # key -> a value this client saw there last
    counter = 0
    unique = []         # [key, value] of acknowledged unique PUTs
    deadline = time.monotonic() + a["duration"]
    n = 0
    while time.monotonic() < deadline and n < a.get("max_ops", 100000):
        n += 1
        counter += 1
        val = (cid + 1) * 10 ** 7 + counter     # distinct per write
        kind = rnd.choices(kinds, weights)[0]
        key = rnd.choice(keys)
        if kind == "get":
            o = rec.run("get", key, cp.OP_GET)
            if o["out"] == "ok":
                seen[key] = o["result"]
        elif kind == "put":
            rec.run("put", key, cp.OP_PUT, b"%d" % val, lin_arg=val)
            seen[key] = val
        elif kind == "cas":
            exp = seen.get(key, rnd.randrange(1, 50))
            e = b"%d" % exp
            rec.run("cas", key, cp.OP_CAS, e + b"%d" % val, len(e),
                    cp.F_CAS_VALUE, lin_arg=exp, lin_arg2=val)
        elif kind == "cas_absent":
            rec.run("cas_absent", key, cp.OP_CAS, b"%d" % val, 0,
                    lin_arg=val)
        elif kind == "incr":
            d = rnd.randrange(1, 6)
            o = rec.run("incr", key, cp.OP_INCR, arg=d, lin_arg=d)
            if o["out"] == "ok":
                seen[key] = o["result"]
        elif kind == "del":
            rec.run("del", key, cp.OP_DEL)
        else:
            ukey = "%s-%d-%d" % (a.get("unique_prefix", "u"), cid, counter)
            r, _ = c.request(cp.OP_PUT, ukey, b"%d" % val)
            if r is not None and r.status == cp.ST_OK:
                unique.append([ukey, str(val)])
            elif r is not None and r.status not in (cp.ST_MOVED, cp.ST_RETRY):
                # RETRY/MOVED past the budget is giving up, as silence
                # is: unacknowledged, so nothing to check.
                rec.errors.append("unique PUT %s: %s" % (ukey,
                                                          r.status_name))
        if a.get("pause"):
            time.sleep(a["pause"])
    return {"client": cid, "history": rec.ops, "unique": unique,
            "errors": rec.errors[:20], "stats": c.stats,
            "epoch": c.map.epoch,
            "moved_followed": sum(o["moved"] for o in rec.ops)}


def mode_read(a):
    """GET every key (a history's final reads) and the unique keys."""
    c = client(a)
    rec = Recorder(c, a.get("client", 999))
    for k in a.get("keys", []):
        rec.run("get", k, cp.OP_GET)
    missing = []
    for k, v in a.get("unique", []):
        r, info = c.request(cp.OP_GET, k)
        if r is None or r.status != cp.ST_OK or r.value != v.encode():
            missing.append({"key": k, "want": v, "got": result(r, info)})
    return {"history": rec.ops, "errors": rec.errors,
            "unique_checked": len(a.get("unique", [])),
            "unique_missing": missing[:20], "n_missing": len(missing),
            "stats": c.stats}


def main():
    if len(sys.argv) != 2:
        print("usage: cluster_workload.py JSON|@FILE", file=sys.stderr)
        return 64
    arg = sys.argv[1]
    if arg.startswith("@"):
        with open(arg[1:]) as f:
            arg = f.read()
    a = json.loads(arg)
    fn = {"ops": mode_ops, "fill": mode_fill, "history": mode_history,
          "read": mode_read}[a["mode"]]
    t0 = time.monotonic()
    res = fn(a)
    res["elapsed"] = round(time.monotonic() - t0, 3)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
