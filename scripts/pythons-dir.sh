#!/bin/sh
# pythons-dir.sh: prints the folder where scripts/get-pythons.sh keeps the interpreters it
# installs (one subfolder per version, e.g. 3.15/usr/bin/python3.15):
# $PYFLAME_C_PYTHONS, else $XDG_CACHE_HOME/pyflame-c/pythons, else ~/.cache/pyflame-c/pythons.
echo "${PYFLAME_C_PYTHONS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/pyflame-c/pythons}"
