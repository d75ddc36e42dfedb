#!/bin/sh
# run-browser-tests.sh BUILD: runs every tests/browser/test_*.mjs with node in headless
# Debian Chromium (playwright-core).  Each test makes its own inputs with $PYFLAME_C and
# exits non-zero on failure.  Prints "browser: N passed, N failed".
build=$1
bin=$(cd "$build" && pwd)/pyflame-c
if [ ! -x /usr/bin/chromium ] || [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "browser tests need chromium and playwright-core: run 'sh scripts/deps.sh test'" >&2
    exit 1
fi
passed=0 failedn=0
for t in tests/browser/test_*.mjs; do
    [ -f "$t" ] || continue
    echo "== $t"
    if PYFLAME_C="$bin" node "$t"; then passed=$((passed + 1)); else failedn=$((failedn + 1)); echo "FAILED: $t"; fi
done
echo "browser: $passed passed, $failedn failed"
[ "$failedn" = 0 ]
