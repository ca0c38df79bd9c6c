// 03-dom.js — DOM helpers that insert text only (h, clear, vh), the launcher icon, linkify.
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

