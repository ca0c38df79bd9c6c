// widget.test.js — the widget in real headless Chromium against mockgw.py (same protocol as
// the plugin): every state audited with axe (zero violations) and screenshotted, keyboard
// only, reload/drop/two tabs without loss or duplicates, XSS inert, rate limit, closed hours,
// the full page under its CSP, 360 px and 200 % zoom, reduced motion.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const L = require('./lib');

let gw, gwUrl, host, hostUrl, browser;
const ctl = (what, body) => L.post(gwUrl + '/_ctl/' + what, body);
const state = async () => (await fetch(gwUrl + '/_ctl/state')).json();

before(async () => {
  const { proc, match } = await L.startProcess('/usr/bin/python3',
    [path.join(__dirname, 'mockgw.py'), '0', path.join(L.ROOT, 'plugins/webchat/static')], /listening on 127\.0\.0\.1:(\d+)/);
  gw = proc;
  gwUrl = 'http://127.0.0.1:' + match[1];
  host = await L.hostPage(gwUrl + '/webchat/widget.js', 'nb');
  hostUrl = 'http://127.0.0.1:' + host.address().port + '/';
  browser = await L.launch();
});

after(async () => {
  if (browser) await browser.close();
  if (host) host.close();
  if (gw) gw.kill();
});

// Count message bubbles whose text is exactly `text`.
async function count(page, text) {
  return page.locator('.skw-msg .skw-text', { hasText: text }).evaluateAll(
    (els, t) => els.filter((e) => e.textContent === t).length, text);
}

async function tabTo(page, selector, max) {
  for (let i = 0; i < (max || 30); i++) {
    await page.keyboard.press('Tab');
    const hit = await page.evaluate((sel) => {
      let a = document.activeElement;
      while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
      return !!a && a.matches(sel);
    }, selector);
    if (hit) return;
  }
  throw new Error('could not reach ' + selector + ' with Tab');
}

test('embedded widget: a whole conversation by keyboard, every state accessible', async () => {
  const ctx = await L.context(browser);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await ctl('queue', { open: true, waiting: 2, wait_s: 240 });
  await page.goto(hostUrl);
  const launcher = page.locator('button.skw-launcher');
  await launcher.waitFor();
  assert.equal(await launcher.textContent(), 'Chat med en veileder');
  await L.audit(page, '01-launcher');

  // open with the keyboard
  await tabTo(page, 'button.skw-launcher');
  await page.keyboard.press('Enter');
  await page.locator('#skw-panel').waitFor();
  assert.equal(await page.evaluate(() => document.querySelector('#skagerrak-webchat').shadowRoot.activeElement.id), 'skw-title');
  await page.locator('.skw-queue', { hasText: '2 personer venter' }).waitFor();
  await L.audit(page, '02-open');

  // choose a topic and start, keyboard only
  await tabTo(page, '#skw-f-topic');
  await page.keyboard.press('ArrowDown'); // "Utdanning og studievalg"
  await tabTo(page, 'button.skw-primary');
  await page.keyboard.press('Enter');
  await page.locator('#skw-input').waitFor();
  // focus lands in the message field
  assert.equal(await page.evaluate(() => document.querySelector('#skagerrak-webchat').shadowRoot.activeElement.id), 'skw-input');

  await ctl('auto', { text: 'Du er nummer 2 i køen.', meta: { type: 'position', position: 2, wait_s: 180 } });
  await page.locator('.skw-status', { hasText: 'Du er nummer 2 i køen. Forventet ventetid: omtrent 3 min.' }).waitFor();
  await L.audit(page, '03-queued');

  await page.keyboard.type('Hei! Jeg lurer på om jeg skal bli elektriker.');
  await page.keyboard.press('Enter');
  await page.locator('.skw-in .skw-mark', { hasText: 'Sendt' }).waitFor();
  let st = await state();
  assert.equal(st.messages.filter((m) => m.dir === 'in').length, 1);
  assert.ok(st.events.some((e) => e[0] === 'typing' && e[1] === 'composing'));

  await ctl('auto', { text: 'Kari er med i samtalen.', meta: { type: 'joined', name: 'Kari' } });
  await page.locator('.skw-status', { hasText: 'Kari er med i samtalen.' }).waitFor();
  await ctl('typing', { state: 'composing' });
  await page.locator('.skw-typing', { hasText: 'Kari skriver' }).waitFor();
  await ctl('say', { text: 'Hei! Så fint. Se https://utdanning.no/yrker/elektriker for en oversikt.' });
  await page.locator('.skw-out .skw-who', { hasText: 'Kari' }).waitFor();
  assert.equal(await page.locator('.skw-typing').isHidden(), true);
  const link = page.locator('.skw-out a');
  assert.equal(await link.getAttribute('href'), 'https://utdanning.no/yrker/elektriker');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  // displayed counsellor messages are acknowledged
  await L.sleep(900);
  st = await state();
  assert.ok(st.events.some((e) => e[0] === 'ack'));

  // XSS payloads both ways stay text
  await ctl('say', { text: '<img src=x onerror="window.__xss=1"><b>fet</b>' });
  await page.locator('#skw-input').fill('<script>window.__xss=2</script><svg onload="window.__xss=3">');
  await page.keyboard.press('Enter');
  await page.locator('.skw-out .skw-text', { hasText: '<img src=x onerror="window.__xss=1"><b>fet</b>' }).waitFor();
  await page.locator('.skw-in .skw-text', { hasText: '<script>window.__xss=2</script>' }).waitFor();
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('.skw-msg img, .skw-msg b, .skw-msg script, .skw-msg svg').count(), 0);
  await L.audit(page, '04-chatting');

  // reload in the middle: same conversation, nothing lost, nothing twice
  await page.reload();
  await page.locator('.skw-out .skw-text', { hasText: 'onerror' }).waitFor();
  await L.sleep(300);
  assert.equal(await count(page, 'Hei! Jeg lurer på om jeg skal bli elektriker.'), 1);
  assert.equal(await count(page, '<img src=x onerror="window.__xss=1"><b>fet</b>'), 1);
  assert.equal(await page.locator('#skw-panel').isVisible(), true); // it stays open

  // connection drop: the stream resumes from Last-Event-ID
  await ctl('drop');
  await ctl('say', { text: 'Sendt mens forbindelsen var nede.' });
  await page.locator('.skw-text', { hasText: 'Sendt mens forbindelsen var nede.' }).waitFor({ timeout: 10000 });
  await L.sleep(1500);
  assert.equal(await count(page, 'Sendt mens forbindelsen var nede.'), 1);

  // offline send: kept in storage, delivered after reconnecting
  await ctx.setOffline(true);
  await page.locator('#skw-input').fill('Skrevet uten nett.');
  await page.keyboard.press('Enter');
  await page.locator('.skw-alert', { hasText: 'Ingen forbindelse' }).waitFor();
  const stored = await page.evaluate(() => Object.keys(localStorage).map((k) => localStorage.getItem(k)).join(''));
  assert.match(stored, /Skrevet uten nett\./);
  await ctx.setOffline(false);
  await page.waitForFunction(() => !document.querySelector('#skagerrak-webchat').shadowRoot.querySelector('.skw-pending'), null, { timeout: 15000 });
  await L.sleep(500);
  st = await state();
  assert.equal(st.messages.filter((m) => m.text === 'Skrevet uten nett.').length, 1, JSON.stringify(st.messages.slice(-3)) + await page.locator('.skw-log').innerText());
  assert.equal(await count(page, 'Skrevet uten nett.'), 1);

  // two tabs: the second shows the same conversation, and what it sends shows in the first
  const tab2 = await ctx.newPage();
  await tab2.goto(hostUrl);
  await tab2.locator('.skw-text', { hasText: 'Skrevet uten nett.' }).waitFor();
  assert.equal(await count(tab2, 'Hei! Jeg lurer på om jeg skal bli elektriker.'), 1);
  await tab2.locator('#skw-input').fill('Fra fane to.');
  await tab2.keyboard.press('Enter');
  await page.locator('.skw-in .skw-text', { hasText: 'Fra fane to.' }).waitFor();
  await L.sleep(500);
  assert.equal(await count(page, 'Fra fane to.'), 1);
  assert.equal(await count(tab2, 'Fra fane to.'), 1);
  await tab2.close();

  // rate limit: a clear message in the seeker's language, and the text is not lost
  await ctl('limits', { rate: 1 });
  await page.locator('#skw-input').fill('Første av to.');
  await page.keyboard.press('Enter');
  await page.locator('#skw-input').fill('Andre av to.');
  await page.keyboard.press('Enter');
  await page.locator('.skw-alert', { hasText: 'Du sender meldinger veldig raskt' }).waitFor();
  await ctl('limits', { rate: 100 });
  await page.locator('.skw-in .skw-text', { hasText: 'Andre av to.' }).waitFor();
  await page.waitForFunction(() => !document.querySelector('#skagerrak-webchat').shadowRoot.querySelector('.skw-pending'), null, { timeout: 10000 });

  // the counsellor ends it
  await ctl('close', { reason: 'counsellor', text: 'Takk for praten!' });
  await page.locator('#skw-ended-h').waitFor();
  assert.equal(await page.locator('#skw-input').count(), 0);
  await L.audit(page, '06-ended');

  // transcript download, feedback
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('button', { hasText: 'Last ned samtalen' }).click()]);
  assert.equal(dl.suggestedFilename(), 'chatsamtale.txt');
  await page.locator('label', { hasText: '4 – Bra' }).click();
  await page.locator('#skw-comment').fill('Nyttig!');
  await page.locator('button', { hasText: 'Send tilbakemelding' }).click();
  await page.locator('.skw-note', { hasText: 'Takk for tilbakemeldingen!' }).waitFor();
  st = await state();
  assert.deepEqual(st.feedback[st.feedback.length - 1], { rating: 4, comment: 'Nyttig!' });
  await L.audit(page, '07-feedback');

  // a new chat starts clean
  await page.locator('button', { hasText: 'Start en ny chat' }).click();
  await page.locator('form.skw-start').waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('closed hours: says when it opens, in the seeker\'s language, and takes a message', async () => {
  const next = Date.UTC(2030, 0, 7, 8, 0); // Monday 7 January 2030, 09:00 in Oslo
  await ctl('queue', { open: false, waiting: 0, next_open_ms: next });
  try { await closedHours(next); } finally { await ctl('queue', { open: true, waiting: 0, next_open_ms: null }); }
});

async function closedHours(next) {
  const ctx = await L.context(browser, { locale: 'da-DK' });
  const page = await ctx.newPage();
  await page.goto(hostUrl.replace(/\/$/, '/') + '?da'); // host page asks for nb, but
  await page.locator('button.skw-launcher').click();
  await page.locator('.skw-notice').waitFor();
  // the embed attribute says nb; switch to Danish in the panel
  await page.locator('#skw-lang').selectOption('da');
  await page.locator('.skw-notice', { hasText: /Vi har lukket lige nu\. Vi åbner igen mandag (den )?7\. januar kl\. 09[.:]00\./ }).waitFor();
  await L.audit(page, '05-closed-hours');
  await page.locator('button', { hasText: 'Skriv en besked' }).click();
  await page.locator('#skw-input').fill('Kan I ringe mig op i morgen?');
  await page.keyboard.press('Enter');
  await page.locator('.skw-in .skw-mark', { hasText: 'Sendt' }).waitFor();
  await ctl('auto', { text: 'Vi har lukket nu.', meta: { type: 'closed_hours', next_open_ms: next } });
  await page.locator('.skw-status', { hasText: 'Vi åbner igen' }).waitFor();
  await L.audit(page, '05b-closed-hours-message');
  await ctx.close();
}

test('full page chat.html: strict CSP, no violations, blocked session refused', async () => {
  const ctx = await L.context(browser, { locale: 'en-GB' });
  const page = await ctx.newPage();
  const csp = [];
  page.on('console', (m) => { if (/Content Security Policy|Refused/.test(m.text())) csp.push(m.text()); });
  const resp = await page.goto(gwUrl + '/webchat/chat.html');
  assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
  await page.locator('h1#skw-title', { hasText: 'Chat with a counsellor' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await L.audit(page, '08-page-start');
  await page.locator('button', { hasText: 'Start chat' }).click();
  await page.locator('#skw-input').fill('Hello');
  await page.keyboard.press('Enter');
  await page.locator('.skw-in .skw-mark', { hasText: 'Sent' }).waitFor();
  await L.audit(page, '09-page-chatting');
  await ctl('close', { reason: 'blocked', text: 'This chat is closed.' });
  await page.locator('.skw-ended p', { hasText: 'The service has closed this chat.' }).waitFor();
  assert.equal(await page.locator('#skw-input').count(), 0);
  await L.audit(page, '10-page-blocked');
  assert.deepEqual(csp, []);
  await ctx.close();
});

test('360 px wide, 200 % zoom, reduced motion', async () => {
  // a phone
  let ctx = await L.context(browser, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  let page = await ctx.newPage();
  await page.goto(hostUrl);
  await page.locator('button.skw-launcher').click();
  await page.locator('form.skw-start').waitFor();
  let box = await page.locator('#skw-panel').boundingBox();
  assert.ok(box.width <= 360 && box.x >= 0, 'panel fits 360 px: ' + JSON.stringify(box));
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360));
  await L.audit(page, '11-phone-360');
  await ctx.close();

  // 200 % zoom of a 1280x720 window is a 640x360 CSS viewport
  ctx = await L.context(browser, { viewport: { width: 640, height: 360 }, deviceScaleFactor: 2, reducedMotion: 'reduce' });
  page = await ctx.newPage();
  await page.goto(hostUrl);
  await page.locator('button.skw-launcher').click();
  await page.locator('form.skw-start').waitFor();
  box = await page.locator('#skw-panel').boundingBox();
  assert.ok(box.width <= 640 && box.height <= 360, 'panel within the zoomed viewport: ' + JSON.stringify(box));
  // the start button can be reached by scrolling inside the panel
  await page.locator('form.skw-start button.skw-primary').scrollIntoViewIfNeeded();
  assert.ok(await page.locator('form.skw-start button.skw-primary').isVisible());
  const anim = await page.locator('#skw-panel').evaluate((e) => getComputedStyle(e).animationName);
  assert.equal(anim, 'none');
  await L.audit(page, '12-zoom-200');
  await ctx.close();
});
