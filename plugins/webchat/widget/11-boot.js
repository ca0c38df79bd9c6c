// 11-boot.js — start-up: init (configuration, language, stored session), the page API,
// boot with retry; closes the IIFE opened in 01-state.js.
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
