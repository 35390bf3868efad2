// A fake Shopify for the browser tests, in plain node:http with no dependencies: what `insights
// serve` calls when SHOPIFY_API_BASE_URL points here (it then stands for every `https://{shop}`).
//
// - OAuth: GET /admin/oauth/authorize approves at once and redirects to the app's redirect_uri with
//   code, host, shop, state, timestamp and Shopify's hmac; POST /admin/oauth/access_token exchanges
//   a code (expiring=1) or a refresh token (rotated) for an expiring offline token.
// - GraphQL Admin API (POST /admin/api/<version>/graphql.json, X-Shopify-Access-Token): the shop
//   query, customers/products/orders/abandonedCheckouts pages (first, after, query
//   "updated_at:>='…'"; abandoned checkouts by id, as Shopify has no UPDATED_AT key for them), bulk
//   operations (bulkOperationRunQuery, node(id) / currentBulkOperation polling, the JSONL file),
//   webhookSubscriptions and webhookSubscriptionCreate; scopes are enforced (ACCESS_DENIED) and every
//   answer carries extensions.cost with a leaky bucket like Shopify's (THROTTLED past it).
// - Webhooks: an uninstall sends app/uninstalled, signed, to the shop's subscriptions.
//
// Which shop an authorize is for: the base URL carries no shop, so the browser says it with the
// cookie `fake_shopify_shop` (like the merchant's session in that shop's admin); the cookie
// `fake_shopify_scope`, when set, is the scope the merchant grants (else what was asked for).
// Each shop is created on its first authorize with a handful of customers, products, orders and
// abandoned checkouts (one of them recovered).
//
// Control endpoints for tests (never part of Shopify):
//   GET  /_fake/shops/<shop>            what the shop holds and what happened to it (JSON)
//   POST /_fake/shops/<shop>/revoke     every token of the shop is refused from now on
//   POST /_fake/shops/<shop>/uninstall  revoke, then deliver app/uninstalled to its subscriptions
//
// Run: `node tests/browser/fake-shopify.mjs --port N` (SHOPIFY_API_SECRET: the app's client secret;
// SHOPIFY_API_KEY: its client id, default `insights-local-client`), or import startFakeShopify.

import crypto from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const SHOP_COOKIE = 'fake_shopify_shop';
export const SCOPE_COOKIE = 'fake_shopify_scope';
const LOCAL_CLIENT_ID = 'insights-local-client';
const ACCESS_TTL = 3600;
const REFRESH_TTL = 90 * 86_400;
const CODE_TTL_MS = 10 * 60_000;
const MAX_BODY = 1024 * 1024;
// Shopify's standard bucket for the GraphQL Admin API.
const BUCKET_MAX = 2000;
const RESTORE_RATE = 100;
const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
const SCOPE_OF = new Map([['customers', 'read_customers'], ['products', 'read_products'], ['orders', 'read_orders'], ['abandonedCheckouts', 'read_orders']]);
// A bulk operation runs this long before its file is ready (the server polls every few seconds).
const BULK_RUN_MS = 1000;

const random = (prefix) => `${prefix}${crypto.randomBytes(16).toString('hex')}`;
const gid = (type, id) => `gid://shopify/${type}/${id}`;

/** Shopify's query-string hmac: hex HMAC-SHA256 of the other parameters sorted, `k=v` joined by `&`. */
export function queryHmac(secret, params) {
  const message = Object.entries(params)
    .filter(([k]) => k !== 'hmac' && k !== 'signature')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return crypto.createHmac('sha256', secret).update(message, 'utf8').digest('hex');
}

/** Whether `granted` covers `required` (a write scope covers its read scope). */
function covers(granted, required) {
  return granted.includes(required)
    || (required.startsWith('read_') && granted.includes(`write_${required.slice(5)}`));
}

/** A shop's store: a few customers, products and orders, the same for the same domain. */
function makeShop(domain, now) {
  const digest = crypto.createHash('sha256').update(domain).digest();
  // 64-bit ids beyond JavaScript's safe integers, as Shopify's are.
  const base = 7_000_000_000_000_000_000n + BigInt(digest.readUInt32BE(0)) * 1000n;
  const at = (daysAgo, minutes = 0) => new Date(now - daysAgo * 86_400_000 + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const names = [['Ada', 'Lovelace'], ['Grace', 'Hopper'], ['Katherine', 'Johnson']];
  const customers = names.map(([first, last], i) => ({
    id: gid('Customer', base + 100n + BigInt(i)),
    firstName: first,
    lastName: last,
    email: `${first.toLowerCase()}@${domain.replace('.myshopify.com', '')}.example`,
    updatedAt: at(20 - i),
  }));
  const products = ['Snowboard', 'Wax'].map((title, i) => ({
    id: gid('Product', base + 200n + BigInt(i)),
    title,
    updatedAt: at(25 - i),
    variants: [{ id: gid('ProductVariant', base + 300n + BigInt(i)), title: 'Default Title', price: i ? '12.50' : '349.95', sku: `SKU-${i}` }],
  }));
  // Spread over the last days (inside the dashboard's default range); one cancelled, one test order.
  const amounts = ['349.95', '12.50', '362.45', '24.99', '199.00', '87.10'];
  const orders = amounts.map((amount, i) => {
    const created = at(1 + i, 9 * 60 + i * 7);
    const customer = customers[i % customers.length];
    return {
      id: gid('Order', base + 1000n + BigInt(i)),
      name: `#${1001 + i}`,
      createdAt: created,
      updatedAt: at(1 + i, 9 * 60 + i * 7 + 3),
      cancelledAt: i === 3 ? at(1 + i, 10 * 60) : null,
      test: i === 5,
      displayFinancialStatus: i === 3 ? 'REFUNDED' : 'PAID',
      currencyCode: 'CAD',
      currentTotalPriceSet: { shopMoney: { amount, currencyCode: 'CAD' } },
      totalPriceSet: { shopMoney: { amount, currencyCode: 'CAD' } },
      customer: { ...customer },
      // Sale parts, served only to a bulk query that asks for them (as grouped child lines).
      sale: {
        lines: [{ id: gid('LineItem', base + 3000n + BigInt(i)), title: i % 2 ? 'Wax' : 'Snowboard', quantity: 1, price: amount, product: products[i % 2].id }],
        refund: i === 3 ? { id: gid('Refund', base + 4000n + BigInt(i)), createdAt: at(1 + i, 11 * 60), subtotal: amount } : null,
      },
    };
  });
  // Abandoned checkouts, as the Admin API lists them: the token only in the recovery link; the
  // second one was completed later (recovered, in Shopify's words).
  const abandonedCheckouts = ['64.00', '129.99', '18.50'].map((amount, i) => {
    const token = crypto.createHash('sha256').update(`${domain}/checkout/${i}`).digest('hex').slice(0, 32);
    const created = at(2 + i, 14 * 60 + i * 11);
    const completedAt = i === 1 ? at(2 + i, 14 * 60 + i * 11 + 40) : null;
    return {
      id: gid('AbandonedCheckout', base + 2000n + BigInt(i)),
      abandonedCheckoutUrl: `https://${domain}/${base}/checkouts/ac/${token}/recover?key=${token.slice(0, 12)}`,
      createdAt: created,
      updatedAt: completedAt ?? at(2 + i, 14 * 60 + i * 11 + 6),
      completedAt,
      totalPriceSet: { shopMoney: { amount, currencyCode: 'CAD' } },
    };
  });
  return {
    domain,
    id: String(base),
    name: domain.replace('.myshopify.com', ''),
    currencyCode: 'CAD',
    ianaTimezone: 'America/Toronto',
    customers,
    products,
    orders,
    abandonedCheckouts,
    subscriptions: [],
    bulk: [],
    bucket: { available: BUCKET_MAX, at: Date.now() },
    authorizations: 0,
    exchanges: 0,
    refreshes: 0,
    refused: 0,
    deliveries: [],
  };
}

/** Starts the fake on 127.0.0.1:`port` (0: any free port). */
export function startFakeShopify({ port = 0, secret = process.env.SHOPIFY_API_SECRET, clientId = process.env.SHOPIFY_API_KEY || LOCAL_CLIENT_ID, log = () => {} } = {}) {
  if (!secret) throw new Error('the fake needs the app\'s client secret (SHOPIFY_API_SECRET)');
  const shops = new Map();
  const codes = new Map(); // code -> { shop, scope, expires }
  const tokens = new Map(); // access token -> { shop, scope, expires }
  const refreshTokens = new Map(); // refresh token -> { shop, scope, expires }
  let baseUrl = '';
  let bulkSeq = 0;
  let subscriptionSeq = 0;

  const shopFor = (domain) => {
    if (!shops.has(domain)) shops.set(domain, makeShop(domain, Date.now()));
    return shops.get(domain);
  };

  /** Every token of the shop is refused from now on (kept, so refusals can be counted). */
  function revoke(shop) {
    for (const map of [tokens, refreshTokens]) {
      for (const v of map.values()) if (v.shop === shop.domain) v.revoked = true;
    }
  }

  function grant(shop, scope) {
    const access = random('shpua_');
    const refresh = random('shprt_');
    const now = Date.now();
    tokens.set(access, { shop: shop.domain, scope, expires: now + ACCESS_TTL * 1000 });
    refreshTokens.set(refresh, { shop: shop.domain, scope, expires: now + REFRESH_TTL * 1000 });
    return {
      access_token: access,
      scope: scope.join(','),
      expires_in: ACCESS_TTL,
      refresh_token: refresh,
      refresh_token_expires_in: REFRESH_TTL,
    };
  }

  // --- OAuth -------------------------------------------------------------------------------

  function authorize(req, res, url) {
    const q = Object.fromEntries(url.searchParams);
    const cookies = parseCookies(req.headers.cookie);
    const domain = cookies[SHOP_COOKIE];
    if (!domain || !SHOP_DOMAIN.test(domain)) {
      return page(res, 400, `No shop admin session in this browser: set the cookie ${SHOP_COOKIE} to the shop's myshopify.com domain.`);
    }
    if (q.client_id !== clientId) return page(res, 400, `Unknown client_id ${q.client_id ?? ''}`);
    if (!q.state) return page(res, 400, 'The authorize request has no state.');
    let redirect;
    try {
      redirect = new URL(q.redirect_uri ?? '');
    } catch {
      return page(res, 400, 'The redirect_uri is not a URL.');
    }
    if (!/^https?:$/.test(redirect.protocol)) return page(res, 400, 'The redirect_uri is not http(s).');
    const asked = (q.scope ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const granted = cookies[SCOPE_COOKIE] !== undefined
      ? cookies[SCOPE_COOKIE].split(',').map((s) => s.trim()).filter(Boolean)
      : asked;
    const shop = shopFor(domain);
    shop.authorizations += 1;
    const code = random('');
    codes.set(code, { shop: domain, scope: granted, expires: Date.now() + CODE_TTL_MS });
    const params = {
      code,
      host: Buffer.from(`admin.shopify.com/store/${shop.name}`).toString('base64url'),
      shop: domain,
      state: q.state,
      timestamp: String(Math.floor(Date.now() / 1000)),
    };
    params.hmac = queryHmac(secret, params);
    for (const [k, v] of Object.entries(params)) redirect.searchParams.set(k, v);
    log(`authorize ${domain}: approved, scope ${granted.join(',')}`);
    res.writeHead(302, { Location: redirect.href, 'Cache-Control': 'no-store' });
    res.end();
  }

  function accessToken(res, body, contentType) {
    const form = /json/.test(contentType ?? '')
      ? Object.fromEntries(Object.entries(safeJson(body) ?? {}).map(([k, v]) => [k, String(v)]))
      : Object.fromEntries(new URLSearchParams(body));
    const refuse = (description) => json(res, 400, { error: 'invalid_request', error_description: description });
    if (form.client_id !== clientId || form.client_secret !== secret) return refuse('Invalid client credentials');
    const now = Date.now();
    if (form.grant_type === 'refresh_token') {
      const r = refreshTokens.get(form.refresh_token ?? '');
      if (!r || r.revoked || r.expires <= now) return refuse('The refresh token is invalid or was already used');
      refreshTokens.delete(form.refresh_token); // rotated: a refresh token works once
      const shop = shopFor(r.shop);
      shop.refreshes += 1;
      return json(res, 200, grant(shop, r.scope));
    }
    if (form.expiring !== '1') return refuse('Only expiring offline tokens are issued');
    const c = codes.get(form.code ?? '');
    codes.delete(form.code ?? '');
    if (!c || c.expires <= now) return refuse('The authorization code was not found or was already used');
    const shop = shopFor(c.shop);
    shop.exchanges += 1;
    log(`access_token ${c.shop}: code exchanged`);
    return json(res, 200, grant(shop, c.scope));
  }

  // --- GraphQL -------------------------------------------------------------------------------

  function graphql(req, res, body) {
    const t = tokens.get(req.headers['x-shopify-access-token'] ?? '');
    if (!t || t.revoked || t.expires <= Date.now()) {
      if (t) shopFor(t.shop).refused += 1;
      return json(res, 401, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
    }
    const shop = shopFor(t.shop);
    const request = safeJson(body);
    if (!request || typeof request.query !== 'string') return json(res, 400, { errors: { query: 'Required parameter missing or invalid' } });
    const vars = request.variables && typeof request.variables === 'object' ? request.variables : {};
    const q = request.query;
    log(`graphql ${shop.domain}: ${/^\s*(?:query|mutation)\s+(\w+)/.exec(q)?.[1] ?? q.slice(0, 40)}`);

    // Cost: connections cost their page size plus two, mutations ten, anything else one.
    const first = Number(vars.first) || Number(/\(\s*first:\s*(\d+)/.exec(q)?.[1] ?? 0);
    const isMutation = /^\s*mutation\b/.test(q);
    const requested = isMutation ? 10 : (first ? first + 2 : 1);
    const bucket = refill(shop.bucket);
    if (requested > bucket.available) {
      return json(res, 200, {
        errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }],
        extensions: { cost: cost(requested, 0, bucket) },
      });
    }
    let answer;
    try {
      answer = resolve(shop, t.scope, q, vars);
    } catch (e) {
      if (e instanceof AccessDenied) {
        return json(res, 200, { errors: [{ message: e.message, extensions: { code: 'ACCESS_DENIED' } }], extensions: { cost: cost(requested, 0, bucket) } });
      }
      return json(res, 200, { errors: [{ message: String(e.message ?? e) }] });
    }
    const actual = isMutation ? 10 : (answer.nodes ?? 0) + (requested > 1 ? 2 : 1);
    bucket.available -= actual;
    return json(res, 200, { data: answer.data, extensions: { cost: cost(requested, actual, bucket) } });
  }

  function resolve(shop, scope, q, vars) {
    const need = (s) => {
      if (!covers(scope, s)) throw new AccessDenied(`Access denied. Required access: \`${s}\` access scope.`);
    };
    if (/\bbulkOperationRunQuery\s*\(/.test(q)) {
      const inner = typeof vars.query === 'string' ? vars.query : '';
      const kind = /^\s*\{\s*(\w+)/.exec(inner)?.[1];
      const userErrors = [];
      if (!SCOPE_OF.has(kind)) userErrors.push({ field: ['query'], message: `Unsupported bulk query: ${inner.slice(0, 60)}` });
      else need(SCOPE_OF.get(kind));
      if (shop.bulk.some((b) => bulkStatus(b) !== 'COMPLETED')) {
        userErrors.push({ field: null, message: 'A bulk query operation for this app and shop is already in progress.' });
      }
      if (userErrors.length) return { data: { bulkOperationRunQuery: { bulkOperation: null, userErrors } } };
      bulkSeq += 1;
      const withSales = kind === 'orders' && /\btotalDiscountsSet\b/.test(inner);
      const op = { n: bulkSeq, id: gid('BulkOperation', 900_000 + bulkSeq), kind, createdAt: Date.now(), polls: 0, lines: bulkLines(shop, kind, withSales) };
      shop.bulk.push(op);
      return { data: { bulkOperationRunQuery: { bulkOperation: { id: op.id, status: 'CREATED' }, userErrors: [] } } };
    }
    if (/\bcurrentBulkOperation\b/.test(q)) {
      const op = shop.bulk.at(-1);
      return { data: { currentBulkOperation: op ? bulkNode(op) : null } };
    }
    if (/\bnode\s*\(/.test(q)) {
      const op = shop.bulk.find((b) => b.id === vars.id);
      return { data: { node: op ? bulkNode(op) : null } };
    }
    if (/\bwebhookSubscriptionCreate\s*\(/.test(q)) {
      const topic = String(vars.topic ?? '');
      const uri = String(vars.uri ?? '');
      if (!/^[A-Z_]+$/.test(topic)) throw new Error(`Variable $topic of type WebhookSubscriptionTopic! was provided invalid value ${topic}`);
      if (shop.subscriptions.some((s) => s.topic === topic && s.uri === uri)) {
        return { data: { webhookSubscriptionCreate: { webhookSubscription: null, userErrors: [{ field: ['webhookSubscription', 'callbackUrl'], message: 'Address for this topic has already been taken' }] } } };
      }
      subscriptionSeq += 1;
      const sub = { id: gid('WebhookSubscription', 500_000 + subscriptionSeq), topic, uri };
      shop.subscriptions.push(sub);
      return { data: { webhookSubscriptionCreate: { webhookSubscription: sub, userErrors: [] } } };
    }
    if (/\bwebhookSubscriptions\s*\(/.test(q)) {
      const { nodes, pageInfo } = pageOf(shop.subscriptions, 100, vars.after);
      return { data: { webhookSubscriptions: { nodes, pageInfo } }, nodes: nodes.length };
    }
    if (/\bshop\s*\{/.test(q)) {
      return {
        data: {
          shop: { name: shop.name, myshopifyDomain: shop.domain, currencyCode: shop.currencyCode, ianaTimezone: shop.ianaTimezone },
          currentAppInstallation: { accessScopes: scope.map((handle) => ({ handle })) },
        },
      };
    }
    for (const kind of SCOPE_OF.keys()) {
      if (new RegExp(`\\b${kind}\\s*\\(`).test(q)) {
        need(SCOPE_OF.get(kind));
        const since = /updated_at:>='([^']+)'/.exec(String(vars.query ?? ''))?.[1];
        // Abandoned checkouts come by id (their only order here); the others by updatedAt.
        const by = kind === 'abandonedCheckouts' ? 'id' : 'updatedAt';
        const records = shop[kind]
          .filter((r) => !since || r.updatedAt >= new Date(since).toISOString().replace(/\.\d{3}Z$/, 'Z'))
          .slice()
          .sort((a, b) => (a[by] < b[by] ? -1 : a[by] > b[by] ? 1 : 0))
          .map(withoutVariants);
        const { nodes, pageInfo } = pageOf(records, Math.min(Number(vars.first) || 50, 250), vars.after);
        return { data: { [kind]: { pageInfo, nodes } }, nodes: nodes.length };
      }
    }
    throw new Error(`The fake does not answer this query: ${q.slice(0, 80)}`);
  }

  function bulkLines(shop, kind, withSales = false) {
    const lines = [];
    for (const r of shop[kind]) {
      if (withSales && r.sale) {
        lines.push(...saleLines(r));
        continue;
      }
      lines.push(JSON.stringify(withoutVariants(r)));
      // Children of a connection come as their own lines, after their parent.
      for (const v of r.variants ?? []) lines.push(JSON.stringify({ ...v, __parentId: r.id }));
    }
    return lines;
  }

  function bulkNode(op) {
    op.polls += 1;
    const status = bulkStatus(op);
    const done = status === 'COMPLETED';
    return {
      id: op.id,
      status,
      errorCode: null,
      objectCount: String(done ? op.lines.length : 0),
      url: done && op.lines.length ? `${baseUrl}/_fake/bulk/${op.n}.jsonl` : null,
      partialDataUrl: null,
    };
  }

  // --- webhooks ------------------------------------------------------------------------------

  async function deliver(shop, topic, payload) {
    const graphqlTopic = topic.replace('/', '_').toUpperCase();
    const raw = JSON.stringify(payload);
    const results = [];
    for (const sub of shop.subscriptions.filter((s) => s.topic === graphqlTopic && /^https?:/.test(s.uri))) {
      const headers = {
        'Content-Type': 'application/json',
        'X-Shopify-Topic': topic,
        'X-Shopify-Hmac-Sha256': crypto.createHmac('sha256', secret).update(raw, 'utf8').digest('base64'),
        'X-Shopify-Shop-Domain': shop.domain,
        'X-Shopify-API-Version': '2026-01',
        'X-Shopify-Webhook-Id': crypto.randomUUID(),
        'X-Shopify-Event-Id': crypto.randomUUID(),
        'X-Shopify-Triggered-At': new Date().toISOString(),
      };
      let status = 0;
      try {
        const r = await fetch(sub.uri, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(10_000) });
        status = r.status;
        await r.arrayBuffer();
      } catch (e) {
        log(`delivery of ${topic} to ${sub.uri} failed: ${e}`);
      }
      results.push({ topic, uri: sub.uri, status });
    }
    shop.deliveries.push(...results);
    return results;
  }

  // --- control -------------------------------------------------------------------------------

  async function control(req, res, url) {
    const bulk = /^\/_fake\/bulk\/(\d+)\.jsonl$/.exec(url.pathname);
    if (bulk && req.method === 'GET') {
      const op = [...shops.values()].flatMap((s) => s.bulk).find((b) => b.n === Number(bulk[1]));
      if (!op || bulkStatus(op) !== 'COMPLETED') return json(res, 404, { error: 'no such file' });
      res.writeHead(200, { 'Content-Type': 'application/jsonl' });
      return res.end(op.lines.map((l) => `${l}\n`).join(''));
    }
    const m = /^\/_fake\/shops\/([^/]+)(?:\/(revoke|uninstall))?$/.exec(url.pathname);
    const shop = m && shops.get(decodeURIComponent(m[1]));
    if (!shop) return json(res, 404, { error: 'unknown shop (shops are created by their first authorize)' });
    if (!m[2] && req.method === 'GET') {
      const view = { ...shop, bulkOperations: shop.bulk.map((op) => ({ id: op.id, kind: op.kind, status: bulkStatus(op), polls: op.polls })) };
      delete view.bulk;
      delete view.bucket;
      return json(res, 200, view);
    }
    if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });
    revoke(shop);
    if (m[2] === 'revoke') return json(res, 200, { revoked: true });
    const delivered = await deliver(shop, 'app/uninstalled', {
      id: Number(BigInt(shop.id) % 1_000_000_000n), // kept small: a safe JSON number
      name: shop.name,
      domain: shop.domain,
      myshopify_domain: shop.domain,
      currency: shop.currencyCode,
      iana_timezone: shop.ianaTimezone,
    });
    shop.subscriptions = [];
    return json(res, 200, { uninstalled: true, delivered });
  }

  // --- server --------------------------------------------------------------------------------

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://fake.invalid');
      const body = req.method === 'POST' ? await readBody(req) : '';
      if (req.method === 'GET' && url.pathname === '/admin/oauth/authorize') return authorize(req, res, url);
      if (req.method === 'POST' && url.pathname === '/admin/oauth/access_token') return accessToken(res, body, req.headers['content-type']);
      if (req.method === 'POST' && /^\/admin\/api\/[0-9]{4}-[0-9]{2}\/graphql\.json$/.test(url.pathname)) return graphql(req, res, body);
      if (url.pathname.startsWith('/_fake/')) return await control(req, res, url);
      return json(res, 404, { errors: 'Not Found' });
    } catch (e) {
      if (e instanceof TooLarge) return json(res, 413, { errors: 'Request body too large' });
      log(`error: ${e?.stack ?? e}`);
      if (!res.headersSent) json(res, 500, { errors: 'Internal error' });
      else res.end();
    }
  });

  return new Promise((resolveStart, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      baseUrl = `http://127.0.0.1:${server.address().port}`;
      resolveStart({
        url: baseUrl,
        shops,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

class AccessDenied extends Error {}

/** A product as the paged query and a bulk line show it: its variants are a connection. */
function withoutVariants(record) {
  const copy = { ...record };
  delete copy.variants;
  delete copy.sale;
  return copy;
}

/** An order's bulk line with its sale parts, and its children's lines (grouped after it). */
function saleLines(order) {
  const money = (amount) => ({ shopMoney: { amount } });
  const { sale } = order;
  const head = { ...withoutVariants(order), totalDiscountsSet: money('0.00'), totalTaxSet: money('0.00'),
    refunds: sale.refund ? [{ id: sale.refund.id, createdAt: sale.refund.createdAt }] : [] };
  const lines = [JSON.stringify(head)];
  for (const l of sale.lines) {
    lines.push(JSON.stringify({ __typename: 'LineItem', id: l.id, title: l.title, quantity: l.quantity,
      originalUnitPriceSet: money(l.price), totalDiscountSet: money('0.00'), product: { id: l.product }, __parentId: order.id }));
  }
  if (sale.refund) {
    const line = sale.lines[0];
    lines.push(JSON.stringify({ __typename: 'RefundLineItem', quantity: 1, subtotalSet: money(sale.refund.subtotal),
      totalTaxSet: money('0.00'), lineItem: { id: line.id, product: { id: line.product } }, __parentId: sale.refund.id }));
  }
  return lines;
}
class TooLarge extends Error {}

/** Like Shopify's: running for a moment, then completed with its file. */
function bulkStatus(op) {
  return Date.now() - op.createdAt >= BULK_RUN_MS ? 'COMPLETED' : 'RUNNING';
}

function refill(bucket) {
  const now = Date.now();
  bucket.available = Math.min(BUCKET_MAX, bucket.available + ((now - bucket.at) / 1000) * RESTORE_RATE);
  bucket.at = now;
  return bucket;
}

function cost(requested, actual, bucket) {
  return {
    requestedQueryCost: requested,
    actualQueryCost: actual,
    throttleStatus: { maximumAvailable: BUCKET_MAX, currentlyAvailable: Math.floor(bucket.available), restoreRate: RESTORE_RATE },
  };
}

/** A page of `items` after the opaque `after` cursor (the position, base64url). */
function pageOf(items, first, after) {
  const start = after ? Number(Buffer.from(String(after), 'base64url').toString()) + 1 || 0 : 0;
  const nodes = items.slice(start, start + first);
  const end = start + nodes.length - 1;
  return {
    nodes,
    pageInfo: {
      hasNextPage: start + first < items.length,
      endCursor: nodes.length ? Buffer.from(String(end)).toString('base64url') : null,
    },
  };
}

function parseCookies(header) {
  const out = {};
  for (const part of String(header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function readBody(req) {
  return new Promise((resolveBody, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new TooLarge());
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(value));
}

function page(res, status, message) {
  const text = message.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Fake Shopify</title><p>${text}</p>`);
}

/** `--port N`: run as a process (scripts/services.sh start_fake_shopify). */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const at = process.argv.indexOf('--port');
  const port = at > 0 ? Number(process.argv[at + 1]) : 0;
  const verbose = process.argv.includes('--verbose');
  const fake = await startFakeShopify({ port, log: verbose ? (m) => console.log(m) : () => {} });
  console.log(`fake Shopify listening on ${fake.url}`);
  const stop = () => fake.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
