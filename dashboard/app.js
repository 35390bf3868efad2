// Shopify Insights merchant dashboard: sign-up, log-in, connecting the Shopify shop (the install,
// the sign-in code it lands with, the login an installed tenant sets, the sync status), the shop's
// metrics, sales as Shopify's reports define them (net sales by day against the previous period,
// the breakdown, customers, top products, a CSV of the days), and the storefront funnel (with the
// abandoned checkouts, their setting and the pixel snippet a merchant pastes into Shopify), served
// at / with no build step. Plain ES module, no dependencies, no network access beyond this
// origin's API (the install navigates to Shopify's authorize URL; the sales CSV is a blob: URL).
//
// Rules kept throughout:
// - Ids (64-bit) and money (decimal strings) are displayed exactly as the API sent them. Revenue and
//   net sales are turned into Numbers only to place pixels in the charts, never to show a value;
//   money arithmetic (the change in net sales) is done in integer cents with BigInt.
// - API data reaches the page only through textContent / attributes, never as HTML.

const TOKEN_KEY = 'insights.token';
const SHOP_KEY = 'insights.shop';
const ORDERS_PAGE_SIZE = 25;
const TOP_CUSTOMERS = 10;
const SYNC_POLL_MS = 1500; // while a sync runs
const CONNECTION_REFRESH_MS = 30_000; // otherwise, while the page is visible
const MAX_RANGE_DAYS = 366;
const SVG_NS = 'http://www.w3.org/2000/svg';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  currency: null,
  range: null, // { from, to } as YYYY-MM-DD
  cursor: null, // cursor of the page on screen (null = first page)
  cursorStack: [], // cursors of the pages before it, for "Previous"
  nextCursor: null,
  days: [],
  ordersSeq: 0,
  pending: 0,
  failed: false,
  generation: 0, // bumped on log-in/log-out so late answers for an old session are dropped
  tenant: null, // GET /tenants/me's tenant (with shop_status)
  sync: null, // GET /sync/status
  syncPending: false, // a sync was seen running (or asked for) and its end not yet shown
  pollTimer: 0,
};

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Thrown after a 401 on a dashboard call: the page has already gone back to the login view. */
class SessionEnded extends Error {}

async function api(path, { method = 'GET', body, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && state.token) headers.Authorization = `Bearer ${state.token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check that it is running and try again.');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' ? data.error : null;
    const message = err && typeof err.message === 'string' && err.message
      ? err.message
      : `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`;
    throw new ApiError(res.status, (err && err.code) || 'http_error', message);
  }
  if (res.status === 204) return null;
  if (data === null || typeof data !== 'object') {
    throw new ApiError(res.status, 'bad_response', 'The server sent an answer this page does not understand.');
  }
  return data;
}

/** A call made on behalf of the logged-in merchant: a 401 ends the session. */
async function dashboardApi(path, options = {}) {
  const generation = state.generation;
  try {
    const data = await api(path, options);
    if (generation !== state.generation) throw new SessionEnded();
    return data;
  } catch (e) {
    if (generation !== state.generation) throw new SessionEnded();
    if (e instanceof ApiError && e.status === 401) {
      endSession();
      showError('Your session has ended. Please log in again.');
      throw new SessionEnded();
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

function clearError() {
  const box = $('error');
  box.textContent = '';
  box.hidden = true;
}

function showNotice(message) {
  const box = $('notice');
  box.textContent = message;
  box.hidden = !message;
}

function reportError(e) {
  if (e instanceof SessionEnded) return;
  if (e instanceof ApiError) showError(e.message);
  else {
    console.error(e);
    showError('Something went wrong on this page. Reload it and try again.');
  }
}

/** "<amount> <currency>" with the amount exactly as the API sent it. */
function money(amount, currency) {
  if (amount === null || amount === undefined || amount === '') return '—';
  const a = String(amount);
  return currency ? `${a} ${currency}` : a;
}

/** Like money(), with the currency in its own span for styling; textContent stays the same. */
function setMoney(node, amount, currency) {
  if (amount === null || amount === undefined || amount === '' || !currency) {
    node.textContent = money(amount, currency);
    return;
  }
  node.replaceChildren(el('span', { class: 'amount' }, String(amount)), ' ', el('span', { class: 'currency' }, currency));
}

function count(value) {
  return value === null || value === undefined ? '—' : String(value);
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

/** Local calendar date as YYYY-MM-DD (not toISOString, which is UTC). */
function isoDate(d) {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

function parseIsoDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  return { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]), utc: Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) };
}

function defaultRange() {
  const today = new Date();
  const from = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 29);
  return { from: isoDate(from), to: isoDate(today) };
}

/** Parses a decimal string for chart geometry only. Never displayed. */
function amountForGeometry(s) {
  const n = Number.parseFloat(String(s));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setBusy(button, busy, busyLabel) {
  if (busy) {
    button.dataset.label = button.textContent;
    button.textContent = busyLabel;
    button.disabled = true;
  } else {
    if (button.dataset.label) button.textContent = button.dataset.label;
    delete button.dataset.label;
    button.disabled = false;
  }
}

/** Tracks in-flight dashboard loads in data-state (idle | loading | ready | error) for tests. */
async function track(promise) {
  const view = $('dashboard-view');
  state.pending += 1;
  view.dataset.state = 'loading';
  view.setAttribute('aria-busy', 'true');
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof SessionEnded)) state.failed = true;
    reportError(e);
  } finally {
    state.pending -= 1;
    if (state.pending === 0) {
      view.dataset.state = state.failed ? 'error' : 'ready';
      view.removeAttribute('aria-busy');
      state.failed = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Views

function showAuth(which) {
  $('dashboard-view').hidden = true;
  $('session').hidden = true;
  $('auth-view').hidden = false;
  const register = which === 'register';
  $('login-form').hidden = register;
  $('register-form').hidden = !register;
  const first = register ? $('register-name') : $('login-email');
  if (!first.value) first.focus();
}

function showDashboard() {
  $('auth-view').hidden = true;
  $('dashboard-view').hidden = false;
  $('session').hidden = false;
  $('session-shop').textContent = sessionStorage.getItem(SHOP_KEY) || '';
  $('webhook-url').textContent = `${window.location.origin}/webhooks`;
}

/** Opens the dashboard for a fresh token (`afterInstall`: it came from an install's sign-in code). */
function startSession(token, tenant, { afterInstall = false } = {}) {
  state.generation += 1;
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  if (tenant && tenant.shop_domain) sessionStorage.setItem(SHOP_KEY, tenant.shop_domain);
  else sessionStorage.removeItem(SHOP_KEY);
  openDashboard({ afterInstall });
}

function openDashboard({ afterInstall = false } = {}) {
  resetDashboard();
  resetConnection();
  showDashboard();
  loadDashboard();
  loadSalesSection();
  loadFunnelSection();
  loadConnection({ afterInstall });
}

function endSession() {
  state.generation += 1;
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SHOP_KEY);
  resetDashboard();
  resetConnection();
  hideApiKey();
  showNotice('');
  showAuth('login');
}

function resetDashboard() {
  state.currency = null;
  state.range = null;
  state.cursor = null;
  state.cursorStack = [];
  state.nextCursor = null;
  state.days = [];
  for (const id of ['metric-customers', 'metric-orders', 'metric-products', 'metric-revenue', 'metric-aov']) {
    $(id).textContent = '–';
  }
  $('empty-state').hidden = true;
  $('legend-currency').textContent = '';
  $('orders-table').tBodies[0].replaceChildren();
  $('top-customers-table').tBodies[0].replaceChildren();
  $('days-table').tBodies[0].replaceChildren();
  resetSales();
  resetFunnel();
  $('orders-prev').disabled = true;
  $('orders-next').disabled = true;
  $('orders-page').textContent = 'Page 1';
  $('orders-range').textContent = '';
  const chart = $('chart');
  chart.replaceChildren(
    svg('title', { id: 'chart-title' }, 'Orders and revenue by day'),
    svg('desc', { id: 'chart-desc' }, 'Loading…'),
  );
  delete chart.dataset.from;
  delete chart.dataset.to;
  delete chart.dataset.days;
  const view = $('dashboard-view');
  view.dataset.state = 'idle';
}

function showApiKey(key) {
  $('api-key').textContent = key;
  $('api-key-panel').hidden = false;
}

function hideApiKey() {
  $('api-key').textContent = '';
  $('api-key-panel').hidden = true;
}

// ---------------------------------------------------------------------------------------------
// The Shopify connection: install, sync status, the login of a tenant an install created

/** The badge for each situation: label and class. */
const CONNECTION_BADGES = {
  not_connected: ['Not connected', ''],
  connected: ['Connected', 'shop-connected'],
  needs_reauth: ['Needs reconnecting', 'shop-attention'],
  uninstalled: ['App uninstalled', 'shop-attention'],
  released: ['Held by another account', 'shop-released'],
};

/** Where the tenant stands: GET /tenants/me's shop_status, refined by the sync's state. */
function connectionOf(tenant, sync) {
  const status = tenant ? tenant.shop_status : null;
  if (status === 'released') return 'released';
  if (status !== 'connected') return 'not_connected';
  if (sync && (sync.state === 'uninstalled' || sync.state === 'needs_reauth')) return sync.state;
  return 'connected';
}

function resetConnection() {
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
  state.tenant = null;
  state.sync = null;
  state.syncPending = false;
  const panel = $('connection');
  panel.dataset.state = 'idle';
  delete panel.dataset.connection;
  const badge = $('shop-status');
  badge.textContent = '';
  badge.className = 'badge';
  badge.dataset.status = '';
  const status = $('sync-status');
  status.replaceChildren();
  status.dataset.state = '';
  delete status.dataset.lastStarted;
  delete status.dataset.lastFinished;
  $('released-banner').hidden = true;
  for (const id of ['connect-shopify', 'reconnect-shopify', 'sync-now']) {
    setBusy($(id), false);
    $(id).hidden = true;
  }
  $('set-login-panel').hidden = true;
  $('set-login-password').value = '';
}

/**
 * Reads GET /tenants/me and GET /sync/status and shows them. `quiet` (the background refresh)
 * reports no error. `afterInstall`: the page just landed from an install, whose callback queued
 * the shop's sync itself (its first import, or a fresh one after a reconnect): the page only
 * watches for its end, to load the numbers again. Asking for another here would start a second
 * sync whenever the first has already ended.
 */
async function loadConnection({ afterInstall = false, quiet = false } = {}) {
  const panel = $('connection');
  if (!quiet) panel.dataset.state = 'loading';
  try {
    const [me, sync] = await Promise.all([dashboardApi('/tenants/me'), dashboardApi('/sync/status')]);
    state.tenant = me.tenant || null;
    if (afterInstall) state.syncPending = true;
    noteSync(sync);
    renderConnection();
    panel.dataset.state = 'ready';
  } catch (e) {
    if (e instanceof SessionEnded) return;
    panel.dataset.state = 'error';
    if (!quiet) reportError(e);
  }
  schedulePoll();
}

/** Polls quickly while a sync runs, slowly otherwise (and not while the page is hidden). */
function schedulePoll() {
  clearTimeout(state.pollTimer);
  if (!state.token) return;
  const running = state.sync && state.sync.state === 'running';
  state.pollTimer = setTimeout(() => {
    if (document.hidden && !running) schedulePoll();
    else loadConnection({ quiet: true });
  }, running ? SYNC_POLL_MS : CONNECTION_REFRESH_MS);
}

/** Keeps the sync's status; once a sync this page saw running or asked for has ended, its records
 * are in the numbers: they are loaded again. */
function noteSync(sync) {
  if (sync.state === 'running') state.syncPending = true;
  else if (state.syncPending) {
    state.syncPending = false;
    reloadNumbers();
  }
  state.sync = sync;
}

function reloadNumbers() {
  if ($('dashboard-view').hidden) return;
  state.cursor = null;
  state.cursorStack = [];
  loadDashboard();
  loadSalesSection();
  reloadFunnelData();
}

/** `POST /sync`; a sync already running is as good. */
async function requestSync() {
  try {
    await dashboardApi('/sync', { method: 'POST' });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409 && e.code === 'sync_running')) throw e;
  }
  // It may have run to its end already: noteSync then shows its records at once.
  state.syncPending = true;
  noteSync(await dashboardApi('/sync/status'));
  renderConnection();
}

function renderConnection() {
  const tenant = state.tenant;
  const sync = state.sync || {};
  const shop = (tenant && tenant.shop_domain) || sessionStorage.getItem(SHOP_KEY) || 'your shop';
  const view = connectionOf(tenant, sync);
  const [label, badgeClass] = CONNECTION_BADGES[view];
  $('connection').dataset.connection = view;
  const badge = $('shop-status');
  badge.textContent = label;
  badge.className = `badge ${badgeClass}`.trim();
  badge.dataset.status = view;

  $('released-banner').hidden = view !== 'released';
  if (view === 'released') {
    $('released-text').textContent = ` Someone installed Shopify Insights on ${shop} from that shop's admin, `
      + 'which proves they own it, so this account no longer receives its orders, customers and products. '
      + 'What was already imported stays here. If the shop is yours, connect it again.';
  }
  renderSyncStatus(view, sync, shop);

  $('connect-shopify').hidden = view !== 'not_connected' && view !== 'released';
  $('empty-connect').hidden = $('connect-shopify').hidden;
  $('reconnect-shopify').hidden = view !== 'needs_reauth' && view !== 'uninstalled';
  const syncNow = $('sync-now');
  syncNow.hidden = view !== 'connected';
  if (!syncNow.dataset.label) syncNow.disabled = sync.state === 'running';
  // A tenant an install created has no email until it sets its login.
  $('set-login-panel').hidden = !(tenant && tenant.email === null);
}

function localTime(ts) {
  const d = new Date(ts);
  if (!ts || Number.isNaN(d.getTime())) return el('span', {}, ts || '—');
  return el('time', { datetime: ts, title: ts }, d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
}

function importedCounts(counts) {
  const c = counts || {};
  const one = (kind, label) => el('span', { 'data-testid': `sync-count-${kind}` }, `${count(c[kind])} ${label}`);
  return [' Imported from Shopify: ', one('customers', 'customers'), ', ', one('orders', 'orders'), ', ', one('products', 'products'), '.'];
}

function renderSyncStatus(view, sync, shop) {
  const node = $('sync-status');
  node.dataset.state = sync.state || '';
  node.dataset.lastStarted = sync.last_started_at || '';
  node.dataset.lastFinished = sync.last_finished_at || '';
  let parts;
  if (view === 'not_connected') {
    parts = [`Connect ${shop} to import its orders, customers and products from Shopify; new ones then arrive by themselves.`];
  } else if (view === 'released') {
    parts = [`Not syncing: another account holds ${shop}.`];
  } else if (view === 'uninstalled') {
    parts = [`The app was uninstalled from ${shop} in Shopify, so syncing stopped; the data already imported stays. Reconnect to resume.`];
  } else if (view === 'needs_reauth') {
    parts = [`Shopify no longer accepts this app's access to ${shop}, so syncing stopped. Reconnect to resume.`];
  } else if (sync.state === 'running') {
    parts = ['Syncing with Shopify…', ...importedCounts(sync.counts)];
  } else if (sync.state === 'failed') {
    parts = [`The last sync failed${sync.error ? ` (${sync.error})` : ''}. It is tried again on schedule, or sync now.`];
  } else if (sync.last_finished_at) {
    parts = ['Up to date: the last sync finished ', localTime(sync.last_finished_at), '.', ...importedCounts(sync.counts)];
  } else {
    parts = [`Connected to ${shop}. Waiting for the first sync…`];
  }
  // Only a change is written: the region is live, and an unchanged sentence need not be read again.
  const probe = el('p', {}, ...parts);
  if (probe.innerHTML !== node.innerHTML) node.replaceChildren(...probe.childNodes);
}

/** Connect Shopify / Reconnect: the install, from Shopify's authorize URL back to this page. */
async function onInstall(event) {
  const button = event.currentTarget;
  clearError();
  showNotice('');
  setBusy(button, true, 'Opening Shopify…');
  try {
    const data = await dashboardApi('/tenants/me/shopify/install', { method: 'POST' });
    const target = new URL(String(data.authorize_url), window.location.href);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new ApiError(0, 'bad_response', 'The server sent an install address this page does not understand.');
    }
    // The button stays busy: the page is leaving for Shopify.
    window.location.assign(target.href);
  } catch (e) {
    setBusy(button, false);
    reportError(e);
  }
}

async function onSyncNow() {
  const button = $('sync-now');
  clearError();
  setBusy(button, true, 'Starting…');
  try {
    await requestSync();
  } catch (e) {
    reportError(e);
  } finally {
    setBusy(button, false);
    if (state.sync) renderConnection();
    schedulePoll();
  }
}

async function onSetLogin(event) {
  event.preventDefault();
  clearError();
  showNotice('');
  const button = $('set-login-submit');
  const email = $('set-login-email').value.trim();
  setBusy(button, true, 'Saving…');
  try {
    await dashboardApi('/tenants/me/login', { method: 'PUT', body: { email, password: $('set-login-password').value } });
    $('set-login-password').value = '';
    $('set-login-panel').hidden = true;
    $('login-email').value = email;
    if (state.tenant) state.tenant.email = email;
    showNotice(`Your login is saved: next time, log in with ${email} and your password.`);
  } catch (e) {
    reportError(e);
  } finally {
    setBusy(button, false);
  }
}

/**
 * The install's callback sends the browser to `/#signin=<one-time code>`, or to `/#error=<code>`
 * when it failed. Read once, then taken out of the address bar and the history entry.
 */
function takeLanding() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const signin = params.get('signin');
  const error = params.get('error');
  if (signin === null && error === null) return null;
  window.history.replaceState(window.history.state, '', `${window.location.pathname}${window.location.search}`);
  return { signin, error };
}

function installErrorMessage(code) {
  if (code === 'missing_scopes') {
    return 'Shopify did not grant every permission Shopify Insights needs (orders, customers, products '
      + 'and customer events), so the shop was not connected. Connect again and approve them all.';
  }
  return 'Connecting the shop with Shopify did not finish. Try again.';
}

async function signInWithCode(code) {
  showNotice('Signing you in with Shopify…');
  try {
    const data = await api('/auth/signin-code', { method: 'POST', auth: false, body: { code } });
    showNotice('');
    hideApiKey();
    startSession(data.token, data.tenant, { afterInstall: true });
  } catch (e) {
    showNotice('');
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      state.token = token;
      openDashboard();
    } else {
      showAuth('login');
    }
    if (e instanceof ApiError && e.status === 401) {
      showError('This sign-in link was already used or has expired. Log in, or open the app from your Shopify admin again.');
    } else {
      reportError(e);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dashboard loading

function loadDashboard() {
  const range = state.range || defaultRange();
  state.range = range;
  $('range-from').value = range.from;
  $('range-to').value = range.to;
  return track((async () => {
    const seq = ++state.ordersSeq;
    const [metrics, top, orders] = await Promise.all([
      dashboardApi('/dashboard/metrics'),
      dashboardApi(`/dashboard/top-customers?limit=${TOP_CUSTOMERS}`),
      dashboardApi(ordersUrl()),
    ]);
    // Metrics first: they carry the currency every other amount is shown in.
    renderMetrics(metrics);
    renderTopCustomers(top);
    if (seq === state.ordersSeq) renderOrdersPage(orders);
  })());
}

function ordersUrl() {
  const q = new URLSearchParams({ from: state.range.from, to: state.range.to, limit: String(ORDERS_PAGE_SIZE) });
  if (state.cursor !== null) q.set('cursor', state.cursor);
  return `/dashboard/orders-by-date?${q}`;
}

function loadOrders() {
  // Only the latest request may draw: answers to an earlier range or page are dropped.
  const seq = ++state.ordersSeq;
  return track(dashboardApi(ordersUrl()).then((data) => {
    if (seq === state.ordersSeq) renderOrdersPage(data);
  }));
}

function renderMetrics(m) {
  state.currency = m.currency ?? null;
  $('metric-customers').textContent = count(m.customers);
  $('metric-orders').textContent = count(m.orders);
  $('metric-products').textContent = count(m.products);
  setMoney($('metric-revenue'), m.revenue, state.currency);
  setMoney($('metric-aov'), m.average_order_value, state.currency);
  $('legend-currency').textContent = state.currency ? ` (${state.currency})` : '';
  $('empty-state').hidden = String(m.orders) !== '0';
  // The funnel's amounts are in the shop currency, known from here.
  if (funnel.data) renderFunnel();
  if (sales.top && !sales.data) renderTopProducts();
}

function renderOrdersPage(data) {
  state.days = Array.isArray(data.days) ? data.days : [];
  state.nextCursor = data.next_cursor ?? null;
  renderChart(state.days, data.from ?? state.range.from, data.to ?? state.range.to);
  renderDaysTable(state.days);
  renderOrders(Array.isArray(data.orders) ? data.orders : []);
  $('orders-range').textContent = `${data.from ?? state.range.from} to ${data.to ?? state.range.to}`;
  $('orders-prev').disabled = state.cursorStack.length === 0;
  $('orders-next').disabled = state.nextCursor === null;
  $('orders-page').textContent = `Page ${state.cursorStack.length + 1}`;
}

function formatTimestamp(ts) {
  // RFC 3339 shown as "YYYY-MM-DD HH:MM" in the offset Shopify sent; no Date round trip.
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})/.exec(ts || '');
  return m ? `${m[1]} ${m[2]}` : (ts || '—');
}

function renderOrders(orders) {
  const body = $('orders-table').tBodies[0];
  if (orders.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty-row' },
      el('td', { colspan: 6 }, 'No orders in this date range.')));
    return;
  }
  body.replaceChildren(...orders.map((o) => {
    const status = el('td', {},
      o.financial_status ? el('span', { class: `badge status-${String(o.financial_status).replace(/[^a-z_]/gi, '')}` }, String(o.financial_status).replace(/_/g, ' ')) : null,
      o.cancelled ? el('span', { class: 'badge cancelled' }, 'cancelled') : null);
    if (!o.financial_status && !o.cancelled) status.textContent = '—';
    return el('tr', { dataset: { orderId: String(o.id) } },
      el('td', { class: 'strong' }, o.name || '—'),
      el('td', { class: 'nowrap' }, el('time', { datetime: o.created_at, title: o.created_at }, formatTimestamp(o.created_at))),
      el('td', { class: 'num nowrap' }, money(o.total_price, o.currency ?? state.currency)),
      status,
      el('td', { class: 'mono' }, String(o.id)),
      el('td', { class: 'mono' }, o.customer_id === null || o.customer_id === undefined ? '—' : String(o.customer_id)));
  }));
}

function renderTopCustomers(data) {
  const customers = Array.isArray(data.customers) ? data.customers : [];
  const body = $('top-customers-table').tBodies[0];
  if (customers.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty-row' }, el('td', { colspan: 4 }, 'No customers with orders yet.')));
    return;
  }
  body.replaceChildren(...customers.map((c) => el('tr', { dataset: { customerId: String(c.id) } },
    el('td', { class: 'strong' }, c.name || '—'),
    el('td', { class: 'col-email' }, c.email || '—'),
    el('td', { class: 'num' }, count(c.orders)),
    el('td', { class: 'num nowrap' }, money(c.total_spent, state.currency)))));
}

function renderDaysTable(days) {
  const body = $('days-table').tBodies[0];
  body.replaceChildren(...days.map((d) => el('tr', {},
    el('td', {}, d.date),
    el('td', { class: 'num' }, count(d.orders)),
    el('td', { class: 'num' }, money(d.revenue, state.currency)))));
}

// ---------------------------------------------------------------------------------------------
// Storefront funnel, abandoned checkouts and the pixel. Loaded beside the rest of the dashboard
// but tracked on their own (the funnel section's data-state), so a failure here shows in the
// section and leaves the orders and metrics alone.

const ABANDONED_SHOWN = 10;
const ABANDON_AFTER_MAX = 10080;
const PIXEL_PLACEHOLDERS = { endpoint: '"__INSIGHTS_ENDPOINT__"', key: '"__INSIGHTS_INGEST_KEY__"' };

/** The four funnel steps: the answer's field, and the ids of its count and rate. */
const FUNNEL_STEPS = [
  ['sessions', 'funnel-sessions'],
  ['sessions_with_cart', 'funnel-sessions-with-cart'],
  ['sessions_with_checkout', 'funnel-sessions-with-checkout'],
  ['sessions_converted', 'funnel-sessions-converted'],
];
const FUNNEL_COUNTS = [
  ['checkouts_started', 'funnel-checkouts-started'],
  ['checkouts_completed', 'funnel-checkouts-completed'],
  ['checkouts_abandoned', 'funnel-checkouts-abandoned'],
  ['checkouts_recovered', 'funnel-checkouts-recovered'],
];
const FUNNEL_MONEY = [
  ['abandoned_value', 'funnel-abandoned-value'],
  ['recovered_value', 'funnel-recovered-value'],
];

const funnel = {
  pending: 0,
  failed: false,
  numbersSeq: 0,
  abandonedSeq: 0,
  data: null, // the last GET /dashboard/funnel answer on screen
  pixelSource: null, // GET /pixel.js, placeholders still in
  ingestKey: null,
  statusTimer: 0,
};

/**
 * n ÷ total as a decimal string with four decimals, rounded half-even, "0.0000" when total is 0:
 * the API's own rule for conversion_rate, in integers. Null when a count is not an integer.
 */
function rateOf(n, total) {
  let a;
  let b;
  try {
    a = BigInt(n);
    b = BigInt(total);
  } catch {
    return null;
  }
  if (b <= 0n || a < 0n) return '0.0000';
  let q = (a * 10000n) / b;
  const r = (a * 10000n) % b;
  if (2n * r > b || (2n * r === b && q % 2n === 1n)) q += 1n;
  return `${q / 10000n}.${String(q % 10000n).padStart(4, '0')}`;
}

/** A decimal fraction string as a percentage by moving the point: "0.0312" → "3.12%". */
function percent(rate) {
  const m = /^(\d+)(?:\.(\d*))?$/.exec(rate === null || rate === undefined ? '' : String(rate));
  if (!m) return rate === null || rate === undefined || rate === '' ? '—' : String(rate);
  const frac = (m[2] || '').padEnd(2, '0');
  const whole = `${m[1]}${frac.slice(0, 2)}`.replace(/^0+(?=\d)/, '');
  const rest = frac.slice(2);
  return `${whole}${rest ? `.${rest}` : ''}%`;
}

/** A count for geometry only (bar widths). */
function countForGeometry(v) {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** The API's address when it is an absolute http(s) one, else null (never a javascript: link). */
function safeLink(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? url : null;
  } catch {
    return null;
  }
}

function setAlert(id, message) {
  const box = $(id);
  box.textContent = message || '';
  box.hidden = !message;
}

function errorMessage(e) {
  if (e instanceof ApiError) return e.message;
  console.error(e);
  return 'Something went wrong on this page. Reload it and try again.';
}

/** Tracks the section's loads in its data-state (idle | loading | ready | error) for tests. */
async function trackFunnel(promise) {
  const section = $('funnel');
  funnel.pending += 1;
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof SessionEnded)) funnel.failed = true;
  } finally {
    funnel.pending -= 1;
    if (funnel.pending === 0) {
      section.dataset.state = funnel.failed ? 'error' : 'ready';
      section.removeAttribute('aria-busy');
      funnel.failed = false;
    }
  }
}

function resetFunnel() {
  funnel.numbersSeq += 1;
  funnel.abandonedSeq += 1;
  funnel.data = null;
  funnel.pixelSource = null;
  funnel.ingestKey = null;
  clearTimeout(funnel.statusTimer);
  const section = $('funnel');
  section.dataset.state = 'idle';
  section.removeAttribute('aria-busy');
  delete section.dataset.from;
  delete section.dataset.to;
  $('funnel-range').textContent = '';
  $('funnel-empty').hidden = true;
  for (const id of ['funnel-error', 'abandoned-error', 'abandon-after-error', 'pixel-error']) setAlert(id, '');
  for (const [, id] of FUNNEL_STEPS) {
    $(id).textContent = '–';
    $(`${id}-rate`).textContent = '–';
    delete $(`${id}-rate`).dataset.value;
  }
  for (const [, id] of [...FUNNEL_COUNTS, ...FUNNEL_MONEY]) {
    $(id).textContent = '–';
    delete $(id).dataset.value;
  }
  $('funnel-conversion-rate').textContent = '–';
  delete $('funnel-conversion-rate').dataset.value;
  for (const rect of document.querySelectorAll('#funnel .funnel-bar .fill')) rect.setAttribute('width', '0');
  $('funnel-days-table').tBodies[0].replaceChildren();
  $('abandoned-table').tBodies[0].replaceChildren();
  delete $('abandoned-table').dataset.count;
  const form = $('abandon-after-form');
  form.dataset.state = 'idle';
  $('abandon-after-input').value = '';
  $('abandon-after-status').textContent = '';
  setBusy($('abandon-after-save'), false);
  const snippet = $('pixel-snippet');
  snippet.value = '';
  delete snippet.dataset.key;
  $('ingest-key').textContent = '–';
  $('pixel-status').textContent = '';
  $('ingest-key-confirm').hidden = true;
  setBusy($('ingest-key-replace-confirm'), false);
  $('pixel-copy').disabled = true;
  $('ingest-key-replace').disabled = true;
}

/** Everything in the section, on opening the dashboard. */
function loadFunnelSection() {
  trackFunnel(loadFunnelNumbers());
  trackFunnel(loadAbandoned());
  trackFunnel(loadAbandonAfter());
  trackFunnel(loadPixel());
}

/** What depends on the data (not the settings or the key): on a new range, after a sync. */
function reloadFunnelData() {
  trackFunnel(loadFunnelNumbers());
  trackFunnel(loadAbandoned());
}

async function loadFunnelNumbers() {
  const range = state.range || defaultRange();
  const seq = ++funnel.numbersSeq;
  const q = new URLSearchParams({ from: range.from, to: range.to });
  try {
    const data = await dashboardApi(`/dashboard/funnel?${q}`);
    if (seq !== funnel.numbersSeq) return;
    funnel.data = data;
    setAlert('funnel-error', '');
    renderFunnel();
  } catch (e) {
    if (!(e instanceof SessionEnded) && seq === funnel.numbersSeq) setAlert('funnel-error', `The funnel could not be loaded: ${errorMessage(e)}`);
    throw e;
  }
}

function renderFunnel() {
  const f = funnel.data;
  if (!f) return;
  const section = $('funnel');
  section.dataset.from = f.from ?? '';
  section.dataset.to = f.to ?? '';
  $('funnel-range').textContent = f.from && f.to ? `${f.from} to ${f.to} (the dates chosen above)` : '';
  $('funnel-empty').hidden = !(String(f.sessions) === '0' && String(f.checkouts_started) === '0');

  const sessions = countForGeometry(f.sessions);
  const fills = document.querySelectorAll('#funnel .funnel-bar .fill');
  FUNNEL_STEPS.forEach(([field, id], i) => {
    $(id).textContent = count(f[field]);
    // The converted share is the API's conversion_rate itself; the others follow its rule.
    const rate = field === 'sessions_converted' ? f.conversion_rate : rateOf(f[field], f.sessions);
    const rateNode = $(`${id}-rate`);
    rateNode.textContent = percent(rate);
    if (rate === null || rate === undefined) delete rateNode.dataset.value;
    else rateNode.dataset.value = String(rate);
    const share = sessions > 0 ? Math.min(100, (countForGeometry(f[field]) / sessions) * 100) : 0;
    fills[i].setAttribute('width', share.toFixed(2));
  });
  const conversion = $('funnel-conversion-rate');
  conversion.textContent = percent(f.conversion_rate);
  conversion.dataset.value = f.conversion_rate ?? '';
  for (const [field, id] of FUNNEL_COUNTS) {
    $(id).textContent = count(f[field]);
    $(id).dataset.value = f[field] ?? '';
  }
  for (const [field, id] of FUNNEL_MONEY) {
    setMoney($(id), f[field], state.currency);
    $(id).dataset.value = f[field] ?? '';
  }
  renderFunnelDays(Array.isArray(f.days) ? f.days : []);
}

function renderFunnelDays(days) {
  const body = $('funnel-days-table').tBodies[0];
  if (days.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty-row' }, el('td', { colspan: 11 }, 'No days in this range.')));
    return;
  }
  body.replaceChildren(...days.map((d) => el('tr', { dataset: { date: d.date } },
    el('td', { class: 'nowrap' }, d.date),
    el('td', { class: 'num' }, count(d.sessions)),
    el('td', { class: 'num' }, count(d.sessions_with_cart)),
    el('td', { class: 'num' }, count(d.sessions_with_checkout)),
    el('td', { class: 'num' }, count(d.sessions_converted)),
    el('td', { class: 'num' }, count(d.checkouts_started)),
    el('td', { class: 'num' }, count(d.checkouts_completed)),
    el('td', { class: 'num' }, count(d.checkouts_abandoned)),
    el('td', { class: 'num nowrap' }, money(d.abandoned_value, state.currency)),
    el('td', { class: 'num' }, count(d.checkouts_recovered)),
    el('td', { class: 'num nowrap' }, money(d.recovered_value, state.currency)))));
}

async function loadAbandoned() {
  const seq = ++funnel.abandonedSeq;
  const q = new URLSearchParams({ type: 'checkout_abandoned', limit: String(ABANDONED_SHOWN) });
  try {
    const data = await dashboardApi(`/dashboard/events?${q}`);
    if (seq !== funnel.abandonedSeq) return;
    setAlert('abandoned-error', '');
    renderAbandoned(Array.isArray(data.events) ? data.events.slice(0, ABANDONED_SHOWN) : []);
  } catch (e) {
    if (!(e instanceof SessionEnded) && seq === funnel.abandonedSeq) {
      setAlert('abandoned-error', `The abandoned checkouts could not be loaded: ${errorMessage(e)}`);
    }
    throw e;
  }
}

function renderAbandoned(events) {
  const table = $('abandoned-table');
  table.dataset.count = String(events.length);
  const body = table.tBodies[0];
  if (events.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty-row' },
      el('td', { colspan: 4 }, 'No abandoned checkouts yet.')));
    return;
  }
  body.replaceChildren(...events.map((ev) => {
    const m = ev.metadata && typeof ev.metadata === 'object' ? ev.metadata : {};
    const href = safeLink(m.recovery_url);
    const stamp = (ts) => (ts ? el('time', { datetime: ts, title: ts }, formatTimestamp(ts)) : '—');
    return el('tr', { dataset: { eventId: String(ev.id), checkoutToken: m.checkout_token ?? '' } },
      el('td', { class: 'nowrap' }, stamp(ev.created_at)),
      el('td', { class: 'nowrap' }, stamp(m.last_updated_at)),
      el('td', { class: 'num nowrap' }, money(m.total_price, m.currency ?? state.currency)),
      el('td', {}, href
        ? el('a', { href, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'abandoned-recovery-link' }, 'Recovery link')
        : el('span', { class: 'muted' }, 'No link')));
  }));
}

async function loadAbandonAfter() {
  try {
    const data = await dashboardApi('/tenants/me/settings');
    const minutes = data.abandon_after_minutes;
    $('abandon-after-input').value = minutes === null || minutes === undefined ? '' : String(minutes);
    setAlert('abandon-after-error', '');
  } catch (e) {
    if (!(e instanceof SessionEnded)) setAlert('abandon-after-error', `The setting could not be loaded: ${errorMessage(e)}`);
    throw e;
  }
}

async function onSaveAbandonAfter(event) {
  event.preventDefault();
  const form = $('abandon-after-form');
  const input = $('abandon-after-input');
  const status = $('abandon-after-status');
  const raw = input.value.trim();
  setAlert('abandon-after-error', '');
  status.textContent = '';
  // The API decides what is in range (its message is shown); only a non-number stays here.
  if (!/^-?\d+$/.test(raw)) {
    form.dataset.state = 'error';
    setAlert('abandon-after-error', `Enter a whole number of minutes, from 1 to ${ABANDON_AFTER_MAX}.`);
    input.focus();
    return;
  }
  const button = $('abandon-after-save');
  form.dataset.state = 'saving';
  setBusy(button, true, 'Saving…');
  try {
    const data = await dashboardApi('/tenants/me/settings', { method: 'PUT', body: { abandon_after_minutes: Number(raw) } });
    const minutes = data.abandon_after_minutes;
    input.value = minutes === null || minutes === undefined ? raw : String(minutes);
    status.textContent = `Saved: checkouts count as abandoned after ${plural(input.value, 'minute', 'minutes')} without activity.`;
    form.dataset.state = 'saved';
  } catch (e) {
    if (e instanceof SessionEnded) return;
    form.dataset.state = 'error';
    setAlert('abandon-after-error', errorMessage(e));
  } finally {
    setBusy(button, false);
  }
}

/** The pixel as served at /pixel.js, placeholders still in. */
async function fetchPixelSource() {
  const generation = state.generation;
  let res;
  try {
    res = await fetch('/pixel.js', { cache: 'no-store', credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check that it is running and try again.');
  }
  const text = await res.text();
  if (generation !== state.generation) throw new SessionEnded();
  if (!res.ok) throw new ApiError(res.status, 'pixel_unavailable', `The pixel code could not be loaded (the server answered ${res.status}).`);
  if (!text.includes(PIXEL_PLACEHOLDERS.endpoint) || !text.includes(PIXEL_PLACEHOLDERS.key)) {
    throw new ApiError(res.status, 'pixel_unavailable', 'The pixel code the server sent has no places for the address and key.');
  }
  return text;
}

/** The pixel with this server's address and the tenant's ingest key in its two constants. */
function fillPixel(source, endpoint, key) {
  // Functions as replacements, so a "$" in a value is taken literally; JSON strings are JS strings.
  return source
    .replace(PIXEL_PLACEHOLDERS.endpoint, () => JSON.stringify(endpoint))
    .replace(PIXEL_PLACEHOLDERS.key, () => JSON.stringify(key));
}

async function loadPixel() {
  const source = fetchPixelSource();
  source.catch(() => {}); // awaited below, after the key
  try {
    let answer;
    try {
      answer = await dashboardApi('/tenants/me/ingest-key');
    } catch (e) {
      if (e instanceof ApiError) throw new ApiError(e.status, e.code, `The ingest key could not be loaded: ${e.message}`);
      throw e;
    }
    setIngestKey(answer.ingest_key);
    funnel.pixelSource = await source;
    renderSnippet();
  } catch (e) {
    if (!(e instanceof SessionEnded)) setAlert('pixel-error', errorMessage(e));
    throw e;
  }
}

function setIngestKey(key) {
  if (typeof key !== 'string' || !key) {
    throw new ApiError(0, 'bad_response', 'The server sent no ingest key.');
  }
  funnel.ingestKey = key;
  $('ingest-key').textContent = key;
  $('ingest-key-replace').disabled = false;
}

/** The snippet for the key on screen (once both the pixel's source and the key are known). */
function renderSnippet() {
  if (funnel.pixelSource === null || funnel.ingestKey === null) return;
  const code = fillPixel(funnel.pixelSource, window.location.origin, funnel.ingestKey);
  if (code.includes('__INSIGHTS_')) {
    throw new ApiError(0, 'pixel_unavailable', 'The pixel code could not be filled in for your shop.');
  }
  const snippet = $('pixel-snippet');
  snippet.value = code;
  snippet.dataset.key = funnel.ingestKey;
  $('pixel-copy').disabled = false;
  setAlert('pixel-error', '');
}

function pixelStatus(message) {
  clearTimeout(funnel.statusTimer);
  $('pixel-status').textContent = message;
  if (message) funnel.statusTimer = setTimeout(() => { $('pixel-status').textContent = ''; }, 6000);
}

async function onCopyPixel() {
  const snippet = $('pixel-snippet');
  try {
    await navigator.clipboard.writeText(snippet.value);
    pixelStatus('Copied. Paste it into Shopify.');
  } catch {
    snippet.focus();
    snippet.select();
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    pixelStatus(copied ? 'Copied. Paste it into Shopify.' : 'Selected: press Ctrl+C (⌘C on a Mac) to copy.');
  }
}

function onReplaceKey() {
  setAlert('pixel-error', '');
  pixelStatus('');
  $('ingest-key-confirm').hidden = false;
  $('ingest-key-replace-confirm').focus();
}

function onReplaceCancel() {
  $('ingest-key-confirm').hidden = true;
  $('ingest-key-replace').focus();
}

async function onReplaceConfirm() {
  const button = $('ingest-key-replace-confirm');
  setBusy(button, true, 'Replacing…');
  try {
    const data = await dashboardApi('/tenants/me/ingest-key', { method: 'POST' });
    setIngestKey(data.ingest_key);
    $('ingest-key-confirm').hidden = true;
    // The old key stops working now: a snippet still showing it must not stay on screen.
    const snippet = $('pixel-snippet');
    snippet.value = '';
    delete snippet.dataset.key;
    $('pixel-copy').disabled = true;
    if (funnel.pixelSource === null) funnel.pixelSource = await fetchPixelSource();
    renderSnippet();
    pixelStatus('The key is replaced: copy the new code into Shopify, the old one no longer sends events.');
  } catch (e) {
    if (!(e instanceof SessionEnded)) setAlert('pixel-error', errorMessage(e));
  } finally {
    setBusy(button, false);
  }
}

// ---------------------------------------------------------------------------------------------
// Sales, as Shopify's reports define them: net sales by day with the previous period overlaid,
// the breakdown (gross, discounts, returns, net, taxes, shipping, total), orders, AOV, new and
// returning customers, the top products and a CSV of the day rows. Tracked on its own (the sales
// section's data-state), like the funnel: a failure here shows in the section only.

const TOP_PRODUCTS = 5;
const DAY_MS = 86_400_000;
/** The CSV's columns: `date` and every figure of a day, named as the API names them. */
const SALES_CSV_COLUMNS = ['date', 'orders', 'gross_sales', 'discounts', 'returns', 'net_sales', 'taxes', 'shipping',
  'total_sales', 'average_order_value', 'new_customers', 'returning_customer_orders', 'returning_customer_rate'];
/** The breakdown card: the answer's field and the id showing it. */
const SALES_BREAKDOWN = [
  ['gross_sales', 'sales-gross'],
  ['discounts', 'sales-discounts'],
  ['returns', 'sales-returns'],
  ['net_sales', 'sales-net'],
  ['taxes', 'sales-taxes'],
  ['shipping', 'sales-shipping'],
  ['total_sales', 'sales-total'],
];
const SALES_COUNTS = [
  ['orders', 'sales-orders'],
  ['new_customers', 'sales-new-customers'],
  ['returning_customer_orders', 'sales-returning-orders'],
];

const sales = {
  pending: 0,
  failed: false,
  seq: 0,
  topSeq: 0,
  data: null, // the last GET /dashboard/sales?compare=previous_period answer on screen
  previous: null, // GET /dashboard/sales for the equally long period just before it (its days)
  top: null, // GET /dashboard/top-products's products
};

/** A decimal string ("185.00", "-9.99") as an integer count of 10^-scale units, or null. */
function parseDecimal(s) {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s === null || s === undefined ? '' : String(s));
  if (!m) return null;
  const frac = m[3] || '';
  const units = BigInt(`${m[2]}${frac}`);
  return { units: m[1] ? -units : units, scale: frac.length };
}

function unitsAt(d, scale) {
  return d.units * 10n ** BigInt(scale - d.scale);
}

/** Integer units back to a decimal string with `scale` decimals. */
function formatUnits(units, scale) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale);
  return `${negative ? '-' : ''}${whole}${scale > 0 ? `.${frac}` : ''}`;
}

function isZeroAmount(s) {
  const d = parseDecimal(s);
  return d !== null && d.units === 0n;
}

/**
 * current − previous, exactly (in cents, or finer if the API sent more decimals), and as a
 * percentage of |previous| to one decimal, rounded half away from zero; no percentage when the
 * previous amount is zero. Null when either is not a decimal string.
 */
function netChange(current, previous) {
  const a = parseDecimal(current);
  const b = parseDecimal(previous);
  if (!a || !b) return null;
  const scale = Math.max(2, a.scale, b.scale);
  const x = unitsAt(a, scale);
  const y = unitsAt(b, scale);
  const diff = x - y;
  let pct = null;
  if (y !== 0n) {
    const den = y < 0n ? -y : y;
    const num = (diff < 0n ? -diff : diff) * 1000n; // tenths of a percent
    let q = num / den;
    if (2n * (num % den) >= den) q += 1n;
    pct = `${diff < 0n && q !== 0n ? '-' : ''}${q / 10n}.${q % 10n}`;
  }
  return { diff: formatUnits(diff, scale), percent: pct, direction: diff > 0n ? 'up' : (diff < 0n ? 'down' : 'flat') };
}

/** A signed amount for chart geometry only. Never displayed. */
function signedAmountForGeometry(s) {
  const n = Number.parseFloat(String(s));
  return Number.isFinite(n) ? n : 0;
}

/** YYYY-MM-DD `days` after (or before) a YYYY-MM-DD date, in UTC calendar arithmetic. */
function addDays(date, days) {
  const p = parseIsoDate(date);
  return p ? new Date(p.utc + days * DAY_MS).toISOString().slice(0, 10) : null;
}

/** The equally long period just before from..to (as the API's `previous` is). */
function previousPeriod(from, to) {
  const f = parseIsoDate(from);
  const t = parseIsoDate(to);
  if (!f || !t || f.utc > t.utc) return null;
  const length = Math.round((t.utc - f.utc) / DAY_MS) + 1;
  return { from: addDays(from, -length), to: addDays(from, -1) };
}

function salesCurrency() {
  return (sales.data && sales.data.currency) || state.currency;
}

/** Tracks the section's loads in its data-state (idle | loading | ready | error) for tests. */
async function trackSales(promise) {
  const section = $('sales');
  sales.pending += 1;
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof SessionEnded)) sales.failed = true;
  } finally {
    sales.pending -= 1;
    if (sales.pending === 0) {
      section.dataset.state = sales.failed ? 'error' : 'ready';
      section.removeAttribute('aria-busy');
      sales.failed = false;
    }
  }
}

function resetSales() {
  sales.seq += 1;
  sales.topSeq += 1;
  sales.data = null;
  sales.previous = null;
  sales.top = null;
  const section = $('sales');
  section.dataset.state = 'idle';
  section.removeAttribute('aria-busy');
  delete section.dataset.from;
  delete section.dataset.to;
  $('sales-range').textContent = '';
  $('sales-empty').hidden = true;
  $('sales-legend-currency').textContent = '';
  $('sales-legend-previous').textContent = '';
  for (const id of ['sales-error', 'top-products-error']) setAlert(id, '');
  for (const [, id] of [...SALES_BREAKDOWN, ...SALES_COUNTS, ['', 'sales-aov'], ['', 'sales-returning-rate'], ['', 'sales-net-previous']]) {
    $(id).textContent = '–';
    delete $(id).dataset.value;
  }
  const change = $('sales-net-change');
  change.textContent = '–';
  change.dataset.direction = '';
  delete change.dataset.value;
  delete change.dataset.diff;
  change.removeAttribute('title');
  const chart = $('sales-chart');
  chart.replaceChildren(
    svg('title', { id: 'sales-chart-title' }, 'Net sales by day'),
    svg('desc', { id: 'sales-chart-desc' }, 'Loading…'),
  );
  for (const k of ['from', 'to', 'previousFrom', 'previousTo', 'days']) delete chart.dataset[k];
  $('sales-days-table').tBodies[0].replaceChildren();
  $('top-products-table').tBodies[0].replaceChildren();
  delete $('top-products-table').dataset.count;
  $('sales-csv').disabled = true;
}

/** Everything in the section: on opening the dashboard, on a new range, after a sync. */
function loadSalesSection() {
  trackSales(loadSales());
  trackSales(loadTopProducts());
}

async function loadSales() {
  const range = state.range || defaultRange();
  const prior = previousPeriod(range.from, range.to);
  const seq = ++sales.seq;
  try {
    if (!prior) throw new ApiError(0, 'bad_range', 'The dates chosen above are not a valid range.');
    const q = new URLSearchParams({ from: range.from, to: range.to, compare: 'previous_period' });
    const p = new URLSearchParams({ from: prior.from, to: prior.to });
    const [data, previous] = await Promise.all([
      dashboardApi(`/dashboard/sales?${q}`),
      dashboardApi(`/dashboard/sales?${p}`),
    ]);
    if (seq !== sales.seq) return;
    if (!data.totals || !Array.isArray(data.days) || !Array.isArray(previous.days)) {
      throw new ApiError(0, 'bad_response', 'The server sent sales this page does not understand.');
    }
    sales.data = data;
    sales.previous = previous;
    setAlert('sales-error', '');
    renderSales();
  } catch (e) {
    if (!(e instanceof SessionEnded) && seq === sales.seq) {
      setAlert('sales-error', `The sales could not be loaded: ${errorMessage(e)}`);
    }
    throw e;
  }
}

async function loadTopProducts() {
  const seq = ++sales.topSeq;
  try {
    const data = await dashboardApi(`/dashboard/top-products?limit=${TOP_PRODUCTS}`);
    if (seq !== sales.topSeq) return;
    sales.top = Array.isArray(data.products) ? data.products : [];
    setAlert('top-products-error', '');
    renderTopProducts();
  } catch (e) {
    if (!(e instanceof SessionEnded) && seq === sales.topSeq) {
      setAlert('top-products-error', `The top products could not be loaded: ${errorMessage(e)}`);
    }
    throw e;
  }
}

function renderSales() {
  const data = sales.data;
  if (!data) return;
  const currency = salesCurrency();
  const t = data.totals;
  const prior = previousPeriod(data.from, data.to);
  const section = $('sales');
  section.dataset.from = data.from ?? '';
  section.dataset.to = data.to ?? '';
  $('sales-range').textContent = data.from && data.to
    ? `${data.from} to ${data.to}${prior ? `, compared with ${prior.from} to ${prior.to}` : ''}`
    : '';
  $('sales-legend-currency').textContent = currency ? ` (${currency})` : '';
  $('sales-legend-previous').textContent = prior ? ` (${prior.from} to ${prior.to})` : '';
  $('sales-empty').hidden = !(String(t.orders) === '0' && isZeroAmount(t.total_sales) && isZeroAmount(t.returns));

  for (const [field, id] of SALES_BREAKDOWN) {
    setMoney($(id), t[field], currency);
    $(id).dataset.value = t[field] ?? '';
  }
  for (const [field, id] of SALES_COUNTS) {
    $(id).textContent = count(t[field]);
    $(id).dataset.value = t[field] ?? '';
  }
  setMoney($('sales-aov'), t.average_order_value, currency);
  $('sales-aov').dataset.value = t.average_order_value ?? '';
  const rate = $('sales-returning-rate');
  rate.textContent = percent(t.returning_customer_rate);
  rate.dataset.value = t.returning_customer_rate ?? '';
  renderNetChange(t.net_sales, data.previous ? data.previous.net_sales : null, currency);

  renderSalesChart();
  renderSalesDays();
  $('sales-csv').disabled = false;
  // The top products' amounts are in the currency this answer names.
  if (sales.top) renderTopProducts();
}

function renderNetChange(current, previous, currency) {
  const prev = $('sales-net-previous');
  const node = $('sales-net-change');
  node.removeAttribute('title');
  delete node.dataset.diff;
  if (previous === null || previous === undefined) {
    prev.textContent = '—';
    delete prev.dataset.value;
    node.textContent = '';
    node.dataset.direction = '';
    delete node.dataset.value;
    return;
  }
  setMoney(prev, previous, currency);
  prev.dataset.value = String(previous);
  const change = netChange(current, previous);
  if (!change) {
    node.textContent = '—';
    node.dataset.direction = '';
    delete node.dataset.value;
    return;
  }
  const sign = (s) => (s.startsWith('-') ? `−${s.slice(1)}` : `+${s}`);
  const diff = change.direction === 'flat' ? money(change.diff, currency) : money(sign(change.diff), currency);
  node.dataset.direction = change.direction;
  node.dataset.diff = change.diff;
  node.dataset.value = change.percent ?? '';
  if (change.percent === null) {
    node.textContent = diff;
    node.title = 'No net sales in the previous period to compare with as a percentage.';
  } else {
    const pct = /^-?0\.0$/.test(change.percent) ? '0.0' : sign(change.percent);
    node.textContent = `${pct}% (${diff})`;
    node.title = `${pct}% compared with the previous period`;
  }
}

/** Net sales per day (solid line) and the previous period's, aligned by day index (dashed). */
function renderSalesChart() {
  const data = sales.data;
  if (!data) return;
  const chart = $('sales-chart');
  const wrap = $('sales-chart-wrap');
  const width = Math.max(300, Math.floor(wrap.clientWidth || 640));
  const height = width < 560 ? 220 : 260;
  const currency = salesCurrency();
  const days = data.days;
  const prevDays = sales.previous && Array.isArray(sales.previous.days) ? sales.previous.days : [];
  const n = days.length;
  const current = days.map((d) => String(d.net_sales));
  const previous = days.map((_, i) => (prevDays[i] ? String(prevDays[i].net_sales) : null));

  // The highest and the lowest amount (either series), labelled exactly as the API sent them.
  let high = null;
  let low = null;
  for (const s of [...current, ...previous]) {
    if (s === null) continue;
    const v = signedAmountForGeometry(s);
    if (v > 0 && (high === null || v > high.v)) high = { v, s };
    if (v < 0 && (low === null || v < low.v)) low = { v, s };
  }
  const top = high ? high.v : 0;
  const bottom = low ? low.v : 0;
  const span = top - bottom > 0 ? top - bottom : 1;

  const labelChars = Math.max(1, high ? high.s.length : 1, low ? low.s.length : 1);
  const margin = { top: 14, right: 14, bottom: 30, left: Math.max(40, labelChars * 7 + 16) };
  const pw = width - margin.left - margin.right;
  const ph = height - margin.top - margin.bottom;
  const slot = n > 0 ? pw / n : pw;
  const x = (i) => margin.left + slot * i + slot / 2;
  const y = (v) => margin.top + ((top - v) / span) * ph;
  const multiYear = (parseIsoDate(data.from)?.y ?? 0) !== (parseIsoDate(data.to)?.y ?? 0);
  const prior = previousPeriod(data.from, data.to);

  const nodes = [
    svg('title', { id: 'sales-chart-title' }, `Net sales by day, ${data.from} to ${data.to}`),
    svg('desc', { id: 'sales-chart-desc' },
      `${plural(n, 'day', 'days')}: net sales ${money(data.totals.net_sales, currency)} in total`
      + (data.previous ? `, against ${money(data.previous.net_sales, currency)} in the previous period`
        + (prior ? ` (${prior.from} to ${prior.to})` : '') : '')
      + '. The solid line shows each day\'s net sales; the dashed line the same day of the previous period'
      + (high ? `; the highest day is ${money(high.s, currency)}` : '')
      + (low ? `, the lowest ${money(low.s, currency)} (refunds)` : '')
      + '.'),
  ];

  const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  grid.append(
    svg('line', { class: 'zero', x1: margin.left, x2: margin.left + pw, y1: y(0), y2: y(0) }),
    svg('text', { class: 'axis-label', x: margin.left - 8, y: y(0) + 4, 'text-anchor': 'end' }, '0'),
  );
  for (const extreme of [high, low]) {
    if (!extreme) continue;
    grid.append(
      svg('line', { class: 'extreme', x1: margin.left, x2: margin.left + pw, y1: y(extreme.v), y2: y(extreme.v) }),
      svg('text', { class: 'axis-label', x: margin.left - 8, y: y(extreme.v) + 4, 'text-anchor': 'end' }, extreme.s),
    );
  }
  nodes.push(grid);

  const labelEvery = Math.max(1, Math.ceil((multiYear ? 86 : 52) / Math.max(slot, 0.001)));
  const xAxis = svg('g', { class: 'x-axis', 'aria-hidden': 'true' });
  days.forEach((d, i) => {
    if (i % labelEvery !== 0) return;
    xAxis.append(svg('text', { class: 'axis-label', x: x(i), y: margin.top + ph + 18, 'text-anchor': 'middle' }, dayLabel(d.date, multiYear)));
  });
  nodes.push(xAxis);

  // One hoverable column per day, its title naming both days' net sales.
  const columns = svg('g', { class: 'days' });
  days.forEach((d, i) => {
    const p = prevDays[i];
    const label = `${d.date}: net sales ${money(d.net_sales, currency)}`
      + (p ? `; ${p.date} (previous period): ${money(p.net_sales, currency)}` : '');
    columns.append(svg('g', {
      class: 'day', 'data-testid': 'sales-chart-day', 'data-date': d.date, 'data-previous-date': p ? p.date : null, role: 'img', 'aria-label': label,
    },
    svg('title', {}, label),
    svg('rect', { class: 'hit', x: margin.left + slot * i, y: margin.top, width: slot, height: ph })));
  });
  nodes.push(columns);

  const pointsOf = (values) => values
    .map((s, i) => (s === null ? null : `${x(i).toFixed(1)},${y(signedAmountForGeometry(s)).toFixed(1)}`))
    .filter((p) => p !== null)
    .join(' ');
  if (n > 0) {
    nodes.push(svg('polygon', {
      class: 'net-area',
      points: `${x(0).toFixed(1)},${y(0).toFixed(1)} ${pointsOf(current)} ${x(n - 1).toFixed(1)},${y(0).toFixed(1)}`,
      'aria-hidden': 'true',
    }));
  }
  nodes.push(svg('polyline', {
    class: 'previous-line',
    'data-testid': 'sales-series-previous',
    'data-dates': prevDays.slice(0, n).map((d) => d.date).join(','),
    'data-values': previous.filter((s) => s !== null).join(','),
    points: pointsOf(previous),
    'aria-hidden': 'true',
  }));
  nodes.push(svg('polyline', {
    class: 'net-line',
    'data-testid': 'sales-series-current',
    'data-dates': days.map((d) => d.date).join(','),
    'data-values': current.join(','),
    points: pointsOf(current),
    'aria-hidden': 'true',
  }));
  if (n > 0 && n <= 62) {
    const dots = svg('g', { class: 'points', 'aria-hidden': 'true' });
    current.forEach((s, i) => dots.append(svg('circle', { cx: x(i), cy: y(signedAmountForGeometry(s)), r: n <= 31 ? 3 : 2 })));
    if (n === 1 && previous[0] !== null) {
      dots.append(svg('circle', { class: 'previous', cx: x(0), cy: y(signedAmountForGeometry(previous[0])), r: 3 }));
    }
    nodes.push(dots);
  }

  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  chart.setAttribute('width', String(width));
  chart.setAttribute('height', String(height));
  chart.dataset.from = data.from;
  chart.dataset.to = data.to;
  chart.dataset.days = String(n);
  if (prior) {
    chart.dataset.previousFrom = prior.from;
    chart.dataset.previousTo = prior.to;
  }
  chart.replaceChildren(...nodes);
}

function renderSalesDays() {
  const currency = salesCurrency();
  const days = sales.data ? sales.data.days : [];
  const prevDays = sales.previous && Array.isArray(sales.previous.days) ? sales.previous.days : [];
  const body = $('sales-days-table').tBodies[0];
  if (days.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty-row' }, el('td', { colspan: 10 }, 'No days in this range.')));
    return;
  }
  const amount = (v) => el('td', { class: 'num nowrap' }, money(v, currency));
  body.replaceChildren(...days.map((d, i) => el('tr', { dataset: { date: d.date } },
    el('td', { class: 'nowrap' }, d.date),
    el('td', { class: 'num' }, count(d.orders)),
    amount(d.gross_sales),
    amount(d.discounts),
    amount(d.returns),
    amount(d.net_sales),
    amount(d.taxes),
    amount(d.shipping),
    amount(d.total_sales),
    prevDays[i]
      ? el('td', { class: 'num nowrap', title: prevDays[i].date }, money(prevDays[i].net_sales, currency))
      : el('td', { class: 'num' }, '—'))));
}

function renderTopProducts() {
  const products = sales.top || [];
  const table = $('top-products-table');
  table.dataset.count = String(products.length);
  const body = table.tBodies[0];
  if (products.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty-row', 'data-testid': 'top-products-empty' },
      el('td', { colspan: 3 }, 'No products sold yet. They show up here with the first orders.')));
    return;
  }
  const currency = salesCurrency();
  body.replaceChildren(...products.map((p) => el('tr', { dataset: { productId: String(p.id) } },
    el('td', { class: 'strong' }, p.title || '—'),
    el('td', { class: 'num' }, count(p.quantity)),
    el('td', { class: 'num nowrap' }, money(p.net_sales, currency)))));
}

/** One CSV field: as is, or quoted (quotes doubled) when it holds a comma, a quote or a line break. */
function csvField(value) {
  const s = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The day rows as CSV (RFC 4180: CRLF after every line), values exactly as the API sent them. */
function salesCsv(days) {
  const lines = [SALES_CSV_COLUMNS.join(',')];
  for (const d of days) lines.push(SALES_CSV_COLUMNS.map((c) => csvField(d[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Download CSV: the day rows on screen, through a blob URL and a temporary a[download]. */
function onSalesCsv() {
  const data = sales.data;
  if (!data) return;
  const from = parseIsoDate(data.from) ? data.from : state.range.from;
  const to = parseIsoDate(data.to) ? data.to : state.range.to;
  const blob = new Blob([salesCsv(data.days)], { type: 'text/csv;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: `sales-${from}-to-${to}.csv`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

// ---------------------------------------------------------------------------------------------
// Chart: one group per day (bar = orders, point on the line = revenue), drawn as inline SVG.

function niceStep(max, ticks) {
  const raw = Math.max(1, max) / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 5, 10]) {
    if (f * mag >= raw) return Math.max(1, f * mag);
  }
  return Math.max(1, 10 * mag);
}

function dayLabel(date, withYear) {
  const p = parseIsoDate(date);
  if (!p) return date;
  return withYear ? date : `${MONTHS[p.m - 1]} ${p.d}`;
}

function plural(n, one, many) {
  return `${n} ${String(n) === '1' ? one : many}`;
}

function renderChart(days, from, to) {
  const chart = $('chart');
  const wrap = $('chart-wrap');
  const width = Math.max(300, Math.floor(wrap.clientWidth || 720));
  const height = width < 560 ? 240 : 300;
  const n = days.length;
  const currency = state.currency;

  const counts = days.map((d) => Number(d.orders) || 0);
  const revenue = days.map((d) => amountForGeometry(d.revenue));
  let peak = -1;
  revenue.forEach((r, i) => { if (r > 0 && (peak < 0 || r > revenue[peak])) peak = i; });
  const peakLabel = peak >= 0 ? String(days[peak].revenue) : '0';
  const maxRevenue = peak >= 0 ? revenue[peak] : 0;

  const step = niceStep(Math.max(0, ...counts, 0), 4);
  const maxCount = step * Math.max(1, Math.ceil(Math.max(0, ...counts) / step));

  const margin = {
    top: 18,
    right: Math.max(44, peakLabel.length * 7 + 16),
    bottom: 30,
    left: Math.max(36, String(maxCount).length * 7 + 18),
  };
  const pw = width - margin.left - margin.right;
  const ph = height - margin.top - margin.bottom;
  const slot = n > 0 ? pw / n : pw;
  const barWidth = slot >= 4 ? slot * 0.68 : Math.max(1, slot);
  const yCount = (c) => margin.top + ph - (c / maxCount) * ph;
  const yRevenue = (r) => margin.top + ph - (maxRevenue > 0 ? (r / maxRevenue) * ph : 0);
  const xCenter = (i) => margin.left + slot * i + slot / 2;
  const multiYear = (parseIsoDate(from)?.y ?? 0) !== (parseIsoDate(to)?.y ?? 0);

  const totalOrders = counts.reduce((a, b) => a + b, 0);
  const nodes = [
    svg('title', { id: 'chart-title' }, `Orders and revenue by day, ${from} to ${to}`),
    svg('desc', { id: 'chart-desc' },
      `${plural(n, 'day', 'days')}, ${plural(totalOrders, 'order', 'orders')} in total. `
      + `Bars show orders per day; the line shows revenue${currency ? ` in ${currency}` : ''}`
      + (peak >= 0 ? `, peaking at ${money(peakLabel, currency)} on ${days[peak].date}.` : ', which is zero on every day.')),
  ];

  // Grid and left axis (orders).
  const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  for (let v = 0; v <= maxCount; v += step) {
    const y = yCount(v);
    grid.append(
      svg('line', { x1: margin.left, x2: margin.left + pw, y1: y, y2: y }),
      svg('text', { class: 'axis-label', x: margin.left - 8, y: y + 4, 'text-anchor': 'end' }, String(v)),
    );
  }
  // Right axis (revenue): 0 and the peak day's amount, exactly as sent by the API.
  grid.append(
    svg('text', { class: 'axis-label revenue', x: margin.left + pw + 8, y: yRevenue(0) + 4 }, '0'),
  );
  if (peak >= 0) {
    grid.append(
      svg('line', { class: 'peak', x1: margin.left, x2: margin.left + pw, y1: yRevenue(maxRevenue), y2: yRevenue(maxRevenue) }),
      svg('text', { class: 'axis-label revenue', x: margin.left + pw + 8, y: yRevenue(maxRevenue) + 4 }, peakLabel),
    );
  }
  nodes.push(grid);

  // X labels: as many as fit without overlapping.
  const labelEvery = Math.max(1, Math.ceil((multiYear ? 86 : 52) / Math.max(slot, 0.001)));
  const xAxis = svg('g', { class: 'x-axis', 'aria-hidden': 'true' });
  days.forEach((d, i) => {
    if (i % labelEvery !== 0) return;
    xAxis.append(svg('text', { class: 'axis-label', x: xCenter(i), y: margin.top + ph + 18, 'text-anchor': 'middle' }, dayLabel(d.date, multiYear)));
  });
  xAxis.append(svg('line', { class: 'baseline', x1: margin.left, x2: margin.left + pw, y1: margin.top + ph, y2: margin.top + ph }));
  nodes.push(xAxis);

  // One group per day: its title names the day; the transparent hit area makes the whole column
  // hoverable. The revenue line and its points ignore the pointer so they never hide a title.
  const bars = svg('g', { class: 'days' });
  days.forEach((d, i) => {
    const label = `${d.date}: ${plural(count(d.orders), 'order', 'orders')}, revenue ${money(d.revenue, currency)}`;
    const y = yCount(counts[i]);
    bars.append(svg('g', {
      class: 'bar-group', 'data-testid': 'chart-day', 'data-date': d.date, role: 'img', 'aria-label': label,
    },
    svg('title', {}, label),
    svg('rect', { class: 'hit', x: margin.left + slot * i, y: margin.top, width: slot, height: ph }),
    svg('rect', {
      class: 'bar', x: xCenter(i) - barWidth / 2, y, width: barWidth, height: Math.max(0, margin.top + ph - y), rx: barWidth > 6 ? 2 : 0,
    })));
  });
  nodes.push(bars);

  if (n > 0) {
    const points = revenue.map((r, i) => `${xCenter(i).toFixed(1)},${yRevenue(r).toFixed(1)}`).join(' ');
    nodes.push(svg('polyline', { class: 'revenue-line', points, 'aria-hidden': 'true' }));
    if (n <= 62) {
      const dots = svg('g', { class: 'points', 'aria-hidden': 'true' });
      revenue.forEach((r, i) => dots.append(svg('circle', { cx: xCenter(i), cy: yRevenue(r), r: n <= 31 ? 3 : 2 })));
      nodes.push(dots);
    }
  }

  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  chart.setAttribute('width', String(width));
  chart.setAttribute('height', String(height));
  chart.dataset.from = from;
  chart.dataset.to = to;
  chart.dataset.days = String(n);
  chart.replaceChildren(...nodes);
}

// ---------------------------------------------------------------------------------------------
// Events

function normaliseShop(value) {
  return value.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '');
}

async function onLogin(event) {
  event.preventDefault();
  clearError();
  showNotice('');
  const button = $('login-submit');
  setBusy(button, true, 'Logging in…');
  try {
    const data = await api('/auth/login', {
      method: 'POST',
      auth: false,
      body: { email: $('login-email').value.trim(), password: $('login-password').value },
    });
    $('login-password').value = '';
    hideApiKey();
    startSession(data.token, data.tenant);
  } catch (e) {
    reportError(e);
  } finally {
    setBusy(button, false);
  }
}

async function onRegister(event) {
  event.preventDefault();
  clearError();
  showNotice('');
  const button = $('register-submit');
  setBusy(button, true, 'Creating account…');
  try {
    const data = await api('/auth/register', {
      method: 'POST',
      auth: false,
      body: {
        name: $('register-name').value.trim(),
        email: $('register-email').value.trim(),
        password: $('register-password').value,
        shop_domain: normaliseShop($('register-shop').value),
      },
    });
    $('register-password').value = '';
    $('login-email').value = data.tenant?.email ?? $('register-email').value.trim();
    startSession(data.token, data.tenant);
    if (data.api_key) showApiKey(data.api_key);
  } catch (e) {
    reportError(e);
  } finally {
    setBusy(button, false);
  }
}

function onRangeApply(event) {
  event.preventDefault();
  clearError();
  const from = $('range-from').value;
  const to = $('range-to').value;
  const f = parseIsoDate(from);
  const t = parseIsoDate(to);
  if (!f || !t) {
    showError('Choose both a start and an end date.');
    return;
  }
  if (f.utc > t.utc) {
    showError('The start date must be on or before the end date.');
    return;
  }
  if ((t.utc - f.utc) / 86400000 + 1 > MAX_RANGE_DAYS) {
    showError(`Choose a range of at most ${MAX_RANGE_DAYS} days.`);
    return;
  }
  state.range = { from, to };
  state.cursor = null;
  state.cursorStack = [];
  loadOrders();
  loadSalesSection();
  reloadFunnelData();
}

function onNext() {
  if (state.nextCursor === null) return;
  clearError();
  state.cursorStack.push(state.cursor);
  state.cursor = state.nextCursor;
  $('orders-next').disabled = true;
  loadOrders().then(() => {
    // If the page failed to load, stay where we were.
    if ($('dashboard-view').dataset.state === 'error' && state.cursorStack.length) {
      state.cursor = state.cursorStack.pop();
      $('orders-next').disabled = state.nextCursor === null;
    }
  });
}

function onPrev() {
  if (state.cursorStack.length === 0) return;
  clearError();
  state.cursor = state.cursorStack.pop();
  $('orders-prev').disabled = true;
  loadOrders();
}

async function onCopyKey() {
  const key = $('api-key').textContent;
  const button = $('api-key-copy');
  try {
    await navigator.clipboard.writeText(key);
    button.textContent = 'Copied';
  } catch {
    const range = document.createRange();
    range.selectNodeContents($('api-key'));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    button.textContent = 'Selected: press Ctrl+C';
  }
  setTimeout(() => { button.textContent = 'Copy'; }, 2500);
}

let lastWidth = 0;
function onResize() {
  const width = Math.floor($('chart-wrap').clientWidth);
  if (width === lastWidth || $('dashboard-view').hidden || !$('chart').dataset.from) return;
  lastWidth = width;
  renderChart(state.days, $('chart').dataset.from, $('chart').dataset.to);
}

let lastSalesWidth = 0;
function onSalesResize() {
  const width = Math.floor($('sales-chart-wrap').clientWidth);
  if (width === lastSalesWidth || $('dashboard-view').hidden || !sales.data) return;
  lastSalesWidth = width;
  renderSalesChart();
}

function init() {
  $('login-form').addEventListener('submit', onLogin);
  $('register-form').addEventListener('submit', onRegister);
  $('show-register').addEventListener('click', (e) => { e.preventDefault(); clearError(); showAuth('register'); });
  $('show-login').addEventListener('click', (e) => { e.preventDefault(); clearError(); showAuth('login'); });
  $('logout').addEventListener('click', () => {
    clearError();
    endSession();
    showNotice('You have logged out.');
  });
  $('range-form').addEventListener('submit', onRangeApply);
  $('orders-next').addEventListener('click', onNext);
  $('orders-prev').addEventListener('click', onPrev);
  $('api-key-copy').addEventListener('click', onCopyKey);
  $('api-key-dismiss').addEventListener('click', hideApiKey);
  $('connect-shopify').addEventListener('click', onInstall);
  $('reconnect-shopify').addEventListener('click', onInstall);
  $('sync-now').addEventListener('click', onSyncNow);
  $('sales-csv').addEventListener('click', onSalesCsv);
  $('set-login-form').addEventListener('submit', onSetLogin);
  $('abandon-after-form').addEventListener('submit', onSaveAbandonAfter);
  $('pixel-copy').addEventListener('click', onCopyPixel);
  $('ingest-key-replace').addEventListener('click', onReplaceKey);
  $('ingest-key-replace-cancel').addEventListener('click', onReplaceCancel);
  $('ingest-key-replace-confirm').addEventListener('click', onReplaceConfirm);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.token && state.tenant) loadConnection({ quiet: true });
  });
  // Back from Shopify through the back button: the page may come from the cache, mid-install.
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return;
    for (const id of ['connect-shopify', 'reconnect-shopify']) setBusy($(id), false);
    if (state.token) loadConnection({ quiet: true });
  });
  if (typeof ResizeObserver === 'function') {
    let timer = 0;
    new ResizeObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(onResize, 120);
    }).observe($('chart-wrap'));
    let salesTimer = 0;
    new ResizeObserver(() => {
      clearTimeout(salesTimer);
      salesTimer = setTimeout(onSalesResize, 120);
    }).observe($('sales-chart-wrap'));
  }

  const landing = takeLanding();
  if (landing && landing.signin) {
    signInWithCode(landing.signin);
    return;
  }
  if (landing && landing.error) showError(installErrorMessage(landing.error));
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    state.token = token;
    openDashboard();
  } else {
    showAuth(window.location.hash === '#register' ? 'register' : 'login');
  }
}

init();
