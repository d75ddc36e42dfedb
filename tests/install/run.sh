#!/bin/sh
# tests/install/run.sh: make install DESTDIR=<fresh folder> writes only there (bin/ and
# lib/pyflame-c/ under PREFIX, and no .pth into any interpreter), the installed tool
# runs, and make uninstall with the same DESTDIR leaves the folder empty.
set -eu
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
stamp=$dest.stamp
: > "$stamp"
make -s install DESTDIR="$dest" PREFIX=/usr/local >/dev/null
fail() { echo "install-test: FAIL: $*"; exit 1; }
[ -x "$dest/usr/local/bin/pyflame-c" ] || fail "no bin/pyflame-c"
[ -f "$dest/usr/local/lib/pyflame-c/python/pyflame/__init__.py" ] || fail "no package"
other=$(find "$dest" -mindepth 1 ! -path "$dest/usr" ! -path "$dest/usr/local" \
        ! -path "$dest/usr/local/bin" ! -path "$dest/usr/local/bin/pyflame-c" \
        ! -path "$dest/usr/local/lib" ! -path "$dest/usr/local/lib/pyflame-c*" | head -3)
[ -z "$other" ] || fail "install wrote $other"
for py in $(sh scripts/find-pythons.sh); do
    site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    if [ -f "$site/pyflame-c.pth" ] && [ "$site/pyflame-c.pth" -nt "$stamp" ]; then
        fail "install wrote $site/pyflame-c.pth"
    fi
done
"$dest/usr/local/bin/pyflame-c" --version >/dev/null || fail "the installed binary does not run"
# the package's metadata: pytest finds the plugin through its pytest11 entry point
python3 -c 'import sys, importlib.metadata as m
sys.path.insert(0, sys.argv[1])
eps = m.distribution("pyflame-c").entry_points
assert [(e.group, e.name, e.value) for e in eps] == [("pytest11", "pyflame", "pyflame")], eps
' "$dest/usr/local/lib/pyflame-c/python" || fail "no pytest11 entry point in the installed metadata"
make -s uninstall DESTDIR="$dest" PREFIX=/usr/local
left=$(find "$dest" -mindepth 1 | head -3)
[ -z "$left" ] || fail "uninstall left $left"
rm -f "$stamp"
echo "install-test: 1 passed, 0 failed"
