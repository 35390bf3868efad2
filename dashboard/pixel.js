const INSIGHTS_ENDPOINT = "__INSIGHTS_ENDPOINT__";
const INSIGHTS_INGEST_KEY = "__INSIGHTS_INGEST_KEY__";

// Shopify Insights storefront pixel.
//
// A Shopify custom pixel: it forwards your storefront's customer events (page views, carts,
// checkouts) to Shopify Insights, which turns them into the storefront funnel and the abandoned
// checkouts on your dashboard. The two lines above are your Shopify Insights address and your
// shop's ingest key; the dashboard fills them in for you.
//
// To install it: in your Shopify admin open Settings > Customer events, choose "Add custom pixel",
// name it "Shopify Insights", replace everything in the code box with this whole text, then Save
// and Connect. Shopify runs it in its pixel sandbox, only for visitors whose consent allows it.
//
// What it sends: each event's id, name, timestamp, clientId and data, and nothing else (no page
// address, referrer or browser details from the event's context), in batches of at most 20
// events, at the latest a second after the first of them (at once for a completed checkout, or
// when the page is left). Requests use keepalive, so a batch outlives the page it was sent from,
// and text/plain, so the browser sends them without a CORS preflight. A batch that fails is tried
// once more. Nothing in here ever throws into your storefront.

(() => {
  const MAX_EVENTS = 20; // events in one request
  const FLUSH_AFTER_MS = 1000; // the longest a queued event waits
  const RETRY_AFTER_MS = 3000; // a failed batch is tried again once, this much later
  const MAX_BYTES = 60000; // browsers cap keepalive bodies at 64 KiB: larger batches are split

  const url = INSIGHTS_ENDPOINT.replace(/\/+$/, "") + "/events?key=" + encodeURIComponent(INSIGHTS_INGEST_KEY);
  const queue = [];
  let timer = null;

  // UTF-8 length of a string, without relying on TextEncoder being there.
  const byteLength = (s) => {
    let n = 0;
    for (let i = 0; i < s.length; i += 1) {
      const c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) { n += 4; i += 1; } // surrogate pair
      else n += 3;
    }
    return n;
  };

  const post = (body, keepalive, retried) => {
    let request;
    try {
      request = fetch(url, { method: "POST", keepalive, headers: { "Content-Type": "text/plain" }, body });
    } catch (e) {
      request = Promise.reject(e);
    }
    Promise.resolve(request)
      .then((res) => {
        // Other 4xx answers (an unknown key, a batch too large) would not change on a retry.
        if (!res.ok && (res.status === 408 || res.status === 429 || res.status >= 500)) throw new Error(String(res.status));
      })
      .catch(() => {
        if (!retried) setTimeout(() => post(body, keepalive, true), RETRY_AFTER_MS);
      });
  };

  const send = (events) => {
    const body = JSON.stringify({ events });
    if (byteLength(body) <= MAX_BYTES) post(body, true, false);
    else if (events.length > 1) {
      const half = Math.ceil(events.length / 2);
      send(events.slice(0, half));
      send(events.slice(half));
    } else {
      post(body, false, false); // one event alone is over the keepalive cap: sent without keepalive
    }
  };

  const flush = () => {
    clearTimeout(timer);
    timer = null;
    while (queue.length > 0) {
      try {
        send(queue.splice(0, MAX_EVENTS));
      } catch (e) {
        // An event that cannot be serialised is dropped with its batch.
      }
    }
  };

  const collect = (event) => {
    try {
      queue.push({
        id: event.id,
        name: event.name,
        timestamp: event.timestamp,
        clientId: event.clientId,
        data: event.data !== undefined ? event.data : event.customData, // custom events carry customData
      });
      if (queue.length >= MAX_EVENTS || event.name === "checkout_completed") flush();
      else if (timer === null) timer = setTimeout(flush, FLUSH_AFTER_MS);
    } catch (e) {
      // Never break the storefront.
    }
  };

  try {
    analytics.subscribe("all_standard_events", collect);
    analytics.subscribe("all_custom_events", collect);
    if (typeof addEventListener === "function") {
      addEventListener("pagehide", flush);
      addEventListener("visibilitychange", () => {
        if (typeof document === "object" && document.visibilityState === "hidden") flush();
      });
    }
  } catch (e) {
    // Not in Shopify's pixel sandbox: nothing to do.
  }
})();
