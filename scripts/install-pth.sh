#!/bin/sh
# install-pth.sh DIR: writes pyflame-c.pth (pointing at DIR) into the site-packages of every
# interpreter that has a collector built in DIR/pyflame/, so `import pyflame` works there.
dir=$1
for py in $(sh scripts/find-pythons.sh); do
    ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    [ -f "$dir/pyflame/_collector$ext" ] || continue
    site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    if [ -d "$site" ] && [ -w "$site" ]; then
        echo "$dir" > "$site/pyflame-c.pth"
        echo "  pyflame for $py -> $site/pyflame-c.pth"
    fi
done
