// e2e.test.js — the web chat end to end in real headless Chromium against the real gateway
// and a real Prosody, with the counsellor Kari on XMPP (stack.py): embedded from another
// origin, a whole conversation, reload and connection drop without loss or duplicates, two
// tabs, XSS inert, rate limit, the counsellor closing, closed hours; axe on every state.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const L = require('./lib');

class Stack {
  constructor(origin, closed) {
    this.p = spawn('/usr/bin/python3', [path.join(__dirname, 'stack.py'), origin].concat(closed ? ['closed'] : []),
      { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = [];
    this.waiters = [];
    readline.createInterface({ input: this.p.stdout }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(JSON.parse(l)); else this.lines.push(JSON.parse(l));
    });
  }
  next(timeoutMs) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('stack.py did not answer')), timeoutMs || 60000);
      this.waiters.push((v) => { clearTimeout(t); resolve(v); });
    });
  }
  async cmd(c) {
    this.p.stdin.write(JSON.stringify(c) + '\n');
    const r = await this.next();
    if (r.error) throw new Error('stack: ' + r.error + '\n' + (r.trace || ''));
    return r;
  }
  async stop() {
    this.p.stdin.write('{"cmd":"quit"}\n');
    const r = await this.next(30000).catch(() => ({}));
    this.p.kill();
    return r;
  }
}

let browser, host, origin;

before(async () => {
  host = await L.hostPage('about:blank', 'nb'); // the real script URL is set per test below
  origin = 'http://127.0.0.1:' + host.address().port;
  browser = await L.launch();
});

after(async () => {
  if (browser) await browser.close();
  if (host) host.close();
});

// Point the host page at this stack's widget.js.
function embed(url) {
  host.removeAllListeners('request');
  host.on('request', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example public service</title></head>
<body><header><p>Example public service</p></header>
<main><h1>Career guidance</h1><p>Questions about education and work? Chat with us.</p></main>
<script src="${url}/webchat/widget.js" data-queue="general" data-lang="nb" async></script>
</body></html>`);
  });
}

const root = (page) => page.locator('#skagerrak-webchat');
async function count(page, text) {
  return page.locator('.skw-msg .skw-text').evaluateAll((els, t) => els.filter((e) => e.textContent === t).length, text);
}

test('a whole conversation with a counsellor on XMPP', { timeout: 180000 }, async () => {
  const stack = new Stack(origin);
  const { url } = await stack.next();
  embed(url);
  try {
    await stack.cmd({ cmd: 'sign_in' });
    const ctx = await L.context(browser);
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin + '/');
    await page.locator('button.skw-launcher').waitFor();
    await L.audit(page, 'e2e-01-launcher');
    await page.locator('button.skw-launcher').press('Enter');
    await page.locator('form.skw-start').waitFor();
    await L.audit(page, 'e2e-02-open');
    await page.locator('#skw-f-topic').selectOption('career');
    await page.locator('form.skw-start button.skw-primary').press('Enter');
    await page.locator('#skw-input').waitFor();
    await L.audit(page, 'e2e-03-queued');

    // Kari is offered the conversation, with the pre-chat answer, and takes it
    await stack.cmd({ cmd: 'accept' });
    await stack.cmd({ cmd: 'wait', text: 'career', contains: true });
    await page.locator('.skw-status', { hasText: 'Kari' }).waitFor();

    await page.locator('#skw-input').fill('Hei! Jeg vurderer å bytte yrke.');
    await page.keyboard.press('Enter');
    await stack.cmd({ cmd: 'wait', text: 'Hei! Jeg vurderer å bytte yrke.' });
    await stack.cmd({ cmd: 'typing' });
    await page.locator('.skw-typing', { hasText: 'Kari skriver' }).waitFor();
    await stack.cmd({ cmd: 'say', text: 'Hei! Fortell litt om hva du jobber med nå.' });
    await page.locator('.skw-out .skw-text', { hasText: 'Fortell litt om' }).waitFor();
    await stack.cmd({ cmd: 'say', text: '<img src=x onerror="window.__xss=1"> & <b>ikke fet</b>' });
    await page.locator('.skw-out .skw-text', { hasText: 'ikke fet' }).waitFor();
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('.skw-msg img, .skw-msg b').count(), 0);
    await L.audit(page, 'e2e-04-chatting');

    // reload: the same conversation, each message once
    await page.reload();
    await page.locator('.skw-out .skw-text', { hasText: 'ikke fet' }).waitFor();
    await L.sleep(500);
    assert.equal(await count(page, 'Hei! Jeg vurderer å bytte yrke.'), 1);
    assert.equal(await count(page, 'Hei! Fortell litt om hva du jobber med nå.'), 1);

    // connection drop: Kari writes while the page is offline; it arrives once afterwards
    await ctx.setOffline(true);
    await L.sleep(500);
    await stack.cmd({ cmd: 'say', text: 'Er du fortsatt der?' });
    await page.locator('#skw-input').fill('Skrev dette uten nett.');
    await page.keyboard.press('Enter');
    await page.locator('.skw-alert', { hasText: 'Ingen forbindelse' }).waitFor();
    await ctx.setOffline(false);
    await page.locator('.skw-out .skw-text', { hasText: 'Er du fortsatt der?' }).waitFor({ timeout: 20000 });
    await stack.cmd({ cmd: 'wait', text: 'Skrev dette uten nett.', timeout: 20 });
    await L.sleep(1500);
    assert.equal(await count(page, 'Er du fortsatt der?'), 1);
    assert.equal(await count(page, 'Skrev dette uten nett.'), 1);
    assert.equal((await stack.cmd({ cmd: 'count', text: 'Skrev dette uten nett.' })).n, 1);

    // a second tab shows the same conversation and sends into it
    const tab2 = await ctx.newPage();
    await tab2.goto(origin + '/');
    await tab2.locator('.skw-text', { hasText: 'Er du fortsatt der?' }).waitFor();
    await tab2.locator('#skw-input').fill('Hilsen fra fane to.');
    await tab2.keyboard.press('Enter');
    await stack.cmd({ cmd: 'wait', text: 'Hilsen fra fane to.' });
    await page.locator('.skw-in .skw-text', { hasText: 'Hilsen fra fane to.' }).waitFor();
    await L.sleep(500);
    assert.equal(await count(page, 'Hilsen fra fane to.'), 1);
    await tab2.close();

    // rate limit: a clear message in nb; the message is kept and sent later
    for (let i = 0; i < 14; i++) {
      await page.locator('#skw-input').fill('Rask melding ' + i);
      await page.keyboard.press('Enter');
    }
    await page.locator('.skw-alert', { hasText: 'Du sender meldinger veldig raskt' }).waitFor();
    await L.audit(page, 'e2e-05-rate-limited');

    // Kari closes the conversation
    await stack.cmd({ cmd: 'command', text: '!close info' });
    await page.locator('#skw-ended-h').waitFor();
    await L.audit(page, 'e2e-06-ended');
    const [dl] = await Promise.all([page.waitForEvent('download'),
      page.locator('button', { hasText: 'Last ned samtalen' }).click()]);
    const fs = require('node:fs');
    const text = fs.readFileSync(await dl.path(), 'utf8');
    assert.match(text, /Jeg vurderer å bytte yrke/);
    await page.locator('label', { hasText: '5 – Svært bra' }).click();
    await page.locator('button', { hasText: 'Send tilbakemelding' }).click();
    await page.locator('.skw-note', { hasText: 'Takk for tilbakemeldingen!' }).waitFor();
    assert.deepEqual(errors, []);
    await ctx.close();
  } finally {
    const r = await stack.stop();
    assert.equal(r.stopped, 0, 'gateway exit code');
  }
});

test('outside opening hours: when it opens, and a message left', { timeout: 120000 }, async () => {
  const stack = new Stack(origin, true);
  const { url } = await stack.next();
  embed(url);
  try {
    const ctx = await L.context(browser);
    const page = await ctx.newPage();
    await page.goto(origin + '/');
    await page.locator('button.skw-launcher').click();
    await page.locator('.skw-notice', { hasText: /Vi er stengt nå\. Vi åpner igjen .*kl\. 00:00\./ }).waitFor();
    await L.audit(page, 'e2e-07-closed-hours');
    await page.locator('button', { hasText: 'Skriv en melding' }).click();
    await page.locator('#skw-input').fill('Kan dere ringe meg i morgen?');
    await page.keyboard.press('Enter');
    await page.locator('.skw-in .skw-mark', { hasText: 'Sendt' }).waitFor();
    await page.locator('.skw-auto .skw-text', { hasText: 'Vi er stengt nå' }).waitFor();
    await L.audit(page, 'e2e-08-closed-hours-message');
    await ctx.close();
  } finally {
    await stack.stop();
  }
});
