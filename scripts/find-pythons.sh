#!/bin/sh
# find-pythons.sh: prints one interpreter path per CPython 3.8-3.15 found (pyenv versions,
# then those scripts/get-pythons.sh installed, then python3.X on PATH, then python3),
# deduplicated by version.
versions="3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15"
seen=""
emit() {
    v=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2]) if sys.implementation.name == "cpython" else None' 2>/dev/null) || return 0
    case " $versions " in *" $v "*) ;; *) return 0 ;; esac
    case " $seen " in *" $v "*) return 0 ;; esac
    "$1" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null || return 0
    seen="$seen $v"
    echo "$1"
}
root=${PYENV_ROOT:-$HOME/.pyenv}
for d in "$root"/versions/3.*; do
    [ -x "$d/bin/python3" ] && emit "$d/bin/python3"
done
private=$(sh "$(dirname "$0")/pythons-dir.sh")
for v in $versions; do
    [ -f "$private/$v/.pyflame-c-installed" ] && [ -x "$private/$v/usr/bin/python$v" ] &&
        emit "$private/$v/usr/bin/python$v"
done
for v in $versions; do
    p=$(command -v python$v 2>/dev/null) && emit "$p"
done
p=$(command -v python3 2>/dev/null) && emit "$p"
[ -x /usr/bin/python3 ] && emit /usr/bin/python3
exit 0
