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
# Only quoted, room-prefixed includes ("io/loop.h") name another room: the core is compiled
# with -Igateway and nothing deeper, so an unprefixed "x.h" finds only a header of the file's
# own room (the including file's directory); "../x/y.h" is reported as not a room.
set -u
ORDER="io store conf desk fed host ctl"
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
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT
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
done >"$out"
# A folder of gateway/ that is not in ORDER would be compiled (the Makefile takes
# gateway/*/*.c) but never checked.
for d in gateway/*/; do
    d=${d#gateway/}
    d=${d%/}
    [ "$(rank "$d")" -gt 0 ] || echo "gateway/$d/: a room not in ORDER ($ORDER)" >>"$out"
done
# plugin_api.h stays a leaf: it may include system headers only.
grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' gateway/host/plugin_api.h |
    sed 's|^\([0-9]*\):.*|gateway/host/plugin_api.h:\1: plugin_api.h includes a gateway header (it must stay a leaf)|' \
    >>"$out"
# Rooms own their state: struct gw_core's sub-structs that belong to the desk (desk, outbox,
# turn) are read and written only by gateway/desk/; the other rooms call its functions.
grep -nE -- '->(desk|outbox|turn)\.|\.(desk|outbox|turn)\.' gateway/*.c gateway/*/*.[ch] |
    grep -v '^gateway/desk/' |
    sed 's|^\([^:]*:[0-9]*\):.*|\1: reaches into the desk'"'"'s state (use a gw_conv_*/gw_outbox_* function)|' \
    >>"$out"
if [ -s "$out" ]; then
    cat "$out" >&2
    echo "check-layers: $(wc -l <"$out") include(s) against the room order ($ORDER, docs/architecture.md)" >&2
    bad=1
else
    echo "check-layers: ok ($ORDER)"
fi
exit $bad
