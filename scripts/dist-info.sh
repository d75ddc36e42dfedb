#!/bin/sh
# dist-info.sh DIR VERSION: writes the pyflame package's metadata folder DIR
# (BUILD/python/pyflame_c-VERSION.dist-info, installed beside the package), so that
# importlib.metadata sees the distribution wherever `import pyflame` works: its pytest11
# entry point makes `pytest --pyflame` available without `-p pyflame`.
set -eu
dir=$1 version=$2
mkdir -p "$dir"
cat > "$dir/METADATA" <<EOT
Metadata-Version: 2.1
Name: pyflame-c
Version: $version
Summary: Record where a Python program spends its time and memory into a pyflame-c trace
EOT
printf 'pyflame\n' > "$dir/top_level.txt"
printf '[pytest11]\npyflame = pyflame\n' > "$dir/entry_points.txt.tmp"
mv "$dir/entry_points.txt.tmp" "$dir/entry_points.txt"
