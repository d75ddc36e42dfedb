#!/bin/sh
# default-pythons.sh: the interpreters a benchmark runs on unless BENCH_PYTHONS says
# otherwise: Debian's /usr/bin/python3 (the peers' home) and the first 3.12+ found (the
# sys.monitoring event source), one per line.
[ -x /usr/bin/python3 ] && echo /usr/bin/python3
for py in $(sh scripts/find-pythons.sh); do
    case $("$py" -c 'import sys; print(sys.version_info >= (3, 12))') in
        True) echo "$py"; break ;;
    esac
done
exit 0
