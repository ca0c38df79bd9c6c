// 01-state.js — the bundle's opening: the file comment, the IIFE and 'use strict', what the
// script tag says (BASE, DATA, PAGE), the state S and elements E, and localStorage (token,
// outbox, language).  The IIFE opened here is closed in 11-boot.js.
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

