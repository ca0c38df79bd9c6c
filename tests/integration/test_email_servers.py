"""Mail servers for the email channel's integration tests, and their self-checks.

Dovecot: Debian's dovecot-imapd configured entirely inside a temp dir (own base_dir,
state_dir, log, maildirs), listening on 127.0.0.1 on a free port, passdb a passwd-file,
no TLS.  As root, Dovecot refuses to run its login processes as root, so the whole master
runs as `nobody` (setpriv) with the temp dir handed to it; as a normal user it runs as
that user.  SmtpSink: Debian's python3-aiosmtpd on 127.0.0.1, AUTH PLAIN/LOGIN without
TLS (loopback), optional 550 refusals per recipient, and delivery of what it receives
into Dovecot mailboxes with IMAP APPEND (so a test reads a reply as the seeker's mail
client would).  The gateway tests (test_email_gateway.py) import these classes.
"""

import email
import email.policy
import imaplib
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

import harness

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def have_dovecot():
    return os.path.exists(DOVECOT) and os.path.exists("/usr/lib/dovecot/imap")


def have_aiosmtpd():
    try:
        import aiosmtpd.controller  # noqa: F401
        return True
    except ImportError:
        return False


class Dovecot:
    """A private Dovecot IMAP server.  users: {"addr@domain": "password"}."""

    def __init__(self, tmpdir, users, port=None):
        self.dir = os.path.abspath(tmpdir)
        self.users = dict(users)
        self.port = port or harness.free_port()
        self.proc = None
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("nobody")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            self.user = "nobody"
            import grp
            self.group = grp.getgrgid(self.gid).gr_name
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.user = pwd.getpwuid(self.uid).pw_name
            import grp
            self.group = grp.getgrgid(self.gid).gr_name
        # sockets live outside the test's state dir (copied on failure; short socket paths)
        import tempfile
        self.run_dir = tempfile.mkdtemp(prefix="skg-dc-")
        self.config_path = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")

    def config_text(self):
        d = self.dir
        return f"""# written by test_email_servers.Dovecot
protocols = imap
listen = 127.0.0.1
base_dir = {self.run_dir}
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {self.user}
default_internal_user = {self.user}
default_internal_group = {self.group}
mail_location = maildir:{d}/mail/%u
first_valid_uid = {self.uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Processed {{
    auto = create
  }}
}}
"""

    def start(self):
        for sub in ("state", "mail", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u, p in self.users.items():
                f.write("%s:{PLAIN}%s\n" % (u, p))
        cmd = [DOVECOT, "-F", "-c", self.config_path]
        if self.as_root:
            # nobody must reach the dir: open the parents for traversal, hand it over
            p = self.dir
            while p not in ("/", "/tmp"):
                os.chmod(p, os.stat(p).st_mode | 0o011)
                p = os.path.dirname(p)
            for root, dirs, files in os.walk(self.dir):
                for n in dirs + files:
                    os.chown(os.path.join(root, n), self.uid, self.gid)
            os.chown(self.dir, self.uid, self.gid)
            os.chown(self.run_dir, self.uid, self.gid)
            cmd = ["setpriv", "--reuid=nobody", "--regid=%d" % self.gid, "--clear-groups"] + cmd
        self._out = open(os.path.join(self.dir, "dovecot.out"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                     preexec_fn=harness._die_with_parent)
        harness.wait_port(self.port, timeout=15, proc=self.proc, what="dovecot")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_out", None):
            self._out.close()
            self._out = None
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def log_tail(self, n=30):
        return harness._tail(self.log_path, n)

    # ---- client side ----
    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.port)
        m.login(user, self.users[user])
        return m

    def append(self, user, raw, mailbox="INBOX", flags=""):
        """Deliver raw (bytes/str) into a mailbox like an MTA would (no \\Seen)."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        raw = re.sub(rb"\r?\n", b"\r\n", raw)
        m = self.imap(user)
        try:
            typ, data = m.append(mailbox, flags or None, None, raw)
            assert typ == "OK", data
        finally:
            m.logout()

    def fetch_all(self, user, mailbox="INBOX"):
        """[(uid, flags, email.message.EmailMessage)] without changing flags."""
        m = self.imap(user)
        out = []
        try:
            m.select(mailbox, readonly=True)
            typ, data = m.uid("SEARCH", None, "ALL")
            for uid in (data[0] or b"").split():
                typ, d = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                flags, raw = b"", b""
                for part in d:
                    if isinstance(part, tuple):
                        flags, raw = part[0], part[1]
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                out.append((int(uid), flags.decode(), msg))
        finally:
            m.logout()
        return out


class SmtpSink:
    """aiosmtpd on 127.0.0.1: records every mail; delivers to Dovecot users it knows."""

    def __init__(self, dovecot=None, auth=None, refuse=()):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
        self.port = harness.free_port()
        self.dovecot = dovecot
        self.auth = auth  # (user, password) or None
        self.refuse = {a.lower() for a in refuse}
        self.messages = []  # dicts: mail_from, rcpts, data (bytes), msg, auth_user
        self.cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address.lower() in sink.refuse:
                    return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                data = envelope.original_content or envelope.content
                if isinstance(data, str):
                    data = data.encode("utf-8")
                rec = dict(mail_from=envelope.mail_from, rcpts=list(envelope.rcpt_tos),
                           data=data, auth_user=getattr(session, "auth_data", None),
                           msg=email.message_from_bytes(data, policy=email.policy.default))
                if sink.dovecot:
                    for r in envelope.rcpt_tos:
                        if r in sink.dovecot.users:
                            sink.dovecot.append(r, data)
                with sink.cond:
                    sink.messages.append(rec)
                    sink.cond.notify_all()
                return "250 Message accepted for delivery"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (sink.auth is not None and auth_data.login.decode() == sink.auth[0]
                  and auth_data.password.decode() == sink.auth[1])
            return AuthResult(success=ok)

        kw = {}
        if auth:
            kw = dict(authenticator=authenticator, auth_required=True,
                      auth_require_tls=False)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     decode_data=False, **kw)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait(self, pred=None, timeout=15.0, since=0):
        """The first recorded mail (index >= since) matching pred."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.messages)):
                    if pred is None or pred(self.messages[i]):
                        return self.messages[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no matching mail within %.0fs; got %d: %s" % (
                        timeout, len(self.messages),
                        [(m["rcpts"], m["msg"]["Subject"]) for m in self.messages]))
                self.cond.wait(left)


needs_servers = pytest.mark.skipif(not (have_dovecot() and have_aiosmtpd()),
                                   reason="dovecot-imapd or python3-aiosmtpd missing")


@needs_servers
def test_dovecot_and_sink_roundtrip(tmp_state):
    """The servers themselves: curl logs in to Dovecot like the plugin will, the sink takes
    AUTH and delivers into Dovecot, refusals are 550."""
    users = {"veiledning@karriere.test": "svc-pw", "kari@seeker.test": "kari-pw"}
    dc = Dovecot(os.path.join(tmp_state, "dovecot"), users).start()
    sink = SmtpSink(dovecot=dc, auth=("gw", "smtp-pw"), refuse=["nobody@seeker.test"]).start()
    try:
        dc.append("veiledning@karriere.test",
                  "From: Kari <kari@seeker.test>\nTo: veiledning@karriere.test\n"
                  "Subject: hei\nMessage-ID: <a1@seeker.test>\n\nHei der\n")
        url = "imap://127.0.0.1:%d" % dc.port
        out = subprocess.run(["curl", "-sS", "--user", "veiledning@karriere.test:svc-pw", url + "/",
                              "-X", "STATUS INBOX (UIDVALIDITY UIDNEXT)"],
                             capture_output=True, text=True, timeout=20)
        assert re.search(r"UIDVALIDITY \d+ UIDNEXT 2|UIDNEXT 2 UIDVALIDITY \d+", out.stdout), \
            out.stdout + out.stderr + dc.log_tail()
        out = subprocess.run(["curl", "-sS", "--user", "veiledning@karriere.test:svc-pw",
                              url + "/INBOX/;UID=1"], capture_output=True, timeout=20)
        assert b"Hei der" in out.stdout
        # the mail was not \Seen before the fetch (the MTA delivered it unread)
        # SMTP with AUTH into Kari's mailbox
        import smtplib
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as s:
            s.login("gw", "smtp-pw")
            s.sendmail("veiledning@karriere.test", ["kari@seeker.test"],
                       b"From: veiledning@karriere.test\r\nTo: kari@seeker.test\r\n"
                       b"Subject: svar\r\nMessage-ID: <s1@karriere.test>\r\n\r\nSvar\r\n")
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                s.sendmail("veiledning@karriere.test", ["nobody@seeker.test"], b"x\r\n")
        got = dc.fetch_all("kari@seeker.test")
        assert [m["Subject"] for _, _, m in got] == ["svar"]
        assert sink.messages[0]["rcpts"] == ["kari@seeker.test"]
        # (a wrong password is not checked here: aiosmtpd 1.4 stalls the session instead
        # of answering 535, which only costs a timeout)
    finally:
        sink.stop()
        dc.stop()
