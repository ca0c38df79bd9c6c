#!/bin/sh
# Checks that the core's rooms (gateway/<room>/, docs/architecture.md) depend on each other
# in one direction only: a file may include headers of its own room and of lower rooms,
# never of a higher one.  Prints every offending file:line and exits 1.
#
# The order is defined here, once, lowest first.  gateway/main.c (the top) may include
# anything.  host/plugin_api.h is the exception: it is the vocabulary every room shares with
# the plugins (status codes, message and callback types) and includes no gateway header, so
# every room may include it; the check also keeps it that way.
#
# Only quoted, room-prefixed includes ("io/loop.h") name a room; the Makefile gives the core
# -Igateway and nothing deeper, so an unprefixed include of a core header does not build.
set -u
ORDER="io store conf desk fed host"
cd "$(dirname "$0")/.." || exit 2

rank() {
    i=0
    for r in $ORDER; do
        i=$((i + 1))
        [ "$r" = "$1" ] && { echo "$i"; return; }
    done
    echo 0
}

bad=0
for room in $ORDER; do
    mine=$(rank "$room")
    for f in gateway/"$room"/*.[ch]; do
        [ -e "$f" ] || continue
        # file:line:room/header.h for each quoted include with a room prefix
        hits=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"/]*/[^"]*"' "$f" |
            sed 's|^\([0-9]*\):.*"\([^"]*\)".*|\1 \2|')
        [ -n "$hits" ] || continue
        echo "$hits" | while read -r line hdr; do
            to=${hdr%%/*}
            if [ "$hdr" = "host/plugin_api.h" ]; then
                continue
            fi
            theirs=$(rank "$to")
            if [ "$theirs" -eq 0 ]; then
                echo "$f:$line: includes \"$hdr\": not a room ($ORDER)"
            elif [ "$theirs" -gt "$mine" ]; then
                echo "$f:$line: room $room includes \"$hdr\" of the higher room $to (order: $ORDER)"
            fi
        done
    done
done >/tmp/check-layers.$$
# plugin_api.h stays a leaf: it may include system headers only.
grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' gateway/host/plugin_api.h |
    sed 's|^\([0-9]*\):.*|gateway/host/plugin_api.h:\1: plugin_api.h includes a gateway header (it must stay a leaf)|' \
    >>/tmp/check-layers.$$
if [ -s /tmp/check-layers.$$ ]; then
    cat /tmp/check-layers.$$ >&2
    echo "check-layers: $(wc -l </tmp/check-layers.$$) include(s) against the room order ($ORDER, docs/architecture.md)" >&2
    bad=1
else
    echo "check-layers: ok ($ORDER)"
fi
rm -f /tmp/check-layers.$$
exit $bad
