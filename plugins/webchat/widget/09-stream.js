// 09-stream.js — receiving: the EventSource stream and its resume (Last-Event-ID / after=),
// items from it, and acks (sent again when answered 503/429 or lost).
  /* ---- receiving ---- */

  function connect(after) {
    if (S.es) S.es.close();
    S.replaying = true;
    if (E.log) E.log.setAttribute('aria-busy', 'true');
    var es = S.es = new EventSource(BASE + 'events?token=' + encodeURIComponent(S.token) + '&after=' + (after || 0));
    es.addEventListener('hello', function (e) {
      var d = parse(e.data);
      if (d.feedback_given) S.feedbackGiven = true;
      if (d.closed && !S.ended) S.pendingEnd = d.blocked ? 'blocked' : d.state === 'closed' ? 'counsellor' : 'seeker';
      if (!S.status && (d.state === 'queued' || d.state === 'offered')) setStatus(t('waiting'));
    });
    es.addEventListener('message', function (e) {
      if (e.lastEventId) S.lastEventId = +e.lastEventId || S.lastEventId;
      onItem(parse(e.data));
    });
    es.addEventListener('typing', function (e) {
      var d = parse(e.data);
      if (!E.typing) return;
      E.typing.hidden = d.state !== 'composing';
      E.typing.textContent = S.counsellor ? t('typing', { name: S.counsellor }) : t('typing_anon');
    });
    es.addEventListener('ended', function () { ended('seeker'); });
    es.addEventListener('erased', function () { if (E.body) erasedView(); else reset(); });
    es.addEventListener('ready', function () {
      S.replaying = false;
      if (E.log) E.log.removeAttribute('aria-busy');
      if (S.status === t('reconnecting')) setStatus('');
      scrollDown(true);
      if (S.ended) { es.close(); S.es = null; return; } /* replayed for reading only */
      if (S.pendingEnd) { var why = S.pendingEnd; S.pendingEnd = null; ended(why, true); return; }
      outbox().forEach(pendingBubble);
      flush();
      ackSoon();
    });
    es.onerror = function () {
      if (es.readyState === 2) { /* the server refused the stream: ask why */
        es.close();
        api('GET', 'session').then(function (r) {
          if (r.status === 401) expired();
          else setTimeout(function () { if (S.token && !S.ended) connect(S.lastEventId); }, 3000);
        }, function () { setTimeout(function () { if (S.token && !S.ended) connect(S.lastEventId); }, 5000); });
      }
      if (!S.ended) setStatus(t('reconnecting'));
    };
  }
  function parse(s) { try { return JSON.parse(s) || {}; } catch (e) { return {}; } }

  function onItem(d) {
    if (!d || !d.id) return;
    if (d.dir === 'in' && d.cid && S.bubbles[d.cid]) {
      /* our own message, stored (the POST answer may yet come, or have been lost) */
      dropOutbox(d.cid);
      confirmBubble(d.cid, d.id);
      return;
    }
    if (S.seen[d.id]) return;
    S.seen[d.id] = 1;
    var m = d.meta || {};
    if (m.type === 'position') {
      setStatus((m.position <= 1 ? t('position_next') : t('position', { n: m.position })) + waitText(m.wait_s));
      return;
    }
    if (m.type === 'joined') {
      S.counsellor = m.name || null;
      setStatus(m.name ? t('joined', { name: m.name }) : t('joined_anon'));
    }
    if (m.type === 'closed_hours') setStatus(closedText(m.next_open_ms));
    S.items.push(d);
    if (E.log) {
      E.log.appendChild(renderItem(d));
      scrollDown(d.dir === 'in');
    }
    if (d.dir === 'out') {
      if (E.typing) E.typing.hidden = true;
      S.ackq.push(d.id);
      if (!S.open && !S.replaying) { S.unread++; badge(); }
      ackSoon();
    }
    if (m.type === 'closed') ended(m.reason || 'counsellor');
  }

  function ackSoon() {
    clearTimeout(S.ackTimer);
    S.ackTimer = setTimeout(function () {
      if (!S.ackq.length || !S.open || document.visibilityState !== 'visible') return;
      var ids = S.ackq.splice(0, 100);
      /* An ack is what gives the counsellor their receipt: one the gateway could not store
         (503) or that never arrived is sent again, later. */
      function again() { S.ackq = ids.concat(S.ackq); setTimeout(ackSoon, 3000); }
      api('POST', 'ack', { ids: ids }).then(function (r) {
        if (r.status === 503 || r.status === 429) again();
      }, again);
    }, 600);
  }

