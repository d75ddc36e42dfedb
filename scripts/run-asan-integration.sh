#!/bin/sh
# run-asan-integration.sh BUILD CC "FLAGS": the collector under AddressSanitizer + UBSan.
# Builds it with FLAGS (the sanitizer build's) into BUILD for the oldest and the newest
# interpreter found (the two event sources: the C profile hook <= 3.11, sys.monitoring
# 3.12+) and runs the integration tests that drive it hardest -- calls, signals, fork,
# threads, lines, memory hooks (native ones too: their GOT patching works beside ASan's
# interceptors, whose malloc becomes the real one), the program's own hooks, child
# processes, snapshots, crashes and asyncio links -- with the sanitizer runtimes
# preloaded into Python (the interpreter itself is not instrumented; its own leaks are
# not ours, so leak checking is off).  Prints "asan integration: N passed, N failed".
set -u
build=$1 cc=$2 flags=$3
bin=$(cd "$build" && pwd)/pyflame-c
asan=$($cc -print-file-name=libasan.so)
ubsan=$($cc -print-file-name=libubsan.so)
if [ ! -f "$asan" ] || [ ! -f "$ubsan" ]; then
    echo "run-asan-integration: $cc has no libasan.so/libubsan.so" >&2
    exit 1
fi
pys=$(for py in $(sh scripts/find-pythons.sh); do
          echo "$("$py" -c 'import sys; print(sys.version_info[1])') $py"
      done | sort -n | cut -d' ' -f2)
first=$(echo "$pys" | head -n 1)
last=$(echo "$pys" | tail -n 1)
[ "$first" = "$last" ] && last=""
passed=0 failedn=0
for py in $first $last; do
    sh scripts/build-collector.sh "$py" "$build" "$cc" "$flags" || exit 1
    for t in tests/integration/test_collect.py tests/integration/test_memory.py \
             tests/integration/test_lines.py tests/integration/test_coexist.py \
             tests/integration/test_children.py tests/integration/test_native_memory.py \
             tests/integration/test_async.py tests/integration/test_api_traps.py; do
        echo "== $t ($py, ASan/UBSan)"
        if LD_PRELOAD="$(readlink -f "$asan") $(readlink -f "$ubsan")" \
           ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
           PYFLAME_C="$bin" PYFLAME_PYTHON="$py" "$py" "$t"; then
            passed=$((passed + 1))
        else
            failedn=$((failedn + 1)); echo "FAILED: $t under $py (ASan/UBSan)"
        fi
    done
done
echo "asan integration: $passed passed, $failedn failed"
[ "$failedn" = 0 ]
