#!/usr/bin/env bash
# Plots of catena's latency results, drawn with gnuplot (Debian's
# gnuplot-nox). Reads the JSON that catena-bench, catena-kv-bench,
# catena-udp-bench and perf/compare.sh write; never runs a benchmark.
#
#   perf/plot.sh sweep BENCH.json OUT.png    latency percentiles against offered
#                                            load (catena-bench --sweep ... --json)
#   perf/plot.sh dist  OUT.png A.json [B.json ...]
#                                            latency distribution of each run
#                                            (percentile spectrum, log axes)
#   perf/plot.sh compare COMPARE.json OUTDIR [svg]
#                                            writes OUTDIR/compare-latency.png
#                                            (p50/p99/p99.9 per system) and
#                                            OUTDIR/compare-dist.png (.svg)
#   perf/plot.sh latency OUT.png BENCH.json [TITLE]
#                                            one run's distribution with its
#                                            p50/p90/p99/p99.9/max marked
#                                            (scripts/demo.sh draws this)
# OUT ending in .svg gives SVG instead of PNG.
set -euo pipefail

die() { echo "plot.sh: $*" >&2; exit 1; }
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox; scripts/setup.sh installs it)"
[ $# -ge 3 ] || { sed -n '2,20p' "$0" >&2; exit 64; }

PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/catena-plot.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

term() {
	case "$1" in
	*.svg) echo "set terminal svg size 900,560 dynamic font 'sans,11'" ;;
	*) echo "set terminal pngcairo size 900,560 font 'sans,10'" ;;
	esac
}

# A run's distribution as "percentile-spectrum" points: x = 1/(1-q), y = us.
# Each JSON is one of: catena-bench (runs[-1].lat_us.buckets_us),
# catena-kv-bench (same), catena-udp-bench (buckets_us at top level), or a
# compare.json row (carries "json" = the path of its tool's JSON).
spectrum() {
	$PY - "$@" <<'PY'
import json, sys
out = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    d = json.load(open(path))
    b = None
    if "runs" in d:
        b = d["runs"][-1]["lat_us"].get("buckets_us")
    elif "buckets_us" in d:
        b = d["buckets_us"]
    if not b:
        continue
    total = sum(c for _, c in b)
    acc = 0
    with open(f"{out}/spec{i}.dat", "w") as f:
        for v, c in b:
            acc += c
            q = acc / total
            x = 1 / (1 - q) if q < 1 else 1 / (0.5 / total)
            f.write(f"{x:.6g} {v:.6g}\n")
    label = d.get("label") or path
    print(f"{i}\t{label}")
PY
}

dist_plot() {
	local out=$1; shift
	local titles
	titles=$(spectrum "$TMP" "$@")
	[ -n "$titles" ] || die "no histogram buckets in: $*"
	{
		term "$out"
		echo "set output '$out'"
		echo "set title 'Latency distribution (percentile spectrum)'"
		echo "set logscale xy"
		echo "set xlabel 'percentile'"
		echo "set ylabel 'latency (us)'"
		echo "set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)"
		echo "set grid"
		echo "set key bottom right noenhanced"
		printf "plot "
		local sep="" colors=('#9400d3' '#009e73' '#56b4e9' '#e69f00' '#c0a000' '#0072b2' '#e51e10' '#000000' '#808080' '#a0522d')
		while IFS=$'\t' read -r i label; do
			printf "%s'%s/spec%s.dat' using 1:2 with steps lw 2 lc rgb '%s' title '%s'" \
				"$sep" "$TMP" "$i" "${colors[i % 10]}" "${label//\'/}"
			sep=", "
		done <<< "$titles"
		echo
	} > "$TMP/dist.gp"
	gnuplot "$TMP/dist.gp"
}

sweep_plot() {
	local json=$1 out=$2
	$PY - "$json" "$TMP/sweep.dat" <<'PY' || die "$json: not a catena-bench --sweep result"
import json, sys
d = json.load(open(sys.argv[1]))
runs = [r for r in d["runs"] if r.get("offered_ops", 0) > 0]
if not runs:
    sys.exit(1)
with open(sys.argv[2], "w") as f:
    for r in runs:
        l = r["lat_us"]
        f.write(f'{r["offered_ops"]/1e3:.3f} {r["achieved_ops"]/1e3:.3f} {l["p50"]} {l["p90"]} {l["p99"]} {l["p999"]}\n')
PY
	{
		term "$out"
		echo "set output '$out'"
		echo "set title 'catena-bench open loop (Poisson): latency against offered load'"
		echo "set logscale y"
		echo "set xlabel 'offered load (kops/s)'"
		echo "set ylabel 'latency (us), from the scheduled send time'"
		echo "set y2label 'achieved (kops/s)'"
		echo "set y2tics"
		echo "set grid"
		echo "set key top left"
		echo "plot '$TMP/sweep.dat' u 1:3 w lp lw 2 t 'p50', '' u 1:4 w lp lw 2 t 'p90', '' u 1:5 w lp lw 2 t 'p99', '' u 1:6 w lp lw 2 t 'p99.9', '' u 1:2 axes x1y2 w lp lw 2 lc rgb 'black' dt 2 t 'achieved (right axis)'"
	} > "$TMP/sweep.gp"
	gnuplot "$TMP/sweep.gp"
}

compare_plot() {
	local json=$1 dir=$2 ext=${3:-png}
	mkdir -p "$dir"
	$PY - "$json" "$TMP" <<'PY' > "$TMP/files" || die "$json: not a compare.sh result"
import json, sys
d = json.load(open(sys.argv[1]))
with open(sys.argv[2] + "/bars.dat", "w") as f:
    for r in d["rows"]:
        g, p = r.get("GET") or {}, r.get("PUT") or {}
        # A double-quoted gnuplot string keeps its spaces as one column;
        # only a double quote inside it would end it early.
        name = r["system"].replace('"', "'")
        f.write(f'"{name}" {g.get("p50","-")} {g.get("p99","-")} {g.get("p999","-")} '
                f'{p.get("p50","-")} {p.get("p99","-")} {p.get("p999","-")}\n')
for r in d["rows"]:
    if r.get("json"):
        print(r["json"])
PY
	{
		term "$dir/compare-latency.$ext"
		echo "set output '$dir/compare-latency.$ext'"
		echo "set title 'GET and PUT latency per system (same machine, same keys and sizes)'"
		echo "set style data histograms"
		echo "set style histogram clustered gap 1"
		echo "set style fill solid 0.8 border -1"
		echo "set logscale y"
		echo "set ylabel 'latency (us)'"
		echo "set xtics rotate by -30 noenhanced"
		echo "set key top left noenhanced"
		echo "set datafile missing '-'"
		echo "set grid y"
		echo "plot '$TMP/bars.dat' u 2:xtic(1) t 'GET p50', '' u 3 t 'GET p99', '' u 5 t 'PUT p50', '' u 6 t 'PUT p99', '' u 7 t 'PUT p99.9'"
	} > "$TMP/bars.gp"
	gnuplot "$TMP/bars.gp"
	mapfile -t files < "$TMP/files"
	[ ${#files[@]} -gt 0 ] && dist_plot "$dir/compare-dist.$ext" "${files[@]}"
	return 0
}

# One run: its percentile spectrum, and its summary percentiles as labelled
# points on it (p50 at x = 2, p90 at 10, ...: x = 1/(1-q), as spectrum()).
latency_plot() {
	local out=$1 json=$2 title=${3:-}
	local titles
	titles=$(spectrum "$TMP" "$json")
	[ -n "$titles" ] || die "$json: no histogram buckets (buckets_us)"
	$PY - "$json" "$TMP/marks.dat" "$TMP/title" "$title" <<'PY' || die "$json: no lat_us percentiles"
import json, sys
d = json.load(open(sys.argv[1]))
lat = d["runs"][-1]["lat_us"] if "runs" in d else d["lat_us"]
marks = [("p50", 2, "p50"), ("p90", 10, "p90"), ("p99", 100, "p99"),
         ("p999", 1000, "p99.9")]
with open(sys.argv[2], "w") as f:
    for key, x, name in marks:
        if lat.get(key) is not None:
            f.write(f'{x} {lat[key]} "{name} {lat[key]:g} us"\n')
title = sys.argv[4]
if not title:
    # Counted from the buckets: catena-udp-bench's "ops" key is written
    # twice (a count, then the per-op object), and JSON readers keep the last.
    b = d["runs"][-1]["lat_us"].get("buckets_us") if "runs" in d else d.get("buckets_us")
    title = "latency of %d operations" % sum(c for _, c in b or [])
    if "ops_per_sec" in d:
        title += ", %.0f ops/s" % d["ops_per_sec"]
    if lat.get("max") is not None:
        title += ", max %g us" % lat["max"]
open(sys.argv[3], "w").write(title.replace("'", ""))
PY
	{
		term "$out"
		echo "set output '$out'"
		echo "set title '$(cat "$TMP/title")' noenhanced"
		echo "set logscale xy"
		echo "set xlabel 'percentile'"
		echo "set ylabel 'latency (us)'"
		echo "set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)"
		echo "set grid"
		echo "set key top left noenhanced"
		echo "plot '$TMP/spec0.dat' using 1:2 with steps lw 2 lc rgb '#0072b2' title 'latency distribution (every operation)', \\"
		echo "     '$TMP/marks.dat' using 1:2 with points pt 7 ps 1.3 lc rgb '#e51e10' title 'percentiles', \\"
		echo "     '' using 1:2:3 with labels left offset 1,-0.8 noenhanced notitle"
	} > "$TMP/latency.gp"
	gnuplot "$TMP/latency.gp"
}

case "$1" in
latency) latency_plot "$2" "$3" "${4:-}" ;;
sweep) sweep_plot "$2" "$3" ;;
dist) out=$2; shift 2; dist_plot "$out" "$@" ;;
compare)
	case "${4:-png}" in png|svg) ;; *) die "compare: format '$4': png or svg" ;; esac
	compare_plot "$2" "$3" "${4:-png}" ;;
*) die "unknown plot '$1' (sweep, dist, compare, latency)" ;;
esac
