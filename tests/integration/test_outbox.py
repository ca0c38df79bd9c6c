"""The outbox under a channel outage, with the loopback channel refusing (GW_EAGAIN): every
reply delivered exactly once, in order per seeker, within the retry cap after recovery; no
row waits for an unrelated event."""

import time

from test_core import sign_in, start_conversation

RETRY_MAX = 2  # service.retry_max in seconds for these tests


def texts_for(items, conv):
    return [i["body"] for i in sorted(items, key=lambda i: i["_seq"])
            if i["conv"] == conv and i["kind"] == "text"]


def test_outage_replies_in_order_within_cap(gateway_factory, client):
    g = gateway_factory(service="retry_max = %d;" % RETRY_MAX)
    lb = g.loopback
    kari = client("kari")
    sign_in(kari)
    a = start_conversation(lb, kari, "+4790001001", "hei fra A", "oa-1")
    b = start_conversation(lb, kari, "+4790001002", "hei fra B", "ob-1")
    conv_a, conv_b = a.bare_from.split("@")[0], b.bare_from.split("@")[0]
    lb.post("/loopback/mode", {"mode": "eagain"})
    sent = {conv_a: [], conv_b: []}
    for n in range(6):
        for conv, offer in ((conv_a, a), (conv_b, b)):
            text = "%s svar %d" % (conv[-4:], n)
            kari.send_message(offer.bare_from, text)
            sent[conv].append(text)
        time.sleep(0.25)
    # Long enough for several retries to have failed (the backoff reaches its cap).
    time.sleep(RETRY_MAX * 2)
    lb.post("/loopback/mode", {"mode": "ok"})
    recovered = time.monotonic()
    for conv in sent:
        for text in sent[conv]:
            lb.wait(lambda i, t=text: i["body"] == t, timeout=RETRY_MAX + 3)
    took = time.monotonic() - recovered
    # All within the cap (+ the time to hand them over), each exactly once, in order.
    assert took <= RETRY_MAX + 1.5, "delivered %.1f s after recovery" % took
    time.sleep(0.5)
    for conv in sent:
        assert texts_for(lb.items, conv) == sent[conv]


def test_held_rows_move_when_the_head_is_refused_for_good(gateway_factory, client):
    """A message refused permanently does not block the ones after it to the same seeker."""
    g = gateway_factory(service="retry_max = %d;" % RETRY_MAX)
    lb = g.loopback
    kari = client("kari")
    sign_in(kari)
    a = start_conversation(lb, kari, "+4790001003", "hei", "oc-1")
    conv = a.bare_from.split("@")[0]
    lb.post("/loopback/mode", {"mode": "eagain"})
    kari.send_message(a.bare_from, "first")
    kari.send_message(a.bare_from, "second")
    time.sleep(0.5)
    lb.post("/loopback/mode", {"mode": "eperm"})
    # Both are refused for good in order: the counsellor is told twice.
    for _ in range(2):
        kari.wait_message(lambda s: s.type == "chat" and "could not be delivered"
                          in (s.body or ""), timeout=RETRY_MAX + 3)
    lb.post("/loopback/mode", {"mode": "ok"})
    kari.send_message(a.bare_from, "third")
    item = lb.wait(lambda i: i["body"] == "third", timeout=5)
    assert item["conv"] == conv
    assert texts_for(lb.items, conv) == ["third"]
