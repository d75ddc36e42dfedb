#!/bin/sh
# embed.sh FILE: prints FILE's bytes as a C initializer list ("0x2f,0x2a,...") followed by
# a terminating 0x00, for `static const char x[] = { #include "FILE.inc" };`.
od -An -v -tx1 "$1" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g; s/^ *//'
echo "0x00"
