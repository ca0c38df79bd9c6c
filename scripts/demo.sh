#!/bin/sh
# make run: the demo (see scripts/demo.py).
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 scripts/demo.py "$@"
