"""Smoke tests of the integration harness itself: Prosody, clients, raw XEP-0114 handshake."""

import re
import socket
import time

import pytest

import harness


def test_two_clients_exchange_a_message(prosody, client):
    kari = client("kari")
    ola = client("ola")
    sent_id = kari.send_message("ola@no.test", "Hei Ola, æøå ✓")
    m = ola.wait_message(lambda s: s.body is not None)
    assert m.body == "Hei Ola, æøå ✓"
    assert m.bare_from == "kari@no.test"
    assert m.type == "chat"
    assert m.id == sent_id
    assert kari.full_jid.startswith("kari@no.test/")
    assert ola.messages[-1] is m


def test_extra_xml_presence_and_iq(prosody, client):
    kari = client("kari")
    ola = client("ola")
    kari.send_message("ola@no.test", None, extra_xml="<active xmlns='http://jabber.org/protocol/chatstates'/>")
    m = ola.wait_message(lambda s: s.child("http://jabber.org/protocol/chatstates") is not None)
    assert m.body is None
    kari.send_presence(to=ola.full_jid, show="away", status="Lunsj")
    p = ola.wait_presence(frm="kari@no.test", predicate=lambda s: s.show == "away")
    assert p.status == "Lunsj"
    r = kari.iq("no.test", "<ping xmlns='urn:xmpp:ping'/>")
    assert r.type == "result"
    with pytest.raises(harness.XmppError) as e:
        kari.iq("no.test", "<nope xmlns='urn:example:nothing'/>")
    assert e.value.condition in ("service-unavailable", "feature-not-implemented")


def test_wrong_password_is_refused(prosody, client):
    with pytest.raises(harness.HarnessError, match="authentication failed"):
        client("kari", password="wrong")


def test_prosody_restart_client_reconnects_offline_message_kept(prosody, client):
    kari = client("kari")
    kari.send_message("ola@no.test", "mens du var borte")  # ola offline: stored by Prosody
    kari.iq("no.test", "<ping xmlns='urn:xmpp:ping'/>")     # the message was processed
    prosody.stop()
    kari.wait_disconnected(timeout=10)
    assert not prosody.running()
    prosody.start()
    kari.connect()
    ola = client("ola")
    m = ola.wait_message(lambda s: s.body == "mens du var borte")
    assert m.bare_from == "kari@no.test"
    kari.send_message("ola@no.test", "etter omstart")
    assert ola.wait_message(lambda s: s.body == "etter omstart").bare_from == "kari@no.test"


def _read_until(sock, pattern, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while not rx.search(data):
        if time.monotonic() > deadline:
            raise AssertionError("no %r in %r" % (pattern, data))
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("closed; got %r" % data)
        data += chunk
    return data


def test_component_handshake(prosody, client):
    with pytest.raises(harness.HandshakeFailed) as e:
        harness.component_handshake(prosody.component_port, "gw.no.test", "wrong-secret")
    assert b"not-authorized" in e.value.data

    sock = harness.component_handshake(prosody.component_port, "gw.no.test", prosody.secret)
    try:
        kari = client("kari")
        kari.send_message("seeker1@gw.no.test", "til komponenten")
        data = _read_until(sock, rb"til komponenten</body>")
        assert b"to='seeker1@gw.no.test'" in data or b'to="seeker1@gw.no.test"' in data
        sock.sendall(("<message from='seeker1@gw.no.test' to='%s' type='chat'>"
                      "<body>svar fra komponenten</body></message>" % kari.full_jid).encode())
        m = kari.wait_message(lambda s: s.body == "svar fra komponenten")
        assert m.frm == "seeker1@gw.no.test"
    finally:
        sock.close()


def test_free_port_and_http_loopback_only():
    p1, p2 = harness.free_port(), harness.free_port()
    assert p1 != p2
    with pytest.raises(ValueError):
        harness.http("GET", "http://example.org/")
    # Nothing listens on p1: the request fails at the socket level, not via a proxy.
    with pytest.raises(OSError):
        harness.http("GET", "http://127.0.0.1:%d/" % p1, timeout=2)
    s = socket.socket()
    s.bind(("127.0.0.1", p1))
    s.close()
