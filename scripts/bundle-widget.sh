#!/bin/sh
# bundle-widget.sh — writes the web chat widget (plugins/webchat/static/widget.js, the one
# file the gateway serves) to stdout from its modules, plugins/webchat/widget/NN-*.js,
# concatenated in the order of their numbers.  Plain concatenation, no JavaScript toolchain:
# the modules are consecutive pieces of one IIFE (01-state.js opens it, 11-boot.js closes
# it) and share its scope.  Each module's leading `//` lines say what the module holds; they
# are dropped, so the bundle carries only the code and its own comments.
#   scripts/bundle-widget.sh [module.js ...]   (default: all modules, in order)
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- plugins/webchat/widget/[0-9][0-9]-*.js
awk 'FNR == 1 { head = 1 } head && /^\/\// { next } { head = 0; print }' "$@"
