#!/bin/sh
# Bytes per key for 16-byte keys ("key:%012u") and 32-byte values, side by
# side: the catena store (what it accounts and what the process grew by),
# the cds_lfht store it replaced, Redis (INFO memory used_memory delta) and
# memcached (stats bytes, and stats slabs total_malloced), on the same keys.
#   perf/mem_per_key.sh BUILD_DIR [KEYS...]     (default: 1048576 10000000)
# Redis and memcached run only if installed (scripts/setup.sh installs
# them), each on a Unix socket in a temporary directory: nothing listens
# on or sends to any network address. 10 M keys take about 3 GB of memory
# and a few minutes. Reports only; never fails on a number.
set -eu

[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [KEYS...]" >&2; exit 64; }
build=$1; shift
[ $# -ge 1 ] || set -- 1048576 10000000
bin=$build/perf/catena-mem-per-key
[ -x "$bin" ] || { echo "$0: $bin not found (ninja -C $build)" >&2; exit 1; }
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/catena-mem.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

wait_sock() {  # a server's socket appears
	i=0
	while [ ! -S "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$1" ]
}

# One JSON line per store and key count; the table at the end reads them.
out=$tmp/results.jsonl
for n in "$@"; do
	"$bin" "$n" >>"$out"
	"$bin" "$n" --ref >>"$out"

	if command -v redis-server >/dev/null 2>&1; then
		sock=$tmp/redis.sock
		redis-server --port 0 --unixsocket "$sock" --save "" \
			--appendonly no --dir "$tmp" --daemonize no \
			--logfile "$tmp/redis.log" &
		rpid=$!; pids="$pids $rpid"
		wait_sock "$sock"
		$py - "$sock" "$n" >>"$out" <<'EOF'
import socket, sys
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.connect(path)
f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
def reply():
    line = f.readline()
    if line[:1] == b"$":
        ln = int(line[1:])
        return f.read(ln + 2)[:-2] if ln >= 0 else None
    return line
def used():
    cmd(b"INFO", b"memory")
    for l in reply().split(b"\r\n"):
        if l.startswith(b"used_memory:"):
            return int(l.split(b":")[1])
before = used()
val = b"v" * 32
batch = 1000   # replies read per batch: the socket buffers never fill
for base in range(0, n, batch):
    m = min(batch, n - base)
    s.sendall(b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%s\r\n" % (i, val)
                       for i in range(base, base + m)))
    for _ in range(m):
        if reply() != b"+OK\r\n":
            sys.exit("redis SET failed")
after = used()
print('{"store":"redis","keys":%d,"key_len":16,"value_len":32,"used_memory_delta":%d,'
      '"per_key":%.1f}' % (n, after - before, (after - before) / n))
EOF
		kill "$rpid"; wait "$rpid" 2>/dev/null || true
	fi

	if command -v memcached >/dev/null 2>&1; then
		# memcached drops root for nobody before it binds its socket.
		mcdir=$tmp/mc; mkdir -p "$mcdir"; chmod 711 "$tmp"
		[ "$(id -u)" -ne 0 ] || chown nobody "$mcdir"
		sock=$mcdir/mc.sock
		# Memory for 10 M items with room to spare.
		memcached -s "$sock" -m 4096 -u nobody -U 0 &
		mpid=$!; pids="$pids $mpid"
		wait_sock "$sock"
		$py - "$sock" "$n" >>"$out" <<'EOF'
import socket, sys
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.connect(path)
f = s.makefile("rb")
def stats(sub=b""):
    s.sendall(b"stats" + (b" " + sub if sub else b"") + b"\r\n")
    d = {}
    while True:
        l = f.readline().strip()
        if l == b"END":
            return d
        p = l.split()
        d[p[1].decode()] = p[2].decode()
val = b"v" * 32
batch = 10000
# noreply: memcached stops reading while its replies queue up unread, so
# a pipelined client that reads only after sending would deadlock; a
# "version" after each batch is the sync point instead.
for base in range(0, n, batch):
    m = min(batch, n - base)
    s.sendall(b"".join(b"set key:%012d 0 0 32 noreply\r\n%s\r\n" % (i, val)
                       for i in range(base, base + m)) + b"version\r\n")
    if not f.readline().startswith(b"VERSION"):
        sys.exit("memcached set failed")
st = stats()
sl = stats(b"slabs")
b, items = int(st["bytes"]), int(st["curr_items"])
mall = int(sl.get("total_malloced", 0))
print('{"store":"memcached","keys":%d,"curr_items":%d,"key_len":16,"value_len":32,'
      '"bytes":%d,"per_key":%.1f,"total_malloced":%d,"malloced_per_key":%.1f}'
      % (n, items, b, b / n, mall, mall / n))
EOF
		kill "$mpid"; wait "$mpid" 2>/dev/null || true
	fi
done

$py - "$out" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("%-18s %10s %14s %14s" % ("store", "keys", "bytes/key", "bytes/key (2)"))
for r in rows:
    if r["store"].startswith("catena"):
        a, b = r["accounted_per_key"], r["rss_per_key"]
        note = "items / rss"
    elif r["store"] == "redis":
        a, b, note = r["per_key"], None, "used_memory"
    else:
        a, b, note = r["per_key"], r["malloced_per_key"], "bytes / slabs"
    print("%-18s %10d %14.1f %14s   %s" % (r["store"], r["keys"], a,
          "%.1f" % b if b is not None else "-", note))
for l in open(sys.argv[1]):
    print(l.strip())
EOF
