#!/bin/sh
# run.sh [SECONDS]: builds the fuzz targets with clang's libFuzzer (plus
# ASan and UBSan) and runs each for SECONDS (default 60). Not part of
# `ninja test`: run it by hand after touching a decoder. Needs clang and
# Debian's libclang-rt-14-dev.
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
core="kernel/xml.c kernel/xml_bin.c kernel/xml_stream.c kernel/event.c kernel/buf.c kernel/mem.c kernel/err.c"
for t in fuzz_xml_stream fuzz_event_decode; do
    clang -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
        -o "$out/$t" "tests/fuzz/$t.c" $core -lexpat
    mkdir -p "$out/corpus-$t"
    "$out/$t" -max_total_time="$secs" -max_len=8192 "$out/corpus-$t" \
        tests/fuzz/seeds 2>&1 | tail -n 3
done
