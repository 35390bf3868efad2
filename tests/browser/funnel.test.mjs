// The storefront funnel end to end, in headless Chromium against a running `insights serve`: a
// fresh merchant (registered through the API) gets a generated storefront's Web Pixels events
// through POST /events with its ingest key, and signed checkouts/create webhooks; the page then
// shows the funnel exactly as GET /dashboard/funnel answers it for the page's own date range, the
// pixel snippet (GET /pixel.js with this origin and the ingest key filled in) that, run on another
// origin, delivers its events; the abandon-after setting (1 to 10080, the API's own error for 0);
// replacing the ingest key (the snippet changes, the old key is refused); CORS open on /events
// only; and, when the server has already recorded any, the abandoned checkouts it lists.
//
// Abandonment counts are not asserted (when the abandonment job runs is the backend tests' to
// check). Every number is compared with what the API answers, never with a hard-coded date: the
// shop's zone is the server's to decide for a fresh tenant. Events are dated at midday UTC, far
// from any date edge.
//
// Env: BASE_URL (default http://127.0.0.1:3000), SHOPIFY_API_SECRET (the app secret the server
// verifies webhooks with; without it the webhook step is skipped), ARTIFACTS_DIR (default
// test-artifacts), CHROMIUM_PATH (default /usr/bin/chromium). Screenshot: $ARTIFACTS_DIR/funnel.png.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const ORIGIN = new URL(BASE_URL).origin;
const SECRET = process.env.SHOPIFY_API_SECRET || '';
const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR || 'test-artifacts';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT = 15_000;
const PIXEL_FILE = new URL('../../dashboard/pixel.js', import.meta.url);
const HOUR = 3_600_000;

const suffix = `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const merchant = {
  name: 'Funnel Merchant',
  email: `f${suffix}@example.com`,
  password: `pw-${crypto.randomBytes(9).toString('base64url')}`, // 15 characters
  shop: `f${suffix}.myshopify.com`,
};

// The storefront's clock: every event happens within minutes after T, a midday UTC at least four
// hours ago (today's, or before 16:00 UTC yesterday's), so it is dated the same in any zone within
// ±11 hours, inside the page's default range (the last 30 days), and before the checkouts' last
// update three hours ago.
const NOW = Date.now();
const T = (() => {
  const latest = NOW - 4 * HOUR;
  const d = new Date(latest);
  const noon = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 12);
  return noon <= latest ? noon : noon - 24 * HOUR;
})();
const CURRENCY = 'EUR';

let browser;
let page;
let token; // the API token from registration
let ingestKey; // the tenant's current ingest key
let shot = null; // what to screenshot when a test fails
const pageErrors = [];
const foreignRequests = [];
const sentEvents = []; // every event accepted so far (for duplicates)

// What the generated storefront did, in the funnel's terms, updated as events are delivered.
const expected = { sessions: 0, cart: 0, checkout: 0, converted: 0, checkoutTokens: new Set(), completedTokens: new Set() };

// --- helpers ---------------------------------------------------------------------------------

const byTestId = (id) => page.locator(`[data-testid="${id}"]`);
const pad2 = (n) => String(n).padStart(2, '0');
const iso = (ms) => new Date(ms).toISOString();
/** RFC 3339 with a "+00:00" offset, as Shopify's REST payloads write times. */
const shopifyTime = (ms) => iso(ms).replace(/\.\d{3}Z$/, '+00:00');

async function apiCall(pathname, { method = 'GET', body, auth = token, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (auth) h.Authorization = `Bearer ${auth}`;
  const res = await fetch(`${BASE_URL}${pathname}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

async function apiJson(pathname, options = {}) {
  const res = await apiCall(pathname, options);
  assert.ok(res.status >= 200 && res.status < 300, `${options.method || 'GET'} ${pathname} answered ${res.status}: ${res.text}`);
  assert.ok(res.json && typeof res.json === 'object', `${pathname} answered JSON: ${res.text}`);
  return res.json;
}

/** POST /events as the pixel sends it: text/plain, the key in the query (or in X-Ingest-Key). */
async function postEvents(body, { key = ingestKey, via = 'query' } = {}) {
  const url = via === 'query' ? `${BASE_URL}/events?key=${encodeURIComponent(key)}` : `${BASE_URL}/events`;
  const headers = { 'Content-Type': 'text/plain;charset=UTF-8' };
  if (via === 'header') headers['X-Ingest-Key'] = key;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

function assertIngested(res, { accepted, duplicates = 0, rejected = 0 }, what) {
  assert.equal(res.status, 202, `${what}: POST /events answered ${res.status}: ${res.text}`);
  assert.deepEqual(
    { accepted: res.json?.accepted, duplicates: res.json?.duplicates, rejected: res.json?.rejected },
    { accepted, duplicates, rejected },
    `${what}: ${res.text}`,
  );
}

/** n ÷ total, four decimals, half-even, "0.0000" without a total: the contract's conversion_rate rule. */
function rateOf(n, total) {
  const a = BigInt(n);
  const b = BigInt(total);
  if (b === 0n) return '0.0000';
  let q = (a * 10000n) / b;
  const r = (a * 10000n) % b;
  if (2n * r > b || (2n * r === b && q % 2n === 1n)) q += 1n;
  return `${q / 10000n}.${String(q % 10000n).padStart(4, '0')}`;
}

/** "0.0312" → "3.12%". */
function percent(rate) {
  const m = /^(\d+)\.(\d{4})$/.exec(rate);
  assert.ok(m, `a rate with four decimals: ${rate}`);
  const basisPoints = BigInt(m[1]) * 10000n + BigInt(m[2]);
  return `${basisPoints / 100n}.${String(basisPoints % 100n).padStart(2, '0')}%`;
}

function money(amount, currency) {
  return currency ? `${amount} ${currency}` : `${amount}`;
}

/** The pixel's source with the two constants filled in, as the page must do it. */
function fillPixel(source, endpoint, key) {
  return source
    .replace('"__INSIGHTS_ENDPOINT__"', () => JSON.stringify(endpoint))
    .replace('"__INSIGHTS_INGEST_KEY__"', () => JSON.stringify(key));
}

/** Shopify-style JSON with 64-bit ids as bare numbers (as Shopify sends them). */
function shopifyJson(value) {
  return JSON.stringify(value).replace(/"(id)":"(\d+)"/g, '"$1":$2');
}

async function sendWebhook(topic, payload) {
  const raw = shopifyJson(payload);
  const hmac = crypto.createHmac('sha256', SECRET).update(raw, 'utf8').digest('base64');
  const res = await fetch(`${BASE_URL}/webhooks`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': topic,
      'X-Shopify-Hmac-Sha256': hmac,
      'X-Shopify-Shop-Domain': merchant.shop,
      'X-Shopify-Event-Id': crypto.randomUUID(),
      'X-Shopify-Webhook-Id': crypto.randomUUID(),
      'X-Shopify-Triggered-At': new Date().toISOString(),
      'X-Shopify-API-Version': '2026-04',
    },
    body: raw,
  });
  const text = await res.text();
  assert.equal(res.status, 200, `webhook ${topic} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

// --- the generated storefront ----------------------------------------------------------------

/** One Web Pixels event as the pixel sends it: {id, name, timestamp, clientId, data}. */
function pixelEvent(name, clientId, at, data = {}) {
  return { id: `sh-${crypto.randomUUID()}`, name, timestamp: iso(at), clientId, data };
}

function checkoutData(c) {
  return {
    checkout: {
      token: c.token,
      currencyCode: CURRENCY,
      totalPrice: { amount: Number(c.total), currencyCode: CURRENCY },
      subtotalPrice: { amount: Number(c.total), currencyCode: CURRENCY },
      email: c.email,
      phone: null,
      lineItems: [{ id: `${c.index}`, quantity: 1, title: `Product ${c.index}`, variant: { price: { amount: Number(c.total), currencyCode: CURRENCY } } }],
    },
  };
}

/** A visitor's events: views, then (as far as they go) the cart, the checkout, the purchase. */
function visitorEvents(c) {
  const at = (minutes) => T + c.index * 60_000 + minutes * 1000;
  const variant = { id: `4000${c.index}`, price: { amount: Number(c.total), currencyCode: CURRENCY }, product: { id: `7000${c.index}`, title: `Product ${c.index}` } };
  const events = [
    pixelEvent('page_viewed', c.clientId, at(0)),
    pixelEvent('product_viewed', c.clientId, at(10), { productVariant: variant }),
    pixelEvent('page_viewed', c.clientId, at(15)),
  ];
  if (c.cart) {
    events.push(pixelEvent('product_added_to_cart', c.clientId, at(20), {
      cartLine: { merchandise: variant, quantity: 1, cost: { totalAmount: { amount: Number(c.total), currencyCode: CURRENCY } } },
    }));
  }
  if (c.checkout) {
    events.push(pixelEvent('checkout_started', c.clientId, at(30), checkoutData(c)));
    if (c.email) events.push(pixelEvent('checkout_contact_info_submitted', c.clientId, at(40), checkoutData(c)));
  }
  if (c.completed) {
    const done = checkoutData(c);
    done.checkout.order = { id: `gid://shopify/Order/${5_000_000 + c.index}` };
    events.push(pixelEvent('checkout_completed', c.clientId, at(50), done));
  }
  return events;
}

function visitor(index, { cart, checkout, completed, email }) {
  return {
    index,
    clientId: crypto.randomUUID(),
    cart,
    checkout,
    completed,
    email: email ? `buyer${index}.${suffix}@example.com` : null,
    token: checkout ? crypto.randomBytes(16).toString('hex') : null,
    total: `${19 + index * 7}.${pad2((index * 37) % 100)}`,
  };
}

/** Adds a visitor's journey to what the funnel should count. */
function expectVisitor(c) {
  expected.sessions += 1;
  if (c.cart) expected.cart += 1;
  if (c.checkout) {
    expected.checkout += 1;
    expected.checkoutTokens.add(c.token);
  }
  if (c.completed) {
    expected.converted += 1;
    expected.completedTokens.add(c.token);
  }
}

const visitors = [
  visitor(0, { cart: true, checkout: true, completed: true, email: true }),
  visitor(1, { cart: true, checkout: true, completed: true, email: true }),
  visitor(2, { cart: true, checkout: true, completed: false, email: true }),
  visitor(3, { cart: true, checkout: true, completed: false, email: true }),
  visitor(4, { cart: true, checkout: true, completed: false, email: false }),
  visitor(5, { cart: true, checkout: false, completed: false, email: false }),
  visitor(6, { cart: false, checkout: false, completed: false, email: false }),
  visitor(7, { cart: false, checkout: false, completed: false, email: false }),
];
// A checkout only Shopify's webhooks tell about (the visitor declined the pixel's consent).
const webhookOnly = { index: 8, token: crypto.randomBytes(16).toString('hex'), email: `buyer8.${suffix}@example.com`, total: '88.80' };

// --- the page --------------------------------------------------------------------------------

async function waitUntilReady() {
  await page.waitForSelector('[data-testid="dashboard"][data-state="ready"]', { timeout: TIMEOUT });
}

/** Waits for the funnel section to finish loading and fails with its own messages if it failed. */
async function funnelSettled() {
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid="funnel"]')?.dataset.state;
    return s === 'ready' || s === 'error';
  }, null, { timeout: TIMEOUT });
  const state = await byTestId('funnel').getAttribute('data-state');
  if (state !== 'ready') {
    const alerts = await page.locator('[data-testid="funnel"] .alert.error:not([hidden])').allTextContents();
    assert.fail(`the funnel section failed to load: ${alerts.join(' | ')}`);
  }
}

/** Loads the funnel and the abandoned checkouts again (the range's Apply) and returns the page's
 * own GET /dashboard/funnel answer. */
async function refreshFunnel() {
  const funnelAnswer = page.waitForResponse((r) => r.url().startsWith(`${BASE_URL}/dashboard/funnel?`), { timeout: TIMEOUT });
  const eventsAnswer = page.waitForResponse((r) => r.url().startsWith(`${BASE_URL}/dashboard/events?`), { timeout: TIMEOUT });
  await byTestId('range-apply').click();
  const [res] = await Promise.all([funnelAnswer, eventsAnswer]);
  assert.equal(res.status(), 200, `the page's GET /dashboard/funnel answered ${res.status()}`);
  await funnelSettled();
  return res.json();
}

/** What the funnel section shows: texts and the raw values kept in data-value. */
async function funnelOnPage() {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const read = (id) => ({ text: q(id).textContent.trim(), value: q(id).dataset.value ?? null });
    const ids = ['funnel-sessions', 'funnel-sessions-with-cart', 'funnel-sessions-with-checkout', 'funnel-sessions-converted',
      'funnel-sessions-rate', 'funnel-sessions-with-cart-rate', 'funnel-sessions-with-checkout-rate', 'funnel-sessions-converted-rate',
      'funnel-conversion-rate', 'funnel-checkouts-started', 'funnel-checkouts-completed', 'funnel-checkouts-abandoned',
      'funnel-checkouts-recovered', 'funnel-abandoned-value', 'funnel-recovered-value'];
    const section = q('funnel');
    return {
      ...Object.fromEntries(ids.map((id) => [id, read(id)])),
      from: section.dataset.from,
      to: section.dataset.to,
      empty: !q('funnel-empty').hidden,
      days: [...document.querySelectorAll('[data-testid="funnel-days-table"] tbody tr[data-date]')].map((tr) => ({
        date: tr.dataset.date, cells: [...tr.cells].map((td) => td.textContent.trim()),
      })),
    };
  });
}

function assertFunnelShows(shown, f, currency) {
  const steps = [
    ['funnel-sessions', 'sessions'],
    ['funnel-sessions-with-cart', 'sessions_with_cart'],
    ['funnel-sessions-with-checkout', 'sessions_with_checkout'],
    ['funnel-sessions-converted', 'sessions_converted'],
  ];
  for (const [id, field] of steps) {
    assert.equal(shown[id].text, String(f[field]), `${id} shows ${field}`);
    const rate = field === 'sessions_converted' ? f.conversion_rate : rateOf(f[field], f.sessions);
    assert.equal(shown[`${id}-rate`].value, rate, `${id}'s share of sessions`);
    assert.equal(shown[`${id}-rate`].text, percent(rate), `${id}'s share as a percentage`);
  }
  assert.equal(rateOf(f.sessions_converted, f.sessions), f.conversion_rate, 'conversion_rate = converted ÷ sessions, half-even');
  assert.equal(shown['funnel-conversion-rate'].value, f.conversion_rate);
  assert.equal(shown['funnel-conversion-rate'].text, percent(f.conversion_rate));
  for (const field of ['checkouts_started', 'checkouts_completed', 'checkouts_abandoned', 'checkouts_recovered']) {
    const id = `funnel-${field.replace(/_/g, '-')}`;
    assert.equal(shown[id].text, String(f[field]), `${id} shows ${field}`);
  }
  for (const field of ['abandoned_value', 'recovered_value']) {
    const id = `funnel-${field.replace(/_/g, '-')}`;
    assert.match(String(f[field]), /^\d+\.\d{2}$/, `${field} is a decimal string with two decimals`);
    assert.equal(shown[id].value, f[field], `${id} keeps ${field} as sent`);
    assert.equal(shown[id].text, money(f[field], currency), `${id} shows ${field} in the shop currency`);
  }
  assert.equal(shown.from, f.from);
  assert.equal(shown.to, f.to);
  assert.equal(shown.empty, String(f.sessions) === '0' && String(f.checkouts_started) === '0', 'the empty note only without any activity');
  assert.deepEqual(shown.days.map((d) => d.date), f.days.map((d) => d.date), 'one row per day of the answer');
  f.days.forEach((d, i) => {
    assert.deepEqual(shown.days[i].cells, [
      d.date, String(d.sessions), String(d.sessions_with_cart), String(d.sessions_with_checkout), String(d.sessions_converted),
      String(d.checkouts_started), String(d.checkouts_completed), String(d.checkouts_abandoned), money(d.abandoned_value, currency),
      String(d.checkouts_recovered), money(d.recovered_value, currency),
    ], `the funnel's row for ${d.date}`);
  });
}

async function abandonedOnPage() {
  return page.locator('[data-testid="abandoned-table"] tbody tr[data-event-id]').evaluateAll((rows) => rows.map((tr) => {
    const a = tr.querySelector('[data-testid="abandoned-recovery-link"]');
    return {
      id: tr.dataset.eventId,
      token: tr.dataset.checkoutToken,
      created: tr.cells[0].querySelector('time')?.getAttribute('datetime') ?? null,
      total: tr.cells[2].textContent.trim(),
      link: a ? { href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel') } : null,
    };
  }));
}

/** The other origin a storefront page is on: 127.0.0.1 and localhost are the same server. */
function storefrontOrigin() {
  const u = new URL(BASE_URL);
  if (u.hostname === '127.0.0.1') u.hostname = 'localhost';
  else if (u.hostname === 'localhost') u.hostname = '127.0.0.1';
  else return null;
  return u.origin;
}

// --- the suite -------------------------------------------------------------------------------

describe('the storefront funnel', () => {
  before(async () => {
    await fs.mkdir(ARTIFACTS_DIR, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(`${ORIGIN}/`) && !u.startsWith('data:') && !u.startsWith('blob:')) foreignRequests.push(u);
    });
  });

  after(async () => {
    if (shot) await shot.screenshot({ path: path.join(ARTIFACTS_DIR, 'funnel-failure.png'), fullPage: true }).catch(() => {});
    await browser?.close();
  });

  it('a fresh merchant registers through the API and has an ingest key', async () => {
    const res = await apiCall('/auth/register', {
      method: 'POST',
      auth: null,
      body: { name: merchant.name, email: merchant.email, password: merchant.password, shop_domain: merchant.shop },
    });
    assert.equal(res.status, 201, `register answered ${res.status}: ${res.text}`);
    token = res.json.token;
    assert.ok(token);
    const first = await apiJson('/tenants/me/ingest-key');
    assert.equal(typeof first.ingest_key, 'string');
    assert.ok(first.ingest_key.length >= 16, `an ingest key worth the name: ${first.ingest_key}`);
    ingestKey = first.ingest_key;
    assert.equal((await apiJson('/tenants/me/ingest-key')).ingest_key, ingestKey, 'reading the key does not change it');
    assert.equal((await apiCall('/tenants/me/ingest-key', { auth: null })).status, 401, 'the key is read with credentials only');
    assert.deepEqual(await apiJson('/tenants/me/settings'), { abandon_after_minutes: 60 }, 'abandon-after defaults to 60 minutes');
  });

  it('the storefront\'s pixel events are accepted; duplicates and malformed events are told apart', async () => {
    const all = visitors.flatMap(visitorEvents);
    all.push(pixelEvent('newsletter_signup', visitors[6].clientId, T + 6 * 60_000 + 20_000, { list: 'spring' })); // a custom event
    assert.ok(all.length <= 100);
    // Most in one batch through ?key=, the last one alone (a bare event) through X-Ingest-Key.
    const last = all.pop();
    assertIngested(await postEvents({ events: all }), { accepted: all.length }, 'the storefront\'s batch');
    assertIngested(await postEvents(last, { via: 'header' }), { accepted: 1 }, 'one bare event with X-Ingest-Key');
    sentEvents.push(...all, last);
    visitors.forEach(expectVisitor);

    assertIngested(await postEvents({ events: all.slice(0, 3) }), { accepted: 0, duplicates: 3 }, 'the same events again');
    const fresh = pixelEvent('page_viewed', visitors[7].clientId, T + 7 * 60_000 + 30_000); // a session already counted
    const malformed = { id: `sh-${crypto.randomUUID()}`, data: {} }; // no name, timestamp or clientId
    assertIngested(await postEvents({ events: [fresh, malformed] }), { accepted: 1, rejected: 1 }, 'a malformed event beside a good one');
    sentEvents.push(fresh);

    const refused = await postEvents({ events: [pixelEvent('page_viewed', crypto.randomUUID(), T)] }, { key: `${ingestKey}x` });
    assert.equal(refused.status, 401, `an unknown key is refused: ${refused.text}`);
  });

  it('signed checkouts/create webhooks are applied', { skip: !SECRET && 'needs SHOPIFY_API_SECRET (the server\'s)' }, async () => {
    const updated = shopifyTime(NOW - 3 * HOUR);
    const checkoutWebhook = (c, { completedAt = null } = {}) => ({
      token: c.token,
      created_at: shopifyTime(T + c.index * 60_000 + 30_000),
      updated_at: completedAt ?? updated,
      completed_at: completedAt,
      email: c.email,
      phone: null,
      total_price: c.total,
      currency: CURRENCY,
      abandoned_checkout_url: `https://${merchant.shop}/60000000000/checkouts/ac/${c.token}/recover?key=${crypto.randomBytes(8).toString('hex')}`,
      line_items: [],
    });
    // Left with an email, last updated three hours ago: abandoned after the default 60 minutes.
    for (const c of [visitors[2], visitors[3], webhookOnly]) {
      const answer = await sendWebhook('checkouts/create', checkoutWebhook(c));
      assert.equal(answer.result, 'applied');
    }
    // One the pixel saw completed, as Shopify also tells it.
    const done = visitors[1];
    assert.equal((await sendWebhook('checkouts/create', checkoutWebhook(done, { completedAt: shopifyTime(T + done.index * 60_000 + 50_000) }))).result, 'applied');
    expected.checkoutTokens.add(webhookOnly.token);
  });

  it('the merchant signs in through the page and the funnel section loads', async () => {
    shot = page;
    await page.goto(`${BASE_URL}/`);
    await byTestId('login-email').fill(merchant.email);
    await byTestId('login-password').fill(merchant.password);
    const answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/auth/login`);
    await byTestId('login-submit').click();
    const res = await answer;
    assert.equal(res.status(), 200, `login answered ${res.status()}`);
    await waitUntilReady();
    await funnelSettled();
    assert.equal(await byTestId('funnel').isVisible(), true);
    assert.equal(await byTestId('error').isVisible(), false, 'no error on the page');
    shot = null;
  });

  it('the snippet is /pixel.js with this origin and the tenant\'s ingest key filled in', async () => {
    shot = page;
    await page.waitForSelector(`[data-testid="pixel-snippet"][data-key="${ingestKey}"]`);
    const snippet = await byTestId('pixel-snippet').inputValue();
    const served = await fetch(`${BASE_URL}/pixel.js`);
    assert.equal(served.status, 200);
    const source = await served.text();
    assert.equal(source, await fs.readFile(PIXEL_FILE, 'utf8'), '/pixel.js is dashboard/pixel.js verbatim');

    assert.ok(snippet.includes(`const INSIGHTS_ENDPOINT = ${JSON.stringify(ORIGIN)};`), 'the snippet names this origin');
    assert.ok(snippet.includes(`const INSIGHTS_INGEST_KEY = ${JSON.stringify(ingestKey)};`), 'the snippet carries the ingest key');
    assert.ok(!snippet.includes('__INSIGHTS_'), 'no placeholder is left');
    assert.equal(snippet, fillPixel(source, ORIGIN, ingestKey), 'and is otherwise the pixel as served');
    assert.equal(await byTestId('pixel-snippet').getAttribute('readonly'), '', 'read-only');
    assert.equal((await byTestId('ingest-key').textContent()).trim(), ingestKey);
    assert.equal(await byTestId('pixel-copy').isEnabled(), true);
    shot = null;
  });

  it('the snippet, run on a storefront\'s origin in Chromium, delivers its events across origins', async (t) => {
    const other = storefrontOrigin();
    if (!other) {
      t.skip(`no second origin for ${BASE_URL} (needs 127.0.0.1 or localhost)`);
      return;
    }
    const snippet = await byTestId('pixel-snippet').inputValue();
    const context = await browser.newContext({ bypassCSP: true });
    try {
      const storefront = await context.newPage();
      storefront.setDefaultTimeout(TIMEOUT);
      const errors = [];
      storefront.on('pageerror', (e) => errors.push(String(e)));
      try {
        await storefront.goto(`${other}/health`);
      } catch (e) {
        t.skip(`${other} cannot be opened here: ${e.message}`);
        return;
      }
      assert.notEqual(await storefront.evaluate(() => window.location.origin), ORIGIN);

      const shopper = visitor(9, { cart: true, checkout: true, completed: true, email: true });
      const events = visitorEvents(shopper); // ends with checkout_completed: sent at once
      const results = await storefront.evaluate(async ({ code, events: evs }) => {
        const requests = [];
        const watched = (url, init) => {
          const p = window.fetch(url, init);
          requests.push(p.then(
            async (r) => ({ url, status: r.status, body: await r.text(), keepalive: init.keepalive, type: init.headers['Content-Type'], count: JSON.parse(init.body).events.length }),
            (e) => ({ url, error: String(e) }),
          ));
          return p;
        };
        const subscribers = {};
        const analytics = { subscribe: (name, cb) => { subscribers[name] = cb; } };
        // The pixel sandbox's globals, as parameters: the snippet's own `const`s stay local.
        new Function('analytics', 'fetch', code)(analytics, watched);
        for (const e of evs) subscribers.all_standard_events({ ...e, type: 'standard', seq: 1, context: { document: { location: { href: window.location.href } } } });
        return Promise.all(requests);
      }, { code: snippet, events });

      assert.equal(results.length, 1, `one request for ${events.length} events: ${JSON.stringify(results)}`);
      // Sent (a simple request reaches the server even when its answer is unreadable): counted.
      sentEvents.push(...events);
      expectVisitor(shopper);
      const [r] = results;
      assert.ok(!r.error, `the browser delivered the request and could read the answer (CORS): ${r.error}`);
      assert.equal(r.url, `${ORIGIN}/events?key=${encodeURIComponent(ingestKey)}`);
      assert.equal(r.keepalive, true);
      assert.equal(r.type, 'text/plain');
      assert.equal(r.count, events.length);
      assert.equal(r.status, 202, r.body);
      assert.deepEqual(JSON.parse(r.body), { accepted: events.length, duplicates: 0, rejected: 0 });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('the funnel panel shows exactly what GET /dashboard/funnel answers for the page\'s range', async () => {
    shot = page;
    const from = await byTestId('range-from').inputValue();
    const to = await byTestId('range-to').inputValue();
    const url = `/dashboard/funnel?from=${from}&to=${to}`;
    const { currency } = await apiJson('/dashboard/metrics');

    // The abandonment job may count a checkout at any moment: compare once two API answers around
    // the page's own load agree (counts only grow, so the page's answer is the same).
    let checked = false;
    for (let attempt = 1; attempt <= 4 && !checked; attempt += 1) {
      const beforeLoad = await apiJson(url);
      const pageAnswer = await refreshFunnel();
      const shown = await funnelOnPage();
      const afterLoad = await apiJson(url);
      assert.equal(pageAnswer.from, from, 'the page asks for its own range');
      assert.equal(pageAnswer.to, to);
      assertFunnelShows(shown, pageAnswer, currency);
      if (JSON.stringify(beforeLoad) === JSON.stringify(afterLoad)) {
        assert.deepEqual(pageAnswer, afterLoad, 'the page shows what the API answers');
        checked = true;
      }
    }
    assert.ok(checked, 'the funnel held still long enough to compare');

    // And the storefront's activity is all there, in the API's terms.
    const f = await apiJson(url);
    assert.deepEqual(
      { sessions: f.sessions, cart: f.sessions_with_cart, checkout: f.sessions_with_checkout, converted: f.sessions_converted },
      { sessions: expected.sessions, cart: expected.cart, checkout: expected.checkout, converted: expected.converted },
      'sessions at each step count the generated visitors',
    );
    assert.equal(f.conversion_rate, rateOf(expected.converted, expected.sessions));
    assert.equal(f.checkouts_started, expected.checkoutTokens.size, 'a checkout per token, pixel and webhook joined');
    assert.equal(f.checkouts_completed, expected.completedTokens.size);
    assert.equal(f.days.reduce((n, d) => n + Number(d.sessions), 0), Number(f.sessions), 'the days add up to the range');
    shot = null;
  });

  it('the abandon-after setting saves 1 to 10080 and shows the API\'s own error for 0', async () => {
    shot = page;
    const input = byTestId('abandon-after-input');
    assert.equal(await input.inputValue(), String((await apiJson('/tenants/me/settings')).abandon_after_minutes));

    const save = async (value) => {
      await input.fill(value);
      const answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/tenants/me/settings` && r.request().method() === 'PUT');
      await byTestId('abandon-after-save').click();
      const res = await answer;
      assert.deepEqual(JSON.parse(res.request().postData()), { abandon_after_minutes: Number(value) });
      return res;
    };

    for (const minutes of [10080, 1]) {
      const res = await save(String(minutes));
      assert.equal(res.status(), 200, `saving ${minutes} answered ${res.status()}`);
      assert.deepEqual(await res.json(), { abandon_after_minutes: minutes });
      await page.waitForSelector('[data-testid="abandon-after-form"][data-state="saved"]');
      assert.equal(await input.inputValue(), String(minutes));
      assert.match(await byTestId('abandon-after-status').textContent(), new RegExp(`\\b${minutes} minutes?\\b`));
      assert.equal(await byTestId('abandon-after-error').isVisible(), false);
      assert.deepEqual(await apiJson('/tenants/me/settings'), { abandon_after_minutes: minutes });
    }

    const refused = await save('0');
    assert.equal(refused.status(), 400);
    const { error } = await refused.json();
    assert.ok(error && error.code && error.message, 'the API explains the refusal');
    await byTestId('abandon-after-error').waitFor({ state: 'visible' });
    assert.equal((await byTestId('abandon-after-error').textContent()).trim(), error.message, 'the page shows the API\'s message');
    assert.equal(await byTestId('abandon-after-form').getAttribute('data-state'), 'error');
    assert.deepEqual(await apiJson('/tenants/me/settings'), { abandon_after_minutes: 1 }, 'a refused value changes nothing');
    assert.equal(await byTestId('error').isVisible(), false, 'the error stays beside the setting');

    // Saved again (1 minute, so the checkouts left three hours ago count as abandoned soon): the error goes.
    assert.equal((await save('1')).status(), 200);
    await page.waitForSelector('[data-testid="abandon-after-form"][data-state="saved"]');
    assert.equal(await byTestId('abandon-after-error').isVisible(), false, 'a successful save clears the error');
    shot = null;
  });

  it('replacing the ingest key changes the snippet, and the old key is refused', async () => {
    shot = page;
    const oldKey = ingestKey;
    await byTestId('ingest-key-replace').click();
    await byTestId('ingest-key-replace-confirm').waitFor({ state: 'visible' });
    const answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/tenants/me/ingest-key` && r.request().method() === 'POST');
    await byTestId('ingest-key-replace-confirm').click();
    const res = await answer;
    assert.equal(res.status(), 200);
    const newKey = (await res.json()).ingest_key;
    assert.ok(newKey && newKey !== oldKey, 'a new key');
    ingestKey = newKey;

    await page.waitForSelector(`[data-testid="pixel-snippet"][data-key="${newKey}"]`);
    const snippet = await byTestId('pixel-snippet').inputValue();
    assert.ok(snippet.includes(`const INSIGHTS_INGEST_KEY = ${JSON.stringify(newKey)};`));
    assert.ok(!snippet.includes(oldKey), 'the old key is gone from the snippet');
    assert.ok(!snippet.includes('__INSIGHTS_'));
    assert.equal(snippet, fillPixel(await (await fetch(`${BASE_URL}/pixel.js`)).text(), ORIGIN, newKey));
    assert.equal((await byTestId('ingest-key').textContent()).trim(), newKey);
    assert.equal(await byTestId('ingest-key-confirm').isVisible(), false);
    assert.equal((await apiJson('/tenants/me/ingest-key')).ingest_key, newKey);

    const late = pixelEvent('page_viewed', visitors[0].clientId, T + 90_000);
    const byQuery = await postEvents({ events: [late] }, { key: oldKey });
    assert.equal(byQuery.status, 401, `the old key in ?key= is refused: ${byQuery.text}`);
    const byHeader = await postEvents(late, { key: oldKey, via: 'header' });
    assert.equal(byHeader.status, 401, `the old key in X-Ingest-Key is refused: ${byHeader.text}`);
    assertIngested(await postEvents({ events: [sentEvents[0]] }, { key: newKey }), { accepted: 0, duplicates: 1 }, 'the new key works');
    shot = null;
  });

  it('CORS: /events lets any origin post; /dashboard/funnel lets none read', async () => {
    const foreign = 'https://some-shop.example';
    const preflight = await fetch(`${BASE_URL}/events`, {
      method: 'OPTIONS',
      headers: { Origin: foreign, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, x-ingest-key' },
    });
    assert.ok(preflight.status >= 200 && preflight.status < 300, `the preflight answered ${preflight.status}`);
    const allowOrigin = preflight.headers.get('access-control-allow-origin');
    assert.ok(allowOrigin === '*' || allowOrigin === foreign, `Access-Control-Allow-Origin: ${allowOrigin}`);
    const allowMethods = (preflight.headers.get('access-control-allow-methods') || '').toUpperCase();
    assert.ok(allowMethods === '*' || allowMethods.split(/\s*,\s*/).includes('POST'), `Access-Control-Allow-Methods: ${allowMethods}`);
    const allowHeaders = (preflight.headers.get('access-control-allow-headers') || '').toLowerCase().split(/\s*,\s*/);
    for (const h of ['content-type', 'x-ingest-key']) {
      assert.ok(allowHeaders.includes('*') || allowHeaders.includes(h), `Access-Control-Allow-Headers names ${h}: ${allowHeaders}`);
    }

    const post = await fetch(`${BASE_URL}/events?key=${encodeURIComponent(ingestKey)}`, {
      method: 'POST',
      headers: { Origin: foreign, 'Content-Type': 'text/plain' },
      body: JSON.stringify({ events: [sentEvents[1]] }),
    });
    assert.equal(post.status, 202);
    const postAllow = post.headers.get('access-control-allow-origin');
    assert.ok(postAllow === '*' || postAllow === foreign, `the answer itself is readable across origins: ${postAllow}`);

    const range = `from=${await byTestId('range-from').inputValue()}&to=${await byTestId('range-to').inputValue()}`;
    const closed = await fetch(`${BASE_URL}/dashboard/funnel?${range}`, {
      method: 'OPTIONS',
      headers: { Origin: foreign, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
    });
    assert.equal(closed.headers.get('access-control-allow-origin'), null, `OPTIONS /dashboard/funnel answered ${closed.status} with no CORS header`);
    const read = await fetch(`${BASE_URL}/dashboard/funnel?${range}`, { headers: { Origin: foreign, Authorization: `Bearer ${token}` } });
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('access-control-allow-origin'), null, 'an authenticated read carries no CORS header either');
  });

  it('the abandoned checkouts the API lists are the ones the page shows', async () => {
    shot = page;
    const url = '/dashboard/events?type=checkout_abandoned&limit=10';
    const { currency } = await apiJson('/dashboard/metrics');
    // As for the funnel: compared once two API answers around the page's own load agree.
    let rows = null;
    let events = null;
    for (let attempt = 1; attempt <= 4 && events === null; attempt += 1) {
      const beforeLoad = await apiJson(url);
      await refreshFunnel();
      rows = await abandonedOnPage();
      const afterLoad = await apiJson(url);
      if (JSON.stringify(beforeLoad.events) === JSON.stringify(afterLoad.events)) ({ events } = afterLoad);
    }
    assert.ok(Array.isArray(events), 'the list held still long enough to compare');
    assert.equal(rows.length, events.length, 'one row per abandoned checkout the API lists');
    if (events.length === 0) {
      assert.match(await page.locator('[data-testid="abandoned-table"] tbody').innerText(), /no abandoned checkouts/i, 'the empty list says so');
    }
    events.forEach((e, i) => {
      assert.equal(e.type, 'checkout_abandoned');
      assert.equal(rows[i].id, String(e.id), 'newest first, as the API lists them');
      assert.equal(rows[i].token, e.metadata.checkout_token);
      assert.equal(rows[i].created, e.created_at);
      assert.equal(rows[i].total, money(e.metadata.total_price, e.metadata.currency ?? currency));
      if (e.metadata.recovery_url) {
        assert.deepEqual(rows[i].link, { href: e.metadata.recovery_url, target: '_blank', rel: 'noopener noreferrer' });
      } else {
        assert.equal(rows[i].link, null, 'no recovery link without a recovery_url');
      }
      assert.ok(expected.checkoutTokens.has(e.metadata.checkout_token), `a checkout of this shop: ${e.metadata.checkout_token}`);
      assert.ok(!expected.completedTokens.has(e.metadata.checkout_token), 'a checkout completed within a minute is never abandoned');
    });
    shot = null;
  });

  it('a screenshot of the funnel section is saved', async () => {
    await funnelSettled();
    const file = path.join(ARTIFACTS_DIR, 'funnel.png');
    await byTestId('funnel').screenshot({ path: file });
    const { size } = await fs.stat(file);
    assert.ok(size > 10_000, `the screenshot has content (${size} bytes)`);
  });

  it('the page loads nothing from other origins and throws no errors', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
  });
});
