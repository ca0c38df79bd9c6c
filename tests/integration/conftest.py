"""pytest fixtures for integration tests: state dirs kept on failure, a private Prosody, clients.

Fixtures:
  tmp_state  a fresh temp dir (str); copied to tests/artifacts/<test>/ if the test fails
             (or always with SKAGERRAK_KEEP_ARTIFACTS=1), then removed.
  prosody    a started harness.Prosody in tmp_state/prosody: host "no.test", component
             "gw.no.test" with a random secret (prosody.secret); users kari, ola, sjef
             (passwords in USERS / prosody.users); stopped at teardown.
  client     factory: client("kari") -> connected harness.Client for kari@no.test (with
             initial presence); every client is closed at teardown.

Per-test timeout: SKAGERRAK_TEST_TIMEOUT seconds (default 120) unless the test has its own
@pytest.mark.timeout(n).  Uses pytest-timeout (method "signal", so fixtures still tear
down) when installed, else a SIGALRM fallback here.
"""

import os
import re
import secrets
import shutil
import signal
import tempfile

import pytest

import harness

REPO_ROOT = harness.REPO_ROOT
ARTIFACTS = os.path.join(REPO_ROOT, "tests", "artifacts")
DOMAIN = "no.test"
COMPONENT = "gw.no.test"
USERS = {"kari": "kari-Passord1", "ola": "ola-Passord2", "sjef": "sjef-Passord3"}
DEFAULT_TIMEOUT = float(os.environ.get("SKAGERRAK_TEST_TIMEOUT", "120"))


# --------------------------------------------------------------------------- timeouts

def _has_timeout_plugin(config):
    return config.pluginmanager.hasplugin("timeout")


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test time limit")


def pytest_collection_modifyitems(config, items):
    if not _has_timeout_plugin(config):
        return
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT, method="signal"))


def _fallback_limit(item):
    m = item.get_closest_marker("timeout")
    if m is not None and m.args:
        return float(m.args[0])
    return DEFAULT_TIMEOUT


def _with_alarm(item, phase):
    if _has_timeout_plugin(item.config):
        return None
    limit = _fallback_limit(item)
    if limit <= 0:
        return None

    def on_alarm(signum, frame):
        pytest.fail("%s: %s exceeded %.0fs" % (item.nodeid, phase, limit), pytrace=True)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    return old


def _clear_alarm(old):
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    old = _with_alarm(item, "setup")
    yield
    _clear_alarm(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = _with_alarm(item, "test")
    yield
    _clear_alarm(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    old = _with_alarm(item, "teardown")
    yield
    _clear_alarm(old)


# --------------------------------------------------------------------------- artifacts

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    path = getattr(item, "_skg_artifacts", None)
    if rep.failed and path:
        rep.sections.append(("artifacts", "state kept in %s" % path))


def _artifact_dir(nodeid):
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("/")[-1]).strip("_")
    return os.path.join(ARTIFACTS, name[:120])


@pytest.fixture
def tmp_state(request):
    """A temp dir for one test's servers and files; kept under tests/artifacts/ on failure."""
    d = tempfile.mkdtemp(prefix="skg-")
    request.node._skg_artifacts = _artifact_dir(request.node.nodeid)
    yield d
    node = request.node
    failed = any(getattr(getattr(node, "rep_" + w, None), "failed", False)
                 for w in ("setup", "call"))
    if failed or os.environ.get("SKAGERRAK_KEEP_ARTIFACTS") == "1":
        dest = node._skg_artifacts
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(ARTIFACTS, exist_ok=True)
        shutil.copytree(d, dest, symlinks=True, ignore_dangling_symlinks=True,
                        dirs_exist_ok=True)
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- servers

@pytest.fixture
def prosody(tmp_state):
    """Started Prosody with no.test, component gw.no.test (random secret), kari/ola/sjef."""
    secret = secrets.token_hex(16)
    p = harness.Prosody(os.path.join(tmp_state, "prosody"), hosts=[DOMAIN],
                        components={COMPONENT: secret})
    p.secret = secret
    p.domain = DOMAIN
    p.component = COMPONENT
    p.users = {}
    for user, pw in USERS.items():
        jid = "%s@%s" % (user, DOMAIN)
        p.adduser(jid, pw)
        p.users[jid] = pw
    p.start()
    yield p
    p.stop()


@pytest.fixture
def client(prosody):
    """Factory: client("kari", connect=True) -> harness.Client on the prosody fixture."""
    made = []

    def make(user, connect=True, password=None, **kw):
        jid = user if "@" in user else "%s@%s" % (user, DOMAIN)
        pw = password if password is not None else prosody.users.get(jid.split("/")[0])
        c = harness.Client(jid, pw, prosody.c2s_port, **kw)
        made.append(c)
        if connect:
            c.connect()
        return c
    yield make
    for c in made:
        c.close()


# --------------------------------------------------------------------------- the gateway

@pytest.fixture
def gateway_factory(prosody, tmp_state):
    """Factory: gateway_factory(**config_kw) -> started harness.Gateway (with .http_port,
    .loopback, .workdir); stopped (SIGTERM, exit code checked) at teardown."""
    import gw
    made = []

    def make(start=True, **kw):
        port = harness.free_port()
        workdir = os.path.join(tmp_state, "gw%d" % len(made))
        os.makedirs(workdir, exist_ok=True)
        g = harness.Gateway(None, gw.config_text(prosody, workdir, port, **kw), workdir)
        g.http_port = port
        g.workdir = workdir
        g.loopback = None
        made.append(g)
        if start:
            g.start()
            g.wait_log(r"component gw\.no\.test online", timeout=15)
            g.loopback = gw.Loopback(port).start()
        return g
    yield make
    for g in made:
        if g.loopback:
            g.loopback.close()
        rc = g.stop()
        assert rc in (0, None), "gateway exited with %r" % rc
        assert not g.sanitizer_reports(), g.sanitizer_reports()


@pytest.fixture
def gateway(gateway_factory):
    return gateway_factory()


# --------------------------------------------------------------------------- fault summary

def pytest_terminal_summary(terminalreporter):
    """The fault-injection suite's table lines (test_faults.py), so they appear in CI logs
    without -s; they are also in tests/artifacts/faults-summary.txt."""
    import sys
    faults = sys.modules.get("faults")
    lines = getattr(faults, "SUMMARY", None)
    if lines:
        terminalreporter.section("fault injection: sent / acknowledged / delivered / lost / "
                                 "duplicated")
        for line in lines:
            terminalreporter.write_line(line)
