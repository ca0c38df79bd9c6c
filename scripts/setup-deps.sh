#!/bin/sh
# Installs the Debian 12 packages that building and testing Skagerrak need (idempotent, fast when done).
#
# Checks every package with dpkg-query; only when something is missing does it run
# `apt-get update` and `apt-get install -y --no-install-recommends <missing>`.
# Services that a package's postinst may start (Kannel, Dovecot, Prosody) are not left
# running: the tests start their own instances in temporary directories.
set -eu

PKGS="build-essential pkg-config libstrophe-dev libconfig-dev libsqlite3-dev sqlite3
libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev libgmime-3.0-dev
libcmocka-dev prosody lua-unbound python3 python3-pytest python3-pytest-timeout
python3-slixmpp dovecot-imapd python3-aiosmtpd kannel kannel-extras chromium iproute2 util-linux valgrind man-db"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing="$missing $p"
done

# Node.js may come from outside Debian (e.g. a vendor build that bundles npm); only
# install Debian's nodejs/npm when `node` is absent, and npm when only npm is absent.
if ! command -v node >/dev/null 2>&1; then
    missing="$missing nodejs npm"
elif ! command -v npm >/dev/null 2>&1; then
    missing="$missing npm"
fi

if [ -z "$missing" ]; then
    echo "setup-deps: all packages present"
    exit 0
fi

echo "setup-deps: installing:$missing"

# Keep postinst scripts from starting system services.  Use our own policy-rc.d only
# when none exists, and remove exactly the one we created.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    $SUDO sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 0755 $policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing

# If an install started a system service anyway (no policy-rc.d honoured, or a
# postinst that starts its daemon directly), stop it.
for pidfile in /run/prosody/prosody.pid /run/dovecot/master.pid \
               /run/kannel/kannel_bearerbox.pid /run/kannel/kannel_smsbox.pid \
               /run/kannel/kannel_wapbox.pid; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null || true)
    case $pid in ''|*[!0-9]*) continue ;; esac
    if kill -0 "$pid" 2>/dev/null; then
        echo "setup-deps: stopping system service started by its install ($pidfile, pid $pid)"
        $SUDO kill "$pid" 2>/dev/null || true
    fi
done

command -v node >/dev/null 2>&1 || { echo "setup-deps: node still missing" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup-deps: npm still missing" >&2; exit 1; }
echo "setup-deps: done"
