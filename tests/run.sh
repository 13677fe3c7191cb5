#!/bin/sh
# run.sh BUILDDIR: the whole test suite, as `ninja test` runs it.
#   1. the purity check of the handlers (built by ninja already)
#   2. every Check unit test in BUILDDIR/tests/
#   3. the end-to-end tests in tests/e2e/ against real stanzad processes
#   4. a short smoke run of the load generator (bench/smoke.sh)
# Prints one line per test program and ends with "N passed, N failed".
set -u
bdir=${1:-build}
cd "$(dirname "$0")/.." || exit 1
export STANZAD_SRCDIR=$PWD
export STANZAD_BUILDDIR=$PWD/$bdir
passed=0
failed=0
failures=""
logdir=$bdir/test-logs
mkdir -p "$logdir"

run_one() { # name command...
    name=$1; shift
    log=$logdir/$name.log
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "FAIL $name (log: $log)"
        tail -n 30 "$log" | sed 's/^/    /'
    fi
}

for t in "$bdir"/tests/test_*; do
    [ -x "$t" ] || continue
    case $t in *.o|*.d) continue ;; esac
    run_one "$(basename "$t")" "$t"
done

for t in tests/e2e/test_*.py; do
    [ -f "$t" ] || continue
    run_one "e2e_$(basename "$t" .py)" /usr/bin/python3 "$t"
done

# The load generator's 10-second smoke run (figures are printed, not judged).
run_one bench_smoke env BUILD="$PWD/$bdir" bash bench/smoke.sh

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
