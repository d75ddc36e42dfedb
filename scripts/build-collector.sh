#!/bin/sh
# build-collector.sh PYTHON BUILD CC "FLAGS": builds the collector extension for one
# interpreter into BUILD/python/pyflame/ (next to the package's Python files) and the
# formats objects it links into BUILD/collector/<tag>/.
set -eu
py=$1 build=$2 cc=$3 flags=$4
info=$("$py" -c 'import sysconfig as s, sys
print(s.get_paths()["include"]); print(s.get_config_var("EXT_SUFFIX")); print("%d.%d" % sys.version_info[:2])') || {
    echo "pyflame-c: cannot run $py" >&2; exit 1; }
inc=$(echo "$info" | sed -n 1p)
ext=$(echo "$info" | sed -n 2p)
ver=$(echo "$info" | sed -n 3p)
if [ ! -f "$inc/Python.h" ]; then
    echo "pyflame-c: no Python.h for $py (install its -dev package, e.g. python3-dev)" >&2
    exit 1
fi
tag=$(echo "$ext" | sed 's/^\.//; s/\.so$//')
obj="$build/collector/$tag"
pkg="$build/python/pyflame"
mkdir -p "$obj" "$pkg"
cp collector/pyflame/*.py "$pkg/"
out="$pkg/_collector$ext"
srcs="$(ls collector/*.c) $(ls formats/*.c)"
# Rebuild only when a source or header is newer than the extension.
if [ -f "$out" ] && [ -z "$(find collector formats -newer "$out" -name '*.[ch]' | head -1)" ]; then
    exit 0
fi
echo "  CC      collector for Python $ver -> $out"
cflags="-std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $flags -Wall -Wextra -Wshadow -Wstrict-prototypes ${PF_WERROR:-} -I. -isystem $inc"
# Debian's multiarch pyconfig.h includes <TRIPLET/python3.X/pyconfig.h>: for an interpreter
# unpacked outside /usr (scripts/get-pythons.sh), that lives beside its include folder.
incroot=$(dirname "$inc")
if [ "$incroot" != /usr/include ] && grep -q '#  *include *<[a-z0-9_]*-linux-[a-z]*/python' "$inc/pyconfig.h" 2>/dev/null; then
    cflags="$cflags -idirafter $incroot"
fi
objs=""
for s in $srcs; do
    o="$obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')"
    $cc $cflags -c "$s" -o "$o"
    objs="$objs $o"
done
$cc -shared $flags -o "$out.tmp" $objs -lz -ldl
mv "$out.tmp" "$out"
