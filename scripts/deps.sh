#!/bin/sh
# deps.sh test|demo|bench|pythons: installs the Debian packages (and npm packages) a target needs,
# only those missing.  Needs root (or sudo) when something is missing.
set -eu
what=${1:-test}
base="gcc make pkg-config zlib1g-dev libxml2-dev python3 python3-dev libcmocka-dev"
case $what in
    demo)  pkgs="$base" ;;
    test)  pkgs="$base clang libclang-rt-dev libxml2-utils perl chromium nodejs npm python3-line-profiler python3-docutils python3-markdown python3-numpy python3-pytest python3-ipython patchelf golang-go valgrind zsh" ;;
    pythons) pkgs="patchelf" ;;   # scripts/get-pythons.sh
    bench) pkgs="$base perl time python3-line-profiler python3-memory-profiler python3-yappi valgrind python3-docutils docutils-doc python3-pygments libpython3.11-testsuite python3-numpy" ;;
    *) echo "deps.sh: unknown target '$what'" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
    # Already usable counts as installed (e.g. node from another source).
    case $p in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "pyflame-c: installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$what" = test ] && { [ ! -d tests/browser/node_modules/playwright-core ] ||
                           [ ! -d tests/browser/node_modules/speedscope ]; }; then
    echo "pyflame-c: installing playwright-core and speedscope (npm) for the browser tests"
    (cd tests/browser && npm install --no-audit --no-fund --silent >/dev/null)
fi
exit 0
