// lib.js — shared helpers for the web chat browser tests: Chromium, axe, screenshots, servers.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts', 'webchat');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Chromium must only ever run inside a loopback-only network namespace (see run.sh).
function checkNamespace() {
  const ifaces = require('node:os').networkInterfaces();
  const outside = Object.entries(ifaces).filter(([, addrs]) => addrs.some((a) => !a.internal));
  if (outside.length && !process.env.WEBCHAT_ALLOW_NETWORK) {
    throw new Error('refusing to start Chromium with network interfaces ' +
      outside.map(([n]) => n).join(',') + ': run tests/browser/run.sh (unshare --net)');
  }
}

// Playwright's launch() gives Chromium a fresh temporary --user-data-dir and removes it.
async function launch() {
  checkNamespace();
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-features=Translate,OptimizationHints,MediaRouter'],
  });
}

// A new isolated seeker (own storage), nb-NO browser by default.
async function context(browser, opts) {
  return browser.newContext(Object.assign({ viewport: { width: 1280, height: 800 }, locale: 'nb-NO',
    acceptDownloads: true }, opts || {}));
}

// Run axe-core on the whole page (open shadow roots included); fail on any violation.
async function audit(page, name) {
  // let opening animations finish: axe measures contrast as it is painted now
  await page.evaluate(() => {
    const anims = document.getAnimations();
    document.querySelectorAll('*').forEach((e) => { if (e.shadowRoot) anims.push(...e.shadowRoot.getAnimations()); });
    return Promise.all(anims.map((a) => a.finished.catch(() => {})));
  });
  await page.evaluate(AXE + ';0'); // evaluate is not subject to the page's CSP
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary) }));
  });
  await shot(page, name);
  assert.deepEqual(res, [], 'axe violations in state "' + name + '":\n' + JSON.stringify(res, null, 2));
}

async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: false });
}

// Start a child process and wait for a line matching re on its stdout; resolves to the match.
function startProcess(cmd, args, re, opts) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, Object.assign({ stdio: ['ignore', 'pipe', 'inherit'] }, opts || {}));
    let buf = '';
    const timer = setTimeout(() => reject(new Error(cmd + ' did not start')), 20000);
    p.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) { clearTimeout(timer); resolve({ proc: p, match: m }); }
    });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(cmd + ' exited ' + code)); });
  });
}

// A page on another origin that embeds the widget with one script tag.
function hostPage(widgetUrl, lang) {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example public service</title></head>
<body><header><p>Example public service</p></header>
<main><h1>Career guidance</h1><p>Questions about education and work? Chat with us.</p></main>
<script src="${widgetUrl}" data-queue="general" data-lang="${lang || 'nb'}" async></script>
</body></html>`;
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

async function post(url, body) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}) });
  return r.status === 204 ? {} : r.json().catch(() => ({}));
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

module.exports = { ROOT, ARTIFACTS, launch, context, audit, shot, startProcess, hostPage, post, sleep };
