#!/bin/sh
# purity.sh OUT OBJECT...: fails unless the handler objects (and the
# dispatcher) call nothing but the pure core and an allowlist of libc.
#
# Replay is exact only if a handler's output depends on its state and the
# event alone: no clock, no random numbers, no I/O, no libuv, no TLS. The
# check reads the objects' undefined symbols (nm), so it catches a call
# however it is spelled. On success it writes OUT.
set -eu
out=$1; shift
bdir=$(dirname "$out")

# Objects handlers may call into: pure data structures and codecs.
core="kernel/err.o kernel/buf.o kernel/mem.o kernel/map.o kernel/xml.o kernel/xml_bin.o
kernel/jid.o kernel/event.o"

# libc and library functions that are pure computations on their arguments.
allow='^(memcpy|memmove|memset|memcmp|memchr|strlen|strcmp|strncmp|strcasecmp|strncasecmp|strchr|strrchr|strstr|strdup|strndup|strtoul|strtoull|strtol|strtoll|free|malloc|calloc|realloc|qsort|bsearch|snprintf|vsnprintf|abort|__assert_fail|__stack_chk_fail|gmtime_r|mbedtls_base64_encode|mbedtls_base64_decode|__ubsan_.*|__asan_.*|__sanitizer_.*|_GLOBAL_OFFSET_TABLE_|__snprintf_chk|__vsnprintf_chk|__memcpy_chk|__memmove_chk|__memset_chk|__strcpy_chk|__strcat_chk|__ctype_b_loc|__ctype_tolower_loc|__ctype_toupper_loc)$'

for o in $core; do
    [ -f "$bdir/$o" ] || { echo "purity: missing $bdir/$o" >&2; exit 1; }
done
defined=$(for o in $core "$@"; do
    case $o in /*|"$bdir"/*) f=$o ;; *) f=$bdir/$o ;; esac
    nm --defined-only "$f" | awk '$2 ~ /[TtDdBbRr]/ {print $3}'
done | sort -u)

bad=""
for o in "$@"; do
    for sym in $(nm -u "$o" | awk '{print $2}'); do
        echo "$sym" | grep -Eq "$allow" && continue
        echo "$defined" | grep -qx "$sym" && continue
        bad="$bad $o:$sym"
    done
done
if [ -n "$bad" ]; then
    echo "purity: handlers must not call clocks, random numbers, I/O, libuv or TLS:" >&2
    for b in $bad; do echo "  $b" >&2; done
    exit 1
fi
echo ok > "$out"
