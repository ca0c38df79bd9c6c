#!/bin/sh
# Runs a private Prosody on 127.0.0.1 for manual tests and the demo (foreground; Ctrl-C stops).
#
# Usage: scripts/prosody.sh [--dir DIR] [--host H] [--component DOMAIN:SECRET]
#                           [--user JID:PASSWORD] [--c2s-port N] [--component-port N]
# Defaults: --dir var/prosody, host no.test, component gw.no.test:demo-secret, users
# kari/ola/sjef@no.test (password = user name + "-demo"), free ports.  Prints one JSON
# line with the ports, config and log paths once Prosody accepts connections.
set -eu
cd "$(dirname "$0")/.."
case " $* " in *" --dir "*) ;; *) set -- --dir var/prosody "$@" ;; esac
case " $* " in *" --component "*) ;; *) set -- "$@" --component gw.no.test:demo-secret ;; esac
case " $* " in *" --user "*) ;; *)
    set -- "$@" --user kari@no.test:kari-demo --user ola@no.test:ola-demo --user sjef@no.test:sjef-demo ;;
esac
exec /usr/bin/python3 tests/integration/harness.py prosody "$@"
