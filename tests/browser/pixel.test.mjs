// The storefront pixel (dashboard/pixel.js) on its own: no browser, no server. Its source is filled
// in as the dashboard fills it, then run in a fresh `vm` context holding only what Shopify's pixel
// sandbox gives it here (a fake `analytics`, a fake `fetch`, fake timers), so any other global it
// touched would fail. Checks batching (20 events a request, a second after the first queued event,
// at once on checkout_completed), the request (key in the URL, POST, keepalive, text/plain), the
// split under the keepalive cap, one retry of a failed batch, and that nothing throws.
//
// Run: node --test tests/browser/pixel.test.mjs

import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import vm from 'node:vm';

const SOURCE_PATH = new URL('../../dashboard/pixel.js', import.meta.url);
const ENDPOINT = 'https://insights.example.test';
const KEY = 'ik_a+b/c=d&e f'; // characters a URL query must escape
const EVENTS_URL = `${ENDPOINT}/events?key=${encodeURIComponent(KEY)}`;
const MAX_BYTES = 60_000;

const source = await fs.readFile(SOURCE_PATH, 'utf8');

/** The pixel with its two constants filled in, as the dashboard does it. */
function filled(endpoint = ENDPOINT, key = KEY) {
  return source
    .replace('"__INSIGHTS_ENDPOINT__"', () => JSON.stringify(endpoint))
    .replace('"__INSIGHTS_INGEST_KEY__"', () => JSON.stringify(key));
}

/** Lets pending promise callbacks (the pixel's and the fake fetch's) run. */
const settle = () => new Promise((resolve) => { setImmediate(resolve); });

/** Timers that move only when told to. */
function fakeClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms = 0) {
      seq += 1;
      timers.set(seq, { at: now + Math.max(0, Number(ms) || 0), fn });
      return seq;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    get now() {
      return now;
    },
    get pending() {
      return timers.size;
    },
    /** Runs every timer due within `ms`, in order, letting promises settle between them. */
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await settle();
        let next = null;
        for (const [id, t] of timers) {
          if (t.at <= end && (next === null || t.at < next[1].at)) next = [id, t];
        }
        if (next === null) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
      await settle();
    },
  };
}

/**
 * Runs the pixel. `respond(call)` answers each fetch (a Response-like object, a promise, or it
 * throws); every call is recorded with its body parsed.
 */
function runPixel({ respond = () => ({ ok: true, status: 202 }), withWindow = false } = {}) {
  const clock = fakeClock();
  const subscriptions = new Map();
  const calls = [];
  const listeners = new Map();
  const context = {
    analytics: {
      subscribe(name, cb) {
        subscriptions.set(name, cb);
      },
    },
    fetch(url, init) {
      const call = { url, init, at: clock.now, body: JSON.parse(init.body), bytes: Buffer.byteLength(init.body, 'utf8') };
      calls.push(call);
      return respond(call);
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  };
  if (withWindow) {
    context.addEventListener = (name, cb) => listeners.set(name, cb);
    context.document = { visibilityState: 'visible' };
  }
  vm.runInNewContext(filled(), context, { filename: 'pixel.js' });
  const fire = (event) => {
    const subscription = event.type === 'custom' ? 'all_custom_events' : 'all_standard_events';
    subscriptions.get(subscription)(event);
  };
  return { clock, calls, subscriptions, listeners, context, fire };
}

let seq = 0;
/** A Web Pixels event as Shopify hands it to the callback (context, seq and type included). */
function shopifyEvent(name, data = {}, extra = {}) {
  seq += 1;
  return {
    id: `sh-${String(seq).padStart(8, '0')}-test`,
    name,
    type: 'standard',
    seq,
    clientId: 'client-1',
    timestamp: new Date(Date.UTC(2025, 0, 15, 12, 0, seq % 60)).toISOString(),
    context: { document: { location: { href: 'https://shop.example/products/x' }, referrer: 'https://ref.example/' }, navigator: { userAgent: 'UA' } },
    data,
    ...extra,
  };
}

const eventIds = (calls) => calls.flatMap((c) => c.body.events.map((e) => e.id));

let unhandled;
const onUnhandled = (reason) => unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  await settle();
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'the pixel leaves no promise rejection unhandled');
});

describe('the storefront pixel', () => {
  it('starts with the two constants the dashboard fills in, and names each placeholder once', () => {
    const lines = source.split('\n');
    assert.equal(lines[0], 'const INSIGHTS_ENDPOINT = "__INSIGHTS_ENDPOINT__";');
    assert.equal(lines[1], 'const INSIGHTS_INGEST_KEY = "__INSIGHTS_INGEST_KEY__";');
    assert.equal(source.split('__INSIGHTS_').length - 1, 2, 'no other mention of a placeholder (the page replaces only these)');
    const out = filled('http://127.0.0.1:3000', 'ik_x');
    assert.ok(out.startsWith('const INSIGHTS_ENDPOINT = "http://127.0.0.1:3000";\nconst INSIGHTS_INGEST_KEY = "ik_x";\n'));
    assert.ok(!out.includes('__INSIGHTS_'));
    assert.ok(!/<\/?script/i.test(source), 'Shopify takes plain JavaScript, no script tags');
  });

  it('subscribes to all standard and all custom events', () => {
    const { subscriptions, calls } = runPixel();
    assert.deepEqual([...subscriptions.keys()].sort(), ['all_custom_events', 'all_standard_events']);
    assert.equal(calls.length, 0, 'nothing is sent before an event');
  });

  it('posts to the endpoint with the key in the URL, keepalive and text/plain, keeping only id, name, timestamp, clientId and data', async () => {
    const { fire, calls, clock } = runPixel();
    const e = shopifyEvent('product_viewed', { productVariant: { id: '1', price: { amount: 9.5, currencyCode: 'EUR' } } });
    fire(e);
    await clock.advance(1000);
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.equal(call.url, EVENTS_URL);
    assert.equal(call.init.method, 'POST');
    assert.equal(call.init.keepalive, true);
    assert.deepEqual(Object.entries(call.init.headers), [['Content-Type', 'text/plain']]);
    assert.equal(typeof call.init.body, 'string');
    assert.deepEqual(call.body, {
      events: [{ id: e.id, name: e.name, timestamp: e.timestamp, clientId: e.clientId, data: e.data }],
    });
    assert.deepEqual(Object.keys(call.body.events[0]), ['id', 'name', 'timestamp', 'clientId', 'data'], 'context, seq and type are dropped');
  });

  it('an endpoint given with a trailing slash still posts to /events', async () => {
    const clock = fakeClock();
    const urls = [];
    const code = source
      .replace('"__INSIGHTS_ENDPOINT__"', () => JSON.stringify(`${ENDPOINT}/`))
      .replace('"__INSIGHTS_INGEST_KEY__"', () => JSON.stringify(KEY));
    let cb;
    vm.runInNewContext(code, {
      analytics: { subscribe: (name, f) => { if (name === 'all_standard_events') cb = f; } },
      fetch: (url) => { urls.push(url); return Promise.resolve({ ok: true, status: 202 }); },
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
    });
    cb(shopifyEvent('page_viewed'));
    await clock.advance(1000);
    assert.deepEqual(urls, [EVENTS_URL]);
  });

  it('sends a custom event\'s customData as its data', async () => {
    const { fire, calls, clock } = runPixel();
    fire(shopifyEvent('newsletter_signup', undefined, { type: 'custom', data: undefined, customData: { list: 'spring' } }));
    await clock.advance(1000);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].body.events[0].name, 'newsletter_signup');
    assert.deepEqual(calls[0].body.events[0].data, { list: 'spring' });
  });

  it('waits one second after the first queued event, then sends everything queued in one request', async () => {
    const { fire, calls, clock } = runPixel();
    const first = shopifyEvent('page_viewed');
    fire(first);
    await clock.advance(500);
    const second = shopifyEvent('product_viewed');
    fire(second);
    await clock.advance(499);
    assert.equal(calls.length, 0, 'nothing before a second has passed since the first event');
    await clock.advance(1);
    assert.equal(calls.length, 1, 'sent one second after the first event, not after the last');
    assert.equal(calls[0].at, 1000);
    assert.deepEqual(eventIds(calls), [first.id, second.id]);

    // The next event starts a new second.
    const third = shopifyEvent('page_viewed');
    fire(third);
    await clock.advance(999);
    assert.equal(calls.length, 1);
    await clock.advance(1);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[1].body.events.map((e) => e.id), [third.id]);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  it('sends at once when 20 events are queued, never more than 20 in a request', async () => {
    const { fire, calls, clock } = runPixel();
    const events = Array.from({ length: 45 }, (_, i) => shopifyEvent(i % 2 ? 'product_viewed' : 'page_viewed'));
    for (const e of events.slice(0, 19)) fire(e);
    assert.equal(calls.length, 0, '19 events wait');
    fire(events[19]);
    assert.equal(calls.length, 1, 'the 20th sends at once, without waiting for a timer');
    assert.equal(calls[0].body.events.length, 20);
    for (const e of events.slice(20)) fire(e);
    assert.equal(calls.length, 2, 'the 40th sends the second batch');
    await clock.advance(999);
    assert.equal(calls.length, 2);
    await clock.advance(1);
    assert.equal(calls.length, 3, 'the last 5 go a second after the first of them');
    assert.deepEqual(calls.map((c) => c.body.events.length), [20, 20, 5]);
    assert.deepEqual(eventIds(calls), events.map((e) => e.id), 'every event once, in order');
    assert.ok(calls.every((c) => c.init.keepalive === true && c.url === EVENTS_URL));
  });

  it('sends at once on checkout_completed, with what was queued before it', async () => {
    const { fire, calls, clock } = runPixel();
    const started = shopifyEvent('checkout_started', { checkout: { token: 'tok-1', totalPrice: { amount: 42.5, currencyCode: 'EUR' } } });
    const completed = shopifyEvent('checkout_completed', { checkout: { token: 'tok-1', totalPrice: { amount: 42.5, currencyCode: 'EUR' } } });
    fire(started);
    fire(completed);
    assert.equal(calls.length, 1, 'no waiting for the timer');
    assert.deepEqual(eventIds(calls), [started.id, completed.id]);
    assert.deepEqual(calls[0].body.events[1].data, completed.data);
    await clock.advance(5000);
    assert.equal(calls.length, 1, 'the cancelled timer sends nothing more');
  });

  it('splits a batch whose body is over 60 KB into requests that each fit', async () => {
    const { fire, calls, clock } = runPixel();
    // 20 events of ~5 KB each (multi-byte characters, so bytes and characters differ): ~100 KB.
    const events = Array.from({ length: 20 }, (_, i) => shopifyEvent('product_viewed', {
      productVariant: { id: String(i), title: `Ünïcødé ${'é'.repeat(2400)}` },
    }));
    for (const e of events) fire(e);
    await clock.advance(1000);
    const total = Buffer.byteLength(JSON.stringify({ events: events.map(({ id, name, timestamp, clientId, data }) => ({ id, name, timestamp, clientId, data })) }), 'utf8');
    assert.ok(total > MAX_BYTES, `the batch is over the cap (${total} bytes)`);
    assert.ok(calls.length >= 2, `split into ${calls.length} requests`);
    for (const c of calls) {
      assert.ok(c.bytes <= MAX_BYTES, `a request of ${c.bytes} bytes is within the cap`);
      assert.equal(c.init.keepalive, true);
      assert.ok(c.body.events.length >= 1 && c.body.events.length <= 20);
    }
    assert.deepEqual(eventIds(calls), events.map((e) => e.id), 'every event once, in order');
  });

  it('sends a single event over the cap alone, without keepalive', async () => {
    const { fire, calls, clock } = runPixel();
    const small = shopifyEvent('page_viewed');
    const huge = shopifyEvent('checkout_started', { checkout: { token: 'big', lineItems: [{ title: 'x'.repeat(70_000) }] } });
    fire(small);
    fire(huge);
    await clock.advance(1000);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls.map((c) => c.body.events.map((e) => e.id)), [[small.id], [huge.id]]);
    assert.equal(calls[0].init.keepalive, true);
    assert.equal(calls[1].init.keepalive, false, 'a body the keepalive cap refuses goes as a plain request');
    assert.ok(calls[1].bytes > MAX_BYTES);
  });

  it('retries a batch whose request fails once, and only once', async () => {
    const { fire, calls, clock } = runPixel({ respond: () => Promise.reject(new TypeError('Failed to fetch')) });
    const e = shopifyEvent('page_viewed');
    fire(e);
    await clock.advance(1000);
    assert.equal(calls.length, 1);
    await clock.advance(60_000);
    assert.equal(calls.length, 2, 'one retry, then the batch is given up');
    assert.equal(calls[1].init.body, calls[0].init.body, 'the same batch (the server drops duplicates by event id)');
    assert.equal(calls[1].url, EVENTS_URL);
    assert.equal(calls[1].init.keepalive, true);
    assert.ok(calls[1].at > calls[0].at, 'the retry waits');
    assert.equal(clock.pending, 0);
  });

  it('retries after a 5xx or 429 answer, not after another 4xx, and not after success', async () => {
    for (const [statuses, expected] of [[[503, 202], 2], [[429, 202], 2], [[500, 500], 2], [[401], 1], [[400], 1], [[202], 1]]) {
      let n = 0;
      const { fire, calls, clock } = runPixel({
        respond: () => {
          const status = statuses[Math.min(n, statuses.length - 1)];
          n += 1;
          return Promise.resolve({ ok: status >= 200 && status < 300, status });
        },
      });
      fire(shopifyEvent('page_viewed'));
      await clock.advance(60_000);
      assert.equal(calls.length, expected, `answers ${statuses.join(', ')}: ${expected} request(s)`);
    }
  });

  it('never throws into the page: a fetch that throws, a fetch that rejects, odd events', async () => {
    const throwing = runPixel({ respond: () => { throw new TypeError('keepalive quota exceeded'); } });
    assert.doesNotThrow(() => throwing.fire(shopifyEvent('checkout_completed', { checkout: { token: 't' } })));
    await throwing.clock.advance(60_000);
    assert.equal(throwing.calls.length, 2, 'a fetch that throws counts as a failure: retried once');

    const rejecting = runPixel({ respond: () => Promise.reject(new Error('offline')) });
    for (let i = 0; i < 25; i += 1) assert.doesNotThrow(() => rejecting.fire(shopifyEvent('page_viewed')));
    await rejecting.clock.advance(60_000);
    assert.equal(rejecting.calls.length, 4, 'two batches, each tried twice');

    const odd = runPixel({ respond: () => undefined }); // not even a promise
    const cyclic = shopifyEvent('page_viewed');
    cyclic.data = { self: null };
    cyclic.data.self = cyclic.data; // JSON.stringify throws on it
    assert.doesNotThrow(() => odd.subscriptions.get('all_standard_events')(null));
    assert.doesNotThrow(() => odd.subscriptions.get('all_standard_events')(undefined));
    assert.doesNotThrow(() => odd.fire(cyclic));
    await assert.doesNotReject(odd.clock.advance(60_000));
    const fine = shopifyEvent('page_viewed');
    odd.fire(fine);
    await odd.clock.advance(1000);
    assert.ok(eventIds(odd.calls).includes(fine.id), 'later events still go out');
  });

  it('is quiet outside a pixel sandbox: no analytics, no throw', () => {
    assert.doesNotThrow(() => vm.runInNewContext(filled(), { setTimeout() {}, clearTimeout() {} }));
  });

  it('sends what is queued when the page is hidden or left', async () => {
    const { fire, calls, listeners, context } = runPixel({ withWindow: true });
    assert.ok(listeners.has('pagehide') && listeners.has('visibilitychange'));
    const a = shopifyEvent('product_added_to_cart');
    fire(a);
    listeners.get('visibilitychange')();
    assert.equal(calls.length, 0, 'a visible page keeps waiting');
    context.document.visibilityState = 'hidden';
    listeners.get('visibilitychange')();
    assert.equal(calls.length, 1);
    assert.deepEqual(eventIds(calls), [a.id]);
    const b = shopifyEvent('page_viewed');
    fire(b);
    listeners.get('pagehide')();
    assert.equal(calls.length, 2);
    assert.deepEqual(eventIds(calls), [a.id, b.id]);
    assert.equal(calls[1].init.keepalive, true);
    listeners.get('pagehide')();
    assert.equal(calls.length, 2, 'nothing queued, nothing sent');
  });
});
