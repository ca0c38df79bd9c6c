/* widget.js — Skagerrak web chat: the one-script-tag embed (launcher + panel) and the full page.
 *
 * Embed:  <script src="https://chat.example/webchat/widget.js" data-queue="general"
 *                 data-lang="nb" async></script>
 * Page:   chat.html loads it with data-mode="page" and a <div id="skagerrak-chat">.
 *
 * Plain ES5-style JavaScript, no framework, no dependencies.  Everything a user or the
 * server wrote is inserted with textContent (never innerHTML).  Up: fetch() POSTs with a
 * Bearer token.  Down: EventSource (Server-Sent Events) that resumes by itself with
 * Last-Event-ID.  docs/webchat.md describes the protocol. */
(function () {
  'use strict';
  if (window.skagerrakWebchat) return;
  var me = document.currentScript;
  if (!me || !window.fetch || !window.EventSource) return;

  var BASE = new URL('./', me.src).href;
  var DATA = me.dataset || {};
  var PAGE = DATA.mode === 'page';
  var LANGS = ['nb', 'nn', 'da', 'en'];
  var KEY = 'skagerrak-webchat:' + BASE;
  var NS = 'http://www.w3.org/2000/svg';

  var S = {
    cfg: null, cats: {}, lang: null, token: null, exp: 0, open: PAGE, ended: null,
    items: [], seen: {}, bubbles: {}, counsellor: null, status: '', unread: 0,
    ackq: [], ackTimer: 0, es: null, lastEventId: 0, replaying: false, flushing: false,
    backoff: 0, retryTimer: 0, typing: false, typingTimer: 0, feedbackGiven: false
  };
  var E = {}; /* elements */

  /* ---- storage: token, outbox, language; never the conversation itself ---- */

  function store() {
    try {
      return S.cfg && S.cfg.storage === 'session' ? window.sessionStorage : window.localStorage;
    } catch (e) { return null; }
  }
  function load() {
    try { return JSON.parse(store().getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save(patch) {
    var st = load(), k;
    for (k in patch) if (Object.prototype.hasOwnProperty.call(patch, k)) st[k] = patch[k];
    try { store().setItem(KEY, JSON.stringify(st)); } catch (e) { /* private mode: memory only */ }
  }
  function outbox() { return load().outbox || []; }
  function setOutbox(ob) { save({ outbox: ob }); }
  function dropOutbox(cid) {
    setOutbox(outbox().filter(function (m) { return m.cid !== cid; }));
  }

  /* ---- texts ---- */

  function t(key, vars) {
    var c = S.cats[S.lang] || {}, en = S.cats.en || {};
    var s = c[key] != null ? c[key] : en[key] != null ? en[key] : key;
    if (vars) s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? vars[k] : m; });
    return s;
  }
  function has(key) { return (S.cats[S.lang] || {})[key] != null || (S.cats.en || {})[key] != null; }
  function pickLang(cands) {
    for (var i = 0; i < cands.length; i++) {
      var l = String(cands[i] || '').toLowerCase();
      if (l === 'no' || l.indexOf('no-') === 0 || l.indexOf('nb') === 0) l = 'nb';
      l = l.slice(0, 2);
      if (LANGS.indexOf(l) >= 0 && (!S.cfg || S.cfg.languages.indexOf(l) >= 0)) return l;
    }
    return null;
  }
  function catalogue(lang) {
    if (S.cats[lang]) return Promise.resolve();
    return fetch(BASE + 'i18n/' + lang + '.json', { credentials: 'omit' })
      .then(function (r) { return r.json(); })
      .then(function (j) { S.cats[lang] = j; });
  }

  /* ---- DOM helpers (text only) ---- */

  function h(tag, p, kids) {
    var e = document.createElement(tag), k, v;
    for (k in p || {}) {
      v = p[k];
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    (kids || []).forEach(function (c) {
      if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function vh(text) { return h('span', { class: 'skw-vh', text: text }); }
  function icon() {
    var s = document.createElementNS(NS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    var p = document.createElementNS(NS, 'path');
    p.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
    s.appendChild(p);
    return s;
  }
  /* Text with http(s) links made clickable — built from text nodes and <a> only. */
  function linkify(text) {
    var out = h('p', { class: 'skw-text' }), re = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g, m, at = 0;
    while ((m = re.exec(text))) {
      if (m.index > at) out.appendChild(document.createTextNode(text.slice(at, m.index)));
      out.appendChild(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer', text: m[0] }));
      at = m.index + m[0].length;
    }
    if (at < text.length) out.appendChild(document.createTextNode(text.slice(at)));
    return out;
  }

  /* ---- network ---- */

  function api(method, path, body) {
    var hd = { 'Content-Type': 'application/json' };
    if (S.token) hd.Authorization = 'Bearer ' + S.token;
    return fetch(BASE + path, {
      method: method, headers: hd, credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 204) return { status: 204, body: {} };
      return r.json().then(function (j) { return { status: r.status, body: j || {} }; },
        function () { return { status: r.status, body: {} }; });
    });
  }
  function random() {
    var a = new Uint32Array(3);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (x) { return x.toString(36); }).join('');
  }

  /* ---- formatting ---- */

  function locale() { return t('locale'); }
  function clock(ms) {
    try {
      return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
    } catch (e) { return new Date(ms).toTimeString().slice(0, 5); }
  }
  function when(ms) {
    var tz = S.cfg.timezone, d = new Date(ms), now = Date.now();
    try {
      var day = function (x) {
        return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(x);
      };
      var time = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', timeZone: tz }).format(d);
      if (day(d) === day(new Date(now))) return t('when_today', { time: time });
      if (day(d) === day(new Date(now + 864e5))) return t('when_tomorrow', { time: time });
      var long = new Intl.DateTimeFormat(locale(), { weekday: 'long', day: 'numeric', month: 'long', timeZone: tz }).format(d);
      return t('when_day', { day: long, time: time });
    } catch (e) { return d.toLocaleString(); }
  }
  /* Wait estimate text; '' when unknown (the core sends -1). */
  function waitText(s) {
    if (s == null || s < 0) return '';
    return ' ' + (s < 60 ? t('wait_short') : t('wait_min', { min: Math.round(s / 60) }));
  }
  function closedText(next) {
    return next > 0 ? t('closed_hours', { when: when(next) }) : t('closed_hours_unknown');
  }
  function queueText(q) {
    if (!q) return '';
    if (q.open === false) return closedText(q.next_open_ms);
    var n = q.waiting | 0, s = n === 0 ? t('queue_none') : n === 1 ? t('queue_one') : t('queue_many', { n: n });
    return n > 0 ? s + waitText(q.wait_s) : s;
  }
  function fieldLabel(f) {
    if (f.label && (f.label[S.lang] || f.label.en)) return f.label[S.lang] || f.label.en;
    return has('field.' + f.id) ? t('field.' + f.id) : f.id;
  }
  function optionLabel(f, o) {
    if (o.label && (o.label[S.lang] || o.label.en)) return o.label[S.lang] || o.label.en;
    var k = 'field.' + f.id + '.' + o.value;
    return has(k) ? t(k) : o.value;
  }

  /* ---- skeleton ---- */

  function mount() {
    if (PAGE) {
      E.host = document.getElementById(DATA.target || 'skagerrak-chat') || document.body;
      E.root = E.host;
      return Promise.resolve();
    }
    E.host = h('div', { id: 'skagerrak-webchat' });
    E.host.hidden = true;
    document.body.appendChild(E.host);
    E.root = E.host.attachShadow ? E.host.attachShadow({ mode: 'open' }) : E.host;
    return new Promise(function (res) {
      var link = h('link', { rel: 'stylesheet', href: BASE + 'widget.css' });
      link.onload = link.onerror = function () { res(); };
      E.root.appendChild(link);
      setTimeout(res, 3000);
    });
  }

  function build() {
    if (E.wrap) E.wrap.parentNode.removeChild(E.wrap);
    E.wrap = h(PAGE ? 'div' : 'aside', { class: 'skw' + (PAGE ? ' skw-page' : ''), lang: S.lang, 'aria-label': PAGE ? null : t('region') });
    if (!PAGE) {
      E.badge = h('span', { class: 'skw-badge', 'aria-hidden': 'true' });
      E.badge.hidden = true;
      E.launcher = h('button', { type: 'button', class: 'skw-launcher', 'aria-expanded': String(S.open), 'aria-controls': 'skw-panel', onclick: function () { setOpen(true); } },
        [icon(), h('span', { text: t('launcher') }), E.badge]);
      E.launcher.hidden = S.open;
      E.wrap.appendChild(E.launcher);
    }
    E.title = h(PAGE ? 'h1' : 'h2', { id: 'skw-title', class: 'skw-title', tabindex: '-1', text: t('title') });
    E.langSel = h('select', { id: 'skw-lang', class: 'skw-select', onchange: function () { setLang(E.langSel.value); } },
      S.cfg.languages.map(function (l) {
        return h('option', { value: l, selected: l === S.lang, lang: l, text: (S.cats[l] && S.cats[l].lang_name) || { nb: 'Norsk (bokmål)', nn: 'Norsk (nynorsk)', da: 'Dansk', en: 'English' }[l] });
      }));
    var tools = h('div', { class: 'skw-tools' }, [
      h('label', { for: 'skw-lang', class: 'skw-lang-label', text: t('language') }), E.langSel
    ]);
    var row = h('div', { class: 'skw-head-row' }, [E.title,
      PAGE ? null : h('button', { type: 'button', class: 'skw-min', 'aria-label': t('minimize'), onclick: function () { setOpen(false); } },
        [h('span', { 'aria-hidden': 'true', text: '\u2013' })])
    ]);
    E.status = h('p', { class: 'skw-status', role: 'status' });
    E.alert = h('p', { class: 'skw-alert', role: 'alert' });
    E.body = h('div', { class: 'skw-body' });
    E.panel = h(PAGE ? 'div' : 'section', {
      id: 'skw-panel', class: 'skw-panel', role: PAGE ? null : 'dialog', 'aria-modal': PAGE ? null : 'false',
      'aria-labelledby': 'skw-title', onkeydown: function (e) { if (e.key === 'Escape' && !PAGE) { e.preventDefault(); setOpen(false); } }
    }, [h('div', { class: 'skw-head' }, [row, tools]), E.status, E.alert, E.body]);
    E.panel.hidden = !S.open;
    E.wrap.appendChild(E.panel);
    E.root.appendChild(E.wrap);
    E.host.hidden = false;
    if (PAGE) {
      document.documentElement.lang = S.lang;
      document.title = t('title');
    }
    setStatus(S.status);
    render();
  }

  function setStatus(text) {
    S.status = text || '';
    if (E.status) E.status.textContent = S.status;
  }
  function alertMsg(text) {
    if (!E.alert) return;
    E.alert.textContent = '';
    /* a fresh text node each time, so the same message is announced again */
    if (text) setTimeout(function () { E.alert.textContent = text; }, 50);
  }

  function setOpen(open) {
    if (PAGE) return;
    S.open = open;
    save({ open: open });
    E.panel.hidden = !open;
    E.launcher.hidden = open;
    E.launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      S.unread = 0;
      badge();
      E.title.focus();
      ackSoon();
    } else {
      E.launcher.focus();
    }
  }
  function badge() {
    if (PAGE || !E.badge) return;
    E.badge.hidden = S.unread === 0;
    E.badge.textContent = String(S.unread);
    if (S.unread) E.launcher.setAttribute('aria-label', t('launcher_unread', { n: S.unread }));
    else E.launcher.removeAttribute('aria-label');
  }

  function setLang(l) {
    catalogue(l).then(function () {
      S.lang = l;
      save({ lang: l });
      build();
      E.langSel.focus();
    }, function () { alertMsg(t('err_unavailable')); });
  }

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

  /* ---- start ---- */

  function init() {
    var first = pickLang([DATA.lang]) || pickLang(navigator.languages || [navigator.language]) || 'nb';
    S.lang = first;
    return refreshConfig().then(function () {
      var st = load();
      S.lang = pickLang([st.lang, DATA.lang]) || pickLang(navigator.languages || [navigator.language]) || S.cfg.default_lang;
      return Promise.all([catalogue(S.lang), catalogue('en').catch(function () {})]).then(function () {
        if (st.token && st.exp > Date.now()) {
          S.token = st.token;
          S.exp = st.exp;
          S.ended = st.ended || null;
          S.open = PAGE || !!st.open;
        }
        return mount();
      }).then(function () {
        build();
        if (S.token && !S.ended) connect(0);
        else if (S.token && S.ended) connect(0); /* replay the conversation for reading */
      });
    });
  }

  window.addEventListener('online', function () { flush(); });
  document.addEventListener('visibilitychange', ackSoon);
  window.skagerrakWebchat = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); }
  };

  function boot() {
    init().catch(function () {
      if (PAGE && !E.wrap) {
        var host = document.getElementById(DATA.target || 'skagerrak-chat') || document.body;
        catalogue(S.lang || 'nb').then(function () {
          if (E.bootErr || E.wrap) return;
          E.bootErr = h('p', { class: 'skw-alert', role: 'alert', text: t('err_unavailable') });
          host.appendChild(E.bootErr);
        }, function () {});
      }
      setTimeout(function () {
        if (E.wrap) return;
        if (E.bootErr) { E.bootErr.parentNode.removeChild(E.bootErr); E.bootErr = null; }
        boot();
      }, 30000);
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
