// Connecting a shop through the page in headless Chromium, against the fake Shopify
// (tests/browser/fake-shopify.mjs) the server was started with: Connect Shopify, the approval and
// the callback, the sign-in code landing, the first sync and its numbers; Shopify's install URL and
// the login a tenant created by an install sets; the banner of a released claim; an approval
// missing a scope; Reconnect after an uninstall and after a refused token.
//
// Env: BASE_URL (default http://127.0.0.1:3000), SHOPIFY_API_BASE_URL (the fake's URL, as the
// server has it), SHOPIFY_API_SECRET (the app secret the server and the fake share), ARTIFACTS_DIR
// (default test-artifacts). Without SHOPIFY_API_BASE_URL and SHOPIFY_API_SECRET it is skipped.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { queryHmac, SHOP_COOKIE, SCOPE_COOKIE } from './fake-shopify.mjs';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const FAKE_URL = (process.env.SHOPIFY_API_BASE_URL || '').replace(/\/+$/, '');
const SECRET = process.env.SHOPIFY_API_SECRET || '';
const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR || 'test-artifacts';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT = 15_000;
const SYNC_TIMEOUT = 60_000;
const SKIP = !(FAKE_URL && SECRET) && 'needs SHOPIFY_API_BASE_URL (the fake Shopify the server uses) and SHOPIFY_API_SECRET';

const suffix = `${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
const password = () => `pw-${crypto.randomBytes(9).toString('base64url')}`; // 15 characters
const shopNamed = (name) => `${name}-${suffix}.myshopify.com`;
const merchant = { name: 'Connecting Merchant', email: `c${suffix}@example.com`, password: password(), shop: shopNamed('connect') };

let browser;
let main; // the connecting merchant's page
let failureShot = null;
const pageErrors = [];
const foreignRequests = [];

// --- helpers ---------------------------------------------------------------------------------

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** A browser context signed in to `shop`'s admin at the fake (optionally granting only `scope`). */
async function openBrowser(shop, { scope } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const cookies = [];
  if (shop) cookies.push({ name: SHOP_COOKIE, value: shop, url: FAKE_URL });
  if (scope !== undefined) cookies.push({ name: SCOPE_COOKIE, value: scope, url: FAKE_URL });
  if (cookies.length) await context.addCookies(cookies);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const origin = new URL(BASE_URL).origin;
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith(`${origin}/`) || u.startsWith('data:') || u.startsWith('blob:')) return;
    // The install leaves for Shopify's authorize URL: a navigation, and nothing else.
    if (u.startsWith(`${FAKE_URL}/admin/oauth/authorize?`) && r.isNavigationRequest()) return;
    foreignRequests.push(u);
  });
  return page;
}

async function registerThroughPage(page, who) {
  await page.goto(`${BASE_URL}/`);
  await byTestId(page, 'show-register').click();
  await byTestId(page, 'register-name').fill(who.name);
  await byTestId(page, 'register-email').fill(who.email);
  await byTestId(page, 'register-password').fill(who.password);
  await byTestId(page, 'register-shop').fill(who.shop);
  const answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/auth/register`);
  await byTestId(page, 'register-submit').click();
  const res = await answer;
  assert.equal(res.status(), 201, `register answered ${res.status()}: ${await res.text()}`);
  await connectionIs(page, 'not_connected');
}

/** Shopify's install URL for `shop`, signed as Shopify signs it. */
function installUrl(shop) {
  const params = { shop, timestamp: String(Math.floor(Date.now() / 1000)) };
  params.hmac = queryHmac(SECRET, params);
  return `${BASE_URL}/shopify/install?${new URLSearchParams(params)}`;
}

/** Waits for the install to land back on the page: the sign-in code exchanged for a token. */
function landing(page) {
  return page.waitForResponse((r) => r.url() === `${BASE_URL}/auth/signin-code`, { timeout: TIMEOUT });
}

async function connectionIs(page, status) {
  await page.waitForSelector(`[data-testid="shop-status"][data-status="${status}"]`);
}

/** The page's own token (sessionStorage), for checking the page against the API. */
function pageToken(page) {
  return page.evaluate(() => sessionStorage.getItem('insights.token'));
}

async function apiJson(pathname, token) {
  const res = await fetch(`${BASE_URL}${pathname}`, { headers: { Accept: 'application/json', Authorization: `Bearer ${token}` } });
  const text = await res.text();
  assert.ok(res.ok, `GET ${pathname} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function fake(shop, action) {
  const res = await fetch(`${FAKE_URL}/_fake/shops/${encodeURIComponent(shop)}${action ? `/${action}` : ''}`, { method: action ? 'POST' : 'GET' });
  const text = await res.text();
  assert.equal(res.status, 200, `the fake answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** Waits until a sync that started after `after` (an RFC 3339 time, or none) has finished idle. */
async function syncFinished(page, after = null) {
  await page.waitForFunction((since) => {
    const s = document.querySelector('[data-testid="sync-status"]');
    if (!s || s.dataset.state !== 'idle' || !s.dataset.lastFinished || !s.dataset.lastStarted) return false;
    const started = Date.parse(s.dataset.lastStarted);
    return Date.parse(s.dataset.lastFinished) >= started && (since === null || started > Date.parse(since));
  }, after, { timeout: SYNC_TIMEOUT });
}

async function waitUntilReady(page) {
  await page.waitForSelector('[data-testid="dashboard"][data-state="ready"]');
}

/** Decimal string → cents (BigInt), and back. */
const toCents = (s) => {
  const [i, f = ''] = s.split('.');
  return BigInt(i) * 100n + BigInt(f.padEnd(2, '0'));
};
const fromCents = (c) => `${c / 100n}.${String(c % 100n).padStart(2, '0')}`;

/** The dashboard metrics the contract defines, over what the fake shop holds. */
function expectedMetrics(shop) {
  const counted = shop.orders.filter((o) => !o.test);
  const paid = counted.filter((o) => !o.cancelledAt);
  const revenue = paid.reduce((sum, o) => sum + toCents(o.currentTotalPriceSet.shopMoney.amount), 0n);
  const n = BigInt(paid.length);
  let aov = n ? revenue / n : 0n;
  const rest = n ? revenue % n : 0n;
  if (2n * rest > n || (2n * rest === n && aov % 2n === 1n)) aov += 1n; // half-even
  return {
    customers: shop.customers.length,
    orders: counted.length,
    products: shop.products.length,
    revenue: fromCents(revenue),
    average_order_value: fromCents(aov),
    currency: shop.currencyCode,
  };
}

// --- the suite -------------------------------------------------------------------------------

describe('connecting a shop through the page', { skip: SKIP }, () => {
  before(async () => {
    await fs.mkdir(ARTIFACTS_DIR, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    main = await openBrowser(merchant.shop);
  });

  after(async () => {
    if (failureShot) {
      await failureShot.screenshot({ path: path.join(ARTIFACTS_DIR, 'connect-failure.png'), fullPage: true }).catch(() => {});
    }
    await browser?.close();
  });

  it('a merchant registers, presses Connect Shopify, approves, and lands signed in with the shop connected', async () => {
    failureShot = main;
    await registerThroughPage(main, merchant);
    await byTestId(main, 'connect-shopify').waitFor({ state: 'visible' });
    assert.equal(await byTestId(main, 'sync-now').isVisible(), false, 'nothing to sync before the shop is connected');

    const landed = landing(main);
    await byTestId(main, 'connect-shopify').click();
    const res = await landed;
    assert.equal(res.status(), 200, `the sign-in code answered ${res.status()}`);
    const signedIn = await res.json();
    assert.equal(signedIn.tenant.email, merchant.email, 'the install signs in the tenant that started it');
    await connectionIs(main, 'connected');

    assert.equal(main.url(), `${BASE_URL}/`, 'the sign-in code is gone from the address bar');
    assert.equal(await pageToken(main), signedIn.token, 'the token is kept like a login\'s');
    assert.equal(await byTestId(main, 'connect-shopify').isVisible(), false);
    assert.equal(await byTestId(main, 'set-login').isVisible(), false, 'a tenant with a login is not asked for one');
    const shop = await fake(merchant.shop);
    assert.equal(shop.authorizations, 1);
    assert.equal(shop.exchanges, 1, 'one code exchanged for one token');
    failureShot = null;
  });

  it('the first sync finishes and the page shows its counts and exactly the numbers the API answers', async () => {
    failureShot = main;
    await syncFinished(main);
    await waitUntilReady(main);
    const token = await pageToken(main);
    const [status, metrics, shop] = await Promise.all([
      apiJson('/sync/status', token), apiJson('/dashboard/metrics', token), fake(merchant.shop),
    ]);
    assert.equal(status.state, 'idle');
    assert.equal(status.error, null);
    for (const kind of ['customers', 'orders', 'products']) {
      assert.equal((await byTestId(main, `sync-count-${kind}`).textContent()).trim(), `${status.counts[kind]} ${kind}`);
    }
    assert.deepEqual(metrics, expectedMetrics(shop), 'the sync brought every record the shop holds');
    const card = async (id) => (await byTestId(main, id).textContent()).trim();
    assert.equal(await card('metric-customers'), String(metrics.customers));
    assert.equal(await card('metric-orders'), String(metrics.orders));
    assert.equal(await card('metric-products'), String(metrics.products));
    assert.equal(await card('metric-revenue'), `${metrics.revenue} ${metrics.currency}`);
    assert.equal(await card('metric-aov'), `${metrics.average_order_value} ${metrics.currency}`);
    assert.equal(await byTestId(main, 'empty-state').isVisible(), false);
    const orders = await apiJson('/dashboard/orders-by-date', token);
    const rows = await main.locator('[data-testid="orders-table"] tbody tr[data-order-id]').evaluateAll((trs) => trs.map((tr) => tr.dataset.orderId));
    assert.deepEqual(rows, orders.orders.map((o) => o.id), 'the orders table lists the synced orders, ids as sent');
    // The shop's abandoned checkouts came with the sync: started, and completed when Shopify says
    // so, in the funnel the page shows for its range (the fake's are from the last few days).
    const range = `from=${await byTestId(main, 'range-from').inputValue()}&to=${await byTestId(main, 'range-to').inputValue()}`;
    const funnel = await apiJson(`/dashboard/funnel?${range}`, token);
    assert.equal(funnel.checkouts_started, shop.abandonedCheckouts.length);
    assert.equal(funnel.checkouts_completed, shop.abandonedCheckouts.filter((c) => c.completedAt).length);
    await main.waitForFunction(
      (n) => document.querySelector('[data-testid="funnel-checkouts-started"]')?.dataset.value === String(n),
      funnel.checkouts_started,
    );
    // The orders' sale parts came with the sync's bulk read: sales and returns as the shop's lines
    // and refunds amount to.
    const sales = await apiJson(`/dashboard/sales?${range}`, token);
    const counted = shop.orders.filter((o) => !o.test);
    const gross = counted.reduce((sum, o) => sum + o.sale.lines.reduce((s, l) => s + toCents(l.price) * BigInt(l.quantity), 0n), 0n);
    const returned = counted.reduce((sum, o) => sum + (o.sale.refund ? toCents(o.sale.refund.subtotal) : 0n), 0n);
    assert.equal(sales.totals.orders, counted.length);
    assert.equal(sales.totals.gross_sales, fromCents(gross));
    assert.equal(sales.totals.returns, fromCents(returned));
    assert.ok(
      shop.subscriptions.some((s) => s.topic === 'APP_UNINSTALLED' && s.uri === `${BASE_URL}/webhooks`),
      'connecting subscribed the shop\'s webhooks to this server',
    );

    const file = path.join(ARTIFACTS_DIR, 'connect.png');
    await main.screenshot({ path: file, fullPage: true });
    assert.ok((await fs.stat(file)).size > 10_000, 'the screenshot has content');
    failureShot = null;
  });

  it('Shopify\'s install URL for a shop without an account signs a new tenant in, who sets a login', async () => {
    const owner = { shop: shopNamed('installed'), email: `i${suffix}@example.com`, password: password() };
    const page = await openBrowser(owner.shop);
    failureShot = page;
    const landed = landing(page);
    await page.goto(installUrl(owner.shop));
    const res = await landed;
    assert.equal(res.status(), 200);
    assert.equal((await res.json()).tenant.email, null, 'a tenant created by an install has no login yet');
    await connectionIs(page, 'connected');
    assert.equal(page.url(), `${BASE_URL}/`, 'the sign-in code is gone from the address bar');

    const form = byTestId(page, 'set-login');
    await form.waitFor({ state: 'visible' });
    // A taken email: the API's own message, and the form stays.
    await byTestId(page, 'set-login-email').fill(merchant.email);
    await byTestId(page, 'set-login-password').fill(owner.password);
    let answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/tenants/me/login`);
    await byTestId(page, 'set-login-submit').click();
    const taken = await answer;
    assert.equal(taken.status(), 409);
    const { error } = await taken.json();
    assert.equal(error.code, 'email_taken');
    await byTestId(page, 'error').waitFor({ state: 'visible' });
    assert.equal((await byTestId(page, 'error').textContent()).trim(), error.message);
    assert.equal(await form.isVisible(), true);

    await byTestId(page, 'set-login-email').fill(owner.email);
    await byTestId(page, 'set-login-password').fill(owner.password);
    answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/tenants/me/login`);
    await byTestId(page, 'set-login-submit').click();
    assert.equal((await answer).status(), 204);
    await form.waitFor({ state: 'hidden' });
    assert.equal(await byTestId(page, 'error').isVisible(), false);
    assert.equal((await apiJson('/tenants/me', await pageToken(page))).tenant.email, owner.email);

    // The login works through the login form.
    await byTestId(page, 'logout').click();
    await byTestId(page, 'login-email').fill(owner.email);
    await byTestId(page, 'login-password').fill(owner.password);
    answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/auth/login`);
    await byTestId(page, 'login-submit').click();
    assert.equal((await answer).status(), 200);
    await connectionIs(page, 'connected');
    assert.equal(await form.isVisible(), false, 'the login is set: no form any more');
    await page.context().close();
    failureShot = null;
  });

  it('a squatter\'s page shows the released banner once the shop\'s owner installs it from Shopify', async () => {
    const shop = shopNamed('claimed');
    const squatter = { name: 'Squatter', email: `s${suffix}@example.com`, password: password(), shop };
    const page = await openBrowser(null);
    failureShot = page;
    await registerThroughPage(page, squatter);
    assert.equal(await byTestId(page, 'released-banner').isVisible(), false);

    const owner = await openBrowser(shop);
    const landed = landing(owner);
    await owner.goto(installUrl(shop));
    assert.equal((await landed).status(), 200);
    await connectionIs(owner, 'connected');
    await owner.context().close();

    await page.reload();
    await connectionIs(page, 'released');
    const banner = byTestId(page, 'released-banner');
    await banner.waitFor({ state: 'visible' });
    assert.ok((await banner.innerText()).includes(shop), 'the banner names the shop');
    assert.equal((await apiJson('/tenants/me', await pageToken(page))).tenant.shop_status, 'released');
    assert.equal(await byTestId(page, 'sync-now').isVisible(), false, 'a released shop is not synced');
    await page.context().close();
    failureShot = null;
  });

  it('an approval without every scope the app needs connects nothing, and the page says why', async () => {
    const who = { name: 'Stingy Merchant', email: `m${suffix}@example.com`, password: password(), shop: shopNamed('scopes') };
    const page = await openBrowser(who.shop, { scope: 'read_orders,read_customers' });
    failureShot = page;
    await registerThroughPage(page, who);
    const back = page.waitForResponse((r) => r.url().startsWith(`${BASE_URL}/shopify/callback?`));
    await byTestId(page, 'connect-shopify').click();
    const callback = await back;
    assert.equal(callback.status(), 302);
    assert.equal(callback.headers().location, '/#error=missing_scopes');
    await byTestId(page, 'error').waitFor({ state: 'visible' });
    assert.match(await byTestId(page, 'error').textContent(), /did not grant every permission/);
    await connectionIs(page, 'not_connected');
    assert.equal(page.url(), `${BASE_URL}/`, 'the error code is gone from the address bar');
    await page.context().close();
    failureShot = null;
  });

  it('after the app is uninstalled in Shopify the page offers Reconnect, which installs again and syncs', async () => {
    failureShot = main;
    const { delivered } = await fake(merchant.shop, 'uninstall');
    assert.deepEqual(delivered.map((d) => d.status), [200], 'Shopify delivered app/uninstalled to this server');
    await main.reload();
    await connectionIs(main, 'uninstalled');
    assert.equal(await main.locator('[data-testid="sync-status"]').getAttribute('data-state'), 'uninstalled');
    assert.equal(await byTestId(main, 'sync-now').isVisible(), false);
    const before = await main.locator('[data-testid="sync-status"]').getAttribute('data-last-started');

    const landed = landing(main);
    await byTestId(main, 'reconnect-shopify').click();
    assert.equal((await landed).status(), 200);
    await connectionIs(main, 'connected');
    await syncFinished(main, before);
    await waitUntilReady(main);
    assert.equal((await fake(merchant.shop)).exchanges, 2);
    failureShot = null;
  });

  it('a token Shopify refuses ends the sync in needs_reauth, and Reconnect puts it right', async () => {
    failureShot = main;
    await fake(merchant.shop, 'revoke');
    await byTestId(main, 'sync-now').click();
    await connectionIs(main, 'needs_reauth');
    await byTestId(main, 'reconnect-shopify').waitFor({ state: 'visible' });
    const before = await main.locator('[data-testid="sync-status"]').getAttribute('data-last-started');

    const landed = landing(main);
    await byTestId(main, 'reconnect-shopify').click();
    assert.equal((await landed).status(), 200);
    await connectionIs(main, 'connected');
    await syncFinished(main, before);
    const status = await apiJson('/sync/status', await pageToken(main));
    assert.equal(status.state, 'idle');
    assert.equal(status.error, null);
    failureShot = null;
  });

  it('the pages load nothing from other origins but Shopify\'s authorize URL, and throw no errors', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
  });
});
