// 07-views.js — the views: the start form and its submission, the chat log and compose box,
// typing notices, message bubbles, scrolling.
  /* ---- views ---- */

  function render() {
    clear(E.body);
    if (!S.token) renderStart();
    else renderChat();
  }

  function renderStart() {
    var q = S.cfg.queue || {}, closed = q.open === false;
    var form = h('form', { class: 'skw-start', novalidate: true, onsubmit: onStart });
    form.appendChild(h('p', { class: 'skw-intro', text: t('intro') }));
    if (closed) {
      form.appendChild(h('div', { class: 'skw-notice' }, [
        h('p', { text: queueText(q) }),
        h('p', { text: t('leave_message', { hours: Math.round((S.cfg.session_ttl_s || 7200) / 3600) }) })
      ]));
    } else {
      form.appendChild(h('p', { class: 'skw-queue', text: queueText(q) }));
    }
    (S.cfg.fields || []).forEach(function (f) {
      var id = 'skw-f-' + f.id, input;
      var label = h('label', { for: id }, [fieldLabel(f) + ' ', h('span', { class: 'skw-opt', text: f.required ? t('required') : t('optional') })]);
      if (f.type === 'text') {
        input = h('input', { id: id, name: f.id, type: 'text', maxlength: f.maxlen || 200, required: !!f.required, autocomplete: 'off' });
      } else {
        input = h('select', { id: id, name: f.id, required: !!f.required, class: 'skw-select' },
          [h('option', { value: '', text: t('choose') })].concat((f.options || []).map(function (o) {
            return h('option', { value: o.value, text: optionLabel(f, o) });
          })));
      }
      form.appendChild(h('div', { class: 'skw-field' }, [label, input]));
    });
    var priv = h('p', { class: 'skw-privacy', text: t('privacy') + ' ' });
    if (S.cfg.privacy_url && /^(https?:\/\/|\/)/.test(S.cfg.privacy_url))
      priv.appendChild(h('a', { href: S.cfg.privacy_url, target: '_blank', rel: 'noopener', text: t('privacy_link') }));
    form.appendChild(priv);
    E.startBtn = h('button', { type: 'submit', class: 'skw-primary', text: closed ? t('leave_message_btn') : t('start') });
    form.appendChild(E.startBtn);
    E.body.appendChild(form);
    setStatus('');
  }

  function onStart(ev) {
    ev.preventDefault();
    var form = ev.target, fields = {}, bad = null;
    (S.cfg.fields || []).forEach(function (f) {
      var el = form.elements[f.id];
      if (!el) return;
      el.removeAttribute('aria-invalid');
      if (el.value.trim()) fields[f.id] = el.value.trim();
      else if (f.required && !bad) bad = { el: el, f: f };
    });
    if (bad) {
      bad.el.setAttribute('aria-invalid', 'true');
      alertMsg(t('err_field', { field: fieldLabel(bad.f) }));
      bad.el.focus();
      return;
    }
    E.startBtn.disabled = true;
    E.startBtn.textContent = t('starting');
    api('POST', 'session', { lang: S.lang, queue: S.cfg.queue && S.cfg.queue.id, fields: fields }).then(function (r) {
      if (r.status === 201) {
        S.token = r.body.token;
        S.exp = r.body.expires_ms;
        save({ token: S.token, exp: S.exp, outbox: [], ended: null, feedback: false });
        S.items = []; S.seen = {}; S.bubbles = {}; S.ended = null; S.lastEventId = 0; S.feedbackGiven = false;
        alertMsg('');
        render();
        setStatus(S.cfg.queue && S.cfg.queue.open === false ? queueText(S.cfg.queue) : t('waiting'));
        connect(0);
        E.input.focus();
        return;
      }
      startFailed(r.status === 429 ? t('err_rate', { s: r.body.retry_after_s || 60 }) : r.status === 403 ? t('err_blocked') : t('err_unavailable'));
    }, function () { startFailed(t('err_unavailable')); });
  }
  function startFailed(msg) {
    E.startBtn.disabled = false;
    E.startBtn.textContent = S.cfg.queue && S.cfg.queue.open === false ? t('leave_message_btn') : t('start');
    alertMsg(msg);
  }

  function renderChat() {
    E.log = h('div', { class: 'skw-log', role: 'log', 'aria-label': t('messages'), tabindex: '0' });
    E.body.appendChild(E.log);
    S.items.forEach(function (it) { E.log.appendChild(renderItem(it)); });
    outbox().forEach(function (m) { pendingBubble(m); });
    E.typing = h('p', { class: 'skw-typing', 'aria-hidden': 'true' });
    E.typing.hidden = true;
    E.body.appendChild(E.typing);
    if (S.ended) {
      renderEnded();
    } else {
      renderCompose();
    }
    scrollDown(true);
  }

  function renderCompose() {
    var max = S.cfg.max_chars || 2000;
    E.input = h('textarea', { id: 'skw-input', class: 'skw-input', rows: '3', maxlength: max, 'aria-describedby': 'skw-hint skw-count', onkeydown: onKey, oninput: onInput });
    E.count = h('p', { id: 'skw-count', class: 'skw-count' });
    E.compose = h('form', { class: 'skw-compose', onsubmit: function (e) { e.preventDefault(); send(); } }, [
      h('label', { for: 'skw-input', class: 'skw-vh', text: t('message_label') }),
      E.input,
      h('p', { id: 'skw-hint', class: 'skw-vh', text: t('send_hint') }),
      E.count,
      h('button', { type: 'submit', class: 'skw-primary skw-send', text: t('send') })
    ]);
    E.actions = h('div', { class: 'skw-actions' }, [h('button', { type: 'button', class: 'skw-link', text: t('end'), onclick: confirmEnd })]);
    E.body.appendChild(E.compose);
    E.body.appendChild(E.actions);
    onInput();
  }

  function onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  }
  function onInput() {
    var max = S.cfg.max_chars || 2000, left = max - E.input.value.length;
    E.count.textContent = left < 200 ? t('chars_left', { n: Math.max(left, 0) }) : '';
    if (E.input.value && !S.typing) {
      S.typing = true;
      api('POST', 'typing', { state: 'composing' }).catch(function () {});
    }
    clearTimeout(S.typingTimer);
    S.typingTimer = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(S.typingTimer);
    if (!S.typing) return;
    S.typing = false;
    api('POST', 'typing', { state: 'paused' }).catch(function () {});
  }

  function who(it) {
    if (it.dir === 'in') return t('you');
    if (it.dir === 'out') return S.counsellor || t('counsellor');
    return t('service');
  }
  function renderItem(it) {
    var cls = it.dir === 'in' ? 'skw-in' : it.dir === 'out' ? 'skw-out' : 'skw-auto';
    var el = h('div', { class: 'skw-msg ' + cls });
    if (it.dir === 'out') el.appendChild(h('p', { class: 'skw-who', text: who(it) }));
    else el.appendChild(h('p', { class: 'skw-vh', text: t('said', { who: who(it) }) }));
    el.appendChild(it.dir === 'auto' ? h('p', { class: 'skw-text', text: it.text }) : linkify(it.text || ''));
    var meta = h('p', { class: 'skw-meta' }, [h('time', { datetime: new Date(it.ts || Date.now()).toISOString(), text: clock(it.ts || Date.now()) })]);
    if (it.dir === 'in') {
      el.mark = h('span', { class: 'skw-mark', text: markText(it.state || 'sent') });
      meta.appendChild(document.createTextNode(' · '));
      meta.appendChild(el.mark);
    }
    el.appendChild(meta);
    return el;
  }
  function markText(state) {
    return state === 'sending' ? t('mark_sending') : state === 'failed' ? t('mark_failed') :
      state === 'delivered' ? t('mark_seen') : t('mark_sent');
  }
  function pendingBubble(m) {
    if (S.bubbles[m.cid] && S.bubbles[m.cid].parentNode === E.log) return;
    var el = renderItem({ dir: 'in', text: m.text, ts: m.ts, state: 'sending' });
    el.classList.add('skw-pending');
    S.bubbles[m.cid] = el;
    if (E.log) E.log.appendChild(el);
  }
  function scrollDown(force) {
    if (!E.log) return;
    var near = E.log.scrollHeight - E.log.scrollTop - E.log.clientHeight < 120;
    if (force || near) E.log.scrollTop = E.log.scrollHeight;
  }

