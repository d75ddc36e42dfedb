#!/bin/sh
# run-integration.sh BUILD: runs every tests/integration/test_*.py under every interpreter
# that has a collector built, then prints the total as "N passed, N failed".  Debian's
# /usr/bin/python3 is always among them when present (even if another build of its version
# was found first): the peers the tests compare with (python3-line-profiler) live there.
build=$1
bin=$(cd "$build" && pwd)/pyflame-c
passed=0 failedn=0
pythons=$(sh scripts/find-pythons.sh)
case " $(echo $pythons) " in
    *" /usr/bin/python3 "*) ;;
    *) [ -x /usr/bin/python3 ] && pythons="$pythons /usr/bin/python3" ;;
esac
for py in $pythons; do
    ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    [ -f "$build/python/pyflame/_collector$ext" ] || { echo "skip $py: no collector built"; continue; }
    for t in tests/integration/test_*.py; do
        [ -f "$t" ] || continue
        echo "== $t ($py)"
        if PYFLAME_C="$bin" PYFLAME_PYTHON="$py" "$py" "$t"; then
            passed=$((passed + 1))
        else
            failedn=$((failedn + 1)); echo "FAILED: $t under $py"
        fi
    done
done
echo "integration: $passed passed, $failedn failed"
[ "$failedn" = 0 ]
