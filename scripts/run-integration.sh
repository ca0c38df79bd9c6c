#!/bin/sh
# Runs the Python integration suites (real Prosody, gateway, channel servers on 127.0.0.1).
#
# Usage: scripts/run-integration.sh [pytest args / test paths...]
#   Default paths: every tests/<dir>/ (other than unit/, plugins/, artifacts/) that holds
#   test_*.py files.
# Environment:
#   SKAGERRAK_BUILD          build dir with skagerrak and plugins (default: build)
#   SKAGERRAK_TEST_TIMEOUT   per-test limit in seconds (default 120; conftest.py applies it)
#   SKAGERRAK_RUN_TIMEOUT    limit for the whole run in seconds (default 2400)
#   SKAGERRAK_KEEP_ARTIFACTS=1  keep every test's state dir, not only failed ones
# State of failed tests is kept under tests/artifacts/ (cleared at the start of a run).
set -u
cd "$(dirname "$0")/.." || exit 1

SKAGERRAK_BUILD=${SKAGERRAK_BUILD:-build}
SKAGERRAK_TEST_TIMEOUT=${SKAGERRAK_TEST_TIMEOUT:-120}
export SKAGERRAK_BUILD SKAGERRAK_TEST_TIMEOUT
PY=/usr/bin/python3

if [ ! -x "$SKAGERRAK_BUILD/skagerrak" ]; then
    echo "run-integration: note: $SKAGERRAK_BUILD/skagerrak not built; gateway tests will fail" >&2
fi

rm -rf tests/artifacts

if [ $# -eq 0 ]; then
    for d in tests/*/; do
        case $d in tests/unit/|tests/plugins/|tests/artifacts/) continue ;; esac
        if ls "$d"test_*.py >/dev/null 2>&1; then set -- "$@" "${d%/}"; fi
    done
fi
if [ $# -eq 0 ]; then
    echo "run-integration: no integration suites found" >&2
    exit 1
fi

echo "run-integration: SKAGERRAK_BUILD=$SKAGERRAK_BUILD, per-test timeout ${SKAGERRAK_TEST_TIMEOUT}s: $*"
timeout --kill-after=30 "${SKAGERRAK_RUN_TIMEOUT:-2400}" \
    "$PY" -m pytest -q -rfE -p no:cacheprovider "$@"
rc=$?

if [ -d tests/artifacts ] && [ -n "$(ls -A tests/artifacts 2>/dev/null)" ]; then
    echo "run-integration: state of failed tests kept in tests/artifacts/:"
    for a in tests/artifacts/*; do echo "  $a"; done
fi
case $rc in
    0) ;;
    5) echo "run-integration: pytest collected no tests" >&2 ;;
    124|137) echo "run-integration: whole run exceeded ${SKAGERRAK_RUN_TIMEOUT:-2400}s" >&2 ;;
esac
exit $rc
