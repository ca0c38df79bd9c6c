#!/bin/sh
# Runs each cmocka unit test binary given as an argument; one summary line per binary.
#
# Usage: scripts/run-unit.sh build/tests/test_a build/tests/sms/test_b ...
# cmocka's own output is passed through unchanged.  Exits non-zero if any binary fails
# (non-zero exit, killed by a signal, or missing).
set -u

pass=0
fail=0
failed=""
summary=""
for t in "$@"; do
    echo "=== $t"
    if [ ! -x "$t" ]; then
        rc=127
        echo "run-unit: $t: not found or not executable" >&2
    else
        "$t"
        rc=$?
    fi
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        summary="$summary
PASS  $t"
    else
        fail=$((fail + 1))
        failed="$failed $t"
        summary="$summary
FAIL  $t (exit $rc)"
    fi
done

echo
echo "=== unit test summary${summary}"
echo "unit: $pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
    echo "run-unit: failed:$failed" >&2
    exit 1
fi
exit 0
