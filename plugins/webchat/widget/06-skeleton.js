// 06-skeleton.js — mounting (shadow root or the page's div), the panel frame, status and alert
// lines, open/close, the unread badge, switching language.
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

