#!/bin/sh
# get-pythons.sh [VERSION|pyinstrument...]: installs the CPythons that neither pyenv nor
# Debian 12 has (default: 3.14 and 3.15, and pyinstrument) from Debian's unstable suite
# into a private cache, without
# touching the system: a separate apt configuration (its own sources list, Dir::State,
# Dir::Cache and an empty dpkg status) is used only for `apt-get update` and
# `apt-get download`; each .deb is unpacked with `dpkg -x` into CACHE/VERSION/, and
# CACHE/VERSION/usr/bin/python3.X is patched (patchelf) to use that folder's own loader
# and libraries, so it runs directly, and so do sys.executable, subprocesses and
# multiprocessing.  scripts/find-pythons.sh finds the result (pythons-dir.sh says where).
# "pyinstrument" is sid's python3-pyinstrument alone (a profiler Debian 12 lacks, whose
# real output tests/integration/test_foreign_inputs.py reads), unpacked the same way into
# CACHE/pyinstrument/ (usr/lib/python3/dist-packages: put it on PYTHONPATH of a sid Python
# its C extension was built for); failing to get it is a warning, not an error (the
# test that needs it skips and says why).
#
# Idempotent: a finished install is reused without going to the network.  If the suite
# no longer has a version, that is said loudly and the others go on; if the registry
# cannot be reached or a download fails, it stops with a clear message and exit 1.
# PYFLAME_C_GET_PYTHONS=0 skips it (an offline machine).
set -eu
[ "${PYFLAME_C_GET_PYTHONS:-1}" = 0 ] && exit 0
here=$(cd "$(dirname "$0")" && pwd)
versions=${*:-3.14 3.15 pyinstrument}
cache=$(sh "$here/pythons-dir.sh")
suite=sid

say() { echo "pyflame-c: $*" >&2; }
die() { say "$*"; exit 1; }
pyinst_dist=usr/lib/python3/dist-packages

ok() {   # ok VERSION|pyinstrument: the cached install is complete (and runs)
    [ -f "$cache/$1/.pyflame-c-installed" ] || return 1
    case $1 in
        pyinstrument) [ -f "$cache/$1/$pyinst_dist/pyinstrument/__init__.py" ] ;;
        *) "$cache/$1/usr/bin/python$1" -c 'import ssl, sqlite3, ctypes, sysconfig' 2>/dev/null ;;
    esac
}

todo=""
for v in $versions; do ok "$v" || todo="$todo $v"; done
[ -z "$todo" ] && exit 0

mkdir -p "$cache"
# One installer at a time (several work trees share the cache).
exec 9>"$cache/.lock"
flock 9
# Someone else may have finished while we waited.
left=""
for v in $todo; do ok "$v" || left="$left $v"; done
todo=$left
[ -z "$todo" ] && exit 0
# Only pyinstrument left: a failure is a warning (exit 0), so that `make test` goes on
# and its test skips.
case "$todo" in " pyinstrument") die() { say "WARNING: $* (pyinstrument's test skips)"; exit 0; } ;; esac
pythons=$(echo "$todo" | sed 's/ pyinstrument//')

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    say "WARNING: not a Debian system (no apt-get/dpkg):$todo NOT installed, NOT tested"
    exit 0
fi
if [ -n "$pythons" ]; then
    command -v patchelf >/dev/null 2>&1 || sh "$here/deps.sh" pythons || true
    command -v patchelf >/dev/null 2>&1 || die "patchelf is needed to install Python$pythons (apt-get install patchelf)"
fi

arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
[ -n "$triplet" ] || die "cannot tell the multiarch triplet (install gcc)"

# The machine's own Debian mirror ($PYFLAME_C_DEBIAN_MIRROR overrides): the first URI
# that serves bookworm (or stable) in the system's sources, deb822 or one-line format.
uri=${PYFLAME_C_DEBIAN_MIRROR:-$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
          /^URIs:/ { u = $2 }
          /^Suites:/ { if ($0 ~ /[ \t](bookworm|stable)([ \t]|$)/ && u != "") print u }
          /^$/ { u = "" }'
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '
          $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                        if ($(i + 1) == "bookworm" || $(i + 1) == "stable") print $i }'
    } | head -n 1)}
[ -n "$uri" ] || die "no Debian bookworm mirror in /etc/apt/sources.list*; set PYFLAME_C_DEBIAN_MIRROR to one"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "no $keyring (apt-get install debian-archive-keyring)"

apt="$cache/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs" "$apt/sources.list.d" "$apt/preferences.d"
: > "$apt/status"
echo "deb [signed-by=$keyring] $uri $suite main" > "$apt/sources.list"
set -- -o Dir::State="$apt" -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status" \
       -o Dir::Cache="$apt" -o Dir::Cache::archives="$apt/archives" \
       -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/sources.list.d" \
       -o Dir::Etc::Preferences="$apt/preferences" -o Dir::Etc::PreferencesParts="$apt/preferences.d" \
       -o APT::Architecture="$arch" -o APT::Architectures="$arch" -o APT::Sandbox::User=root

say "installing$todo from Debian $suite ($uri) into $cache"
rm -f "$apt"/lists/*_Packages*
if ! apt-get "$@" -qq --error-on=any update >"$apt/update.log" 2>&1 ||
   [ -z "$(ls "$apt"/lists/*"_${suite}_main_binary-${arch}_Packages"* 2>/dev/null)" ]; then
    cat "$apt/update.log" >&2
    die "cannot fetch Debian $suite's package list from $uri:$todo NOT installed"
fi

# pyinstrument: only python3-pyinstrument (its other dependencies are the Pythons, and
# libc, which every Python folder here has); last, so that Pythons come first.
get_pyinstrument() {
    p=python3-pyinstrument
    if ! apt-cache "$@" show "$p" >/dev/null 2>&1; then
        say "WARNING: Debian $suite no longer has $p: pyinstrument's output is NOT tested"
        return 0
    fi
    full=$(apt-cache "$@" show --no-all-versions "$p" | sed -n 's/^Version: //p')
    dl="$apt/debs/pyinstrument"
    rm -rf "$dl" && mkdir -p "$dl"
    if ! (cd "$dl" && apt-get "$@" -qq download "$p") >"$dl.log" 2>&1; then
        say "WARNING: downloading $p from $uri failed (see $dl.log): pyinstrument NOT installed, its test skips"
        return 0
    fi
    tmp="$cache/.pyinstrument.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    for d in "$dl"/*.deb; do dpkg -x "$d" "$tmp"; done
    rm -rf "$cache/pyinstrument"
    mv "$tmp" "$cache/pyinstrument"
    echo "$full" > "$cache/pyinstrument/.pyflame-c-installed"
    rm -rf "$dl"
    if ok pyinstrument; then
        # its C extension (pyinstrument.low_level.stat_profile) is built per CPython
        built=$(ls "$cache/pyinstrument/$pyinst_dist/pyinstrument/low_level" |
                sed -n 's/^stat_profile\.cpython-\([0-9]\)\([0-9]*\)-.*/\1.\2/p' | tr '\n' ' ')
        say "pyinstrument $full ready: $cache/pyinstrument/$pyinst_dist (for Python ${built% })"
    else
        rm -f "$cache/pyinstrument/.pyflame-c-installed"
        say "WARNING: no pyinstrument package in the unpacked $p: its test skips"
    fi
}

libs="libc6 libexpat1 libffi8 libgcc-s1 liblzma5 libncursesw6 libreadline8t64 libsqlite3-0
      libssl3t64 libtinfo6 libuuid1 libzstd1 zlib1g libbz2-1.0 libmpdec4 libdb5.3t64"
missing=""
for v in $todo; do
    [ "$v" = pyinstrument ] && { get_pyinstrument "$@"; continue; }
    pkgs="python$v python$v-minimal libpython$v libpython$v-minimal libpython$v-stdlib
          libpython$v-dev python$v-dev"
    if ! apt-cache "$@" show "python$v" >/dev/null 2>&1; then
        say "WARNING: Debian $suite no longer has python$v: Python $v is NOT tested"
        missing="$missing $v"
        continue
    fi
    full=$(apt-cache "$@" show --no-all-versions "python$v" | sed -n 's/^Version: //p')
    dl="$apt/debs/$v"
    rm -rf "$dl" && mkdir -p "$dl"
    have=""
    for p in $pkgs $libs; do
        # libdb5.3t64 (dbm) is optional: only some versions use it.
        if apt-cache "$@" show "$p" >/dev/null 2>&1; then have="$have $p"
        else case $p in libdb*) ;; *) die "Debian $suite has no package $p (needed by Python $v)" ;; esac
        fi
    done
    (cd "$dl" && apt-get "$@" -qq download $have) >"$dl.log" 2>&1 ||
        die "downloading Python $v's packages from $uri failed (see $dl.log)"
    dest="$cache/$v"
    tmp="$cache/.$v.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    for d in "$dl"/*.deb; do dpkg -x "$d" "$tmp"; done
    lib="$tmp/usr/lib/$triplet"
    ld=$(ls "$lib"/ld-linux*.so.* 2>/dev/null | head -n 1)
    [ -n "$ld" ] || die "no dynamic loader in $lib after unpacking libc6"
    py="$tmp/usr/bin/python$v"
    [ -f "$py" ] || die "no $py after unpacking python$v-minimal"
    # Final paths (the folder is renamed into place below).
    patchelf --set-interpreter "$dest/usr/lib/$triplet/$(basename "$ld")" \
             --force-rpath --set-rpath "$dest/usr/lib/$triplet" "$py"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    echo "$full" > "$dest/.pyflame-c-installed"
    rm -rf "$dl"
    ok "$v" || { rm -f "$dest/.pyflame-c-installed"
                 die "the unpacked Python $v ($dest/usr/bin/python$v) does not run"; }
    say "Python $full ready: $dest/usr/bin/python$v"
done
exit 0
