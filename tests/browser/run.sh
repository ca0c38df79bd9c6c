#!/bin/sh
# run.sh — run the web chat browser tests with Chromium inside a loopback-only network
# namespace (Chromium otherwise tries to reach outside hosts).  Needs root (unshare --net).
#   tests/browser/run.sh                 all *.test.js
#   tests/browser/run.sh widget.test.js  one file
set -eu
cd "$(dirname "$0")"
[ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] || npm ci --no-audit --no-fund
files=${*:-$(ls ./*.test.js)}
if [ "${WEBCHAT_IN_NETNS:-}" = 1 ]; then
    exec node --test --test-concurrency=1 $files
fi
exec unshare --net sh -c 'ip link set lo up && WEBCHAT_IN_NETNS=1 exec "$0" "$@"' "$0" $files
