// 02-i18n.js — texts: t() and has() over the loaded catalogues, language choice, catalogue fetch.
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

