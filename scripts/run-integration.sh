#!/bin/sh
# run-integration.sh BUILD: runs every tests/integration/test_*.py under every interpreter
# that has a collector built, then prints which versions ran (and which of 3.8-3.15 did
# not), and the total as "N passed, N failed, N skipped entirely".  Debian's
# /usr/bin/python3 is always among them when present (even if another build of its version
# was found first): the peers the tests compare with (python3-line-profiler) live there.
build=$1
bin=$(cd "$build" && pwd)/pyflame-c
passed=0 failedn=0 skippedall=0 ran="" rans=""
pythons=$(sh scripts/find-pythons.sh)
case " $(echo $pythons) " in
    *" /usr/bin/python3 "*) ;;
    *) [ -x /usr/bin/python3 ] && pythons="$pythons /usr/bin/python3" ;;
esac
for py in $pythons; do
    ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    [ -f "$build/python/pyflame/_collector$ext" ] || { echo "skip $py: no collector built"; continue; }
    vers=$("$py" -c 'import platform, sys; print("%d.%d" % sys.version_info[:2], platform.python_version())')
    ran="$ran
  ${vers#* }  $py"
    rans="$rans ${vers%% *}"
    for t in tests/integration/test_*.py; do
        [ -f "$t" ] || continue
        echo "== $t ($py)"
        PYFLAME_C="$bin" PYFLAME_PYTHON="$py" "$py" "$t"
        rc=$?
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
        elif [ "$rc" = 5 ]; then
            # unittest on 3.12+: no test ran, every one skipped (the reasons are above,
            # e.g. pytest or IPython not installed for that interpreter)
            skippedall=$((skippedall + 1)); echo "SKIPPED (every test): $t under $py"
        else
            failedn=$((failedn + 1)); echo "FAILED: $t under $py"
        fi
    done
done
echo "integration: ran under$ran"
absent=""
for v in 3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15; do
    case " $rans " in *" $v "*) ;; *) absent="$absent $v" ;; esac
done
[ -z "$absent" ] || echo "integration: WARNING: NOT tested on Python$absent (no interpreter or no collector)"
echo "integration: $passed passed, $failedn failed, $skippedall skipped entirely"
[ "$failedn" = 0 ]
