#!/bin/sh
# run-golden.sh BUILD: runs every case of tests/golden/cases through BUILD/pyflame-c and
# compares its output byte for byte with tests/golden/expected/NAME.gz (stdout, or the
# file written to @OUT; stored gzipped to keep the repo small), and its exit status and
# stderr with NAME.status when that exists (else the case must exit 0 and print nothing).
# A refactor must keep all of them; GOLDEN_UPDATE=1 rewrites them (name the bug fixed in
# the commit that does).
set -eu
build=${1:-build}
bin=$build/pyflame-c
dir=tests/golden
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$dir/expected"
pass=0 fail=0
set -f
while IFS= read -r line; do
    case $line in ''|'#'*) continue ;; esac
    name=${line%%:*}
    args=${line#*: }
    out=$tmp/out
    rm -f "$out"
    # shellcheck disable=SC2086  # word splitting of the case's arguments is intended
    set -- $args
    uses_out=0
    for a in "$@"; do [ "$a" = @OUT ] && uses_out=1; done
    if [ $uses_out = 1 ]; then
        n=$#; i=0
        while [ $i -lt $n ]; do
            a=$1; shift
            [ "$a" = @OUT ] && a=$out
            set -- "$@" "$a"; i=$((i + 1))
        done
        status=0; "$bin" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || status=$?
    else
        status=0; "$bin" "$@" >"$out" 2>"$tmp/stderr" || status=$?
    fi
    [ -f "$out" ] || : >"$out"
    { echo "exit $status"; cat "$tmp/stderr"; } >"$tmp/status"
    if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
        gzip -9n <"$out" >"$dir/expected/$name.gz"
        if [ $status != 0 ] || [ -s "$tmp/stderr" ]; then cp "$tmp/status" "$dir/expected/$name.status"
        else rm -f "$dir/expected/$name.status"; fi
        pass=$((pass + 1)); continue
    fi
    ok=1
    if [ -f "$dir/expected/$name.gz" ]; then
        gzip -dc "$dir/expected/$name.gz" >"$tmp/expected"
        cmp -s "$out" "$tmp/expected" || ok=0
    else ok=0; fi
    if [ -f "$dir/expected/$name.status" ]; then
        cmp -s "$tmp/status" "$dir/expected/$name.status" || ok=0
    elif [ $status != 0 ] || [ -s "$tmp/stderr" ]; then ok=0
    fi
    if [ $ok = 1 ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "golden: FAIL $name (pyflame-c $args)"
        if [ -f "$dir/expected/$name.gz" ]; then
            diff "$tmp/expected" "$out" 2>/dev/null | head -5 || true
        else echo "  (no expected/$name.gz)"; fi
        head -3 "$tmp/status" | sed 's/^/  /'
    fi
done <"$dir/cases"
echo "golden: $pass passed, $fail failed"
[ $fail = 0 ]
