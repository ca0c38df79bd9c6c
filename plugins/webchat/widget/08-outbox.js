// 08-outbox.js — sending: a message into the outbox kept in storage, flushing it in order
// with retries and backoff, marking its bubble sent or failed.
  /* ---- sending ---- */

  function send() {
    if (!E.input) return;
    var text = E.input.value;
    if (!text.trim()) return;
    var m = { cid: 'c' + random(), text: text, ts: Date.now() };
    var ob = outbox();
    ob.push(m);
    setOutbox(ob);          /* kept until the gateway has it */
    pendingBubble(m);
    E.input.value = '';
    onInput();
    stopTyping();
    scrollDown(true);
    flush();
  }

  function flush() {
    if (S.flushing || !S.token || S.ended) return;
    var ob = outbox();
    if (!ob.length) return;
    var m = ob[0];
    S.flushing = true;
    clearTimeout(S.retryTimer);
    api('POST', 'message', { text: m.text, cid: m.cid }).then(function (r) {
      S.flushing = false;
      var b = S.bubbles[m.cid];
      if (r.status === 200) {
        dropOutbox(m.cid);
        S.backoff = 0;
        confirmBubble(m.cid, r.body.id);
        if (E.alert && E.alert.textContent) alertMsg(''); /* network or rate problems are over */
        flush();
      } else if (r.status === 429) {
        alertMsg(t('err_rate', { s: r.body.retry_after_s || 10 }));
        S.retryTimer = setTimeout(flush, (r.body.retry_after_s || 10) * 1000);
      } else if (r.status === 413 || r.status === 400) {
        dropOutbox(m.cid);
        failBubble(b);
        alertMsg(r.status === 413 ? t('err_too_long', { n: S.cfg.max_chars }) : t('err_unavailable'));
        flush();
      } else if (r.status === 401) {
        expired();
      } else if (r.status === 403 || r.status === 409) {
        outbox().forEach(function (x) { failBubble(S.bubbles[x.cid]); });
        setOutbox([]);
        ended(r.status === 403 ? 'blocked' : 'counsellor');
      } else {
        retryLater();
      }
    }, function () {
      S.flushing = false;
      alertMsg(t('err_network'));
      retryLater();
    });
  }
  /* The gateway has our message `cid` as `id` (from the POST answer or the stream echo,
   * whichever comes first). */
  function confirmBubble(cid, id) {
    var b = S.bubbles[cid];
    if (!b || b.confirmed) return;
    b.confirmed = true;
    if (S.seen[id]) {
      if (b.parentNode) b.parentNode.removeChild(b); /* already shown from the history */
      return;
    }
    S.seen[id] = 1;
    b.classList.remove('skw-pending');
    b.mark.textContent = t('mark_sent');
  }
  function failBubble(b) {
    if (!b) return;
    b.classList.remove('skw-pending');
    b.classList.add('skw-failed');
    b.mark.textContent = t('mark_failed');
  }
  function retryLater() {
    S.backoff = Math.min(S.backoff ? S.backoff * 2 : 1000, 30000);
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(flush, S.backoff);
  }

