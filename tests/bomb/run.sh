#!/bin/sh
# tests/bomb/run.sh BUILD: gzip bombs against `pyflame-c convert` and `pyflame-c html`
# under a small address-space limit (`ulimit -v`, what `prlimit --as` sets; prlimit
# itself crashes in some sandboxes).  Each must fail fast, with exit 1
# and a message (never a signal, never a partial output), whatever it claims to
# decode to.  Run by `make bomb-test` (part of `make test`).
#
#   claim:  a 4.1 MB gzip that decodes to 4.2 GB: a NODES record claiming 4.2 GB,
#           within the 4 GiB budget (its payload buffer meets the address-space
#           limit: out of memory, cleanly, in about a second);
#   claim5: the same claiming 5 GB: refused by the budget before reading it;
#   skip:   4.4 GB of unknown records of 1 MiB (convert only: inflating takes ~10 s;
#           nothing is held, and the decoded-bytes budget stops it at 4 GiB);
#   nodes:  a few MB of gzip that decodes to tens of millions of valid nodes (the
#           model grows 80 bytes per 7 decoded: the address-space limit or the
#           decoding budget stops it, cleanly).
set -u
build=${1:-build}
bin=$build/pyflame-c
dir=$(mktemp -d /tmp/pf_bomb.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
AS_KB=${PF_BOMB_AS_KB:-786432}      # 768 MiB of address space
LIMIT_S=${PF_BOMB_SECONDS:-30}

python3 - "$dir" <<'PY' || exit 1
import sys, zlib
d = sys.argv[1]
MAGIC = b"\x89PFC\r\n\x1a\n\x01"
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
def gz(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()
def rec(tag, payload):
    return varint(tag) + varint(len(payload)) + payload
# A member of 64 MiB of zeros, repeated: multi-member gzip is one stream.
zeros = gz(bytes(64 << 20))
def write(name, head, reps):
    with open(d + "/" + name, "wb") as f:
        f.write(gz(head))
        for _ in range(reps):
            f.write(zeros)
# claim: NODES record of 4.2 GB of zeros
write("claim.gz", MAGIC + varint(6) + varint(4200000000), 63)
write("claim5.gz", MAGIC + varint(6) + varint(5000000000), 63)
# skip: unknown records of 1 MiB each, 4.2 GB in all
one = rec(99, bytes(1 << 20))
block = gz(one * 64)
with open(d + "/skip.gz", "wb") as f:
    f.write(gz(MAGIC))
    for _ in range(66):
        f.write(block)
# nodes: META, a string, a code, a thread, then NODES blocks of 4096 chained nodes
meta = rec(2, bytes(15))
head = MAGIC + meta + rec(3, varint(1) + varint(1) + b"f") + \
       rec(4, varint(1) + bytes([0, 0, 0, 1, 0])) + rec(5, varint(1) + bytes([1, 0]))
node = bytes([1, 0, 0, 0, 1, 0, 0])
first = bytes([0, 0, 0, 0, 1, 0, 0])
blk0 = rec(6, varint(4096) + first + node * 4095)
blk = rec(6, varint(4096) + node * 4096)
body = gz(blk * 2048)            # 8 M nodes a member
with open(d + "/nodes.gz", "wb") as f:
    f.write(gz(head + blk0))
    for _ in range(12):          # ~100 M nodes: 8 GB of model
        f.write(body)
PY

fail=0
check() {   # check NAME CMD...: runs under the limits, expects exit 1 and a message
    want=$1
    shift
    name=$1
    shift
    start=$(date +%s)
    (ulimit -v "$AS_KB" && exec timeout "$LIMIT_S" "$@") >"$dir/out" 2>"$dir/err"
    rc=$?
    secs=$(( $(date +%s) - start ))
    msg=$(head -c 300 "$dir/err")
    if [ "$rc" -ne 1 ] || [ ! -s "$dir/err" ]; then
        echo "bomb: FAIL $name: exit $rc after ${secs}s: $msg" >&2
        fail=1
    elif [ -s "$dir/out" ]; then
        echo "bomb: FAIL $name: wrote output" >&2
        fail=1
    elif ! grep -q -- "$want" "$dir/err"; then
        echo "bomb: FAIL $name: message lacks '$want': $msg" >&2
        fail=1
    else
        echo "bomb: ok $name (${secs}s): $msg"
    fi
}

size() { ls -l "$dir/$1" | awk -v f="$1" '{ printf "bomb: %s is %d bytes\n", f, $5 }'; }
size claim.gz
check "out of memory" "convert claim" "$bin" convert -f text "$dir/claim.gz"
check "out of memory" "html claim" "$bin" html "$dir/claim.gz"
size claim5.gz
check "more than the 4 GiB decoding budget (raise it with --max-memory)" \
    "convert claim5" "$bin" convert -f text "$dir/claim5.gz"
check "more than the 4 GiB decoding budget (raise it with --max-memory)" \
    "html claim5" "$bin" html "$dir/claim5.gz"
size skip.gz
check "input exceeds the 4 GiB decoding budget at offset 4294967296" \
    "convert skip" "$bin" convert -f text "$dir/skip.gz"
size nodes.gz
check "out of memory\|decoding budget" "convert nodes" "$bin" convert -f text "$dir/nodes.gz"
check "out of memory\|decoding budget" "html nodes" "$bin" html "$dir/nodes.gz"

# Once the CLI has --max-memory, the budget itself must stop the node bomb.
if "$bin" convert --help 2>&1 | grep -q -- "--max-memory"; then
    check "decoded trace exceeds the 256 MiB decoding budget" \
        "convert nodes --max-memory 256M" "$bin" convert --max-memory 256M -f text "$dir/nodes.gz"
    check "decoded trace exceeds the 256 MiB decoding budget" \
        "html nodes --max-memory 256M" "$bin" html --max-memory 256M "$dir/nodes.gz"
fi
exit $fail
