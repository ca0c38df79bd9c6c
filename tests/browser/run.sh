#!/bin/sh
# run.sh — run the web chat browser tests with Chromium inside a loopback-only network
# namespace (Chromium otherwise tries to reach outside hosts).  Needs root (unshare --net).
#   tests/browser/run.sh                 all *.test.js
#   tests/browser/run.sh widget.test.js  one file
set -eu
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")"
[ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] || npm ci --no-audit --no-fund
files=${*:-$(ls ./*.test.js)}
if [ "${WEBCHAT_IN_NETNS:-}" = 1 ]; then
    # One file at a time (also on Node.js 18, which has no --test-concurrency).
    rc=0
    for f in $files; do node --test "$f" || rc=1; done
    exit $rc
fi
# As root a plain network namespace; otherwise an unprivileged user namespace owns it.
if [ "$(id -u)" = 0 ]; then ns="--net"; else ns="--user --map-root-user --net"; fi
exec unshare $ns sh -c 'ip link set lo up && WEBCHAT_IN_NETNS=1 exec "$0" "$@"' "$self" $files
