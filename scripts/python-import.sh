#!/bin/sh
# python-import.sh enable|disable PYTHON LIBDIR: makes `import pyflame` work in one
# interpreter (any CPython with a collector built in LIBDIR/pyflame/), or undoes it,
# by writing or removing one file, pyflame-c.pth, in that interpreter's site-packages.
# An explicit step per interpreter (make enable-import / disable-import), never a side
# effect of `make install`.
set -eu
what=$1 py=$2 dir=$3
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pth=$site/pyflame-c.pth
case $what in
    enable)
        ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
        if [ ! -f "$dir/pyflame/_collector$ext" ]; then
            echo "pyflame-c: no collector for $py in $dir/pyflame (build it: make collector PYTHON=$py, then make install)" >&2
            exit 1
        fi
        mkdir -p "$site"
        echo "$dir" > "$pth"
        echo "pyflame-c: import pyflame now works in $py ($pth); undo: make disable-import PYTHON=$py"
        ;;
    disable)
        rm -f "$pth"
        echo "pyflame-c: removed $pth"
        ;;
    *) echo "python-import.sh: enable or disable" >&2; exit 2 ;;
esac
