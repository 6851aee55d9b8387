// End-to-end test of the trainer console in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core). Started by run.sh, which provides a fresh database, a product service and the console:
//   CONSOLE_URL, PRODUCT_URL, ADMIN_TOKEN, SCREENSHOT (where to save the picture), CHART_SCREENSHOT
// It checks what a trainer relies on in front of a room: read-only without the token, a flip with it that
// reaches the product service and the page within 2 s, changes from elsewhere showing up on the page, and
// the live charts: they exist, move every second under traffic, and mark a flip where it happened.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const CONSOLE = need('CONSOLE_URL');
const PRODUCT = need('PRODUCT_URL');
const TOKEN = need('ADMIN_TOKEN');
const SCREENSHOT = process.env.SCREENSHOT || 'console-e2e.png';
const CHART_SCREENSHOT = process.env.CHART_SCREENSHOT || 'console-charts.png';
const LATENCY = '#case-1 svg.chart[data-chart="latency"]';
const TRAFFIC = '#case-1 svg.chart[data-chart="throughput"]';
const FLAG = 'product.eager_loading';
const SWITCH = `li[data-flag="${FLAG}"] input[type=checkbox]`;
const WHO = `li[data-flag="${FLAG}"] .who`;

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run e2e/console/run.sh`);
  return v;
}

let browser;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1600, height: 1300 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(CONSOLE);
  await page.waitForSelector(SWITCH);
});

after(async () => {
  if (browser) await browser.close();
});

/** The product service's own view of the flag (GET /admin/flags). */
async function productFlag() {
  const body = await (await fetch(`${PRODUCT}/admin/flags`)).json();
  return body.flags.find((f) => f.name === FLAG);
}

/** Polls `probe` every 50 ms until it is true; fails after `ms`. Returns the time it took. */
async function within(ms, what, probe) {
  const started = Date.now();
  while (Date.now() - started <= ms) {
    if (await probe()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

test('without the token the page is read-only and writes are refused', { timeout: 20000 }, async () => {
  const loaded = () => page.evaluate(() => document.querySelector('#updated').textContent.startsWith('updated'));
  await within(3000, 'state loaded', loaded);
  assert.equal(await page.isDisabled(SWITCH), true, 'the switch is disabled');
  assert.equal((await page.textContent('#mode')).trim(), 'read-only');
  const status = await page.evaluate(async (flag) => {
    const headers = { 'Content-Type': 'application/json' };
    const r = await fetch(`/api/flags/${flag}`, { method: 'PUT', headers, body: '{"value":true}' });
    return r.status;
  }, FLAG);
  assert.equal(status, 401, 'a write without the token is refused');
  assert.equal((await productFlag()).value, false, 'nothing changed');
});

test('a wrong token does not unlock', { timeout: 20000 }, async () => {
  await page.fill('#token', 'not-the-token');
  await page.click('#unlock');
  await page.waitForSelector('#notice:not([hidden])');
  assert.match(await page.textContent('#notice'), /admin token/);
  assert.equal(await page.isDisabled(SWITCH), true);
});

test('live numbers: the product service is up, auth is down', { timeout: 20000 }, async () => {
  const row = (name) => `#case-${name === 'product' ? 1 : 3} tr[data-process="${name}"]`;
  const isUp = (sel) => document.querySelector(sel)?.classList.contains('up');
  await within(5000, 'product row up', () => page.evaluate(isUp, row('product')));
  await within(5000, 'auth row down', async () => /down/.test((await page.textContent(row('auth'))) || ''));
});

/** Sends product requests in the background (a few a second) until the returned stop function is called. */
function traffic() {
  let on = true;
  (async () => {
    while (on) {
      await fetch(`${PRODUCT}/products?limit=5`).catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return () => { on = false; };
}

/** The chart's number of points and the d attribute of its first line. */
const chartState = (sel) => page.evaluate((s) => {
  const svg = document.querySelector(s);
  return svg && { points: Number(svg.dataset.points), d: svg.querySelector('path.line')?.getAttribute('d') || '' };
}, sel);

test('live charts: one per case, moving every second under traffic', { timeout: 30000 }, async () => {
  const stop = traffic();
  try {
    for (const n of [1, 2, 3]) await page.waitForSelector(`#case-${n} svg.chart[data-chart="latency"]`, { timeout: 5000 });
    await within(6000, 'the throughput line has points with traffic', async () => /L/.test((await chartState(TRAFFIC)).d));
    const first = await chartState(TRAFFIC);
    await new Promise((r) => setTimeout(r, 2500));
    const later = await chartState(TRAFFIC);
    assert.ok(later.points > first.points, `points grow: ${first.points} -> ${later.points}`);
    assert.notEqual(later.d, first.d, 'the line moved');
    assert.match((await chartState(LATENCY)).d, /M/, 'the latency chart draws p95');
    assert.match(await page.textContent('#case-1 .charts'), /p99/);
  } finally {
    stop();
  }
});

test('with the token a flip reaches the product service and the page within 2 s', { timeout: 30000 }, async () => {
  await page.fill('#name', 'e2e');
  await page.dispatchEvent('#name', 'change');
  await page.fill('#token', TOKEN);
  await page.click('#unlock');
  await page.waitForSelector(`${SWITCH}:not([disabled])`, { timeout: 5000 });
  assert.equal((await page.textContent('#mode')).trim(), 'writes unlocked');
  assert.equal(await page.isChecked(SWITCH), false);

  const clicked = Date.now();
  await page.click(SWITCH);
  const service = await within(2000, 'product /admin/flags shows the flip', async () => {
    const f = await productFlag();
    return f.value === true && f.updated_by === 'console:e2e';
  });
  await within(2000 - (Date.now() - clicked), 'the page shows the flip and who made it', () => page.evaluate(([sw, who]) =>
    document.querySelector(sw).checked && document.querySelector(who).textContent.includes('console:e2e'), [SWITCH, WHO]));
  const rows = await page.$$eval('#events tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(rows.some((r) => r.includes(FLAG) && r.includes('console:e2e')), `history lists the flip: ${rows}`);
  console.log(`flip visible in the product service after ${service} ms, on the page after ${Date.now() - clicked} ms`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});

test('a change made elsewhere (the service admin API) shows on the page within 2 s', { timeout: 20000 }, async () => {
  const resp = await fetch(`${PRODUCT}/admin/flags/${FLAG}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ value: false }),
  });
  assert.equal(resp.status, 200);
  await within(2000, 'the page follows the API write', () => page.evaluate(([sw, who]) =>
    !document.querySelector(sw).checked && document.querySelector(who).textContent.includes('api:product'), [SWITCH, WHO]));
});

test('a flip shows as a marker on its case\'s charts, not on the others', { timeout: 20000 }, async () => {
  const marker = (n) => `#case-${n} svg.chart g.marker[data-flag~="${FLAG}"]`;
  await page.waitForSelector(marker(1), { timeout: 3000 });
  const label = await page.textContent(`${marker(1)} text`);
  assert.match(label, /eager_loading=(true|false)/);
  assert.equal(await page.$(marker(2)), null, 'case 2 has no marker for a product flag');
  const stop = traffic();
  await new Promise((r) => setTimeout(r, 2000));
  stop();
  await (await page.$('#case-1')).screenshot({ path: CHART_SCREENSHOT });
});

test('the slow-query table lists the lab database\'s statements', { timeout: 20000 }, async () => {
  await within(8000, 'statements listed', async () => (await page.$$('#statements tbody tr')).length > 0);
  const text = await page.textContent('#statements tbody');
  assert.match(text, /lab\.flag/, 'the console\'s own reads of lab.flags / lab.flag_events are there');
});

test('chapter levers: grouped by chapter, a flip reaches the product service, the compare command shows', { timeout: 20000 }, async () => {
  const LEVER = 'product.load_shedding';
  const chapter = '#chapters .chapter[data-chapter="10"]';
  const sw = `${chapter} li[data-flag="${LEVER}"] input[type=checkbox]`;
  assert.match(await page.textContent(`${chapter} h3`), /Traffic Management \(ch\. 10; 9 in the case studies\)/);
  await page.waitForSelector(`${sw}:not([disabled])`, { timeout: 5000 });
  assert.equal(await page.isChecked(sw), false, 'before state: off');
  await page.click(sw);
  await within(2000, 'product /admin/flags shows the chapter lever on', async () => {
    const body = await (await fetch(`${PRODUCT}/admin/flags`)).json();
    const f = body.flags.find((x) => x.name === LEVER);
    return f && f.value === true && f.updated_by === 'console:e2e';
  });
  await page.click(`${chapter} li[data-flag="${LEVER}"] button.compare`);
  const cmd = `${chapter} li[data-flag="${LEVER}"] code.cmd`;
  await page.waitForSelector(`${cmd}:not([hidden])`, { timeout: 2000 });
  assert.equal((await page.textContent(cmd)).trim(), `shoplab lever ${LEVER} --compare`);
  await page.click(sw);
  await within(2000, 'and back off', () => page.evaluate((s) => !document.querySelector(s).checked, sw));
});
