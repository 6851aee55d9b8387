// The API explorer (/docs) of every shoplab service and the console, in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core). Started by run.sh, which provides a lab:
//   PRODUCT_URL, AUTH_URL, ANALYTICS_URL, EMAIL_PROVIDER_URL, CONSOLE_URL, ADMIN_TOKEN, SCREENSHOTS (a directory)
// Every request to a host other than 127.0.0.1 is blocked and counted: the explorer must work with no
// network besides the service. Each page must render every operation of its OpenAPI document, with no
// failed asset and no console error (a Content-Security-Policy violation would be one); on the product
// service, the admin token typed into the Authorize dialog must reach the service through try-it-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const TOKEN = need('ADMIN_TOKEN');
const SHOTS = process.env.SCREENSHOTS || '.';
const SERVICES = [
  { name: 'product', url: need('PRODUCT_URL'), spec: '/openapi.json' },
  { name: 'auth', url: need('AUTH_URL'), spec: '/openapi.json' },
  { name: 'analytics', url: need('ANALYTICS_URL'), spec: '/openapi.json' },
  { name: 'email-provider', url: need('EMAIL_PROVIDER_URL'), spec: '/openapi.json' },
  { name: 'console', url: need('CONSOLE_URL'), spec: '/api/openapi.json' },
];
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run e2e/explorer/run.sh`);
  return v;
}

let browser;
let context;
/** Requests the route handler refused because they left 127.0.0.1. */
const blocked = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1400, height: 1800 } });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
});

after(async () => {
  if (browser) await browser.close();
});

/** Opens `service`'s /docs and collects what went wrong while it loaded. */
async function open(service) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`); });
  await page.goto(`${service.url}/docs`);
  return { page, problems };
}

/** The number of operations in the service's OpenAPI document. */
async function operationCount(service) {
  const doc = await (await fetch(`${service.url}${service.spec}`)).json();
  return Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).filter((m) => METHODS.includes(m)).length, 0);
}

for (const service of SERVICES) {
  test(`${service.name}: /docs renders every operation offline`, { timeout: 30000 }, async () => {
    const expected = await operationCount(service);
    assert.ok(expected > 0, 'the document lists operations');
    const { page, problems } = await open(service);
    await page.waitForSelector('.opblock');
    await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, expected, { timeout: 10000 });
    const title = await page.textContent('.info .title');
    assert.match(title, new RegExp(`shoplab ${service.name}`), 'the service\'s own title');
    assert.equal(await page.locator('button.btn.authorize').count(), 1, 'an Authorize button');
    await page.screenshot({ path: `${SHOTS}/${service.name}.png`, fullPage: false });
    assert.deepEqual(problems, [], 'no failed request, no console error');
    assert.deepEqual(blocked, [], 'nothing requested outside 127.0.0.1');
    await page.close();
  });
}

test('product: the admin token set in Authorize reaches the service through try-it-out', { timeout: 40000 }, async () => {
  const product = SERVICES[0];
  const { page, problems } = await open(product);
  await page.click('button.btn.authorize');
  await page.fill('.modal-ux input[type=text], .modal-ux input[type=password]', TOKEN);
  await page.click('.modal-ux .auth-btn-wrapper button.authorize');
  await page.click('.modal-ux .auth-btn-wrapper button.btn-done');
  const op = page.locator('.opblock-put').filter({ has: page.locator('[data-path="/products/{id}/price"]') });
  await op.locator('.opblock-summary-control').click();
  await op.locator('button.try-out__btn').click();
  await op.locator('tr[data-param-name="id"] input').fill('1');
  await op.locator('textarea.body-param__text').fill('{"amount_cents": 4321, "currency": "EUR"}');
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor();
  assert.equal((await status.textContent()).trim(), '200', 'the write was authorized');
  await page.screenshot({ path: `${SHOTS}/product-try-it-out.png`, fullPage: false });
  const detail = await (await fetch(`${product.url}/products/1`)).json();
  assert.equal(detail.price.amount_cents, 4321, 'the service applied the price sent from the explorer');
  assert.deepEqual(problems, [], 'no failed request, no console error');
  assert.deepEqual(blocked, [], 'nothing requested outside 127.0.0.1');
});
