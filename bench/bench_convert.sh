#!/bin/sh
# bench_convert.sh BUILD: time, peak memory and output size of `pyflame-c convert` to
# every format (speedscope, pprof and callgrind exports included) on
# a large synthetic trace (bench/tools/gen_trace.c: 1.2 M calling-context nodes, ~3,100
# codes, deep recursive trees, 4 threads, memory + line data).  Prints medians of 3
# runs; the baseline row is `zcat` of the same trace (decompression alone), the floor
# any converter pays.
set -e
build=${1:-build}
bin=$build/pyflame-c
gen=$build/bench/gen_trace
nodes=${PF_BENCH_NODES:-1200000}
runs=3
[ -x "$bin" ] || { echo "bench_convert: $bin not built" >&2; exit 1; }
[ -x "$gen" ] || make -s "$gen" >/dev/null
[ -x /usr/bin/time ] || { echo "bench_convert: needs /usr/bin/time (GNU time)" >&2; exit 1; }
work=$(mktemp -d /tmp/pf_bench_convert.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

"$gen" --nodes "$nodes" --codes 3000 --threads 4 --seed 1 --memory --lines -o "$work/trace.gz" 2>"$work/gen.log"
cat "$work/gen.log"
echo "trace: $(wc -c < "$work/trace.gz") bytes gzip, $(zcat "$work/trace.gz" | wc -c) bytes raw"

# medians of the columns of the 3 lines "SECONDS KB CPU_SECONDS" in a file
median() {
    secs=$(cut -d' ' -f1 "$1" | sort -n | sed -n 2p)
    kb=$(cut -d' ' -f2 "$1" | sort -n | sed -n 2p)
    cpu=$(cut -d' ' -f3 "$1" | sort -n | sed -n 2p)
    echo "$secs $kb $cpu"
}

measure() {   # name, output file, command...
    name=$1; outf=$2; shift 2
    : > "$work/m.txt"
    i=0
    while [ $i -lt $runs ]; do
        /usr/bin/time -f '%e %M %U %S' -o "$work/one.txt" "$@" > "$outf"
        awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' "$work/one.txt" >> "$work/m.txt"
        i=$((i + 1))
    done
    set -- $(median "$work/m.txt")
    size=$(wc -c < "$outf")
    printf '%-22s %8s %8s %10s %14s\n' "$name" "$1" "$3" "$(( $2 / 1024 ))" "$size"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)  (2 shared cores: wall time is noisy, cpu_s less so)"
printf '%-22s %8s %8s %10s %14s\n' "format" "time_s" "cpu_s" "peak_MB" "output_bytes"
measure zcat-baseline "$work/raw" zcat "$work/trace.gz"
measure collapsed "$work/out.collapsed" "$bin" convert -f collapsed "$work/trace.gz"
measure pstats "$work/out.prof" "$bin" convert -f pstats -o - "$work/trace.gz"
measure text "$work/out.txt" "$bin" convert -f text "$work/trace.gz"
measure lines "$work/out.tsv" "$bin" convert -f lines "$work/trace.gz"
measure collapsed-calls "$work/out.calls" "$bin" convert -f collapsed --metric calls "$work/trace.gz"
measure collapsed-line "$work/out.line" "$bin" convert -f collapsed --granularity line "$work/trace.gz"
# the exports (issue 19): every metric in one file each
measure speedscope "$work/out.speedscope" "$bin" convert -f speedscope "$work/trace.gz"
measure pprof "$work/out.pb.gz" "$bin" convert -f pprof -o - "$work/trace.gz"
measure pprof-line "$work/out.line.pb.gz" "$bin" convert -f pprof --granularity line -o - "$work/trace.gz"
measure callgrind "$work/out.callgrind" "$bin" convert -f callgrind "$work/trace.gz"
measure callgrind-line "$work/out.callgrind.line" "$bin" convert -f callgrind --granularity line "$work/trace.gz"
echo "(medians of $runs runs; time_s = wall clock, cpu_s = user + system, peak_MB = max resident set size)"
