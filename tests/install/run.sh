#!/bin/sh
# tests/install/run.sh: make install DESTDIR=<fresh folder> writes only there (bin/,
# lib/pyflame-c/, the man page and the bash and zsh completions under PREFIX, and no
# .pth into any interpreter), the installed tool runs, the package's metadata carries the
# pytest11 entry point, its man page renders and holds
# every option of --help, its bash completion completes, and make uninstall with the
# same DESTDIR leaves the folder empty.
set -eu
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
stamp=$dest.stamp
: > "$stamp"
make -s install DESTDIR="$dest" PREFIX=/usr/local >/dev/null
fail() { echo "install-test: FAIL: $*"; exit 1; }
[ -x "$dest/usr/local/bin/pyflame-c" ] || fail "no bin/pyflame-c"
[ -f "$dest/usr/local/lib/pyflame-c/python/pyflame/__init__.py" ] || fail "no package"
share=$dest/usr/local/share
man=$share/man/man1/pyflame-c.1
bashc=$share/bash-completion/completions/pyflame-c
zshc=$share/zsh/site-functions/_pyflame-c
for f in "$man" "$bashc" "$zshc"; do [ -f "$f" ] || fail "no $f"; done
other=$(find "$dest" -mindepth 1 ! -path "$dest/usr" ! -path "$dest/usr/local" \
        ! -path "$dest/usr/local/bin" ! -path "$dest/usr/local/bin/pyflame-c" \
        ! -path "$dest/usr/local/lib" ! -path "$dest/usr/local/lib/pyflame-c*" \
        ! -path "$share" ! -path "$share/man" ! -path "$share/man/man1" ! -path "$man" \
        ! -path "$share/bash-completion" ! -path "$share/bash-completion/completions" \
        ! -path "$bashc" ! -path "$share/zsh" ! -path "$share/zsh/site-functions" \
        ! -path "$zshc" | head -3)
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
# the man page renders without warnings, and every option of every --help is in it
warn=$(groff -man -Tascii -ww -z "$man" 2>&1) || fail "groff fails on the man page"
[ -z "$warn" ] || fail "groff warns on the man page: $warn"
page=$(groff -man -Tascii -P-cbou "$man" 2>/dev/null)
for cmd in "" collect convert svg html diff merge; do
    for opt in $("$dest/usr/local/bin/pyflame-c" $cmd --help | sed -n 's/^  \(-., \)\{0,1\}\(--[a-z-]*\).*/\2/p'); do
        case $page in *"$opt"*) ;; *) fail "the man page lacks $cmd $opt" ;; esac
    done
done
# the installed bash completion, as bash-completion loads it
got=$(bash -c '. "$1"; COMP_WORDS=(pyflame-c coll); COMP_CWORD=1; _pyflame_c; echo "${COMPREPLY[*]}"' _ "$bashc")
[ "$got" = collect ] || fail "bash completion of 'pyflame-c coll' gave '$got'"
if command -v zsh >/dev/null 2>&1; then
    zsh -n "$zshc" || fail "zsh cannot parse $zshc"
fi
make -s uninstall DESTDIR="$dest" PREFIX=/usr/local
left=$(find "$dest" -mindepth 1 | head -3)
[ -z "$left" ] || fail "uninstall left $left"
rm -f "$stamp"
echo "install-test: 1 passed, 0 failed"
