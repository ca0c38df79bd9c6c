"""Fault-injection helpers (tests/integration/test_faults.py): a ledger of every message sent
in either direction, load drivers for web chat, SMS and mail seekers, counsellor bots on XMPP,
hooked fake providers, an SMTP server that can fail, a gateway inside its own mount
namespace on a small tmpfs, and the one-line summaries the suite prints.

What the ledger counts, per fault (one table line each):

    sent        distinct messages written (seeker -> counsellor and counsellor -> seeker)
    acked       distinct messages the writer was told were taken: a 2xx from the gateway for a
                seeker's message; an XEP-0184 receipt for a counsellor's message
    refused     refusal answers (503 for a seeker's message, an XMPP error for a
                counsellor's), counted per answer
    delivered   distinct messages that reached the other side at least once
    lost        acked, never delivered                                        -> failure
    duplicated  delivered under two or more different ids (web chat / XMPP), or more than
                once where the channel has no id (SMS, mail)                  -> failure
                (same id again is `redelivered`: at-least-once, recognisable)
    lost_unacked  a counsellor's message without receipt (and without error) never
                delivered: not a failure at kill -9, printed
    leaked      refused and given up by the writer, yet delivered: something of a failed
                transaction reached the other side                            -> failure
    out_of_order  deliveries to one recipient that overtook an earlier message -> failure
    id_reuse    one id (gw-m<N>, SSE id, message id) seen with two different texts -> failure
    bad         answers that were neither a 2xx nor a 503 (e.g. 500, 401, 429) -> failure

Messages are recognised by a tag at the start of their text, `s.w01.0007` (seeker w01's
eighth message to the counsellor) or `c.w01.0003` (the counsellor's fourth to w01).
"""

import http.client
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_gatewayapi import FakeGatewayAPI  # noqa: E402
from fake_link import FakeLink  # noqa: E402
from fake_twilio import FakeTwilio  # noqa: E402
import kannel as kannel_mod  # noqa: E402

REPO_ROOT = harness.REPO_ROOT
ARTIFACTS = os.path.join(REPO_ROOT, "tests", "artifacts")
SUMMARY_FILE = os.path.join(ARTIFACTS, "faults-summary.txt")
SUMMARY = []          # table lines of this run (conftest prints them in the terminal summary)
NS_RECEIPTS = "urn:xmpp:receipts"
NS_SID = "urn:xmpp:sid:0"
TAG_RX = re.compile(r"\b([sc])\.([a-z]\d\d)\.(\d{4})\b")
PUBLIC = "https://sms.gw.test"  # what the SMS providers see (a reverse proxy in production)

# Longer runs: `make soak` sets SKAGERRAK_FAULTS_ROUNDS (default 1).
ROUNDS = max(1, int(os.environ.get("SKAGERRAK_FAULTS_ROUNDS", "1") or 1))
SEED = int(os.environ.get("SKAGERRAK_FAULTS_SEED", "0") or 0) or random.SystemRandom().randrange(1, 1 << 30)


def now():
    return time.monotonic()


try:  # one summary per run: the file collects this run's lines only
    os.remove(SUMMARY_FILE)
except OSError:
    pass


# --------------------------------------------------------------------------- summary lines

def emit(line):
    """Prints a table line, keeps it for the terminal summary and appends it to
    tests/artifacts/faults-summary.txt (CI logs do not show pytest's captured stdout)."""
    SUMMARY.append(line)
    print(line, flush=True)
    try:
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(SUMMARY_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass


# --------------------------------------------------------------------------- the ledger

class Entry:
    """One message (identified by its tag) and everything that happened to it."""

    def __init__(self, tag, group, direction, seeker, seq, text, requested, confirms,
                 observable=True):
        self.tag, self.group, self.direction = tag, group, direction
        self.seeker, self.seq, self.text = seeker, seq, text
        self.requested = requested    # counsellor messages: a receipt was asked for
        self.confirms = confirms      # the seeker's channel confirms delivery (a receipt is due)
        self.observable = observable  # the test sees that confirmation (else no early check)
        self.created = now()
        self.attempts = []            # times of each write
        self.order_t = None           # time of the latest write (defines the expected order)
        self.acked_t = None
        self.refusals = []            # (t, status / condition)
        self.bad = []                 # (t, status) answers that are neither 2xx nor 503
        self.unanswered = 0           # writes that got no answer (connection refused/reset)
        self.abandoned = False        # refused, and the writer gave up
        self.deliveries = []          # (t, id) at the recipient
        self.misrouted = 0
        self.receipts = []            # receipt times
        self.confirm_t = None         # the seeker's channel sent its confirmation (web ack, DLR)
        self.confirm_ok_t = None      # ... and the gateway took it (204 / 2xx)
        self.error_line = False       # a plain "not sent" line came with the XMPP error
        self.resend_pending = False


class Ledger:
    """Thread-safe record of sent / acknowledged / delivered per message tag, plus the ids
    seen for each text (to find an id reused for a different text)."""

    def __init__(self, fault):
        self.fault = fault
        self.lock = threading.RLock()
        self.entries = {}
        self.seq = {}
        self.ids = {}                 # space -> {id: set(values)}
        self.unknown = []             # tagged deliveries for tags nobody sent
        self.notes = []

    # -- writers
    def new(self, group, direction, seeker, filler="", requested=None, confirms=True,
            observable=True):
        """A new message; filler: the text after the tag (a str, or a function of the
        sequence number)."""
        with self.lock:
            n = self.seq.get((direction, seeker), 0)
            self.seq[(direction, seeker)] = n + 1
            tag = "%s.%s.%04d" % (direction, seeker, n)
            if callable(filler):
                filler = filler(n)
            text = (tag + " " + filler).strip()
            e = Entry(tag, group, direction, seeker, n, text, requested, confirms, observable)
            self.entries[tag] = e
            return e

    def get(self, tag):
        with self.lock:
            return self.entries.get(tag)

    def attempt(self, e):
        with self.lock:
            t = now()
            e.attempts.append(t)
            e.order_t = t

    def ack(self, e):
        with self.lock:
            if e.acked_t is None:
                e.acked_t = now()

    def refuse(self, e, status):
        with self.lock:
            e.refusals.append((now(), status))

    def bad_status(self, e, status):
        with self.lock:
            e.bad.append((now(), status))

    def no_answer(self, e):
        with self.lock:
            e.unanswered += 1

    def abandon(self, e):
        with self.lock:
            e.abandoned = True

    def confirm(self, tag):
        with self.lock:
            e = self.entries.get(tag)
            if e and e.confirm_t is None:
                e.confirm_t = now()

    def confirm_ok(self, tag):
        with self.lock:
            e = self.entries.get(tag)
            if e and e.confirm_ok_t is None:
                e.confirm_ok_t = now()

    def receipt(self, e):
        with self.lock:
            e.receipts.append(now())
            if e.acked_t is None:
                e.acked_t = now()

    # -- recipients
    def delivered(self, tag, id=None, to=None):
        """A tagged text reached `to` (a seeker name, or None for the counsellor side)."""
        with self.lock:
            e = self.entries.get(tag)
            if e is None:
                self.unknown.append((tag, id, to))
                return None
            if to is not None and to != e.seeker:
                e.misrouted += 1
                return e
            e.deliveries.append((now(), id))
            return e

    def note_id(self, space, id, value):
        if id is None or id == "":
            return
        with self.lock:
            self.ids.setdefault(space, {}).setdefault(str(id), set()).add(value)

    def note(self, text):
        with self.lock:
            self.notes.append(text)

    # -- results
    def _sel(self, group):
        return [e for e in self.entries.values()
                if group is None or e.group == group or
                (isinstance(group, (tuple, list, set)) and e.group in group)]

    @staticmethod
    def _distinct(e):
        ids = [i for _, i in e.deliveries]
        n_none = sum(1 for i in ids if i is None)
        return len(set(i for i in ids if i is not None)) + n_none

    def id_reuse(self):
        with self.lock:
            out = []
            for space, m in self.ids.items():
                for i, vals in m.items():
                    if len(vals) > 1:
                        out.append((space, i, sorted(vals)[:3]))
            return out

    def order_violations(self, entries):
        """Per recipient: deliveries that overtook a message written earlier (by the time of
        its latest write).  Returns a list of (later tag, earlier tag)."""
        by = {}
        for e in entries:
            if e.deliveries and e.order_t is not None and not e.misrouted:
                by.setdefault((e.direction, e.seeker), []).append(e)
        out = []
        for lst in by.values():
            lst.sort(key=lambda e: e.order_t)
            for i, a in enumerate(lst):
                fa = a.deliveries[0][0]
                for b in lst[i + 1:]:
                    if b.deliveries[0][0] < fa:
                        out.append((b.tag, a.tag))
        return out

    def summary(self, group=None):
        with self.lock:
            es = self._sel(group)
            s = {"sent": len(es)}
            s["acked"] = sum(1 for e in es if e.acked_t is not None)
            s["refused"] = sum(len(e.refusals) for e in es)
            s["delivered"] = sum(1 for e in es if e.deliveries)
            s["lost"] = sum(1 for e in es if e.acked_t is not None and not e.deliveries)
            s["duplicated"] = sum(1 for e in es if self._distinct(e) > 1)
            s["redelivered"] = sum(len(e.deliveries) - self._distinct(e) for e in es)
            s["lost_unacked"] = sum(1 for e in es if e.direction == "c" and e.acked_t is None
                                    and not e.refusals and not e.abandoned and not e.deliveries)
            s["leaked"] = sum(1 for e in es if e.abandoned and e.deliveries)
            s["out_of_order"] = len(set(b for b, _ in self.order_violations(es)))
            s["id_reuse"] = len(self.id_reuse()) if group is None else \
                len([r for r in self.id_reuse() if any(t in self.entries and
                                                          self.entries[t] in es for t in r[2])])
            s["bad"] = sum(len(e.bad) for e in es)
            s["misrouted"] = sum(e.misrouted for e in es)
            s["unrequested_receipts"] = sum(1 for e in es if e.direction == "c" and e.receipts
                                            and e.requested is False)
            s["early_receipts"] = sum(1 for e in es if e.direction == "c" and e.receipts and
                                      e.observable and (e.confirm_t is None or
                                                        e.receipts[0] < e.confirm_t))
            s["pending"] = sum(1 for e in es if e.direction == "s" and e.acked_t is None and
                               not e.abandoned)
            s["no_receipt"] = sum(1 for e in es if e.direction == "c" and e.requested and
                                  e.confirms and e.confirm_ok_t and not e.receipts)
            return s

    def line(self, fault=None, group=None, extra=None, keys=None):
        s = self.summary(group)
        keys = keys or ["sent", "acked", "refused", "delivered", "lost", "duplicated",
                        "lost_unacked", "no_receipt", "leaked", "out_of_order", "id_reuse",
                        "bad"]
        parts = ["fault=%s" % (fault or self.fault)] + ["%s=%s" % (k, s[k]) for k in keys]
        for k, v in (extra or {}).items():
            parts.append("%s=%s" % (k, v))
        return " ".join(parts)

    def dump(self, path, t0=None):
        """Every entry as one JSON line (times relative to t0), for the artifacts."""
        t0 = t0 if t0 is not None else min([e.created for e in self.entries.values()] or [0])
        rel = lambda t: None if t is None else round(t - t0, 3)  # noqa: E731
        with self.lock, open(path, "w", encoding="utf-8") as f:
            for e in sorted(self.entries.values(), key=lambda e: e.created):
                f.write(json.dumps({
                    "tag": e.tag, "group": e.group, "created": rel(e.created),
                    "attempts": [rel(t) for t in e.attempts], "acked": rel(e.acked_t),
                    "refusals": [(rel(t), st) for t, st in e.refusals],
                    "bad": [(rel(t), st) for t, st in e.bad], "unanswered": e.unanswered,
                    "abandoned": e.abandoned, "requested": e.requested,
                    "deliveries": [(rel(t), i) for t, i in e.deliveries],
                    "receipts": [rel(t) for t in e.receipts], "confirmed": rel(e.confirm_t),
                    "confirm_ok": rel(e.confirm_ok_t),
                    "misrouted": e.misrouted}, ensure_ascii=False) + "\n")
            for space, m in self.ids.items():
                for i, vals in m.items():
                    if len(vals) > 1:
                        f.write(json.dumps({"id_reuse": space, "id": i, "values": sorted(vals)},
                                           ensure_ascii=False) + "\n")

    def check_store(self, rows):
        """Compares the ledger with the committed messages ([id, dir, body]):
        unstored      acknowledged seeker messages, or delivered counsellor messages, that
                      are not in the database (acknowledged / sent without a commit)
        stored_twice  one tag in two rows
        db_id_reuse   an id seen with one tag whose row holds another text
        refused_stored  given up after a refusal, yet committed"""
        by_tag, by_id = {}, {}
        for i, d, body in rows:
            m = TAG_RX.match(body or "")
            by_id[str(i)] = m.group(0) if m else body
            if m:
                by_tag.setdefault(m.group(0), []).append(i)
        with self.lock:
            out = {"unstored": [], "stored_twice": [], "db_id_reuse": [], "refused_stored": []}
            for e in self.entries.values():
                stored = by_tag.get(e.tag, [])
                if not stored and ((e.direction == "s" and e.acked_t is not None) or
                                   (e.direction == "c" and e.deliveries)):
                    out["unstored"].append(e.tag)
                if len(stored) > 1:
                    out["stored_twice"].append("%s%s" % (e.tag, stored))
                if e.abandoned and stored:
                    out["refused_stored"].append(e.tag)
            for i, tags in self.ids.get("msg", {}).items():
                other = sorted(t for t in tags if i in by_id and by_id[i] != t)
                if other:
                    out["db_id_reuse"].append("id %s seen as %s, stored as %r" % (
                        i, ",".join(other[:3]) + ("..." if len(other) > 3 else ""),
                        (by_id[i] or "")[:12]))
            return out

    def details(self, group=None, limit=8):
        """Human-readable examples of each failure kind (for assertion messages)."""
        with self.lock:
            es = self._sel(group)
            d = []

            def ex(name, items):
                items = list(items)
                if items:
                    d.append("%s (%d): %s" % (name, len(items), ", ".join(items[:limit])))
            ex("lost", (e.tag for e in es if e.acked_t is not None and not e.deliveries))
            ex("duplicated", ("%s ids=%s" % (e.tag, [i for _, i in e.deliveries])
                              for e in es if self._distinct(e) > 1))
            ex("leaked", (e.tag for e in es if e.abandoned and e.deliveries))
            ex("out_of_order", ("%s before %s" % v for v in self.order_violations(es)))
            ex("id_reuse", ("%s %s=%s" % r for r in self.id_reuse()))
            ex("bad", ("%s:%s" % (e.tag, [b for _, b in e.bad]) for e in es if e.bad))
            ex("misrouted", (e.tag for e in es if e.misrouted))
            ex("unrequested_receipts", (e.tag for e in es if e.direction == "c" and e.receipts
                                        and e.requested is False))
            ex("early_receipts", (e.tag for e in es if e.direction == "c" and e.receipts and
                                  e.observable and (e.confirm_t is None or
                                                    e.receipts[0] < e.confirm_t)))
            ex("pending", (e.tag for e in es if e.direction == "s" and e.acked_t is None
                           and not e.abandoned))
            ex("no_receipt", (e.tag for e in es if e.direction == "c" and e.requested and
                              e.confirms and e.confirm_ok_t and not e.receipts))
            ex("lost_unacked", (e.tag for e in es if e.direction == "c" and e.acked_t is None
                                and not e.refusals and not e.abandoned and not e.deliveries))
            if self.unknown:
                ex("unknown tags", ("%s" % (u,) for u in self.unknown))
            return "\n".join(d)


# --------------------------------------------------------------------------- small helpers

def wait_until(pred, timeout, step=0.1):
    """Polls pred() until true or timeout (bounded; the things waited for have no event)."""
    end = now() + timeout
    while True:
        v = pred()
        if v:
            return v
        if now() >= end:
            return v
        time.sleep(step)


def health(port, timeout=3):
    try:
        r = harness.http("GET", "http://127.0.0.1:%d/health" % port, timeout=timeout)
        return r.json()
    except Exception:
        return None


def have_unshare():
    """(ok, reason): a mount namespace with a tmpfs can be made here."""
    if os.geteuid() != 0:
        return False, "not root: the disk-full fault needs a mount namespace with a tmpfs"
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        return False, "unshare/nsenter (util-linux) not installed"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                        "mount -t tmpfs -o size=64k skg-probe /mnt && umount /mnt"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False, "unshare --mount / mount -t tmpfs not permitted here: %s" % r.stderr.strip()
    return True, ""


_cap_cache = {}


def retry_cap_config(cap):
    """(service keys, top-level text) that cap the outbox retry backoff at `cap` seconds, or
    None if this build knows no such key (checked with --check-config).  main has
    `service = { retry_max = N; }`; SKAGERRAK_FAULTS_CAP_CONFIG overrides it with a
    top-level libconfig snippet containing {cap}."""
    if os.environ.get("SKAGERRAK_FAULTS_CAP_CONFIG"):
        cands = [("", os.environ["SKAGERRAK_FAULTS_CAP_CONFIG"])]
    else:
        cands = [("retry_max = {cap};", ""), ("", "outbox = {{ retry_max = {cap}; }};")]
    binary = harness.gateway_binary()
    for svc, top in cands:
        svc, top = svc.format(cap=cap), top.format(cap=cap)
        key = (binary, svc, top)
        if key not in _cap_cache:
            import tempfile
            d = tempfile.mkdtemp(prefix="skg-cap-")
            try:
                cfg = os.path.join(d, "c.cfg")
                with open(cfg, "w") as f:
                    f.write('gateway = { database = "%s/x.db"; catalogue_dir = "%s"; };\n'
                            'xmpp = { host = "127.0.0.1"; port = 5347; domain = "gw.no.test"; '
                            'secret = "x"; };\nservice = { %s };\n'
                            'queues = ( { id = "general"; } );\n%s\n'
                            % (d, os.path.join(REPO_ROOT, "conf", "i18n"), svc, top))
                r = subprocess.run([binary, "--check-config", cfg], capture_output=True,
                                   text=True, timeout=30)
                _cap_cache[key] = r.returncode == 0
            finally:
                shutil.rmtree(d, ignore_errors=True)
        if _cap_cache[key]:
            return svc, top
    return None


# --------------------------------------------------------------------------- gateway config

def counsellors_conf(jids, capacity=50):
    return ",\n".join('{ jid = "%s"; name = "%s"; capacity = %d; lang = "en"; }'
                      % (j, j.split("@")[0].capitalize(), capacity) for j in jids)


def gateway_config(prosody, workdir, http_port, plugins, domain="gw.no.test",
                   counsellors=("kari@no.test", "ola@no.test"), db=None, extra="",
                   log_level="info", capacity=50, service=""):
    """A complete gateway config: one queue 'general' in offer mode served by `counsellors`."""
    build = os.path.abspath(harness.build_dir())
    queue = ('{ id = "general"; names = { nb = "Generell"; en = "General"; da = "Generel"; '
             'nn = "Generell"; }; counsellors = [ %s ]; mode = "offer"; offer_timeout = 10; }'
             % ", ".join('"%s"' % j for j in counsellors))
    return """
gateway = {
  log_level = "%(log_level)s";
  database = "%(db)s";
  catalogue_dir = "%(i18n)s";
  plugin_path = [ "%(build)s/plugins", "%(build)s/tests/plugins" ];
  timezone = "Europe/Oslo";
};
xmpp = { host = "127.0.0.1"; port = %(cport)d; domain = "%(domain)s"; secret = "%(secret)s";
         reconnect_max = 2; };
http = { address = "127.0.0.1"; port = %(hport)d; public_url = "http://127.0.0.1:%(hport)d"; };
service = { default_lang = "nb"; position_interval = 3600; %(service)s };
queues = ( %(queue)s );
counsellors = ( %(counsellors)s );
plugins = { %(plugins)s };
%(extra)s
""" % dict(log_level=log_level, db=db or os.path.join(workdir, "gw.db"),
           i18n=os.path.join(REPO_ROOT, "conf", "i18n"), build=build,
           cport=prosody.component_port, domain=domain, secret=prosody.components[domain],
           hport=http_port, queue=queue, counsellors=counsellors_conf(counsellors, capacity),
           plugins=plugins, extra=extra, service=service)


WEBCHAT_STATIC = os.path.join(REPO_ROOT, "plugins", "webchat", "static")


def webchat_plugin_conf():
    return ('webchat = { static_dir = "%s"; rate_session = 100000; rate_ip = 1000000; '
            'rate_ip_sessions = 100000; max_message_chars = 4000; heartbeat_s = 2; };'
            % WEBCHAT_STATIC)


def sms_plugin_conf(http_port, gwapi=None, link=None, twilio=None, kannel=None):
    nums = []
    if gwapi:
        nums.append('{ id = "dk"; number = "+4560000000"; provider = "gatewayapi"; '
                    'token = "gwtoken"; webhook_secret = "jwtsecret"; base_url = "%s"; }'
                    % gwapi.base_url)
    if link:
        nums.append('{ id = "no"; number = "+4790000001"; provider = "link"; username = "lu"; '
                    'password = "lp"; platform_id = "COMMON"; platform_partner_id = "123"; '
                    'gate_id = "gate1"; webhook_username = "hookuser"; '
                    'webhook_password = "hookpass"; base_url = "%s"; }' % link.base_url)
    if twilio:
        nums.append('{ id = "tw"; number = "+4790000002"; provider = "twilio"; '
                    'account_sid = "AC123"; auth_token = "twtoken"; base_url = "%s"; }'
                    % twilio.base_url)
    if kannel:
        nums.append(kannel.config_snippet()[:-1] + ' public_url = "http://127.0.0.1:%d"; }'
                    % http_port)
    return ('sms = { public_url = "%s"; http_timeout_ms = 3000; outbound_per_hour = 0; '
            'inbound_per_minute = 0; numbers = ( %s ); };'
            % (PUBLIC, ", ".join(nums)))


MAIL_SERVICE = "veiledning@karriere.test"
INJECT_TOKEN = "inject-Secret-4242-faults"


def email_plugin_conf(smtp_port):
    return ('email = { address = "%s"; from_name = "Karriereveiledning"; '
            'smtp_url = "smtp://127.0.0.1:%d"; smtp_tls = "off"; inject_token = "%s"; '
            'batch_window_s = 1; batch_max_s = 2; auto_window_s = 1; timeout_s = 5; };'
            % (MAIL_SERVICE, smtp_port, INJECT_TOKEN))


# --------------------------------------------------------------------------- gateways

_DUMP_PY = ("import json, sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], timeout=10)\n"
            "rows = [list(r) for r in c.execute(sys.argv[3])]\n"
            "c.close()\n"
            "json.dump(rows, open(sys.argv[2], 'w'))\n")
MESSAGES_SQL = "SELECT id, dir, body FROM messages"
OUTBOX_SQL = ("SELECT o.id, o.target, m.body FROM outbox o JOIN messages m ON m.id = o.msg_id")


def committed(g, dest, sql=MESSAGES_SQL):
    """Rows of `sql` as another connection sees the database: only what is committed (a
    second SQLite connection does not see the gateway's open transaction)."""
    db = re.search(r'database = "([^"]+)"', g.config_text).group(1)
    if isinstance(g, NsGateway):
        return g.committed_messages(db, dest, sql)
    r = subprocess.run([sys.executable, "-c", _DUMP_PY, db, dest, sql], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise harness.HarnessError("reading the database failed: %s" % r.stderr)
    with open(dest, encoding="utf-8") as f:
        return json.load(f)


def committed_messages(g, dest):
    """[id, dir, body] of every committed message."""
    return committed(g, dest, MESSAGES_SQL)


class NsGateway(harness.Gateway):
    """The gateway in its own mount namespace (`unshare --mount --propagation private`) with
    a tmpfs of `size` on `dbdir`, which holds the database.  The network is shared, so it
    reaches Prosody and the fakes on 127.0.0.1.  fill()/free() run dd/rm inside that
    namespace through nsenter."""

    def __init__(self, binary, config_text, workdir, dbdir, size="4m", env=None):
        super().__init__(binary, config_text, workdir, env)
        self.dbdir = dbdir
        self.size = size
        os.makedirs(dbdir, exist_ok=True)

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            raise harness.HarnessError("gateway already running")
        self.runs += 1
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write("=== harness: start #%d in a mount namespace, tmpfs %s on %s\n"
                    % (self.runs, self.size, self.dbdir))
        script = 'mount -t tmpfs -o size=%s,mode=0700 skg-faults "$0" && exec "$@"' % self.size
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script,
             self.dbdir, self.binary, "-f", "-c", self.config_path],
            cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=harness._die_with_parent)
        self._follower = harness._LogFollower(self.proc.stdout, self.log_path)
        return self

    def nsrun(self, *cmd, check=False, timeout=60):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "--"] + list(cmd),
                              capture_output=True, text=True, timeout=timeout, check=check)

    def df(self):
        """(size KiB, used KiB, available KiB) of the tmpfs."""
        r = self.nsrun("df", "-k", "--output=size,used,avail", self.dbdir)
        try:
            return tuple(int(x) for x in r.stdout.strip().splitlines()[-1].split())
        except Exception:
            return None

    def fill(self):
        """Fills the tmpfs to the last page (dd until ENOSPC, then small blocks)."""
        path = os.path.join(self.dbdir, "filler")
        self.nsrun("dd", "if=/dev/zero", "of=" + path, "bs=64k", "status=none")
        self.nsrun("sh", "-c", "dd if=/dev/zero bs=4k status=none >> '%s.2'; true" % path)
        return self.df()

    def free(self):
        self.nsrun("rm", "-f", os.path.join(self.dbdir, "filler"),
                   os.path.join(self.dbdir, "filler.2"))
        return self.df()

    def committed_messages(self, db, dest, sql=None):
        """What another connection sees as committed in the database (inside the namespace);
        written to `dest` (outside it: only the tmpfs is private) and returned."""
        r = self.nsrun(sys.executable, "-c", _DUMP_PY, db, dest, sql or MESSAGES_SQL)
        if r.returncode != 0:
            raise harness.HarnessError("reading the database failed: %s" % r.stderr)
        with open(dest, encoding="utf-8") as f:
            return json.load(f)

    def copy_db_out(self, dest):
        """Copies the database files out of the namespace (for the artifacts)."""
        os.makedirs(dest, exist_ok=True)
        self.nsrun("sh", "-c", "cp -p '%s'/gw.db* '%s'/ 2>/dev/null; true" % (self.dbdir, dest))


def start_gateway(g, domain="gw.no.test", timeout=20):
    """Starts (or, after kill -9, restarts on the same database) and waits until online."""
    g.start()
    g.wait_log(r"component %s online" % re.escape(domain), timeout=timeout)
    return g


# --------------------------------------------------------------------------- fake providers

class _Hooked:
    """Mixin for the fake providers: every accepted send is reported to `world.on_sms`
    (recipient, text); status reports are retried until the gateway takes them (real
    providers retry callbacks), and the ledger learns when a DELIVERED report was sent."""

    world = None
    dlr_retry_s = 30.0

    def _init_hook(self):
        self.tag_of = {}
        self.hook_lock = threading.Lock()

    def _sent(self, to, text, pid):
        tag = None
        m = TAG_RX.match(text or "")
        if m:
            tag = m.group(0)
        if pid is not None:
            with self.hook_lock:
                self.tag_of[str(pid)] = tag
        if self.world is not None:
            self.world.on_sms(self.name, to, text, pid)

    def dlr(self, id, status="DELIVERED", **kw):
        with self.hook_lock:
            tag = self.tag_of.get(str(id))
        if tag and self.world is not None and str(status).upper() == "DELIVERED":
            self.world.ledger.confirm(tag)
        end = now() + self.dlr_retry_s
        while True:
            st, body = super().dlr(id=id, status=status, **kw)
            if 200 <= st < 300 and tag and self.world is not None and \
                    str(status).upper() == "DELIVERED":
                self.world.ledger.confirm_ok(tag)
            if 200 <= st < 300 or now() > end or (self.world and self.world.stop.is_set()):
                return st, body
            time.sleep(0.5)


class HookedGatewayAPI(_Hooked, FakeGatewayAPI):
    def __init__(self, **kw):
        super().__init__(**kw)
        self._init_hook()

    def api(self, method, path, query, headers, body):
        st, ct, out, extra = super().api(method, path, query, headers, body)
        if st == 200:
            req, ans = json.loads(body), json.loads(out)
            for r, pid in zip(req["recipients"], ans["ids"]):
                self._sent("+%d" % r["msisdn"], req["message"], pid)
        return st, ct, out, extra


class HookedLink(_Hooked, FakeLink):
    def __init__(self, **kw):
        super().__init__(**kw)
        self._init_hook()

    def api(self, method, path, query, headers, body):
        st, ct, out, extra = super().api(method, path, query, headers, body)
        if st == 200:
            ans = json.loads(out)
            if ans.get("messageId"):
                req = json.loads(body)
                self._sent(req["destination"], req.get("userData"), ans["messageId"])
        return st, ct, out, extra


class HookedTwilio(_Hooked, FakeTwilio):
    def __init__(self, **kw):
        super().__init__(**kw)
        self._init_hook()

    def api(self, method, path, query, headers, body):
        st, ct, out, extra = super().api(method, path, query, headers, body)
        if st == 201:
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                               keep_blank_values=True))
            self._sent(form.get("To"), form.get("Body"), json.loads(out)["sid"])
        return st, ct, out, extra



def make_fakes(world, http_port, which=("gwapi", "link", "twilio"), dlr=True):
    """Hooked fakes for a gateway on http_port.  dlr: automatic DELIVERED reports (GatewayAPI
    and LINK only when dlr == "some": Twilio then never reports delivery, so a receipt for a
    Twilio text means a receipt without the channel's confirmation)."""
    gwurl = "http://127.0.0.1:%d" % http_port
    out = {}
    if "gwapi" in which:
        f = HookedGatewayAPI(mo_url=PUBLIC + "/sms/gatewayapi/dk/mo", public_url=PUBLIC,
                             gateway_url=gwurl)
        f.world = world
        out["gwapi"] = f.start()
        if dlr:
            f.auto_dlr, f.auto_dlr_delay_ms = ["ENROUTE", "DELIVERED"], 100
    if "link" in which:
        f = HookedLink(mo_url=PUBLIC + "/sms/link/no/mo", dlr_url=PUBLIC + "/sms/link/no/dlr",
                       public_url=PUBLIC, gateway_url=gwurl)
        f.world = world
        out["link"] = f.start()
        if dlr:
            f.auto_dlr, f.auto_dlr_delay_ms = ["SENT", "DELIVERED"], 100
    if "twilio" in which:
        f = HookedTwilio(mo_url=PUBLIC + "/sms/twilio/tw/mo", public_url=PUBLIC,
                         gateway_url=gwurl)
        f.world = world
        out["twilio"] = f.start()
        if dlr is True:
            f.auto_dlr, f.auto_dlr_delay_ms = ["sent", "delivered"], 100
    return out


class HookedKannel(kannel_mod.Kannel):
    """Debian's Kannel (bearerbox + smsbox + fakesmsc); MTs reaching the fake SMSC are
    reported to the worlds that registered (by recipient number); smsbox can be stopped and
    started alone (the gateway then sees connection refused on sendsms)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.worlds = []

    def _read_fakesmsc(self, proc, log, sent):
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if "fakesmsc: sent message" in line:
                sent.set()
            m = kannel_mod._GOT.search(line.rstrip("\n"))
            if m:
                mt = kannel_mod.MT(*m.groups())
                for w in self.worlds:
                    w.on_sms("kannel", mt.receiver, mt.text, None)
                with self.cond:
                    self.mts.append(mt)
                    self.cond.notify_all()

    def stop_smsbox(self):
        if self.sb and self.sb.poll() is None:
            self.sb.send_signal(signal.SIGTERM)
            try:
                self.sb.wait(10)
            except subprocess.TimeoutExpired:
                self.sb.kill()
                self.sb.wait()
        self.sb = None

    def start_smsbox(self):
        out = open(os.path.join(self.dir, "smsbox.out"), "a")
        self.sb = subprocess.Popen([kannel_mod.SMSBOX, self.conf], stdout=out,
                                   stderr=subprocess.STDOUT,
                                   preexec_fn=kannel_mod._die_with_parent)
        kannel_mod._wait_port(self.sendsms_port, proc=self.sb, what="smsbox")


def kannel_mo(http_port, secret, sender, text, msg_id, number_id="kan"):
    """A text from a phone as smsbox's get-url hands it to the gateway (same query fields,
    from 127.0.0.1).  Returns the HTTP status (0: no answer)."""
    q = urllib.parse.urlencode({"secret": secret, "from": sender, "to": "+4790000003",
                                "text": text, "charset": "UTF-8", "coding": "0", "id": msg_id,
                                "ts": str(int(time.time()))})
    try:
        return harness.http("GET", "http://127.0.0.1:%d/sms/kannel/%s/mo?%s"
                            % (http_port, number_id, q), timeout=10).status
    except Exception:
        return 0


# --------------------------------------------------------------------------- SMTP server

class MailSink:
    """aiosmtpd on 127.0.0.1 whose answers can fail: mode "ok", "451" (MAIL FROM answered
    451 4.3.0: a temporary failure) or "421" (421 on MAIL, then the server closes)."""

    def __init__(self, world_fn):
        from aiosmtpd.controller import Controller
        self.port = harness.free_port()
        self.mode = "ok"
        self.world_fn = world_fn      # rcpt -> world (or None)
        self.mails = []
        self.attempts = 0
        sink = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                sink.attempts += 1
                if sink.mode == "451":
                    return "451 4.3.0 Temporary failure, try again later"
                if sink.mode == "421":
                    return "421 4.3.2 Service shutting down"
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                import email as emaillib
                import email.policy
                data = envelope.original_content or envelope.content
                if isinstance(data, str):
                    data = data.encode()
                msg = emaillib.message_from_bytes(data, policy=email.policy.default)
                sink.mails.append((now(), list(envelope.rcpt_tos), msg))
                for r in envelope.rcpt_tos:
                    w = sink.world_fn(r)
                    if w is not None:
                        w.on_mail(r, msg)
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     decode_data=False)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


def mail_body_text(msg):
    try:
        part = msg.get_body(preferencelist=("plain",))
        return (part or msg).get_content()
    except Exception:
        return str(msg.get_payload())


def inject_mail(http_port, frm, subject, body):
    """A seeker's mail handed to the gateway like tools/skagerrak-inject does (POST
    /email/inject, Bearer token).  Returns the HTTP status."""
    import email.utils
    raw = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"
           % (frm, MAIL_SERVICE, subject, email.utils.formatdate(),
              email.utils.make_msgid(domain="seeker.test"), body)).encode()
    try:
        return harness.http("POST", "http://127.0.0.1:%d/email/inject" % http_port, raw,
                            {"Authorization": "Bearer " + INJECT_TOKEN,
                             "Content-Type": "message/rfc822"}, timeout=10).status
    except Exception:
        return 0


# --------------------------------------------------------------------------- the world

class World:
    """Everything one test's drivers share: the ledger, the seekers (by name, number,
    address), which counsellor owns which seeker's conversation, and stop flags."""

    def __init__(self, ledger, rng=None):
        self.ledger = ledger
        self.rng = rng or random.Random(SEED)
        self.stop = threading.Event()        # everything stops
        self.producing = threading.Event()   # seekers write new messages while set
        self.producing.set()
        self.seekers = {}
        self.by_number = {}
        self.by_address = {}
        self.owner = {}                       # seeker name -> (Counsellor, conv jid)
        self.lock = threading.Lock()
        self.threads = []
        self.errors = []

    def add_seeker(self, s):
        self.seekers[s.name] = s
        if getattr(s, "number", None):
            self.by_number[s.number] = s
        if getattr(s, "address", None):
            self.by_address[s.address.lower()] = s
        return s

    def spawn(self, fn, name):
        def run():
            try:
                fn()
            except Exception as e:  # a driver bug must not pass silently
                import traceback
                self.errors.append("%s: %r\n%s" % (name, e, traceback.format_exc()))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def join(self, timeout=10):
        self.stop.set()
        end = now() + timeout
        for t in self.threads:
            t.join(max(0.1, end - now()))

    # -- deliveries to seekers on channels without ids
    def on_sms(self, provider, to, text, pid):
        s = self.by_number.get(to)
        m = TAG_RX.match(text or "")
        if m and m.group(1) == "c":
            self.ledger.delivered(m.group(0), None, s.name if s else "?" + str(to))

    def on_mail(self, rcpt, msg):
        s = self.by_address.get(rcpt.lower())
        body = mail_body_text(msg)
        for m in TAG_RX.finditer(body):
            if m.group(1) == "c":
                self.ledger.delivered(m.group(0), None, s.name if s else "?" + rcpt)

    def owned(self):
        with self.lock:
            return dict(self.owner)


# --------------------------------------------------------------------------- seekers

class Seeker:
    """Common part of the seeker drivers: a queue of this seeker's messages, written one at a
    time; the next is written only when the previous was taken (or given up), as a client's
    outbox does.  A refused (503) message is written again after a pause, except every
    `abandon_every`-th refused one, which is given up (a page that was closed)."""

    kind = "?"
    channel = "?"

    def __init__(self, world, name, group, interval=0.5, filler=None, abandon_every=0,
                 limit=None):
        self.world, self.name, self.group = world, name, group
        self.interval = interval
        self.filler = filler or (lambda seq: "hei fra %s, melding %d: æøå" % (name, seq))
        self.abandon_every = abandon_every
        self.limit = limit            # at most this many messages of its own accord
        self.made = 0
        self.queue = []
        self.current = None
        self.refused_msgs = 0
        self.statuses = {}
        self.lock = threading.Lock()

    def busy(self):
        with self.lock:
            return self.current is not None or bool(self.queue)

    def enqueue(self, filler=None, group=None):
        e = self.world.ledger.new(group or self.group, "s", self.name,
                                  filler if filler is not None else self.filler)
        with self.lock:
            self.queue.append(e)
            self.made += 1
        return e

    def write(self, e):
        """One attempt; returns the HTTP status (0: no answer)."""
        raise NotImplementedError

    def run_writer(self):
        led = self.world.ledger
        next_new = now()
        while not self.world.stop.is_set():
            with self.lock:
                if self.current is None and self.queue:
                    self.current = self.queue.pop(0)
                e = self.current
            if e is None:
                if (self.world.producing.is_set() and now() >= next_new and
                        (self.limit is None or self.made < self.limit)):
                    self.enqueue()
                    next_new = now() + self.interval * (0.5 + self.world.rng.random())
                    continue
                time.sleep(0.05)
                continue
            led.attempt(e)
            st = self.write(e)
            self.statuses[st] = self.statuses.get(st, 0) + 1
            if 200 <= st < 300:
                led.ack(e)
                with self.lock:
                    self.current = None
                continue
            if st == 503:
                led.refuse(e, 503)
                if len(e.refusals) == 1:
                    self.refused_msgs += 1
                    if self.abandon_every and self.refused_msgs % self.abandon_every == 0:
                        led.abandon(e)
                        with self.lock:
                            self.current = None
                        continue
                time.sleep(0.4)
            elif st == 0:
                led.no_answer(e)
                time.sleep(0.3)
            else:
                led.bad_status(e, st)
                time.sleep(0.5)

    def start(self):
        self.world.spawn(self.run_writer, "writer:" + self.name)
        return self


class WebSeeker(Seeker):
    """A web chat page: a session, one event stream (reconnecting with Last-Event-ID, like
    EventSource), messages POSTed with a client id (retries are deduplicated), and an ack
    for every counsellor message shown."""

    kind = "web"
    channel = "webchat"

    def __init__(self, world, name, port, group, **kw):
        super().__init__(world, name, group, **kw)
        self.port = port
        self.base = "http://127.0.0.1:%d/webchat/" % port
        self.token = None
        self.sid = None
        self.last_id = 0
        self.pending_acks = {}       # sse id -> tag
        self.ack_status = {}
        self.stream_status = {}
        self.streams = 0

    def req(self, method, path, obj=None, timeout=10):
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        try:
            return harness.http(method, self.base + path, obj, h, timeout=timeout)
        except Exception:
            return None

    def open(self, timeout=20):
        end = now() + timeout
        while True:
            r = self.req("POST", "session", {"lang": "nb"})
            if r is not None and r.status == 201:
                self.token, self.sid = r.json()["token"], r.json()["sid"]
                self.address = "web:" + self.sid
                return self
            if now() > end:
                raise harness.HarnessError("%s: no web chat session (%r)" % (self.name, r))
            time.sleep(0.3)

    def write(self, e):
        cid = "c" + e.tag.replace(".", "")
        r = self.req("POST", "message", {"text": e.text, "cid": cid})
        if r is None:
            return 0
        if r.status == 200:
            try:
                d = r.json()
                self.world.ledger.note_id("msg", d.get("id"), e.tag)
            except Exception:
                pass
        return r.status

    def flush_acks(self):
        if not self.pending_acks:
            return
        ids = list(self.pending_acks)[:100]
        for i in ids:
            self.world.ledger.confirm(self.pending_acks[i])
        r = self.req("POST", "ack", {"ids": ids}, timeout=5)
        st = r.status if r is not None else 0
        self.ack_status[st] = self.ack_status.get(st, 0) + 1
        if st == 204:
            for i in ids:
                self.world.ledger.confirm_ok(self.pending_acks.pop(i, None))

    def on_item(self, ev, eid, d):
        led = self.world.ledger
        if ev != "message":
            return
        text = d.get("text") or ""
        mid = d.get("id")
        if eid is not None:
            led.note_id("sse", eid, text)
            if eid > self.last_id:
                self.last_id = eid
        m = TAG_RX.match(text)
        if not m:
            return
        led.note_id("msg", mid, m.group(0))
        if m.group(1) == "c" and d.get("dir") == "out":
            led.delivered(m.group(0), mid, self.name)
            if eid is not None:
                self.pending_acks[eid] = m.group(0)

    def run_reader(self):
        while not self.world.stop.is_set():
            conn = None
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                path = "/webchat/events?token=" + self.token
                headers = {}
                if self.last_id:
                    headers["Last-Event-ID"] = str(self.last_id)
                else:
                    path += "&after=0"
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                self.stream_status[resp.status] = self.stream_status.get(resp.status, 0) + 1
                if resp.status != 200:
                    resp.read()
                    time.sleep(0.5)
                    continue
                self.streams += 1
                self.flush_acks()
                ev, eid, data = "message", None, []
                while not self.world.stop.is_set():
                    raw = resp.readline()
                    if not raw:
                        break
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if line == "":
                        if data:
                            try:
                                self.on_item(ev, eid, json.loads("\n".join(data)))
                            except ValueError:
                                pass
                            self.flush_acks()
                        ev, eid, data = "message", None, []
                    elif line.startswith(":"):
                        self.flush_acks()
                    elif line.startswith("event: "):
                        ev = line[7:]
                    elif line.startswith("id: "):
                        try:
                            eid = int(line[4:])
                        except ValueError:
                            eid = None
                    elif line.startswith("data: "):
                        data.append(line[6:])
            except Exception:
                time.sleep(0.3)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass

    def start(self):
        super().start()
        self.world.spawn(self.run_reader, "events:" + self.name)
        return self


class SmsSeeker(Seeker):
    """A phone texting through a (hooked) fake provider: the provider's MO webhook, signed
    like the real one, retried with the same provider message id until the gateway answers
    2xx (as GatewayAPI, LINK and Twilio do)."""

    kind = "sms"
    channel = "sms"
    _ids = itertools.count(5000001)

    def __init__(self, world, name, number, fake, group, **kw):
        super().__init__(world, name, group, **kw)
        self.number = number
        self.fake = fake
        self.address = number
        self.mo_ids = {}

    def mo_id(self, e):
        if e.tag not in self.mo_ids:
            n = next(self._ids)
            self.mo_ids[e.tag] = {"gatewayapi": n, "link": "MO-%d" % n,
                                  "twilio": "SM%032x" % n}.get(self.fake.name, n)
        return self.mo_ids[e.tag]

    def write(self, e):
        try:
            st, _ = self.fake.mo(text=e.text, id=self.mo_id(e), **{"from": self.number})
        except Exception:
            return 0
        return st


class KannelSeeker(Seeker):
    """A phone texting through Kannel: the MO as smsbox's get-url hands it over (same
    fields), retried with the same Kannel id until a 2xx (http-request-retry)."""

    kind = "sms"
    channel = "sms"

    def __init__(self, world, name, number, http_port, secret, group, **kw):
        super().__init__(world, name, group, **kw)
        self.number = number
        self.address = number
        self.port, self.secret = http_port, secret
        self.ids = {}

    def write(self, e):
        i = self.ids.setdefault(e.tag, str(uuid.uuid4()))
        return kannel_mo(self.port, self.secret, self.number, e.text, i)


class MailSeeker(Seeker):
    """A seeker writing mail, delivered to the gateway by pipe (POST /email/inject)."""

    kind = "email"
    channel = "email"

    def __init__(self, world, name, address, http_port, group, **kw):
        super().__init__(world, name, group, **kw)
        self.address = address
        self.port = http_port

    def write(self, e):
        return inject_mail(self.port, self.address, "Spørsmål fra %s" % self.name, e.text)


# --------------------------------------------------------------------------- counsellors

class Counsellor:
    """A counsellor's XMPP client (harness.Client): accepts every offer, records every tagged
    message it gets (by gw-m id), every receipt and every error on its own messages, and
    writes replies on request (with a receipt request unless told otherwise).  Reconnects by
    itself after the server went away.  A reply refused with an XMPP error is written again
    a second later (as a person would), except every `abandon_every`-th one."""

    def __init__(self, world, jid, password, c2s_port, domain="gw.no.test", queue="general",
                 abandon_every=4):
        self.world = world
        self.jid, self.password, self.port = jid, password, c2s_port
        self.domain, self.queue = domain, queue
        self.client = harness.Client(jid, password, c2s_port)
        self.sent = {}            # stanza id -> tag
        self.convs = {}           # conv jid -> seeker name
        self.errors = []          # (t, stanza id, condition, tag)
        self.plain_lines = {}   # conv jid -> times of untagged lines
        self.resend = []          # (due, entry)
        self.abandon_every = abandon_every
        self.refused_n = 0
        self.n = 0
        self.lock = threading.Lock()
        self.reconnects = 0
        self.accepts = 0

    @property
    def queue_jid(self):
        return "%s@%s" % (self.queue, self.domain)

    def connect(self):
        self.client.connect(timeout=10)
        self.client.send_presence(to=self.queue_jid, ptype="subscribe")
        self.client.send_presence(to=self.queue_jid)
        return self

    def _reconnect(self):
        try:
            self.client.connect(timeout=3)
        except harness.HarnessError:
            return False
        self.reconnects += 1
        self.client.send_presence(to=self.queue_jid)
        return True

    def start(self):
        self.world.spawn(self.run, "counsellor:" + self.jid)
        return self

    def run(self):
        led = self.world.ledger
        while not self.world.stop.is_set():
            if not self.client.connected:
                if not self._reconnect():
                    time.sleep(0.5)
                continue
            self._resend_due()
            try:
                s = self.client.wait_message(timeout=0.3)
            except harness.HarnessError:
                continue
            try:
                self.handle(s, led)
            except Exception as e:
                self.world.errors.append("counsellor %s: %r on %s" % (self.jid, e, s))

    def handle(self, s, led):
        frm = s.bare_from
        if s.type == "error":
            tag = self.sent.get(s.id)
            cond = s.error_condition()
            self.errors.append((now(), s.id, cond, tag))
            e = led.get(tag) if tag else None
            if e is not None:
                led.refuse(e, cond or "error")
                with self.lock:
                    self.refused_n += 1
                    give_up = self.abandon_every and self.refused_n % self.abandon_every == 0
                if give_up:
                    led.abandon(e)
                else:
                    with self.lock:
                        self.resend.append((now() + 1.0, e))
                        e.resend_pending = True
            return
        rc = s.child(NS_RECEIPTS, "received")
        if rc is not None:
            tag = self.sent.get(rc.get("id"))
            e = led.get(tag) if tag else None
            if e is not None:
                led.receipt(e)
            return
        body = s.body
        if body is None:
            return
        if "!accept" in body and frm.endswith("@" + self.domain) and frm != self.queue_jid:
            self.accepts += 1
            self.client.send_message(frm, "!accept")
            return
        m = TAG_RX.search(body)
        if m is None:
            # a plain line from the gateway (joined, ended, "could not be delivered" ...)
            self.plain_lines.setdefault(frm, []).append((now(), body))
            return
        tag = m.group(0)
        seeker = m.group(2)
        origin = None
        oid = s.xml.find("{%s}origin-id" % NS_SID)
        if oid is not None:
            origin = oid.get("id")
        sid = origin or s.id
        if sid and sid.startswith("gw-m"):
            led.note_id("msg", sid[4:], tag)
            led.note_id("xmpp", sid, body)
        if m.group(1) == "s":
            with self.lock:
                self.convs[frm] = seeker
            with self.world.lock:
                self.world.owner[seeker] = (self, frm)
            led.delivered(tag, sid)

    def _resend_due(self):
        with self.lock:
            due = [x for x in self.resend if x[0] <= now()]
            self.resend = [x for x in self.resend if x[0] > now()]
        for _, e in due:
            e.resend_pending = False
            own = self.world.owned().get(e.seeker)
            if own is None:
                continue
            bot, jid = own
            bot.send_entry(e, jid)

    def send_entry(self, e, jid):
        if not self.client.connected:
            with self.lock:
                self.resend.append((now() + 0.5, e))
                e.resend_pending = True
            return None
        with self.lock:
            self.n += 1
            sid = "k-%s-%d" % (self.jid.split("@")[0], self.n)
            self.sent[sid] = e.tag
        self.world.ledger.attempt(e)
        extra = "<request xmlns='%s'/>" % NS_RECEIPTS if e.requested else None
        try:
            self.client.send_message(jid, e.text, id=sid, extra_xml=extra)
        except Exception:
            self.world.ledger.no_answer(e)
        return sid

    def reply(self, seeker, filler="", group=None, requested=True, confirms=True,
              observable=True):
        """A new reply to `seeker` (a name) from whoever owns the conversation."""
        own = self.world.owned().get(seeker)
        if own is None:
            return None
        bot, jid = own
        e = self.world.ledger.new(group or self.world.seekers[seeker].group, "c", seeker,
                                  filler, requested=requested, confirms=confirms,
                                  observable=observable)
        bot.send_entry(e, jid)
        return e

    def busy(self):
        with self.lock:
            return bool(self.resend)

    def error_lines_ok(self, window=10.0):
        """For each XMPP error the gateway gave on a message, was there a plain line from
        the same conversation saying it was not sent?  Returns the tags without one."""
        missing = []
        for t, sid, cond, tag in self.errors:
            if tag is None:
                continue
            jid = None
            for j, s in self.convs.items():
                if s == tag.split(".")[1]:
                    jid = j
            lines = self.plain_lines.get(jid, [])
            if not any(t - 1.0 <= lt <= t + window and re.search(r"(?i)\bnot\b|ikke", b)
                       for lt, b in lines):
                missing.append(tag)
        return missing


def catalogue_rx(key, lang="en"):
    """A regex for catalogue text `key` (conf/i18n/<lang>.cfg; {placeholders} match
    anything), or None when the catalogue has no such key."""
    try:
        with open(os.path.join(REPO_ROOT, "conf", "i18n", lang + ".cfg"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'(?m)^%s\s*=\s*"((?:[^"\\]|\\.)*)"' % re.escape(key), text)
    if not m:
        return None
    parts = re.split(r"\{\w+\}", m.group(1).replace('\\"', '"'))
    return re.compile(".*?".join(re.escape(p) for p in parts), re.S)


def crash_notices(bots, rx):
    """(conv jid, time) of every chat line matching rx the counsellors got."""
    out = []
    for b in bots:
        for jid, lines in b.plain_lines.items():
            out += [(jid, t) for t, body in lines if rx.search(body)]
    return out


class ReplyPump:
    """Counsellors answering: every `interval` (jittered) one reply per owned conversation
    of the given seekers; every `unrequested_every`-th reply carries no receipt request."""

    def __init__(self, world, bots, seekers, interval=1.0, unrequested_every=5,
                 filler=None, confirms=None):
        self.world, self.bots, self.seekers = world, bots, list(seekers)
        self.interval = interval
        self.unrequested_every = unrequested_every
        self.filler = filler or (lambda s, n: "svar til %s nr %d" % (s, n))
        self.confirms = confirms or (lambda s: True)
        self.n = 0
        self.active = threading.Event()
        self.active.set()

    def run(self):
        while not self.world.stop.is_set():
            if self.active.is_set() and self.world.producing.is_set():
                for s in self.seekers:
                    own = self.world.owned().get(s)
                    if own is None or not own[0].client.connected:
                        continue
                    self.n += 1
                    req = not (self.unrequested_every and self.n % self.unrequested_every == 0)
                    own[0].reply(s, self.filler(s, self.n), requested=req,
                                 confirms=self.confirms(s))
            time.sleep(self.interval * (0.5 + self.world.rng.random()))

    def start(self):
        self.world.spawn(self.run, "replies")
        return self


# --------------------------------------------------------------------------- settling

def settle(world, bots, timeout=30.0, quiet=2.0, want_receipts=True, receipt_wait=5.0):
    """After the load stopped: waits until every seeker's queue is empty, no counsellor has a
    re-send due and every acknowledged message was delivered (at most `timeout`); then
    (want_receipts) at most `receipt_wait` more for receipts of delivered counsellor messages
    that asked for one on a confirming channel; then for `quiet` seconds in which nothing
    changes (late duplicates).  Returns the seconds taken."""
    led = world.ledger
    t0 = now()

    def outstanding():
        n = sum(1 for s in world.seekers.values() if s.busy())
        n += sum(1 for b in bots if b.busy())
        with led.lock:
            n += sum(1 for e in led.entries.values() if e.acked_t is not None and not e.deliveries)
        return n

    def receipts_due():
        with led.lock:
            return sum(1 for e in led.entries.values()
                       if e.direction == "c" and e.requested and e.confirms and e.deliveries
                       and not e.receipts and not e.refusals)

    def fingerprint():
        with led.lock:
            return (sum(len(e.deliveries) + len(e.receipts) + len(e.refusals)
                        for e in led.entries.values()), len(led.unknown))
    end = t0 + timeout
    while now() < end and outstanding():
        time.sleep(0.2)
    if want_receipts:
        rend = now() + receipt_wait
        while now() < rend and receipts_due():
            time.sleep(0.2)
    fp = fingerprint()
    qend = now() + quiet
    while now() < qend:
        time.sleep(0.2)
        f2 = fingerprint()
        if f2 != fp:
            fp = f2
            qend = min(t0 + timeout + receipt_wait + quiet, now() + quiet)
    return now() - t0


def establish(world, seekers, timeout=30.0):
    """Each seeker writes its first message; waits until a counsellor accepted every
    conversation (the first message reached them).  Returns the seconds taken."""
    t0 = now()
    end = t0 + timeout
    while now() < end:
        owned = world.owned()
        if all(s.name in owned for s in seekers):
            return now() - t0
        time.sleep(0.1)
    missing = [s.name for s in seekers if s.name not in world.owned()]
    raise harness.HarnessError("conversations not accepted within %.0fs: %s" % (timeout, missing))
