#!/bin/sh
# demo.sh BUILD: profiles the programs in samples/ and writes a flame graph, an HTML report,
# a text summary and a pstats file into demo-out/, then says where they are.
set -eu
build=$1
bin="$build/pyflame-c"
out=demo-out
mkdir -p "$out"
py=${PYFLAME_PYTHON:-python3}

echo "== profiling samples/textstats.py (calls and lines)"
"$bin" collect --python "$py" --lines -o "$out/textstats.gz" samples/textstats.py
"$bin" svg --title "samples/textstats.py" "$out/textstats.gz" --html-link textstats.html > "$out/textstats.svg"
"$bin" html --title "samples/textstats.py" "$out/textstats.gz" > "$out/textstats.html"
"$bin" convert -f text --limit 15 "$out/textstats.gz" > "$out/textstats.txt"
"$bin" convert -f pstats -o "$out/textstats.prof" "$out/textstats.gz"
"$bin" convert -f collapsed -o "$out/textstats.folded" "$out/textstats.gz"

echo "== profiling samples/allocs.py (calls, lines and memory)"
"$bin" collect --python "$py" --memory -o "$out/allocs.gz" samples/allocs.py
"$bin" svg --title "samples/allocs.py: memory at the peak" --metric peak-bytes "$out/allocs.gz" \
    --html-link allocs.html > "$out/allocs-peak.svg"
"$bin" html --title "samples/allocs.py" "$out/allocs.gz" > "$out/allocs.html"
"$bin" convert -f lines "$out/allocs.gz" > "$out/allocs-lines.tsv"

echo
sed -n '1,25p' "$out/textstats.txt"
echo
echo "Written (open the .svg and .html files in a browser):"
for f in "$out"/*; do
    printf '  %-28s %8d bytes\n' "$f" "$(wc -c < "$f")"
done
