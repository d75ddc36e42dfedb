#!/bin/sh
# run-unit-tests.sh TEST...: runs each cmocka binary from the repo root; fails if any fails.
failed=0
for t in "$@"; do
    "$t" || { echo "FAILED: $t" >&2; failed=1; }
done
exit $failed
