#!/bin/sh
# check-layers.sh: fails when a file includes a header from a layer above its own.
# Layers, bottom up (see the Makefile): formats/ -> convert/, render/, collector/ -> cli/.
#   formats/    includes only formats/ (and no Python.h, no libxml2)
#   convert/    formats/ and convert/ (no libxml2, no Python.h)
#   render/     formats/ and render/ (the only user of libxml2; no Python.h)
#   collector/  formats/ and collector/ (Python.h allowed; the only place it is)
#   cli/        formats/, convert/, render/ and cli/ (no Python.h, no libxml2)
# Headers are named from the repo root ("formats/trace.h"); a bare name ("trace.h")
# means the file's own folder.
set -eu
bad=0
for f in formats/*.[ch] convert/*.[ch] render/*.[ch] collector/*.[ch] cli/*.[ch]; do
    [ -f "$f" ] || continue
    layer=${f%%/*}
    case $layer in
        formats)   allowed="formats" ; forbid_sys="Python.h libxml" ;;
        convert)   allowed="formats convert" ; forbid_sys="Python.h libxml" ;;
        render)    allowed="formats render" ; forbid_sys="Python.h" ;;
        collector) allowed="formats collector" ; forbid_sys="libxml" ;;
        cli)       allowed="formats convert render cli" ; forbid_sys="Python.h libxml" ;;
    esac
    # quoted includes: "dir/name.h" must be an allowed layer; "name.h" is the own folder
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
            */*) dir=${inc%%/*} ;;
            *) continue ;;
        esac
        case " $allowed " in
            *" $dir "*) ;;
            *) echo "check-layers: $f includes \"$inc\": $layer/ may use only: $allowed"; bad=1 ;;
        esac
    done
    for sys in $forbid_sys; do
        if grep -Eq "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]$sys" "$f"; then
            echo "check-layers: $f includes $sys, which $layer/ must not use"; bad=1
        fi
    done
done
[ $bad = 0 ] && echo "check-layers: every include respects the layers"
exit $bad
