// 10-ending.js — ending: confirming the end, the ended view, transcript download and e-mail,
// feedback, starting a new chat, an expired session, the configuration fetch.
  /* ---- ending ---- */

  function confirmEnd() {
    clear(E.actions);
    var no = h('button', { type: 'button', class: 'skw-secondary', text: t('end_no'), onclick: function () {
      clear(E.actions);
      var b = h('button', { type: 'button', class: 'skw-link', text: t('end'), onclick: confirmEnd });
      E.actions.appendChild(b);
      b.focus();
    } });
    E.actions.appendChild(h('div', { class: 'skw-confirm', role: 'group', 'aria-labelledby': 'skw-confirm-q' }, [
      h('p', { id: 'skw-confirm-q', text: t('end_confirm') }),
      h('button', { type: 'button', class: 'skw-primary', text: t('end_yes'), onclick: function () {
        api('POST', 'end').then(function () { ended('seeker'); }, function () { alertMsg(t('err_network')); });
      } }),
      no
    ]));
    no.focus();
  }

  function ended(reason, quiet) {
    if (S.ended) return;
    S.ended = reason || 'counsellor';
    save({ ended: S.ended });
    stopTyping();
    if (S.es) { S.es.close(); S.es = null; }
    setStatus('');
    if (!E.log) return;
    if (E.compose) { E.compose.parentNode.removeChild(E.compose); E.compose = null; E.input = null; }
    if (E.actions) { E.actions.parentNode.removeChild(E.actions); E.actions = null; }
    if (E.typing) E.typing.hidden = true;
    renderEnded();
    if (!quiet && (S.open || PAGE)) E.endedTitle.focus();
  }

  function renderEnded() {
    var reason = { seeker: 'ended_seeker', blocked: 'ended_blocked', abandoned: 'ended_abandoned' }[S.ended] || 'ended_counsellor';
    var box = h('section', { class: 'skw-ended', 'aria-labelledby': 'skw-ended-h' });
    E.endedTitle = h(PAGE ? 'h2' : 'h3', { id: 'skw-ended-h', tabindex: '-1', text: t('ended') });
    box.appendChild(E.endedTitle);
    box.appendChild(h('p', { text: t(reason) }));
    box.appendChild(h('button', { type: 'button', class: 'skw-secondary', text: t('download'), onclick: download }));
    if (S.cfg.transcript_email) box.appendChild(emailForm());
    if (S.cfg.feedback && !S.feedbackGiven) box.appendChild(feedbackForm());
    box.appendChild(eraseBox());
    box.appendChild(h('button', { type: 'button', class: 'skw-primary', text: t('new_chat'), onclick: newChat }));
    E.body.appendChild(box);
  }

  /* "Delete this conversation now" (docs/erasure.md): asked once more, then POST erase; the
   * log leaves the page too, and the token is forgotten (it no longer opens anything). */
  function eraseBox() {
    var box = h('div', { class: 'skw-erase' });
    function ask() {
      clear(box);
      var no = h('button', { type: 'button', class: 'skw-secondary', text: t('erase_no'), onclick: function () {
        clear(box); box.appendChild(start()); box.firstChild.focus();
      } });
      box.appendChild(h('div', { class: 'skw-confirm', role: 'group', 'aria-labelledby': 'skw-erase-q' }, [
        h('p', { id: 'skw-erase-q', text: t('erase_confirm') }),
        h('button', { type: 'button', class: 'skw-primary', text: t('erase_yes'), onclick: function () {
          api('POST', 'erase').then(function (r) {
            if (r.status === 200 || r.status === 401) erasedView();
            else alertMsg(t('err_unavailable'));
          }, function () { alertMsg(t('err_network')); });
        } }),
        no
      ]));
      no.focus();
    }
    function start() { return h('button', { type: 'button', class: 'skw-link', text: t('erase'), onclick: ask }); }
    box.appendChild(start());
    return box;
  }
  function erasedView() {
    reset();
    clear(E.body);
    var p = h('p', { class: 'skw-note', role: 'status', tabindex: '-1', text: t('erased') });
    E.body.appendChild(p);
    E.body.appendChild(h('button', { type: 'button', class: 'skw-primary', text: t('new_chat'), onclick: newChat }));
    p.focus();
  }

  function download() {
    api0('transcript').then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = h('a', { href: url, download: t('transcript_file') + '.txt', hidden: true });
      E.body.appendChild(a); /* Firefox clicks only attached links */
      a.click();
      E.body.removeChild(a);
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }, function () { alertMsg(t('err_unavailable')); });
  }
  function api0(path) {
    return fetch(BASE + path, { headers: { Authorization: 'Bearer ' + S.token }, credentials: 'omit', cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); });
  }

  function emailForm() {
    var input = h('input', { id: 'skw-email', type: 'email', autocomplete: 'email', required: true });
    var note = h('p', { class: 'skw-note', role: 'status' });
    return h('form', { class: 'skw-email', novalidate: true, onsubmit: function (e) {
      e.preventDefault();
      var v = input.value.trim();
      if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(v)) {
        input.setAttribute('aria-invalid', 'true');
        alertMsg(t('err_email'));
        input.focus();
        return;
      }
      input.removeAttribute('aria-invalid');
      api('POST', 'transcript-email', { address: v }).then(function (r) {
        if (r.status === 202) { note.textContent = t('email_sent'); input.value = ''; }
        else alertMsg(r.status === 400 ? t('err_email') : t('err_unavailable'));
      }, function () { alertMsg(t('err_network')); });
    } }, [h('label', { for: 'skw-email', text: t('email_label') }), input,
      h('button', { type: 'submit', class: 'skw-secondary', text: t('email_send') }), note]);
  }

  function feedbackForm() {
    var radios = [1, 2, 3, 4, 5].map(function (n) {
      return h('div', { class: 'skw-radio' }, [
        h('input', { type: 'radio', name: 'rating', id: 'skw-r' + n, value: String(n) }),
        h('label', { for: 'skw-r' + n, text: t('rating_' + n) })
      ]);
    });
    var comment = h('textarea', { id: 'skw-comment', rows: '2', maxlength: '2000' });
    var form = h('form', { class: 'skw-feedback', novalidate: true, onsubmit: function (e) {
      e.preventDefault();
      var r = form.querySelector('input[name=rating]:checked');
      if (!r) { alertMsg(t('feedback_choose')); form.querySelector('input[name=rating]').focus(); return; }
      api('POST', 'feedback', { rating: +r.value, comment: comment.value.trim() || null }).then(function (res) {
        if (res.status === 204 || res.status === 409) {
          S.feedbackGiven = true;
          var thanks = h('p', { class: 'skw-note', tabindex: '-1', text: t('feedback_thanks') });
          form.parentNode.replaceChild(thanks, form);
          thanks.focus();
        } else alertMsg(t('err_unavailable'));
      }, function () { alertMsg(t('err_network')); });
    } }, [
      h('fieldset', {}, [h('legend', { text: t('feedback_legend') })].concat(radios)),
      h('label', { for: 'skw-comment', text: t('comment') }), comment,
      h('button', { type: 'submit', class: 'skw-secondary', text: t('feedback_send') })
    ]);
    return form;
  }

  function reset() {
    if (S.es) { S.es.close(); S.es = null; }
    clearTimeout(S.retryTimer);
    S.token = null; S.ended = null; S.items = []; S.seen = {}; S.bubbles = {}; S.counsellor = null;
    S.lastEventId = 0; S.ackq = []; S.unread = 0; S.feedbackGiven = false;
    save({ token: null, exp: 0, outbox: [], ended: null });
    E.log = E.input = E.compose = E.actions = null;
  }
  function newChat() {
    reset();
    refreshConfig().then(function () { render(); E.title.focus(); });
  }
  function expired() {
    reset();
    render();
    alertMsg(t('err_session'));
  }

  function refreshConfig() {
    var q = DATA.queue ? '&queue=' + encodeURIComponent(DATA.queue) : '';
    return fetch(BASE + 'config?lang=' + (S.lang || '') + q, { credentials: 'omit', cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (c) { S.cfg = c; });
  }

