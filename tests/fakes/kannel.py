#!/usr/bin/python3
"""Real Kannel on loopback for SMS tests: bearerbox + smsbox from Debian's `kannel`, and the
fake SMSC client `fakesmsc` from `kannel-extras`, configured in a temporary directory.

    k = Kannel(tmpdir, mo_url="http://127.0.0.1:8080/sms/kannel/kan/mo", secret="s3cret")
    k.start()
    k.mo("+4791234567", "Hei på deg")            # a text from a phone, via fakesmsc
    msg = k.wait_mt(lambda m: "Svar" in m.text)   # a text Kannel sent to the fake SMSC
    k.stop()

The gateway's sms config for this Kannel (see config_snippet()):
    { provider = "kannel"; number = "+4790000003"; base_url = k.sendsms_url;
      username = k.user; password = k.password; secret = k.secret; allow = ["127.0.0.1"]; }

Kannel's sms-service calls mo_url with get-url escapes: from=%p to=%P text=%b charset=%C
coding=%c id=%I ts=%T (mo-recode = true turns UCS-2 texts into UTF-8).  fakesmsc prints
what Kannel sends it as "Got message N: <from to text|ucs-2 data>"; MTs are parsed from that.

`python3 tests/fakes/kannel.py --dir D --mo-url URL --secret S` runs one for manual use.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
LOOPBACK = "127.0.0.1"


def _free_port():
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _wait_port(port, timeout=15.0, proc=None, what="server"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %d" % (what, port))


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class MT:
    """A message Kannel delivered to the fake SMSC."""

    def __init__(self, sender, receiver, kind, data):
        self.sender, self.receiver, self.kind = sender, receiver, kind
        if kind == "ucs-2":
            # fakesmsc url-encodes the UTF-16BE bytes with '+' for a 0x20 byte
            raw = urllib.parse.unquote_to_bytes(data.replace("+", "%20"))
            self.text = raw.decode("utf-16-be", "replace")
        else:
            self.text = data

    def __repr__(self):
        return "MT(%s -> %s %s %r)" % (self.sender, self.receiver, self.kind, self.text)


_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def have_kannel():
    return all(os.access(p, os.X_OK) for p in (BEARERBOX, SMSBOX, FAKESMSC))


class Kannel:
    def __init__(self, tmpdir, mo_url, secret="kannel-secret", user="skagerrak",
                 password="sendsms-pw", dlr_storage="internal"):
        self.dir = os.path.abspath(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.mo_url = mo_url
        self.secret = secret
        self.user, self.password = user, password
        self.dlr_storage = dlr_storage
        self.admin_port = _free_port()
        self.smsbox_port = _free_port()
        self.smsc_port = _free_port()
        self.sendsms_port = _free_port()
        self.admin_password = "admin-" + secret
        self.conf = os.path.join(self.dir, "kannel.conf")
        self.bb = self.sb = self.fs = None
        self.mts = []
        self.cond = threading.Condition()
        self._logs = []

    @property
    def sendsms_url(self):
        return "http://%s:%d" % (LOOPBACK, self.sendsms_port)

    def get_url(self):
        sep = "&" if "?" in self.mo_url else "?"
        return (self.mo_url + sep + "secret=" + urllib.parse.quote(self.secret, safe="") +
                "&from=%p&to=%P&text=%b&charset=%C&coding=%c&id=%I&ts=%T")

    def config_text(self):
        d = self.dir
        return "\n".join([
            "group = core",
            "admin-port = %d" % self.admin_port,
            "admin-interface = %s" % LOOPBACK,
            'admin-password = "%s"' % self.admin_password,
            'admin-allow-ip = "%s"' % LOOPBACK,
            "smsbox-port = %d" % self.smsbox_port,
            "smsbox-interface = %s" % LOOPBACK,
            'box-allow-ip = "%s"' % LOOPBACK,
            'log-file = "%s/bearerbox.log"' % d,
            "log-level = 0",
            "dlr-storage = %s" % self.dlr_storage,
            'store-type = "file"',
            'store-location = "%s/kannel.store"' % d,
            "",
            "group = smsc",
            "smsc = fake",
            "smsc-id = fake",
            "port = %d" % self.smsc_port,
            'connect-allow-ip = "%s"' % LOOPBACK,
            "",
            "group = smsbox",
            "bearerbox-host = %s" % LOOPBACK,
            "bearerbox-port = %d" % self.smsbox_port,
            "sendsms-port = %d" % self.sendsms_port,
            "sendsms-interface = %s" % LOOPBACK,
            'log-file = "%s/smsbox.log"' % d,
            "log-level = 0",
            "mo-recode = true",
            "http-request-retry = 3",
            "http-queue-delay = 1",
            "",
            "group = sendsms-user",
            'username = "%s"' % self.user,
            'password = "%s"' % self.password,
            'user-allow-ip = "%s"' % LOOPBACK,
            "max-messages = 10",
            "concatenation = true",
            "",
            "group = sms-service",
            "keyword = default",
            "catch-all = true",
            'get-url = "%s"' % self.get_url(),
            "max-messages = 0",
            "omit-empty = true",
            "",
        ])

    def config_snippet(self, number="+4790000003", id="kan"):
        """The gateway's `numbers` entry for this Kannel (libconfig text)."""
        return ('{ id = "%s"; number = "%s"; provider = "kannel"; base_url = "%s"; '
                'username = "%s"; password = "%s"; secret = "%s"; allow = ["127.0.0.1"]; }'
                % (id, number, self.sendsms_url, self.user, self.password, self.secret))

    def start(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        out = open(os.path.join(self.dir, "bearerbox.out"), "w")
        self.bb = subprocess.Popen([BEARERBOX, self.conf], stdout=out, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent)
        _wait_port(self.admin_port, proc=self.bb, what="bearerbox")
        _wait_port(self.smsbox_port, proc=self.bb, what="bearerbox")
        out = open(os.path.join(self.dir, "smsbox.out"), "w")
        self.sb = subprocess.Popen([SMSBOX, self.conf], stdout=out, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent)
        _wait_port(self.sendsms_port, proc=self.sb, what="smsbox")
        self._connect_smsc(None)
        return self

    def _connect_smsc(self, msg):
        """(Re)start fakesmsc: it sends `msg` (if any) at once and prints what it receives."""
        self._stop_fakesmsc()
        args = [FAKESMSC, "-H", LOOPBACK, "-r", str(self.smsc_port), "-i", "86400"]
        args += ["-m", "1", msg] if msg else ["-m", "0", "x x text x"]
        self.fs = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, preexec_fn=_die_with_parent)
        log = open(os.path.join(self.dir, "fakesmsc.log"), "a")
        sent = threading.Event()
        t = threading.Thread(target=self._read_fakesmsc, args=(self.fs, log, sent), daemon=True)
        t.start()
        self._logs.append(t)
        if msg and not sent.wait(15):
            raise RuntimeError("fakesmsc did not send its message (see fakesmsc.log)")

    def _read_fakesmsc(self, proc, log, sent):
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if "fakesmsc: sent message" in line:
                sent.set()
            m = _GOT.search(line.rstrip("\n"))
            if m:
                with self.cond:
                    self.mts.append(MT(*m.groups()))
                    self.cond.notify_all()

    def _stop_fakesmsc(self):
        if self.fs and self.fs.poll() is None:
            self.fs.terminate()
            try:
                self.fs.wait(5)
            except subprocess.TimeoutExpired:
                self.fs.kill()
                self.fs.wait()
        self.fs = None

    def mo(self, sender, text, receiver="4790000003", ucs2=False):
        """A text from `sender` arrives at Kannel's SMSC."""
        if ucs2:
            data = urllib.parse.quote(text.encode("utf-16-be"), safe="")
            msg = "%s %s ucs2 %s" % (sender, receiver, data)
        else:
            msg = "%s %s text %s" % (sender, receiver, text)
        self._connect_smsc(msg)

    def wait_mt(self, pred=lambda m: True, timeout=15.0):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.mts:
                    if pred(m):
                        self.mts.remove(m)
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching MT from Kannel; got %r" % self.mts)
                self.cond.wait(left)

    def stop(self):
        self._stop_fakesmsc()
        for p in (self.sb, self.bb):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (self.sb, self.bb):
            if p:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.sb = self.bb = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    import argparse
    ap = argparse.ArgumentParser(description="run Kannel + fakesmsc on loopback")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mo-url", required=True)
    ap.add_argument("--secret", default="kannel-secret")
    a = ap.parse_args()
    k = Kannel(a.dir, a.mo_url, secret=a.secret).start()
    print("kannel: sendsms %s user %s; fake SMSC port %d; config %s" %
          (k.sendsms_url, k.user, k.smsc_port, k.conf), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: done.set())
    signal.signal(signal.SIGINT, lambda *x: done.set())
    done.wait()
    k.stop()


if __name__ == "__main__":
    sys.exit(main())
