// The Sales section end to end, in headless Chromium against a running `insights serve`: a fresh
// merchant (registered through the API) signs in and first sees the section empty; then signed
// orders/create and orders/updated webhooks give its shop a few orders (a customer who orders
// twice, a customer whose first order is in the previous period, a guest, a line refunded days
// later, a shipping refund, six products), and the page shows exactly what the API answers for
// the page's own range: the breakdown (gross, discounts, returns, net, taxes, shipping, total),
// orders, AOV, new and returning customers, the net sales change against the previous period,
// the chart's two series (GET /dashboard/sales for the range and for the equally long period just
// before it), the top products (GET /dashboard/top-products?limit=5) and the CSV download of the
// day rows.
//
// No date is hard-coded: orders are dated relative to now, at midday UTC, in whole days, with the
// offset "+00:00" (so the shop's date is the UTC date), and every figure shown is compared with
// the API's answer for the dates the page itself chose. With SHOPIFY_API_SECRET set, the API's
// answer is also checked against the figures the contract's definitions give for these orders.
//
// Env: BASE_URL (default http://127.0.0.1:3000), SHOPIFY_API_SECRET (the app secret the server
// verifies webhooks with; without it the webhook step and the checks of its figures are skipped),
// ARTIFACTS_DIR (default test-artifacts), CHROMIUM_PATH (default /usr/bin/chromium).
// Screenshot: $ARTIFACTS_DIR/sales.png.

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
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CURRENCY = 'EUR';
const NO_SECRET = !SECRET && 'needs SHOPIFY_API_SECRET (the server\'s) to send signed webhooks';

const CSV_COLUMNS = ['date', 'orders', 'gross_sales', 'discounts', 'returns', 'net_sales', 'taxes', 'shipping',
  'total_sales', 'average_order_value', 'new_customers', 'returning_customer_orders', 'returning_customer_rate'];
const MONEY_FIELDS = ['gross_sales', 'discounts', 'returns', 'net_sales', 'taxes', 'shipping', 'total_sales', 'average_order_value'];
const COUNT_FIELDS = ['orders', 'new_customers', 'returning_customer_orders'];
const BREAKDOWN = [
  ['sales-gross', 'gross_sales'],
  ['sales-discounts', 'discounts'],
  ['sales-returns', 'returns'],
  ['sales-net', 'net_sales'],
  ['sales-taxes', 'taxes'],
  ['sales-shipping', 'shipping'],
  ['sales-total', 'total_sales'],
];

const suffix = `${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
const merchant = {
  name: 'Sales Merchant',
  email: `s${suffix}@example.com`,
  password: `pw-${crypto.randomBytes(9).toString('base64url')}`, // 15 characters
  shop: `s${suffix}.myshopify.com`,
};

// A midday UTC at least four hours ago (today's, or yesterday's): every order is a whole number of
// days before it, so its date is the same in any zone within ±11 hours.
const NOW = Date.now();
const T = (() => {
  const latest = NOW - 4 * HOUR;
  const d = new Date(latest);
  const noon = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 12);
  return noon <= latest ? noon : noon - DAY;
})();

let browser;
let page;
let token; // the API token from registration
let shot = null; // what to screenshot when a test fails
const pageErrors = [];
const consoleErrors = [];
const foreignRequests = [];

// --- helpers ---------------------------------------------------------------------------------

const byTestId = (id) => page.locator(`[data-testid="${id}"]`);
const iso = (ms) => new Date(ms).toISOString();
/** RFC 3339 with a "+00:00" offset, as Shopify's REST payloads write times. */
const shopifyTime = (ms) => iso(ms).replace(/\.\d{3}Z$/, '+00:00');
const dateOf = (ms) => iso(ms).slice(0, 10);

async function apiCall(pathname, { method = 'GET', body, auth = token } = {}) {
  const h = { Accept: 'application/json' };
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
  return { status: res.status, json, text };
}

async function apiJson(pathname, options = {}) {
  const res = await apiCall(pathname, options);
  assert.ok(res.status >= 200 && res.status < 300, `${options.method || 'GET'} ${pathname} answered ${res.status}: ${res.text}`);
  assert.ok(res.json && typeof res.json === 'object', `${pathname} answered JSON: ${res.text}`);
  return res.json;
}

/** "185.00" / "-9.99" → cents as a BigInt (two decimals, as the contract writes money). */
function cents(s) {
  const m = /^(-?)(\d+)\.(\d{2})$/.exec(String(s));
  assert.ok(m, `a decimal string with two decimals: ${s}`);
  const v = BigInt(m[2]) * 100n + BigInt(m[3]);
  return m[1] ? -v : v;
}

function fromCents(v) {
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / 100n}.${String(a % 100n).padStart(2, '0')}`;
}

/** n ÷ d, four decimals, half-even: the contract's rate rule. */
function rate4(n, d) {
  const a = BigInt(n);
  const b = BigInt(d);
  if (b === 0n) return '0.0000';
  let q = (a * 10000n) / b;
  const r = (a * 10000n) % b;
  if (2n * r > b || (2n * r === b && q % 2n === 1n)) q += 1n;
  return `${q / 10000n}.${String(q % 10000n).padStart(4, '0')}`;
}

/** Cents ÷ orders, half-even to cents; "0.00" without orders. */
function average(totalCents, orders) {
  if (orders === 0) return '0.00';
  const n = BigInt(orders);
  const neg = totalCents < 0n;
  const a = neg ? -totalCents : totalCents;
  let q = a / n;
  const r = a % n;
  if (2n * r > n || (2n * r === n && q % 2n === 1n)) q += 1n;
  return fromCents(neg ? -q : q);
}

/** "0.3333" → "33.33%". */
function percent(rate) {
  const m = /^(\d+)\.(\d{4})$/.exec(rate);
  assert.ok(m, `a rate with four decimals: ${rate}`);
  const basisPoints = BigInt(m[1]) * 10000n + BigInt(m[2]);
  return `${basisPoints / 100n}.${String(basisPoints % 100n).padStart(2, '0')}%`;
}

function money(amount, currency) {
  return currency ? `${amount} ${currency}` : `${amount}`;
}

/** "-12.5" → "−12.5", "12.5" → "+12.5" (a minus sign, not a hyphen, on the page). */
const signed = (s) => (s.startsWith('-') ? `−${s.slice(1)}` : `+${s}`);

/**
 * What the page's net sales change must say: current − previous in cents, and the percentage of
 * |previous| to one decimal, half away from zero (none when previous is zero).
 */
function expectedChange(current, previous, currency) {
  const diff = cents(current) - cents(previous);
  const base = cents(previous) < 0n ? -cents(previous) : cents(previous);
  const diffText = diff === 0n ? money(fromCents(diff), currency) : money(signed(fromCents(diff)), currency);
  if (base === 0n) return { value: '', diff: fromCents(diff), text: diffText };
  const tenths = ((diff < 0n ? -diff : diff) * 1000n * 2n + base) / (2n * base); // half up on |x|
  const value = `${diff < 0n && tenths !== 0n ? '-' : ''}${tenths / 10n}.${tenths % 10n}`;
  const shown = tenths === 0n ? '0.0' : signed(value);
  return { value, diff: fromCents(diff), text: `${shown}% (${diffText})` };
}

/** Dates from..to inclusive (UTC calendar arithmetic). */
function datesBetween(from, to) {
  const out = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY) out.push(dateOf(t));
  return out;
}

/** The equally long period just before from..to. */
function periodBefore(from, to) {
  const length = datesBetween(from, to).length;
  const start = Date.parse(`${from}T00:00:00Z`);
  return { from: dateOf(start - length * DAY), to: dateOf(start - DAY) };
}

/** The CSV the page must produce: RFC 4180 lines (CRLF), values as the API sent them. */
function expectedCsv(days) {
  const field = (v) => {
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[CSV_COLUMNS.join(','), ...days.map((d) => CSV_COLUMNS.map((c) => field(d[c])).join(','))].join('\r\n')}\r\n`;
}

/** Shopify-style JSON: every 64-bit id (kept as a string here) written as a bare number. */
function shopifyJson(value) {
  return JSON.stringify(value).replace(/"(id|product_id|variant_id|line_item_id|order_id|customer_id)":"(\d+)"/g, '"$1":$2');
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
  return { answer: JSON.parse(text), raw };
}

// --- the shop's orders -----------------------------------------------------------------------

const base = 7_100_000_000_000_000_000n + BigInt(crypto.randomInt(1, 2 ** 40)) * 1000n;
const idOf = (n) => String(base + BigInt(n)); // 64-bit, above 2^53

const products = [
  { id: idOf(101), title: 'Linen Shirt' },
  { id: idOf(102), title: 'Canvas Tote' },
  { id: idOf(103), title: 'Wool Scarf' },
  { id: idOf(104), title: 'Ceramic Mug' },
  { id: idOf(105), title: 'Beeswax Candle' },
  { id: idOf(106), title: 'Pocket Notebook' },
];
const [shirt, tote, scarf, mug, candle, notebook] = products;

const customers = {
  ada: { id: idOf(201), first_name: 'Ada', last_name: 'Lovelace', email: `ada.${suffix}@example.com` },
  grace: { id: idOf(202), first_name: 'Grace', last_name: 'Hopper', email: `grace.${suffix}@example.com` },
};

const line = (n, product, quantity, price, discount = '0.00') => ({ id: idOf(n), product, quantity, price, discount });

// Ada's first order falls in the previous period, her second in the page's range: a returning
// customer's order. Grace orders twice in the range: new, then returning. One guest. Ada's second
// order has a line refunded four days later; the guest's shipping is refunded the next day.
const orders = [
  { n: 1, at: T - 40 * DAY, customer: customers.ada, lines: [line(301, mug, 1, '12.00')], discounts: '0.00', tax: '1.20', shipping: ['4.99'] },
  {
    n: 2,
    at: T - 6 * DAY,
    customer: customers.ada,
    lines: [line(302, shirt, 2, '49.00', '5.00'), line(303, tote, 1, '19.50')],
    discounts: '5.00',
    tax: '11.25',
    shipping: ['9.99'],
    refund: { n: 401, at: T - 2 * DAY, lines: [{ line: 302, product: shirt, quantity: 1, subtotal: '46.50', tax: '4.65' }], shipping: null },
  },
  { n: 3, at: T - 5 * DAY, customer: customers.grace, lines: [line(304, scarf, 1, '35.00'), line(305, mug, 3, '12.00')], discounts: '0.00', tax: '7.10', shipping: ['5.00'] },
  {
    n: 4,
    at: T - 4 * DAY,
    customer: null,
    lines: [line(306, candle, 1, '22.00', '3.00'), line(307, notebook, 1, '8.75')],
    discounts: '3.00',
    tax: '2.78',
    shipping: ['6.50'],
    refund: { n: 402, at: T - 3 * DAY, lines: [], shipping: '6.50' },
  },
  { n: 5, at: T - 3 * DAY, customer: customers.grace, lines: [line(308, tote, 2, '19.50')], discounts: '0.00', tax: '3.90', shipping: [] },
];

/** The order as Shopify's REST webhooks send it (the shape of fixtures/shopify/orders-create.json). */
function orderPayload(o, { refunded = false } = {}) {
  const id = idOf(o.n);
  const gross = o.lines.reduce((a, l) => a + cents(l.price) * BigInt(l.quantity), 0n);
  const shipping = o.shipping.reduce((a, s) => a + cents(s), 0n);
  const total = gross - cents(o.discounts) + cents(o.tax) + shipping;
  const created = shopifyTime(o.at);
  const refund = refunded ? o.refund : null;
  const updated = refund ? shopifyTime(refund.at) : shopifyTime(o.at + 2000);
  const c = o.customer;
  return {
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    app_id: null,
    buyer_accepts_marketing: false,
    cancel_reason: null,
    cancelled_at: null,
    closed_at: null,
    confirmed: true,
    contact_email: c ? c.email : null,
    created_at: created,
    currency: CURRENCY,
    current_total_price: fromCents(total),
    email: c ? c.email : null,
    financial_status: refund ? 'partially_refunded' : 'paid',
    fulfillment_status: null,
    name: `#${1000 + o.n}`,
    number: o.n,
    order_number: 1000 + o.n,
    presentment_currency: CURRENCY,
    processed_at: created,
    source_name: 'web',
    subtotal_price: fromCents(gross - cents(o.discounts)),
    tags: '',
    test: false,
    total_discounts: o.discounts,
    total_line_items_price: fromCents(gross),
    total_price: fromCents(total),
    total_tax: o.tax,
    updated_at: updated,
    customer: c
      ? { ...c, created_at: shopifyTime(orders.find((x) => x.customer === c).at - HOUR), updated_at: created, state: 'enabled', currency: CURRENCY }
      : null,
    line_items: o.lines.map((l) => ({
      id: l.id,
      admin_graphql_api_id: `gid://shopify/LineItem/${l.id}`,
      name: l.product.title,
      price: l.price,
      product_exists: true,
      product_id: l.product.id,
      quantity: l.quantity,
      current_quantity: l.quantity,
      requires_shipping: true,
      taxable: true,
      title: l.product.title,
      total_discount: l.discount,
      variant_id: String(BigInt(l.product.id) + 500n),
      gift_card: false,
      tax_lines: [],
      discount_allocations: [],
    })),
    shipping_lines: o.shipping.map((price, i) => ({ id: idOf(o.n * 10 + 500 + i), title: 'Standard', price, code: 'STANDARD' })),
    refunds: refund
      ? [{
        id: idOf(refund.n),
        order_id: id,
        created_at: shopifyTime(refund.at),
        note: 'returned',
        restock: true,
        refund_line_items: refund.lines.map((r, i) => ({
          id: idOf(refund.n * 10 + i),
          line_item_id: idOf(r.line),
          quantity: r.quantity,
          subtotal: r.subtotal,
          total_tax: r.tax,
          line_item: { id: idOf(r.line), product_id: r.product.id, title: r.product.title },
        })),
        order_adjustments: refund.shipping
          ? [{ id: idOf(refund.n * 10 + 9), kind: 'shipping_refund', amount: `-${refund.shipping}`, tax_amount: '0.00', reason: 'Shipping refund' }]
          : [],
      }]
      : [],
    discount_codes: [],
    fulfillments: [],
    note_attributes: [],
    payment_gateway_names: ['shopify_payments'],
  };
}

/** The contract's figures for from..to over the orders above (every order delivered). */
function contractTotals(from, to) {
  const inRange = (ms) => dateOf(ms) >= from && dateOf(ms) <= to;
  const t = { orders: 0, gross: 0n, discounts: 0n, returns: 0n, taxes: 0n, shipping: 0n, newCustomers: 0, returning: 0 };
  const seen = new Set();
  for (const o of [...orders].sort((a, b) => a.at - b.at)) {
    const earlier = o.customer && seen.has(o.customer.id);
    if (o.customer) seen.add(o.customer.id);
    if (inRange(o.at)) {
      t.orders += 1;
      t.gross += o.lines.reduce((a, l) => a + cents(l.price) * BigInt(l.quantity), 0n);
      t.discounts += cents(o.discounts);
      t.taxes += cents(o.tax);
      t.shipping += o.shipping.reduce((a, s) => a + cents(s), 0n);
      if (o.customer && earlier) t.returning += 1;
      if (o.customer && !earlier) t.newCustomers += 1;
    }
    if (o.refund && inRange(o.refund.at)) {
      for (const r of o.refund.lines) {
        t.returns += cents(r.subtotal);
        t.taxes -= cents(r.tax);
      }
      if (o.refund.shipping) t.shipping -= cents(o.refund.shipping);
    }
  }
  const net = t.gross - t.discounts - t.returns;
  return {
    orders: t.orders,
    gross_sales: fromCents(t.gross),
    discounts: fromCents(t.discounts),
    returns: fromCents(t.returns),
    net_sales: fromCents(net),
    taxes: fromCents(t.taxes),
    shipping: fromCents(t.shipping),
    total_sales: fromCents(net + t.taxes + t.shipping),
    average_order_value: average(t.gross - t.discounts, t.orders),
    new_customers: t.newCustomers,
    returning_customer_orders: t.returning,
    returning_customer_rate: rate4(t.returning, t.orders),
  };
}

/** The contract's top products over every order: net sales first, then quantity, then lower id. */
function contractTopProducts(limit) {
  const byId = new Map(products.map((p) => [p.id, { id: p.id, title: p.title, quantity: 0n, net: 0n }]));
  for (const o of orders) {
    for (const l of o.lines) {
      const p = byId.get(l.product.id);
      p.quantity += BigInt(l.quantity);
      p.net += cents(l.price) * BigInt(l.quantity) - cents(l.discount);
    }
    for (const r of o.refund ? o.refund.lines : []) {
      const p = byId.get(r.product.id);
      p.quantity -= BigInt(r.quantity);
      p.net -= cents(r.subtotal);
    }
  }
  return [...byId.values()]
    .sort((a, b) => (a.net !== b.net ? (b.net > a.net ? 1 : -1)
      : a.quantity !== b.quantity ? (b.quantity > a.quantity ? 1 : -1)
        : (BigInt(a.id) < BigInt(b.id) ? -1 : 1)))
    .slice(0, limit)
    .map((p) => ({ id: p.id, title: p.title, quantity: Number(p.quantity), net_sales: fromCents(p.net) }));
}

// --- the page --------------------------------------------------------------------------------

/** Waits for the sales section to finish loading and fails with its own messages if it failed. */
async function salesSettled() {
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid="sales"]')?.dataset.state;
    return s === 'ready' || s === 'error';
  }, null, { timeout: TIMEOUT });
  const state = await byTestId('sales').getAttribute('data-state');
  if (state !== 'ready') {
    const alerts = await page.locator('[data-testid="sales"] .alert.error:not([hidden])').allTextContents();
    assert.fail(`the sales section failed to load: ${alerts.join(' | ')}`);
  }
}

/** Whether a response is one of the page's sales calls; `compare`: the one with the previous period. */
function salesCall(r, compare) {
  const u = new URL(r.url());
  return u.origin === ORIGIN && u.pathname === '/dashboard/sales' && (u.searchParams.get('compare') === 'previous_period') === compare;
}

/**
 * Applies from..to (the page's own inputs when not given) and returns the page's own three answers:
 * the range with compare=previous_period, the period before it, and the top products.
 */
async function applyRange(from, to) {
  if (from) await byTestId('range-from').fill(from);
  if (to) await byTestId('range-to').fill(to);
  const wanted = [
    page.waitForResponse((r) => salesCall(r, true), { timeout: TIMEOUT }),
    page.waitForResponse((r) => salesCall(r, false), { timeout: TIMEOUT }),
    page.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard/top-products', { timeout: TIMEOUT }),
  ];
  await byTestId('range-apply').click();
  const responses = await Promise.all(wanted);
  for (const res of responses) assert.equal(res.status(), 200, `the page's ${res.url()} answered ${res.status()}`);
  await salesSettled();
  const [current, previous, top] = await Promise.all(responses.map((r) => r.json()));
  return { current, previous, top, urls: responses.map((r) => new URL(r.url())) };
}

/** Everything the sales section shows, as text and the raw values kept in data attributes. */
async function salesOnPage() {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const read = (id) => ({ text: q(id).textContent.trim(), value: q(id).dataset.value ?? null });
    const ids = ['sales-gross', 'sales-discounts', 'sales-returns', 'sales-net', 'sales-taxes', 'sales-shipping', 'sales-total',
      'sales-aov', 'sales-orders', 'sales-new-customers', 'sales-returning-orders', 'sales-returning-rate', 'sales-net-previous'];
    const change = q('sales-net-change');
    const chart = q('sales-chart');
    const series = (id) => {
      const s = chart.querySelector(`[data-testid="${id}"]`);
      return s ? {
        values: s.dataset.values,
        dates: s.dataset.dates,
        points: (s.getAttribute('points') || '').trim().split(/\s+/).filter(Boolean).length,
      } : null;
    };
    return {
      ...Object.fromEntries(ids.map((id) => [id, read(id)])),
      change: { text: change.textContent.trim(), value: change.dataset.value ?? null, diff: change.dataset.diff ?? null, direction: change.dataset.direction },
      section: { from: q('sales').dataset.from, to: q('sales').dataset.to },
      empty: !q('sales-empty').hidden,
      csvEnabled: !q('sales-csv').disabled,
      chart: {
        from: chart.dataset.from,
        to: chart.dataset.to,
        previousFrom: chart.dataset.previousFrom,
        previousTo: chart.dataset.previousTo,
        role: chart.getAttribute('role'),
        title: chart.querySelector('title')?.textContent ?? '',
        desc: chart.querySelector('desc')?.textContent ?? '',
        days: [...chart.querySelectorAll('[data-testid="sales-chart-day"]')].map((g) => ({
          date: g.dataset.date, previousDate: g.dataset.previousDate, label: g.getAttribute('aria-label'),
        })),
        current: series('sales-series-current'),
        previous: series('sales-series-previous'),
      },
      dayRows: [...document.querySelectorAll('[data-testid="sales-days-table"] tbody tr[data-date]')].map((tr) => ({
        date: tr.dataset.date, cells: [...tr.cells].map((td) => td.textContent.trim()),
      })),
    };
  });
}

async function topProductsOnPage() {
  return page.locator('[data-testid="top-products"] tbody tr').evaluateAll((rows) => rows.map((tr) => ({
    id: tr.dataset.productId ?? null,
    cells: [...tr.cells].map((td) => td.textContent.trim()),
  })));
}

/** The section against /dashboard/sales for from..to (with the previous period) and the period before. */
function assertSalesShows(shown, answer, before) {
  const currency = answer.currency;
  const t = answer.totals;
  for (const [id, field] of BREAKDOWN) {
    assert.match(String(t[field]), /^-?\d+\.\d{2}$/, `${field} is a decimal string`);
    assert.equal(shown[id].value, t[field], `${id} keeps ${field} exactly as sent`);
    assert.equal(shown[id].text, money(t[field], currency), `${id} shows ${field} in the shop currency`);
  }
  assert.equal(shown['sales-aov'].value, t.average_order_value, 'AOV as sent');
  assert.equal(shown['sales-aov'].text, money(t.average_order_value, currency));
  for (const [id, field] of [['sales-orders', 'orders'], ['sales-new-customers', 'new_customers'], ['sales-returning-orders', 'returning_customer_orders']]) {
    assert.equal(typeof t[field], 'number', `${field} is a count`);
    assert.equal(shown[id].text, String(t[field]), `${id} shows ${field}`);
  }
  assert.equal(shown['sales-returning-rate'].value, t.returning_customer_rate, 'the returning rate as sent');
  assert.equal(shown['sales-returning-rate'].text, percent(t.returning_customer_rate), 'and as a percentage');

  assert.ok(answer.previous, 'compare=previous_period answers the previous period\'s figures');
  assert.equal(shown['sales-net-previous'].value, answer.previous.net_sales, 'the previous period\'s net sales as sent');
  assert.equal(shown['sales-net-previous'].text, money(answer.previous.net_sales, currency));
  const change = expectedChange(t.net_sales, answer.previous.net_sales, currency);
  assert.equal(shown.change.diff, change.diff, 'the change in net sales, in exact cents');
  assert.equal(shown.change.value, change.value, 'the change as a percentage of the previous period, one decimal');
  assert.equal(shown.change.text, change.text, 'the change as shown');
  const direction = cents(change.diff) > 0n ? 'up' : (cents(change.diff) < 0n ? 'down' : 'flat');
  assert.equal(shown.change.direction, direction);

  assert.equal(shown.section.from, answer.from);
  assert.equal(shown.section.to, answer.to);
  assert.equal(shown.empty, t.orders === 0 && cents(t.total_sales) === 0n && cents(t.returns) === 0n, 'the empty note only without any sales');
  assert.equal(shown.csvEnabled, true, 'the CSV can be downloaded');

  // The chart: the range's days, and the period before's days aligned day by day.
  const dates = datesBetween(answer.from, answer.to);
  assert.deepEqual(answer.days.map((d) => d.date), dates, 'the API answers every day of the range');
  const prior = periodBefore(answer.from, answer.to);
  assert.equal(before.from, prior.from, 'the period before starts as long before `from` as the range is long');
  assert.equal(before.to, prior.to, 'and ends the day before `from`');
  assert.equal(before.days.length, answer.days.length);
  const priorNet = before.days.reduce((a, d) => a + cents(d.net_sales), 0n);
  assert.equal(fromCents(priorNet), answer.previous.net_sales, 'the days of the period before add up to the API\'s `previous`');
  assert.deepEqual(before.totals, answer.previous, 'and its totals are the API\'s `previous`');

  const c = shown.chart;
  assert.equal(c.role, 'img');
  assert.equal(c.from, answer.from);
  assert.equal(c.to, answer.to);
  assert.equal(c.previousFrom, before.from);
  assert.equal(c.previousTo, before.to);
  assert.ok(c.title.includes(`${answer.from} to ${answer.to}`), `the chart's title names the range: ${c.title}`);
  assert.ok(c.desc.includes(money(t.net_sales, currency)), `the chart's description sums it up: ${c.desc}`);
  assert.ok(c.current, 'a current series');
  assert.ok(c.previous, 'a previous series');
  assert.equal(c.current.values, answer.days.map((d) => d.net_sales).join(','), 'the current series is the API\'s daily net_sales');
  assert.equal(c.current.dates, dates.join(','));
  assert.equal(c.current.points, dates.length, 'one point per day');
  assert.equal(c.previous.values, before.days.map((d) => d.net_sales).join(','), 'the previous series is the period before\'s daily net_sales');
  assert.equal(c.previous.dates, before.days.map((d) => d.date).join(','));
  assert.equal(c.previous.points, dates.length, 'aligned by day: as many points');
  assert.deepEqual(c.days.map((d) => d.date), dates, 'one column per day');
  c.days.forEach((d, i) => {
    assert.equal(d.previousDate, before.days[i].date, `${d.date} is compared with ${before.days[i].date}`);
    assert.equal(d.label, `${d.date}: net sales ${money(answer.days[i].net_sales, currency)}; ${before.days[i].date} (previous period): ${money(before.days[i].net_sales, currency)}`);
  });

  assert.deepEqual(shown.dayRows.map((r) => r.date), dates, 'one table row per day');
  answer.days.forEach((d, i) => {
    assert.deepEqual(shown.dayRows[i].cells, [
      d.date, String(d.orders), ...['gross_sales', 'discounts', 'returns', 'net_sales', 'taxes', 'shipping', 'total_sales'].map((f) => money(d[f], currency)),
      money(before.days[i].net_sales, currency),
    ], `the table row of ${d.date}`);
  });
}

function assertTopProductsShow(rows, products, currency) {
  if (products.length === 0) {
    assert.equal(rows.length, 1, 'one row saying there are none');
    assert.equal(rows[0].id, null);
    assert.match(rows[0].cells.join(' '), /no products sold yet/i);
    return;
  }
  assert.deepEqual(rows.map((r) => r.id), products.map((p) => p.id), 'one row per product, ids as sent, in the API\'s order');
  products.forEach((p, i) => {
    assert.equal(typeof p.id, 'string', 'ids are strings');
    assert.deepEqual(rows[i].cells, [p.title, String(p.quantity), money(p.net_sales, currency)], `the row of ${p.title}`);
  });
}

/** Downloads the CSV through the page and returns its name and text. */
async function downloadCsv() {
  const download = page.waitForEvent('download', { timeout: TIMEOUT });
  await byTestId('sales-csv').click();
  const file = await download;
  const failure = await file.failure();
  assert.equal(failure, null, `the download completed: ${failure}`);
  const text = await fs.readFile(await file.path(), 'utf8');
  return { name: file.suggestedFilename(), text, url: file.url() };
}

// --- the suite -------------------------------------------------------------------------------

describe('the sales section', () => {
  before(async () => {
    await fs.mkdir(ARTIFACTS_DIR, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(`${ORIGIN}/`) && !u.startsWith('data:') && !u.startsWith('blob:')) foreignRequests.push(u);
    });
  });

  after(async () => {
    if (shot) await shot.screenshot({ path: path.join(ARTIFACTS_DIR, 'sales-failure.png'), fullPage: true }).catch(() => {});
    await browser?.close();
  });

  it('a fresh merchant registers through the API', async () => {
    const res = await apiCall('/auth/register', {
      method: 'POST',
      auth: null,
      body: { name: merchant.name, email: merchant.email, password: merchant.password, shop_domain: merchant.shop },
    });
    assert.equal(res.status, 201, `register answered ${res.status}: ${res.text}`);
    token = res.json.token;
    assert.ok(token);
  });

  it('signed in through the page, a shop without orders shows zero sales and no top products', async () => {
    shot = page;
    await page.goto(`${BASE_URL}/`);
    await byTestId('login-email').fill(merchant.email);
    await byTestId('login-password').fill(merchant.password);
    const answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/auth/login`);
    const salesAnswer = page.waitForResponse((r) => salesCall(r, true));
    await byTestId('login-submit').click();
    assert.equal((await answer).status(), 200);
    assert.equal((await salesAnswer).status(), 200, 'the section loads with the page');
    await page.waitForSelector('[data-testid="dashboard"][data-state="ready"]', { timeout: TIMEOUT });
    await salesSettled();

    const from = await byTestId('range-from').inputValue();
    const to = await byTestId('range-to').inputValue();
    const prior = periodBefore(from, to);
    const [current, before, { products }] = await Promise.all([
      apiJson(`/dashboard/sales?from=${from}&to=${to}&compare=previous_period`),
      apiJson(`/dashboard/sales?from=${prior.from}&to=${prior.to}`),
      apiJson('/dashboard/top-products?limit=5'),
    ]);
    assert.equal(current.totals.orders, 0, 'a fresh shop has no orders');
    assert.deepEqual(products, [], 'nor products sold');
    const shown = await salesOnPage();
    assertSalesShows(shown, current, before);
    assert.equal(shown.empty, true, 'the empty note is shown');
    assertTopProductsShow(await topProductsOnPage(), products, current.currency);
    assert.equal(await byTestId('error').isVisible(), false, 'no error on the page');
    shot = null;
  });

  it('signed orders/create and orders/updated webhooks are applied, ids kept to the last digit', { skip: NO_SECRET }, async () => {
    for (const o of orders) {
      const { answer, raw } = await sendWebhook('orders/create', orderPayload(o));
      assert.equal(answer.result, 'applied', `order ${o.n}`);
      assert.ok(raw.includes(`"id":${idOf(o.n)},`), 'the order id is a bare 64-bit number in the raw body');
    }
    for (const o of orders.filter((x) => x.refund)) {
      const { answer, raw } = await sendWebhook('orders/updated', orderPayload(o, { refunded: true }));
      assert.equal(answer.result, 'applied', `the refund of order ${o.n}`);
      assert.ok(raw.includes('"refunds":[{'), 'the update carries its refund');
    }
    const { products: top } = await apiJson('/dashboard/top-products?limit=5');
    assert.deepEqual(top, contractTopProducts(5), 'the API ranks the products as the contract defines (64-bit ids intact)');
  });

  it('after Apply, the breakdown, the cards and the net sales change equal /dashboard/sales for the page\'s range', async () => {
    shot = page;
    const from = await byTestId('range-from').inputValue();
    const to = await byTestId('range-to').inputValue();
    const prior = periodBefore(from, to);
    const mine = await applyRange();
    const [q, p] = mine.urls;
    assert.deepEqual(Object.fromEntries(q.searchParams), { from, to, compare: 'previous_period' }, 'the page asks for its own range');
    assert.deepEqual(Object.fromEntries(p.searchParams), prior, 'and for the equally long period just before it');
    assert.equal(mine.urls[2].searchParams.get('limit'), '5');

    const [current, before] = await Promise.all([
      apiJson(`/dashboard/sales?from=${from}&to=${to}&compare=previous_period`),
      apiJson(`/dashboard/sales?from=${prior.from}&to=${prior.to}`),
    ]);
    assert.deepEqual(mine.current, current, 'the page got what the API answers');
    assert.deepEqual(mine.previous, before);
    assertSalesShows(await salesOnPage(), current, before);

    if (SECRET) {
      // The orders landed as the contract counts them, so the page's figures are not all zero.
      assert.deepEqual(current.totals, contractTotals(from, to), 'the range\'s figures follow the contract\'s definitions');
      assert.deepEqual(current.previous, contractTotals(prior.from, prior.to), 'and so do the previous period\'s');
      assert.equal(current.currency, CURRENCY);
      const refundDay = current.days.find((d) => d.date === dateOf(T - 2 * DAY));
      assert.equal(refundDay.net_sales, '-46.50', 'the refund four days later makes its own day\'s net sales negative');
      assert.equal(refundDay.orders, 0);
      const shippingRefundDay = current.days.find((d) => d.date === dateOf(T - 3 * DAY));
      assert.equal(shippingRefundDay.shipping, '-6.50', 'the shipping refund counts on its own day');
      assert.notEqual(current.previous.net_sales, '0.00', 'the previous period has sales to compare with');
    }
    shot = null;
  });

  it('the chart\'s two series are the API\'s daily net sales for the range and for the period before it', async () => {
    shot = page;
    const shown = await salesOnPage();
    const from = await byTestId('range-from').inputValue();
    const to = await byTestId('range-to').inputValue();
    const prior = periodBefore(from, to);
    const [current, before] = await Promise.all([
      apiJson(`/dashboard/sales?from=${from}&to=${to}&compare=previous_period`),
      apiJson(`/dashboard/sales?from=${prior.from}&to=${prior.to}`),
    ]);
    assert.equal(shown.chart.current.values.split(',').length, datesBetween(from, to).length);
    assert.equal(shown.chart.current.values, current.days.map((d) => d.net_sales).join(','));
    assert.equal(shown.chart.previous.values, before.days.map((d) => d.net_sales).join(','));
    if (SECRET) {
      assert.ok(shown.chart.current.values.split(',').some((v) => v.startsWith('-')), 'a refund day is drawn below zero');
      assert.ok(shown.chart.previous.values.split(',').some((v) => cents(v) > 0n), 'the previous period has a day with sales');
    }
    const box = await byTestId('sales-chart').boundingBox();
    assert.ok(box && box.width > 300 && box.height > 150, `the chart is drawn at a readable size: ${JSON.stringify(box)}`);
    shot = null;
  });

  it('the top products table is /dashboard/top-products?limit=5, ids as strings and in the API\'s order', async () => {
    shot = page;
    const [{ products }, { currency }] = await Promise.all([apiJson('/dashboard/top-products?limit=5'), apiJson('/dashboard/metrics')]);
    if (SECRET) assert.equal(products.length, 5, 'six products sold, five shown');
    assertTopProductsShow(await topProductsOnPage(), products, currency);
    shot = null;
  });

  it('Download CSV saves the range\'s day rows exactly as the API sent them', async () => {
    shot = page;
    const from = await byTestId('range-from').inputValue();
    const to = await byTestId('range-to').inputValue();
    const { days } = await apiJson(`/dashboard/sales?from=${from}&to=${to}`);
    const csv = await downloadCsv();
    assert.equal(csv.name, `sales-${from}-to-${to}.csv`);
    assert.ok(csv.url.startsWith('blob:'), `built in the page, not fetched: ${csv.url}`);
    assert.equal(csv.text, expectedCsv(days));
    const lines = csv.text.split('\r\n');
    assert.equal(lines[0], CSV_COLUMNS.join(','), 'the header names the API\'s fields');
    assert.equal(lines.length, days.length + 2, 'one line per day after the header, each ended by CRLF');
    assert.equal(lines.at(-1), '');
    assert.ok(!csv.text.includes('"'), 'no field needed quoting');
    shot = null;
  });

  it('a screenshot of the sales section is saved', async () => {
    await salesSettled();
    const file = path.join(ARTIFACTS_DIR, 'sales.png');
    await byTestId('sales').screenshot({ path: file });
    const { size } = await fs.stat(file);
    assert.ok(size > 10_000, `the screenshot has content (${size} bytes)`);
  });

  it('another range redraws the section from the API\'s answer for it, with no percentage against an empty period', async () => {
    shot = page;
    const from = dateOf(T - 6 * DAY);
    const to = dateOf(T - 2 * DAY);
    const mine = await applyRange(from, to);
    await page.waitForSelector(`svg[data-testid="sales-chart"][data-from="${from}"][data-to="${to}"]`);
    const prior = periodBefore(from, to);
    const [current, before] = await Promise.all([
      apiJson(`/dashboard/sales?from=${from}&to=${to}&compare=previous_period`),
      apiJson(`/dashboard/sales?from=${prior.from}&to=${prior.to}`),
    ]);
    assert.deepEqual(mine.current, current);
    const shown = await salesOnPage();
    assertSalesShows(shown, current, before);
    assert.equal(current.previous.net_sales, '0.00', 'nothing was sold in the five days before');
    assert.equal(shown.change.value, '', 'no percentage of zero');
    if (SECRET) assert.deepEqual(current.totals, contractTotals(from, to));
    const csv = await downloadCsv();
    assert.equal(csv.name, `sales-${from}-to-${to}.csv`);
    assert.equal(csv.text, expectedCsv(current.days));
    shot = null;
  });

  it('the page loads nothing from other origins and logs no errors', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(consoleErrors, []);
  });
});
