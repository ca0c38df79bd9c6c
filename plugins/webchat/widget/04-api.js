// 04-api.js — the JSON API call (Bearer token, no cookies) and random client ids.
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

