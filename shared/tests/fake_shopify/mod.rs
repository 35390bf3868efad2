//! A fake Shopify GraphQL Admin API for the tests: an axum server on `127.0.0.1:0` that answers the
//! real client's queries the way Shopify does, with cost-based throttling, injected faults and
//! bulk operations. Include it with `mod fake_shopify;`.
//!
//! # Use
//!
//! ```ignore
//! let fake = FakeShopify::start(FakeConfig::default()).await;   // on the current tokio runtime
//! fake.generate(300, 40, 2_000, 7);                              // a realistic store
//! let client = fake.client();                                    // the real `shared::shopify::Shopify`
//! // or: Shopify::new(http, Some(&fake.base_url()), &shop, token) — the client appends
//! // `/admin/api/{version}/graphql.json` to `base_url()`.
//! ```
//!
//! # API
//!
//! - `FakeShopify::start(FakeConfig) -> FakeShopify` (async), `base_url()`, `client()`,
//!   `client_with_token(&str)`, `config()`. The server stops when the `FakeShopify` is dropped.
//! - `FakeConfig { token, bucket_size, restore_rate, initially_available, shop_name, shop_domain,
//!   iana_timezone, currency, scopes, bulk_polls_to_complete, data_until }`; `Default`: token
//!   `shpat_test`, bucket 1000 points, 500 points/s, full bucket, `snowdevil.myshopify.com`,
//!   `America/New_York`, `USD`, scopes `read_orders read_all_orders read_customers read_products`,
//!   bulk operations complete on the 2nd poll, generated data ends now.
//! - Data: `upsert_customer(id, first, last, email, updated_at)`, `upsert_product(id, title,
//!   updated_at)` (keeps its variants; a new product gets one "Default Title" variant),
//!   `add_variant(product_id, FakeVariant)`, `upsert_order(FakeOrder)` (`FakeOrder::new(id, at)` for
//!   defaults), `upsert_checkout(FakeCheckout)` (`FakeCheckout::new(id, token, at)`; its token is
//!   only in `abandonedCheckoutUrl`, as on Shopify), `generate(n_customers, n_products, n_orders, seed)` (appends, deterministic for a seed
//!   and `data_until`), `touch_orders(&ids, at)` / `touch(kind, &ids, at)` (bump `updatedAt`),
//!   `remove(kind, id)`. Reading back: `ids(kind)` (in `UPDATED_AT` order), `len(kind)`,
//!   `order(id)`, `customer(id)`, `product(id)`, `node(kind, id)` (the GraphQL node, as served).
//!   Timestamps are truncated to whole seconds on the way in (GraphQL shows seconds, `...Z`).
//! - Faults: `fail_next(n, status)` (the next n GraphQL requests answer `status` with an HTML body),
//!   `fail_next_downloads(n, status)` (same for bulk result downloads), `revoke_token()` (every token
//!   401s from now on), `rotate_token(new)` (the old token 401s, `new` works), `set_scopes(..)`,
//!   `fail_next_with_retry_after(n, status, value)` (the same, with that `Retry-After` verbatim),
//!   `drain_bucket()` / `set_available(points)`, `fail_next_bulk(error_code)` (the next bulk
//!   operation ends `FAILED` with that `errorCode` and a `partialDataUrl` holding the first half).
//! - Webhooks (`webhooks.rs`): `webhookSubscriptionCreate` and `webhookSubscriptions` (an address
//!   that is not `https://`, `pubsub://` or an EventBridge ARN, or a topic already subscribed to the
//!   address, is a `userErrors` entry); `subscriptions()`, `subscription_creates()`,
//!   `drop_subscription(topic)`.
//! - Expiring tokens: an access token granted by the OAuth endpoint expires after its `expires_in`
//!   by the clock given to `use_clock(..)` (the wall clock otherwise); a call with it after that
//!   answers 401 and counts in `calls_with_expired_token()`.
//! - Stats: `requests()` (GraphQL POSTs, whatever their outcome), `throttled()`, `failures_served()`
//!   (injected 5xx, both endpoints), `unauthorized()`, `pages_served(kind)`, `records_served(kind)`
//!   (nodes in connection pages), `bulk_operations_started()`, `downloads()`, `available()` (the
//!   bucket now), `current_bulk_status()`, `finish_bulk()` (completes the running operation now).
//! - OAuth (`oauth.rs`): the authorize step is only a URL, so `approve()` stands for the merchant
//!   approving it and returns a fresh single-use code; `POST /admin/oauth/access_token` exchanges a
//!   code (`expiring=1`: an expiring offline token, `scope` = `config.scopes`) or a refresh token
//!   (`grant_type=refresh_token`: both tokens rotate, a used refresh token is refused); the new
//!   access token is the one the Admin API accepts from then on. `expect_client(id, secret)` makes
//!   it refuse other client credentials; `token_exchanges()` counts successful exchanges; `fail_next`
//!   applies to it too.
//!
//! # What it understands
//!
//! The root field is found by name outside string literals: `bulkOperationRunQuery(query:)`,
//! `bulkOperationCancel(id:)`, `currentBulkOperation`, `bulkOperation(id:)`, `node(id:)`, then the
//! first of `customers(`, `products(`, `orders(`, `abandonedCheckouts(`, then `shop {`. Arguments may be literals or
//! `$variables`. The answer holds every field the sync's queries ask for, whatever the selection
//! (connections answer both `nodes` and, when the query mentions `edges`, `edges { cursor node }`).
//!
//! - `first` must be 1..=250 (`last` is not supported) else a GraphQL error; `after` is an opaque
//!   cursor (base64 of `{"last_id":..,"last_value":..}`, like Shopify's); a garbage cursor is a
//!   GraphQL error. `sortKey`: `UPDATED_AT` (ascending `(updatedAt, id)`; not for abandoned
//!   checkouts, as on Shopify), `CREATED_AT` (orders, abandoned checkouts), `ID` or none (by id). `query`: Shopify search syntax; `updated_at:>=`, `>`, `<=`, `<` with
//!   `'quoted'`, `"quoted"` or bare RFC 3339 instants (or `YYYY-MM-DD`, UTC) are applied; any other
//!   term is ignored, as Shopify ignores unknown filters.
//! - Scopes: a resource without its `read_*` scope (`read_orders` for abandoned checkouts) answers
//!   `ACCESS_DENIED`; without `read_all_orders`, orders created over 60 days ago (wall clock) are
//!   invisible.
//! - Money is Shopify's Decimal text (`"214.63"`, `"19.9"`, `"25.0"` from `generate`; whatever a test
//!   stores otherwise) in `{"shopMoney": {"amount", "currencyCode"}}`; `currentTotalPriceSet` and
//!   `totalPriceSet` both carry `FakeOrder::total`. An order's `customer` is the stored customer's
//!   node, a minimal one (`id`, null names, `updatedAt` = the order's `createdAt`) when it is not
//!   stored, or `null`.
//!
//! # Cost (Shopify's leaky bucket)
//!
//! Node weight `w` = 1 for customers and products, 2 for orders (the order plus its customer object)
//! and abandoned checkouts (the checkout plus its money).
//! A connection query requests `2 + first × w` points and actually costs `2 + returned × w`. The shop
//! query costs 2, `bulkOperationRunQuery`/`bulkOperationCancel` 10 (a mutation), bulk status and
//! `node` queries 1. The bucket refills continuously at `restore_rate` up to `bucket_size` (computed
//! from the elapsed `tokio::time::Instant`, so paused-clock tests work). A query requesting more than
//! `min(1000, bucket_size)` answers `MAX_COST_EXCEEDED` (Shopify's single-query limit: it could never
//! run). A query requesting more than `currentlyAvailable` answers HTTP 200 `THROTTLED` with
//! `actualQueryCost: null`, nothing deducted; otherwise the actual cost is deducted and
//! `extensions.cost` reports what remains (`currentlyAvailable` rounded down, as Shopify shows
//! integers).
//!
//! # Bulk operations
//!
//! `bulkOperationRunQuery` snapshots the result of its query's root connection (`orders`,
//! `customers` or `products`, with the same `updated_at` filter support) and answers `CREATED`. Each
//! poll (`currentBulkOperation`, `bulkOperation(id:)`, `node(id:)`) of an unfinished operation moves
//! it: `RUNNING` until poll number `bulk_polls_to_complete`, which answers `COMPLETED` with
//! `url = {base_url}/bulk/{n}.jsonl` (plain GET, no token, like a signed URL). `objectCount` and
//! `fileSize` are strings (UnsignedInt64), as Shopify sends them. JSONL lines: orders are the same
//! nodes as the paged query, with the customer object inline (and, when the query asks for
//! `totalDiscountsSet`, the sale parts: discounts, tax and refunds inline, then the order's
//! `LineItem`, `ShippingLine`, `RefundLineItem` and `RefundShippingLine` lines, each with
//! `__typename` and `__parentId`, grouped after their order); customers likewise; products are a
//! product line (`id title updatedAt`) followed by its variants' lines (`id title price sku
//! __parentId`) when the query mentions `variants`. One operation at a time: starting another while
//! one is `CREATED`/`RUNNING` answers `userErrors` "A bulk query operation for this app and shop is
//! already in progress: {gid}.".
//!
//! # Auth and faults
//!
//! A missing or wrong `X-Shopify-Access-Token` (or any token after `revoke_token()`) answers 401
//! `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`.
//! Injected failures come first, before the token check.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod gql;
mod oauth;
mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use shared::demo::Rng;
use shared::domain::ShopDomain;
use shared::shopify::Shopify;
use shared::shopify::records::Kind;
use tokio::time::Instant;

use gql::{arguments, field_arguments, find_field};

/// Shopify's limit for a single query, whatever the bucket.
pub const MAX_SINGLE_QUERY_COST: f64 = 1000.0;
/// The 401 body Shopify sends for a bad token.
pub const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";

/// How the fake shop is set up.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The only `X-Shopify-Access-Token` accepted.
    pub token: String,
    /// `maximumAvailable` points.
    pub bucket_size: f64,
    /// `restoreRate`, points per second.
    pub restore_rate: f64,
    /// Points in the bucket at start (`None`: full).
    pub initially_available: Option<f64>,
    pub shop_name: String,
    pub shop_domain: String,
    pub iana_timezone: String,
    pub currency: String,
    pub scopes: Vec<String>,
    /// The poll that sees a bulk operation `COMPLETED` (earlier polls see `RUNNING`).
    pub bulk_polls_to_complete: u32,
    /// `generate` spreads records over the 365 days before this instant.
    pub data_until: DateTime<Utc>,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            token: "shpat_test".into(),
            bucket_size: 1000.0,
            restore_rate: 500.0,
            initially_available: None,
            shop_name: "Snow Devil".into(),
            shop_domain: "snowdevil.myshopify.com".into(),
            iana_timezone: "America/New_York".into(),
            currency: "USD".into(),
            scopes: [
                "read_orders",
                "read_all_orders",
                "read_customers",
                "read_products",
            ]
            .map(String::from)
            .to_vec(),
            bulk_polls_to_complete: 2,
            data_until: Utc::now().trunc_subsecs(0),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeCustomer {
    pub id: u64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeVariant {
    pub id: u64,
    pub title: String,
    /// Shopify's Decimal text, e.g. `"19.99"`.
    pub price: String,
    pub sku: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeProduct {
    pub id: u64,
    pub title: String,
    pub updated_at: DateTime<Utc>,
    pub variants: Vec<FakeVariant>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeOrder {
    pub id: u64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Shopify's Decimal text, e.g. `"214.63"`.
    pub total: String,
    pub currency: String,
    /// `displayFinancialStatus`, e.g. `"PAID"`.
    pub financial_status: String,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub test: bool,
    /// The customer's id: its node comes from the stored customer (or a minimal one).
    pub customer: Option<u64>,
    /// Sale parts, served by a bulk operation whose query asks for them (`totalDiscountsSet`,
    /// `lineItems`, `shippingLines`, `refunds`), as Shopify's grouped JSONL: the order's line,
    /// then its children's lines with `__parentId` and `__typename`.
    pub lines: Vec<FakeLine>,
    /// Shopify's Decimal text.
    pub discounts: String,
    pub tax: String,
    /// Each shipping line's price.
    pub shipping: Vec<String>,
    pub refunds: Vec<FakeRefund>,
}

/// A line item.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeLine {
    pub id: u64,
    pub product: Option<u64>,
    pub title: String,
    pub quantity: i64,
    pub price: String,
    pub discount: String,
}

/// A refund: `(line id, quantity, subtotal, tax)` per refunded line, and shipping refunded.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeRefund {
    pub id: u64,
    pub created_at: DateTime<Utc>,
    pub lines: Vec<(u64, i64, String, String)>,
    pub shipping: Option<String>,
}

/// An `AbandonedCheckout` (recovered ones too: `completed_at`), served by `abandonedCheckouts`.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeCheckout {
    pub id: u64,
    /// Only in the recovery link, as on Shopify (the object has no `token` field).
    pub token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Shopify's Decimal text.
    pub total: String,
    pub currency: String,
}

impl FakeCheckout {
    /// An open USD checkout of 25.00, created and updated at `at`.
    pub fn new(id: u64, token: &str, at: DateTime<Utc>) -> FakeCheckout {
        FakeCheckout {
            id,
            token: token.to_owned(),
            created_at: at,
            updated_at: at,
            completed_at: None,
            total: "25.00".into(),
            currency: "USD".into(),
        }
    }
}

impl FakeOrder {
    /// A paid USD order of 10.00 without customer, created and updated at `at`.
    pub fn new(id: u64, at: DateTime<Utc>) -> FakeOrder {
        FakeOrder {
            id,
            name: format!("#{id}"),
            created_at: at,
            updated_at: at,
            total: "10.00".into(),
            currency: "USD".into(),
            financial_status: "PAID".into(),
            cancelled_at: None,
            test: false,
            customer: None,
            lines: vec![FakeLine {
                id: LINE_IDS + (id % 1_000_000_000_000) * 100,
                product: None,
                title: "Custom item".into(),
                quantity: 1,
                price: "10.00".into(),
                discount: "0.00".into(),
            }],
            discounts: "0.00".into(),
            tax: "0.00".into(),
            shipping: Vec::new(),
            refunds: Vec::new(),
        }
    }
}

/// The fake server; stops when dropped.
pub struct FakeShopify {
    base_url: String,
    inner: Arc<Mutex<Inner>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeShopify {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeShopify {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(config: FakeConfig) -> FakeShopify {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Shopify");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let available = config
            .initially_available
            .unwrap_or(config.bucket_size)
            .min(config.bucket_size);
        let inner = Arc::new(Mutex::new(Inner {
            bucket: Bucket {
                size: config.bucket_size,
                rate: config.restore_rate,
                available,
                at: Instant::now(),
            },
            token: Some(config.token.clone()),
            config,
            base_url: base_url.clone(),
            customers: HashMap::new(),
            products: HashMap::new(),
            orders: HashMap::new(),
            checkouts: HashMap::new(),
            fail_next: (0, 500),
            retry_after: None,
            fail_downloads: (0, 500),
            fail_next_bulk: None,
            throttle_forever: false,
            bulk: Vec::new(),
            stats: Stats::default(),
            oauth: oauth::OAuthState::default(),
            subscriptions: webhooks::Subscriptions::default(),
            token_expires_at: None,
            now: None,
        }));
        let app = Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .route("/bulk/{file}", get(download))
            .route("/admin/oauth/access_token", post(oauth::access_token))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeShopify {
            base_url,
            inner,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, for `SHOPIFY_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The real client, pointed at this fake with the configured token and shop.
    pub fn client(&self) -> Shopify {
        let token = self.lock().config.token.clone();
        self.client_with_token(&token)
    }

    pub fn client_with_token(&self, token: &str) -> Shopify {
        let shop = ShopDomain::parse(&self.lock().config.shop_domain).expect("a valid shop domain");
        Shopify::new(
            reqwest::Client::new(),
            Some(&self.base_url),
            &shop,
            SecretString::from(token.to_owned()),
        )
    }

    pub fn config(&self) -> FakeConfig {
        self.lock().config.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- data ----

    pub fn upsert_customer(
        &self,
        id: u64,
        first: &str,
        last: &str,
        email: &str,
        updated_at: DateTime<Utc>,
    ) {
        self.lock().customers.insert(
            id,
            FakeCustomer {
                id,
                first_name: Some(first.to_owned()),
                last_name: Some(last.to_owned()),
                email: Some(email.to_owned()),
                updated_at: updated_at.trunc_subsecs(0),
            },
        );
    }

    /// Keeps the product's variants; a new product gets one "Default Title" variant.
    pub fn upsert_product(&self, id: u64, title: &str, updated_at: DateTime<Utc>) {
        let mut st = self.lock();
        let variants = st
            .products
            .get(&id)
            .map(|p| p.variants.clone())
            .unwrap_or_else(|| {
                vec![FakeVariant {
                    id: VARIANT_IDS + id % 1_000_000_000,
                    title: "Default Title".into(),
                    price: "10.00".into(),
                    sku: format!("SKU-{id}"),
                }]
            });
        st.products.insert(
            id,
            FakeProduct {
                id,
                title: title.to_owned(),
                updated_at: updated_at.trunc_subsecs(0),
                variants,
            },
        );
    }

    pub fn add_variant(&self, product_id: u64, variant: FakeVariant) {
        if let Some(p) = self.lock().products.get_mut(&product_id) {
            p.variants.push(variant);
        }
    }

    pub fn upsert_order(&self, order: FakeOrder) {
        let order = FakeOrder {
            created_at: order.created_at.trunc_subsecs(0),
            updated_at: order.updated_at.trunc_subsecs(0),
            cancelled_at: order.cancelled_at.map(|c| c.trunc_subsecs(0)),
            ..order
        };
        self.lock().orders.insert(order.id, order);
    }

    pub fn upsert_checkout(&self, checkout: FakeCheckout) {
        let checkout = FakeCheckout {
            created_at: checkout.created_at.trunc_subsecs(0),
            updated_at: checkout.updated_at.trunc_subsecs(0),
            completed_at: checkout.completed_at.map(|c| c.trunc_subsecs(0)),
            ..checkout
        };
        self.lock().checkouts.insert(checkout.id, checkout);
    }

    /// Sets `updatedAt` of these orders (unknown ids are ignored).
    pub fn touch_orders(&self, ids: &[u64], at: DateTime<Utc>) {
        self.touch(Kind::Orders, ids, at);
    }

    pub fn touch(&self, kind: Kind, ids: &[u64], at: DateTime<Utc>) {
        let at = at.trunc_subsecs(0);
        let mut st = self.lock();
        for id in ids {
            match kind {
                Kind::Customers => st.customers.get_mut(id).map(|r| r.updated_at = at),
                Kind::Products => st.products.get_mut(id).map(|r| r.updated_at = at),
                Kind::Orders => st.orders.get_mut(id).map(|r| r.updated_at = at),
                Kind::Checkouts => st.checkouts.get_mut(id).map(|r| r.updated_at = at),
            };
        }
    }

    pub fn remove(&self, kind: Kind, id: u64) {
        let mut st = self.lock();
        match kind {
            Kind::Customers => st.customers.remove(&id).map(|_| ()),
            Kind::Products => st.products.remove(&id).map(|_| ()),
            Kind::Orders => st.orders.remove(&id).map(|_| ()),
            Kind::Checkouts => st.checkouts.remove(&id).map(|_| ()),
        };
    }

    /// Ids in `UPDATED_AT` order (ascending `(updatedAt, id)`), all records (no scope rules).
    pub fn ids(&self, kind: Kind) -> Vec<u64> {
        let st = self.lock();
        let mut keys = st.keys(kind, SortKey::UpdatedAt);
        keys.sort();
        keys.into_iter().map(|(_, id)| id).collect()
    }

    pub fn len(&self, kind: Kind) -> usize {
        let st = self.lock();
        match kind {
            Kind::Customers => st.customers.len(),
            Kind::Products => st.products.len(),
            Kind::Orders => st.orders.len(),
            Kind::Checkouts => st.checkouts.len(),
        }
    }

    pub fn order(&self, id: u64) -> Option<FakeOrder> {
        self.lock().orders.get(&id).cloned()
    }

    pub fn customer(&self, id: u64) -> Option<FakeCustomer> {
        self.lock().customers.get(&id).cloned()
    }

    pub fn product(&self, id: u64) -> Option<FakeProduct> {
        self.lock().products.get(&id).cloned()
    }

    /// The GraphQL node as a page serves it.
    pub fn node(&self, kind: Kind, id: u64) -> Option<Value> {
        self.lock().node(kind, id)
    }

    /// Appends a realistic store: customers (ids from 7_000_000_000_001), products with 1 to 3
    /// variants (ids from 8_000_000_000_001), orders (ids from 6_000_000_000_001, names from #1001)
    /// spread over the 365 days before `data_until`, most by returning customers, some guests,
    /// mostly PAID, a few refunded, cancelled or test orders. Deterministic for a seed.
    pub fn generate(&self, n_customers: usize, n_products: usize, n_orders: usize, seed: u64) {
        let mut st = self.lock();
        let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        let until = st.config.data_until.trunc_subsecs(0);
        let year = 365 * 86_400;
        let at = |rng: &mut Rng| until - Duration::seconds(rng.below(year) as i64);
        let later = |rng: &mut Rng, t: DateTime<Utc>, max_secs: u64| {
            (t + Duration::seconds(rng.below(max_secs + 1) as i64)).min(until)
        };

        let first_customer = next_id(st.customers.keys(), CUSTOMER_IDS);
        for k in 0..n_customers as u64 {
            let id = first_customer + k;
            let first = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
            let last = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
            let created = at(&mut rng);
            let c = FakeCustomer {
                id,
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                email: Some(format!(
                    "{}.{}.{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    id % 100_000
                )),
                updated_at: later(&mut rng, created, 30 * 86_400),
            };
            st.customers.insert(id, c);
        }

        let first_product = next_id(st.products.keys(), PRODUCT_IDS);
        let mut next_variant = next_id(
            st.products
                .values()
                .flat_map(|p| p.variants.iter().map(|v| &v.id)),
            VARIANT_IDS,
        );
        for k in 0..n_products as u64 {
            let id = first_product + k;
            let title = format!(
                "{} {}",
                ADJECTIVES[rng.below(ADJECTIVES.len() as u64) as usize],
                NOUNS[rng.below(NOUNS.len() as u64) as usize]
            );
            let base_cents = 500 + rng.below(24_500) as i64;
            let variants = (0..1 + rng.below(3))
                .map(|v| {
                    next_variant += 1;
                    FakeVariant {
                        id: next_variant - 1,
                        title: ["Small", "Medium", "Large"][v as usize].into(),
                        price: shopify_decimal(base_cents + 500 * v as i64),
                        sku: format!("SKU-{id}-{v}"),
                    }
                })
                .collect();
            let created = at(&mut rng);
            let updated_at = later(&mut rng, created, 60 * 86_400);
            st.products.insert(
                id,
                FakeProduct {
                    id,
                    title,
                    updated_at,
                    variants,
                },
            );
        }

        // In id order: HashMap order would make the totals differ from run to run.
        let mut products: Vec<&FakeProduct> = st.products.values().collect();
        products.sort_by_key(|p| p.id);
        let prices: Vec<(u64, String, i64)> = products
            .iter()
            .flat_map(|p| {
                p.variants
                    .iter()
                    .filter_map(|v| cents(&v.price).map(|c| (p.id, p.title.clone(), c)))
            })
            .collect();
        let customers: Vec<u64> = {
            let mut c: Vec<u64> = st.customers.keys().copied().collect();
            c.sort_unstable();
            c
        };
        let first_order = next_id(st.orders.keys(), ORDER_IDS);
        let first_number = 1001 + st.orders.values().filter(|o| o.id >= ORDER_IDS).count() as u64;
        let mut created: Vec<DateTime<Utc>> = (0..n_orders).map(|_| at(&mut rng)).collect();
        created.sort();
        let currency = st.config.currency.clone();
        for (k, created_at) in created.into_iter().enumerate() {
            let id = first_order + k as u64;
            let items = 1 + rng.below(4);
            let lines: Vec<FakeLine> = (0..items)
                .map(|i| {
                    let (product, title, price) = if prices.is_empty() {
                        (
                            None,
                            "Custom item".to_owned(),
                            500 + rng.below(10_000) as i64,
                        )
                    } else {
                        let (p, t, c) = &prices[rng.below(prices.len() as u64) as usize];
                        (Some(*p), t.clone(), *c)
                    };
                    FakeLine {
                        id: LINE_IDS + (id % 1_000_000_000_000) * 100 + i,
                        product,
                        title,
                        quantity: 1 + (rng.below(5) == 0) as i64,
                        price: shopify_decimal(price),
                        discount: "0.00".into(),
                    }
                })
                .collect();
            let total: i64 = lines
                .iter()
                .map(|l| cents(&l.price).unwrap_or(0) * l.quantity)
                .sum();
            let roll = rng.below(100);
            let financial_status = match roll {
                0..=79 => "PAID",
                80..=84 => "PARTIALLY_REFUNDED",
                85..=89 => "REFUNDED",
                90..=94 => "PENDING",
                95..=97 => "AUTHORIZED",
                _ => "VOIDED",
            };
            let cancelled = financial_status == "VOIDED" || rng.below(100) < 2;
            let updated_at = later(&mut rng, created_at, 3 * 86_400);
            // Returning customers order more: a skewed pick; 15% guests.
            let customer = (!customers.is_empty() && rng.below(100) >= 15).then(|| {
                let u = rng.unit();
                customers[((u * u) * customers.len() as f64) as usize % customers.len()]
            });
            st.orders.insert(
                id,
                FakeOrder {
                    id,
                    name: format!("#{}", first_number + k as u64),
                    created_at,
                    updated_at,
                    total: shopify_decimal(total),
                    currency: currency.clone(),
                    financial_status: financial_status.into(),
                    cancelled_at: cancelled.then_some(updated_at),
                    test: rng.below(100) == 0,
                    customer,
                    // A partial refund: one unit of the first line, on the last update.
                    refunds: (financial_status == "PARTIALLY_REFUNDED")
                        .then(|| FakeRefund {
                            id: REFUND_IDS + id % 1_000_000_000_000,
                            created_at: updated_at,
                            lines: vec![(lines[0].id, 1, lines[0].price.clone(), "0.00".into())],
                            shipping: None,
                        })
                        .into_iter()
                        .collect(),
                    lines,
                    discounts: "0.00".into(),
                    tax: "0.00".into(),
                    shipping: Vec::new(),
                },
            );
        }
    }

    // ---- faults ----

    /// The next `n` GraphQL requests answer `status` (e.g. 500, 502, 503) with an HTML body.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut st = self.lock();
        st.fail_next = (n, status);
        st.retry_after = None;
    }

    /// Like `fail_next`, each failure carrying `Retry-After: <value>` verbatim.
    pub fn fail_next_with_retry_after(&self, n: u32, status: u16, value: &str) {
        let mut st = self.lock();
        st.fail_next = (n, status);
        st.retry_after = Some(value.to_owned());
    }

    /// The next `n` bulk result downloads answer `status`.
    pub fn fail_next_downloads(&self, n: u32, status: u16) {
        self.lock().fail_downloads = (n, status);
    }

    /// Every token is refused from now on (the merchant uninstalled the app).
    pub fn revoke_token(&self) {
        self.lock().token = None;
    }

    /// The old token is refused, `new` accepted (reinstall, or a refreshed client-credentials token).
    pub fn rotate_token(&self, new: &str) {
        let mut st = self.lock();
        st.token = Some(new.to_owned());
        st.token_expires_at = None;
        st.config.token = new.to_owned();
    }

    pub fn set_scopes(&self, scopes: &[&str]) {
        self.lock().config.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Empties the bucket (another app of the same shop spent it).
    pub fn drain_bucket(&self) {
        self.set_available(0.0);
    }

    pub fn set_available(&self, points: f64) {
        let mut st = self.lock();
        st.bucket.refill();
        st.bucket.available = points.min(st.bucket.size);
    }

    /// Every query from now on answers `THROTTLED`, its `throttleStatus` promising the points
    /// back in a few milliseconds (a broken or hostile Shopify that never lets a query through).
    pub fn throttle_forever(&self) {
        self.lock().throttle_forever = true;
    }

    /// The next bulk operation started ends `FAILED` with this `errorCode` (e.g.
    /// `INTERNAL_SERVER_ERROR`, `TIMEOUT`) and a `partialDataUrl` with the first half of its lines.
    pub fn fail_next_bulk(&self, error_code: &str) {
        self.lock().fail_next_bulk = Some(error_code.to_owned());
    }

    /// Completes (or fails, see `fail_next_bulk`) the unfinished bulk operation now.
    pub fn finish_bulk(&self) {
        let mut st = self.lock();
        if let Some(op) = st.bulk.last_mut().filter(|op| op.is_running()) {
            op.finish();
        }
    }

    // ---- stats ----

    pub fn requests(&self) -> u64 {
        self.lock().stats.requests
    }

    pub fn throttled(&self) -> u64 {
        self.lock().stats.throttled
    }

    /// Calls made with the accepted token after it expired (each answered 401).
    pub fn calls_with_expired_token(&self) -> u64 {
        self.lock().stats.expired
    }

    /// Token expiry is judged by `now` from here on (pass the service's clock).
    pub fn use_clock(&self, now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        self.lock().now = Some(Arc::new(now));
    }

    pub fn failures_served(&self) -> u64 {
        self.lock().stats.failures
    }

    pub fn unauthorized(&self) -> u64 {
        self.lock().stats.unauthorized
    }

    /// Connection pages answered (not throttled, not errors).
    pub fn pages_served(&self, kind: Kind) -> u64 {
        self.lock().stats.pages.get(&kind).copied().unwrap_or(0)
    }

    /// Nodes in those pages.
    pub fn records_served(&self, kind: Kind) -> u64 {
        self.lock().stats.records.get(&kind).copied().unwrap_or(0)
    }

    pub fn bulk_operations_started(&self) -> u64 {
        self.lock().stats.bulk_started
    }

    /// Successful bulk result downloads.
    pub fn downloads(&self) -> u64 {
        self.lock().stats.downloads
    }

    /// Points in the bucket now.
    pub fn available(&self) -> f64 {
        let mut st = self.lock();
        st.bucket.refill();
        st.bucket.available
    }

    /// The last bulk operation's status, without counting as a poll.
    pub fn current_bulk_status(&self) -> Option<String> {
        self.lock().bulk.last().map(|op| op.status.to_owned())
    }
}

// ---- state ----

const CUSTOMER_IDS: u64 = 7_000_000_000_001;
const PRODUCT_IDS: u64 = 8_000_000_000_001;
const VARIANT_IDS: u64 = 44_000_000_000_001;
const ORDER_IDS: u64 = 6_000_000_000_001;
const LINE_IDS: u64 = 9_000_000_000_000_000;
const REFUND_IDS: u64 = 3_000_000_000_001;

fn next_id<'a>(ids: impl Iterator<Item = &'a u64>, base: u64) -> u64 {
    ids.filter(|id| **id >= base).max().map_or(base, |m| m + 1)
}

struct Bucket {
    size: f64,
    rate: f64,
    available: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * self.rate).min(self.size);
        self.at = now;
    }

    fn status(&self) -> Value {
        json!({
            "maximumAvailable": self.size,
            "currentlyAvailable": self.available.max(0.0).floor() as i64,
            "restoreRate": self.rate,
        })
    }
}

#[derive(Default)]
struct Stats {
    requests: u64,
    throttled: u64,
    failures: u64,
    unauthorized: u64,
    pages: HashMap<Kind, u64>,
    records: HashMap<Kind, u64>,
    bulk_started: u64,
    downloads: u64,
    /// Calls made with the right token after it expired.
    expired: u64,
}

struct BulkOp {
    n: u64,
    query: String,
    status: &'static str,
    polls: u32,
    polls_to_complete: u32,
    lines: Vec<String>,
    root_objects: usize,
    fail: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl BulkOp {
    fn gid(&self) -> String {
        format!("gid://shopify/BulkOperation/{}", self.n)
    }

    fn is_running(&self) -> bool {
        matches!(self.status, "CREATED" | "RUNNING")
    }

    fn finish(&mut self) {
        self.status = if self.fail.is_some() {
            "FAILED"
        } else {
            "COMPLETED"
        };
        self.completed_at = Some(Utc::now().trunc_subsecs(0));
    }

    fn poll(&mut self) {
        if self.is_running() {
            self.polls += 1;
            if self.polls >= self.polls_to_complete {
                self.finish();
            } else {
                self.status = "RUNNING";
            }
        }
    }

    fn partial_lines(&self) -> &[String] {
        &self.lines[..self.lines.len() / 2]
    }

    fn node(&self, base_url: &str) -> Value {
        let (count, size, url, partial) = match self.status {
            "COMPLETED" => {
                let size: usize = self.lines.iter().map(|l| l.len() + 1).sum();
                (
                    self.lines.len(),
                    Some(size),
                    Some(format!("{base_url}/bulk/{}.jsonl", self.n)),
                    None,
                )
            }
            "FAILED" => {
                let p = self.partial_lines();
                let partial =
                    (!p.is_empty()).then(|| format!("{base_url}/bulk/{}.partial.jsonl", self.n));
                (p.len(), None, None, partial)
            }
            "CREATED" => (0, None, None, None),
            _ => (
                self.lines.len() * self.polls as usize / self.polls_to_complete.max(1) as usize,
                None,
                None,
                None,
            ),
        };
        json!({
            "id": self.gid(),
            "status": self.status,
            "errorCode": if self.status == "FAILED" { json!(self.fail) } else { Value::Null },
            "createdAt": rfc3339(self.created_at),
            "completedAt": self.completed_at.map(rfc3339),
            "objectCount": count.to_string(),
            "rootObjectCount": self.root_objects.min(count).to_string(),
            "fileSize": size.map(|s| s.to_string()),
            "url": url,
            "partialDataUrl": partial,
            "query": self.query,
            "type": "QUERY",
        })
    }
}

struct Inner {
    config: FakeConfig,
    base_url: String,
    /// The accepted token; `None` once revoked.
    token: Option<String>,
    customers: HashMap<u64, FakeCustomer>,
    products: HashMap<u64, FakeProduct>,
    orders: HashMap<u64, FakeOrder>,
    checkouts: HashMap<u64, FakeCheckout>,
    bucket: Bucket,
    fail_next: (u32, u16),
    /// The `Retry-After` the injected failures carry (any text, as a broken Shopify might send).
    retry_after: Option<String>,
    fail_downloads: (u32, u16),
    fail_next_bulk: Option<String>,
    throttle_forever: bool,
    bulk: Vec<BulkOp>,
    stats: Stats,
    oauth: oauth::OAuthState,
    subscriptions: webhooks::Subscriptions,
    /// When the accepted token expires (an expiring offline token); `None`: never.
    token_expires_at: Option<DateTime<Utc>>,
    /// What "now" is for token expiry (the service's clock in tests); the wall clock by default.
    now: Option<Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>>,
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.now.as_ref().map_or_else(Utc::now, |f| f())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum SortKey {
    UpdatedAt,
    CreatedAt,
    Id,
}

type Key = (i64, u64);

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn gid(kind: Kind, id: u64) -> String {
    let t = match kind {
        Kind::Customers => "Customer",
        Kind::Products => "Product",
        Kind::Orders => "Order",
        Kind::Checkouts => "AbandonedCheckout",
    };
    format!("gid://shopify/{t}/{id}")
}

fn weight(kind: Kind) -> u64 {
    match kind {
        Kind::Orders | Kind::Checkouts => 2,
        Kind::Customers | Kind::Products => 1,
    }
}

fn scope(kind: Kind) -> &'static str {
    match kind {
        Kind::Customers => "read_customers",
        Kind::Products => "read_products",
        Kind::Orders | Kind::Checkouts => "read_orders",
    }
}

fn gql_error(message: &str, code: &str) -> Value {
    json!({"errors": [{"message": message, "extensions": {"code": code}}]})
}

fn money_bag(amount: &str) -> Value {
    json!({"shopMoney": {"amount": amount}})
}

/// Adds an order's sale parts to its bulk line (discounts, tax, refunds inline) and answers its
/// children's lines: line items, shipping lines, and each refund's lines and shipping.
fn sale_parts(o: &FakeOrder, node: &mut Value) -> Vec<Value> {
    let order = gid(Kind::Orders, o.id);
    node["totalDiscountsSet"] = money_bag(&o.discounts);
    node["totalTaxSet"] = money_bag(&o.tax);
    let refund_gid = |r: &FakeRefund| format!("gid://shopify/Refund/{}", r.id);
    node["refunds"] = o
        .refunds
        .iter()
        .map(|r| json!({"id": refund_gid(r), "createdAt": rfc3339(r.created_at)}))
        .collect();
    let line_gid = |id: u64| format!("gid://shopify/LineItem/{id}");
    let mut children = Vec::new();
    for l in &o.lines {
        children.push(json!({
            "__typename": "LineItem", "id": line_gid(l.id), "title": l.title, "quantity": l.quantity,
            "originalUnitPriceSet": money_bag(&l.price), "totalDiscountSet": money_bag(&l.discount),
            "product": l.product.map(|p| json!({"id": gid(Kind::Products, p)})),
            "__parentId": order,
        }));
    }
    for price in &o.shipping {
        children.push(json!({"__typename": "ShippingLine", "originalPriceSet": money_bag(price), "__parentId": order}));
    }
    for r in &o.refunds {
        for (line, quantity, subtotal, tax) in &r.lines {
            let product = o
                .lines
                .iter()
                .find(|l| l.id == *line)
                .and_then(|l| l.product);
            children.push(json!({
                "__typename": "RefundLineItem", "quantity": quantity,
                "subtotalSet": money_bag(subtotal), "totalTaxSet": money_bag(tax),
                "lineItem": {"id": line_gid(*line), "product": product.map(|p| json!({"id": gid(Kind::Products, p)}))},
                "__parentId": refund_gid(r),
            }));
        }
        if let Some(s) = &r.shipping {
            children.push(json!({"__typename": "RefundShippingLine", "subtotalAmountSet": money_bag(s), "__parentId": refund_gid(r)}));
        }
    }
    children
}

fn customer_node(c: &FakeCustomer) -> Value {
    json!({
        "id": gid(Kind::Customers, c.id),
        "firstName": c.first_name,
        "lastName": c.last_name,
        "email": c.email,
        "updatedAt": rfc3339(c.updated_at),
    })
}

fn product_node(p: &FakeProduct) -> Value {
    json!({"id": gid(Kind::Products, p.id), "title": p.title, "updatedAt": rfc3339(p.updated_at)})
}

impl Inner {
    fn keys(&self, kind: Kind, sort: SortKey) -> Vec<Key> {
        let key = |id: u64, created: DateTime<Utc>, updated: DateTime<Utc>| match sort {
            SortKey::UpdatedAt => (updated.timestamp(), id),
            SortKey::CreatedAt => (created.timestamp(), id),
            SortKey::Id => (0, id),
        };
        match kind {
            Kind::Customers => self
                .customers
                .values()
                .map(|c| key(c.id, c.updated_at, c.updated_at))
                .collect(),
            Kind::Products => self
                .products
                .values()
                .map(|p| key(p.id, p.updated_at, p.updated_at))
                .collect(),
            Kind::Orders => self
                .orders
                .values()
                .map(|o| key(o.id, o.created_at, o.updated_at))
                .collect(),
            Kind::Checkouts => self
                .checkouts
                .values()
                .map(|c| key(c.id, c.created_at, c.updated_at))
                .collect(),
        }
    }

    fn updated_at(&self, kind: Kind, id: u64) -> Option<DateTime<Utc>> {
        match kind {
            Kind::Customers => self.customers.get(&id).map(|c| c.updated_at),
            Kind::Products => self.products.get(&id).map(|p| p.updated_at),
            Kind::Orders => self.orders.get(&id).map(|o| o.updated_at),
            Kind::Checkouts => self.checkouts.get(&id).map(|c| c.updated_at),
        }
    }

    /// Whether the token's scopes let it see this record.
    fn visible(&self, kind: Kind, id: u64) -> bool {
        match kind {
            Kind::Orders if !self.has_scope("read_all_orders") => self
                .orders
                .get(&id)
                .is_some_and(|o| o.created_at >= Utc::now() - Duration::days(60)),
            _ => true,
        }
    }

    fn has_scope(&self, s: &str) -> bool {
        self.config.scopes.iter().any(|x| x == s)
    }

    fn node(&self, kind: Kind, id: u64) -> Option<Value> {
        match kind {
            Kind::Customers => self.customers.get(&id).map(customer_node),
            Kind::Products => self.products.get(&id).map(product_node),
            Kind::Orders => self.orders.get(&id).map(|o| {
                let money = json!({"shopMoney": {"amount": o.total, "currencyCode": o.currency}});
                let customer = o.customer.map(|cid| match self.customers.get(&cid) {
                    Some(c) => customer_node(c),
                    None => json!({"id": gid(Kind::Customers, cid), "firstName": null, "lastName": null, "email": null, "updatedAt": rfc3339(o.created_at)}),
                });
                json!({
                    "id": gid(Kind::Orders, o.id),
                    "name": o.name,
                    "createdAt": rfc3339(o.created_at),
                    "updatedAt": rfc3339(o.updated_at),
                    "cancelledAt": o.cancelled_at.map(rfc3339),
                    "test": o.test,
                    "displayFinancialStatus": o.financial_status,
                    "currencyCode": o.currency,
                    "currentTotalPriceSet": money,
                    "totalPriceSet": money,
                    "customer": customer,
                })
            }),
            Kind::Checkouts => self.checkouts.get(&id).map(|c| {
                json!({
                    "id": gid(Kind::Checkouts, c.id),
                    "abandonedCheckoutUrl": format!("https://{}/60000000000/checkouts/ac/{}/recover?key=k{}", self.config.shop_domain, c.token, c.id),
                    "createdAt": rfc3339(c.created_at),
                    "updatedAt": rfc3339(c.updated_at),
                    "completedAt": c.completed_at.map(rfc3339),
                    "totalPriceSet": {"shopMoney": {"amount": c.total, "currencyCode": c.currency}},
                })
            }),
        }
    }

    /// Refuses a query the bucket cannot hold now (or ever).
    fn admit(&mut self, requested: u64) -> Result<(), Value> {
        self.bucket.refill();
        let r = requested as f64;
        if r > self.bucket.size.min(MAX_SINGLE_QUERY_COST) {
            let max = self.bucket.size.min(MAX_SINGLE_QUERY_COST);
            return Err(json!({"errors": [{
                "message": format!("Query cost is {requested}, which exceeds the single query max cost limit ({max}).\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead."),
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": max},
            }]}));
        }
        if self.throttle_forever {
            self.stats.throttled += 1;
            let mut promised = self.bucket.status();
            promised["currentlyAvailable"] = json!((r - 1.0).max(0.0));
            promised["restoreRate"] = json!(1000.0);
            return Err(json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": null, "throttleStatus": promised}},
            }));
        }
        if r > self.bucket.available {
            self.stats.throttled += 1;
            return Err(json!({
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": null, "throttleStatus": self.bucket.status()}},
            }));
        }
        Ok(())
    }

    /// Deducts `actual` and wraps `data` with the cost extension.
    fn charge(&mut self, data: Value, requested: u64, actual: u64) -> Value {
        self.bucket.available -= actual as f64;
        json!({
            "data": data,
            "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}},
        })
    }

    fn access_denied(&self, kind: Kind) -> Option<Value> {
        let needed = scope(kind);
        (!self.has_scope(needed)).then(|| {
            json!({"errors": [{
                "message": format!("Access denied for {} field. Required access: `{needed}` access scope.", kind.field()),
                "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes", "requiredAccess": format!("`{needed}` access scope.")},
                "path": [kind.field()],
            }]})
        })
    }

    /// The whole answer (HTTP 200) to one GraphQL document.
    fn execute(&mut self, q: &str, vars: &Value) -> Value {
        match self.route(q, vars) {
            Ok(v) | Err(v) => v,
        }
    }

    fn route(&mut self, q: &str, vars: &Value) -> Result<Value, Value> {
        let bad = |e: String| gql_error(&format!("Parse error: {e}"), "PARSE_ERROR");
        if let Some(args) = field_arguments(q, "webhookSubscriptionCreate", vars).map_err(bad)? {
            return self.subscription_create(&args);
        }
        if let Some(args) = field_arguments(q, "webhookSubscriptions", vars).map_err(bad)? {
            return self.subscription_list(&args);
        }
        if let Some(args) = field_arguments(q, "bulkOperationRunQuery", vars).map_err(bad)? {
            return self.bulk_run(&args);
        }
        if let Some(args) = field_arguments(q, "bulkOperationCancel", vars).map_err(bad)? {
            return self.bulk_cancel(&args);
        }
        if find_field(q, "currentBulkOperation").is_some() {
            self.admit(1)?;
            let base = self.base_url.clone();
            let op = self.bulk.last_mut().map(|op| {
                op.poll();
                op.node(&base)
            });
            return Ok(self.charge(json!({"currentBulkOperation": op}), 1, 1));
        }
        for field in ["bulkOperation", "node"] {
            // `node(id:)` only: `edges { node { .. } }` is a selection, not this root field.
            if let Some((at, '(')) = find_field(q, field) {
                let args = arguments(q, at, vars).map_err(bad)?;
                self.admit(1)?;
                let id = args
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let node = self.lookup(&id);
                return Ok(self.charge(json!({ field: node }), 1, 1));
            }
        }
        let root = Kind::ALL
            .into_iter()
            .filter_map(|k| find_field(q, k.field()).map(|(at, c)| (at, c, k)))
            .min_by_key(|(at, _, _)| *at);
        if let Some((at, c, kind)) = root {
            let args = if c == '(' {
                arguments(q, at, vars).map_err(bad)?
            } else {
                Map::new()
            };
            return self.connection(kind, &args, q.contains("edges"));
        }
        if find_field(q, "shop").is_some() {
            self.admit(2)?;
            let c = &self.config;
            let data = json!({
                "shop": {"name": c.shop_name, "myshopifyDomain": c.shop_domain, "currencyCode": c.currency, "ianaTimezone": c.iana_timezone},
                "currentAppInstallation": {"accessScopes": c.scopes.iter().map(|s| json!({"handle": s})).collect::<Vec<_>>()},
            });
            return Ok(self.charge(data, 2, 2));
        }
        Err(gql_error(
            "The fake Shopify does not know this query's root field",
            "undefinedField",
        ))
    }

    /// A bulk operation, or an order/customer/product node, by gid.
    fn lookup(&mut self, id: &str) -> Value {
        let Some(rest) = id.strip_prefix("gid://shopify/") else {
            return Value::Null;
        };
        let Some((t, n)) = rest.split_once('/') else {
            return Value::Null;
        };
        let Ok(n) = n.parse::<u64>() else {
            return Value::Null;
        };
        let base = self.base_url.clone();
        match t {
            "BulkOperation" => {
                self.bulk
                    .iter_mut()
                    .find(|op| op.n == n)
                    .map_or(Value::Null, |op| {
                        op.poll();
                        op.node(&base)
                    })
            }
            "Order" if self.has_scope("read_orders") && self.visible(Kind::Orders, n) => {
                self.node(Kind::Orders, n).unwrap_or(Value::Null)
            }
            "Customer" if self.has_scope("read_customers") => {
                self.node(Kind::Customers, n).unwrap_or(Value::Null)
            }
            "Product" if self.has_scope("read_products") => {
                self.node(Kind::Products, n).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }
    }

    /// Keys of `kind` visible and matching the search, sorted.
    fn matching(&self, kind: Kind, sort: SortKey, filter: &Search) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .keys(kind, sort)
            .into_iter()
            .filter(|(_, id)| self.visible(kind, *id))
            .filter(|(_, id)| {
                self.updated_at(kind, *id)
                    .is_some_and(|t| filter.matches(t))
            })
            .collect();
        keys.sort();
        keys
    }

    fn connection(
        &mut self,
        kind: Kind,
        args: &Map<String, Value>,
        edges: bool,
    ) -> Result<Value, Value> {
        if let Some(denied) = self.access_denied(kind) {
            return Err(denied);
        }
        let first = match args.get("first") {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
            Some(Value::Null) | None if args.get("last").is_some_and(|l| !l.is_null()) => {
                return Err(gql_error(
                    "The fake Shopify does not support `last`",
                    "argumentLiteralsIncompatible",
                ));
            }
            Some(Value::Null) | None => {
                return Err(gql_error(
                    "you must provide one of first or last",
                    "argumentLiteralsIncompatible",
                ));
            }
            Some(_) => {
                return Err(gql_error(
                    "Argument 'first' on Field has an invalid value. Expected type 'Int'.",
                    "argumentLiteralsIncompatible",
                ));
            }
        };
        if !(1..=250).contains(&first) {
            return Err(gql_error(
                &format!(
                    "Argument 'first' on Field '{}' has an invalid value ({first}): it must be between 1 and 250.",
                    kind.field()
                ),
                "argumentLiteralsIncompatible",
            ));
        }
        let first = first as u64;
        let sort = match args.get("sortKey").and_then(Value::as_str) {
            // Shopify's `AbandonedCheckoutSortKeys` has no `UPDATED_AT`.
            Some("UPDATED_AT") if kind != Kind::Checkouts => SortKey::UpdatedAt,
            Some("CREATED_AT") if matches!(kind, Kind::Orders | Kind::Checkouts) => {
                SortKey::CreatedAt
            }
            Some("ID") | None => SortKey::Id,
            Some(other) => {
                return Err(gql_error(
                    &format!("Argument 'sortKey' has an invalid value ({other})."),
                    "argumentLiteralsIncompatible",
                ));
            }
        };
        let after = match args.get("after") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(decode_cursor(c, sort).ok_or_else(|| {
                gql_error(
                    "Invalid cursor for current pagination sort.",
                    "argumentLiteralsIncompatible",
                )
            })?),
            Some(_) => {
                return Err(gql_error(
                    "Argument 'after' has an invalid value. Expected type 'String'.",
                    "argumentLiteralsIncompatible",
                ));
            }
        };
        let search = args
            .get("query")
            .and_then(Value::as_str)
            .map(Search::parse)
            .unwrap_or_default();
        let w = weight(kind);
        let requested = 2 + first * w;
        self.admit(requested)?;

        let keys: Vec<Key> = self
            .matching(kind, sort, &search)
            .into_iter()
            .filter(|k| after.is_none_or(|a| *k > a))
            .collect();
        let has_next = keys.len() as u64 > first;
        let page: Vec<Key> = keys.into_iter().take(first as usize).collect();
        let cursor = |k: &Key| encode_cursor(*k, sort);
        let nodes: Vec<Value> = page
            .iter()
            .filter_map(|(_, id)| self.node(kind, *id))
            .collect();
        let mut conn = json!({
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": after.is_some(),
                "startCursor": page.first().map(cursor),
                "endCursor": page.last().map(cursor),
            },
            "nodes": nodes,
        });
        if edges {
            conn["edges"] = page
                .iter()
                .zip(&nodes)
                .map(|(k, n)| json!({"cursor": cursor(k), "node": n}))
                .collect();
        }
        *self.stats.pages.entry(kind).or_default() += 1;
        *self.stats.records.entry(kind).or_default() += page.len() as u64;
        let actual = 2 + page.len() as u64 * w;
        Ok(self.charge(json!({ kind.field(): conn }), requested, actual))
    }

    fn bulk_run(&mut self, args: &Map<String, Value>) -> Result<Value, Value> {
        let user_error = |this: &mut Inner, field: Value, message: String| {
            let data = json!({"bulkOperationRunQuery": {"bulkOperation": null, "userErrors": [{"field": field, "message": message}]}});
            Ok(this.charge(data, 10, 10))
        };
        self.admit(10)?;
        let Some(inner) = args.get("query").and_then(Value::as_str).map(str::to_owned) else {
            return user_error(
                self,
                json!(["query"]),
                "Invalid bulk query: a query is required".into(),
            );
        };
        if let Some(running) = self.bulk.iter().find(|op| op.is_running()) {
            let message = format!(
                "A bulk query operation for this app and shop is already in progress: {}.",
                running.gid()
            );
            return user_error(self, Value::Null, message);
        }
        let root = [Kind::Customers, Kind::Products, Kind::Orders]
            .into_iter()
            .filter_map(|k| find_field(&inner, k.as_str()).map(|(at, c)| (at, c, k)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, c, kind)) = root else {
            return user_error(
                self,
                json!(["query"]),
                "Invalid bulk query: the fake Shopify serves orders, customers or products".into(),
            );
        };
        if let Some(denied) = self.access_denied(kind) {
            return Err(denied);
        }
        let inner_args = if c == '(' {
            match arguments(&inner, at, &json!({})) {
                Ok(a) => a,
                Err(e) => {
                    return user_error(self, json!(["query"]), format!("Invalid bulk query: {e}"));
                }
            }
        } else {
            Map::new()
        };
        let search = inner_args
            .get("query")
            .and_then(Value::as_str)
            .map(Search::parse)
            .unwrap_or_default();
        let keys = self.matching(kind, SortKey::UpdatedAt, &search);
        let with_variants = kind == Kind::Products && find_field(&inner, "variants").is_some();
        let with_sales = kind == Kind::Orders && find_field(&inner, "totalDiscountsSet").is_some();
        let mut lines = Vec::new();
        for (_, id) in &keys {
            if let Some(mut node) = self.node(kind, *id) {
                if with_sales && let Some(o) = self.orders.get(id) {
                    let children = sale_parts(o, &mut node);
                    lines.push(node.to_string());
                    lines.extend(children.iter().map(Value::to_string));
                    continue;
                }
                lines.push(node.to_string());
            }
            if with_variants {
                for v in self
                    .products
                    .get(id)
                    .map(|p| p.variants.as_slice())
                    .unwrap_or_default()
                {
                    lines.push(
                        json!({"id": format!("gid://shopify/ProductVariant/{}", v.id), "title": v.title, "price": v.price, "sku": v.sku, "__parentId": gid(Kind::Products, *id)})
                            .to_string(),
                    );
                }
            }
        }
        let op = BulkOp {
            n: self.bulk.len() as u64 + 1,
            query: inner,
            status: "CREATED",
            polls: 0,
            polls_to_complete: self.config.bulk_polls_to_complete,
            lines,
            root_objects: keys.len(),
            fail: self.fail_next_bulk.take(),
            created_at: Utc::now().trunc_subsecs(0),
            completed_at: None,
        };
        let node = json!({"id": op.gid(), "status": op.status, "createdAt": rfc3339(op.created_at), "query": op.query, "type": "QUERY"});
        self.bulk.push(op);
        self.stats.bulk_started += 1;
        Ok(self.charge(
            json!({"bulkOperationRunQuery": {"bulkOperation": node, "userErrors": []}}),
            10,
            10,
        ))
    }

    fn bulk_cancel(&mut self, args: &Map<String, Value>) -> Result<Value, Value> {
        self.admit(10)?;
        let id = args.get("id").and_then(Value::as_str).unwrap_or_default();
        let base = self.base_url.clone();
        let data = match self.bulk.iter_mut().find(|op| op.gid() == id) {
            Some(op) if op.is_running() => {
                op.status = "CANCELED";
                op.completed_at = Some(Utc::now().trunc_subsecs(0));
                json!({"bulkOperation": op.node(&base), "userErrors": []})
            }
            Some(op) => {
                json!({"bulkOperation": op.node(&base), "userErrors": [{"field": null, "message": format!("A bulk operation cannot be canceled when it is {}", op.status.to_lowercase())}]})
            }
            None => {
                json!({"bulkOperation": null, "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]})
            }
        };
        Ok(self.charge(json!({ "bulkOperationCancel": data }), 10, 10))
    }
}

// ---- cursors and search ----

fn encode_cursor((t, id): Key, sort: SortKey) -> String {
    let value = match sort {
        SortKey::Id => json!(id.to_string()),
        _ => json!(DateTime::from_timestamp(t, 0).map(rfc3339)),
    };
    B64.encode(json!({"last_id": id, "last_value": value}).to_string())
}

fn decode_cursor(cursor: &str, sort: SortKey) -> Option<Key> {
    let raw = B64.decode(cursor).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let id = v.get("last_id")?.as_u64()?;
    let value = v.get("last_value")?.as_str()?;
    match sort {
        SortKey::Id => (value == id.to_string()).then_some((0, id)),
        _ => Some((DateTime::parse_from_rfc3339(value).ok()?.timestamp(), id)),
    }
}

/// The `updated_at` bounds of a Shopify search string; other terms are ignored.
#[derive(Default)]
struct Search {
    bounds: Vec<(&'static str, DateTime<Utc>)>,
}

impl Search {
    fn parse(q: &str) -> Search {
        let mut bounds = Vec::new();
        let lower = q.to_ascii_lowercase();
        let mut from = 0;
        while let Some(k) = lower[from..].find("updated_at:") {
            let mut rest = &q[from + k + "updated_at:".len()..];
            from += k + "updated_at:".len();
            let op = [">=", "<=", ">", "<"]
                .into_iter()
                .find(|op| rest.starts_with(op))
                .unwrap_or("=");
            if op != "=" {
                rest = &rest[op.len()..];
            }
            let value = match rest.chars().next() {
                Some(quote @ ('\'' | '"')) => rest[1..].split(quote).next().unwrap_or_default(),
                _ => rest
                    .split(|c: char| c.is_whitespace() || c == ')')
                    .next()
                    .unwrap_or_default(),
            };
            if let Some(t) = parse_instant(value).filter(|_| op != "=") {
                bounds.push((op, t));
            }
        }
        Search { bounds }
    }

    fn matches(&self, t: DateTime<Utc>) -> bool {
        self.bounds.iter().all(|(op, b)| match *op {
            ">=" => t >= *b,
            ">" => t > *b,
            "<=" => t <= *b,
            _ => t < *b,
        })
    }
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

// ---- HTTP ----

type Shared = Arc<Mutex<Inner>>;

fn html_failure(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!(
        "<!DOCTYPE html><html><head><title>Shopify</title></head><body><h1>{} {}</h1><p>There was a problem loading this website. Please try again.</p></body></html>",
        code.as_u16(),
        code.canonical_reason().unwrap_or("Error")
    );
    (
        code,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

async fn graphql(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut st = inner.lock().unwrap_or_else(|p| p.into_inner());
    handle(&mut st, &headers, &body)
}

fn handle(st: &mut Inner, headers: &HeaderMap, body: &[u8]) -> Response {
    st.stats.requests += 1;
    if st.fail_next.0 > 0 {
        st.fail_next.0 -= 1;
        st.stats.failures += 1;
        let mut res = html_failure(st.fail_next.1);
        if let Some(v) = st
            .retry_after
            .as_deref()
            .and_then(|v| header::HeaderValue::from_str(v).ok())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token.is_none() || token != st.token.as_deref() {
        st.stats.unauthorized += 1;
        return json_response(StatusCode::UNAUTHORIZED, &json!({"errors": INVALID_TOKEN}));
    }
    if st.token_expires_at.is_some_and(|at| at <= st.now()) {
        st.stats.unauthorized += 1;
        st.stats.expired += 1;
        return json_response(StatusCode::UNAUTHORIZED, &json!({"errors": INVALID_TOKEN}));
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": "Bad Request: the body is not JSON"}),
        );
    };
    let Some(query) = req.get("query").and_then(Value::as_str) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": {"query": "Required parameter missing or invalid"}}),
        );
    };
    let vars = req
        .get("variables")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let answer = st.execute(query, &vars);
    json_response(StatusCode::OK, &answer)
}

async fn download(State(inner): State<Shared>, Path(file): Path<String>) -> Response {
    let mut st = inner.lock().unwrap_or_else(|p| p.into_inner());
    if st.fail_downloads.0 > 0 {
        st.fail_downloads.0 -= 1;
        st.stats.failures += 1;
        return html_failure(st.fail_downloads.1);
    }
    let (n, partial) = match (
        file.strip_suffix(".partial.jsonl"),
        file.strip_suffix(".jsonl"),
    ) {
        (Some(n), _) => (n, true),
        (None, Some(n)) => (n, false),
        _ => ("", false),
    };
    let op = n
        .parse::<u64>()
        .ok()
        .and_then(|n| st.bulk.iter().find(|op| op.n == n));
    let lines = match op {
        Some(op) if !partial && op.status == "COMPLETED" => op.lines.as_slice(),
        Some(op) if partial && op.status == "FAILED" => op.partial_lines(),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/xml")],
                "<Error><Code>NoSuchKey</Code></Error>",
            )
                .into_response();
        }
    };
    let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        body.push_str(l);
        body.push('\n');
    }
    st.stats.downloads += 1;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/jsonl")],
        body,
    )
        .into_response()
}

// ---- generated data ----

/// Shopify's Decimal text for an amount in cents: `"214.63"`, `"19.9"`, `"25.0"`.
pub fn shopify_decimal(cents: i64) -> String {
    let (whole, frac) = (cents / 100, (cents % 100).abs());
    if frac % 10 == 0 {
        format!("{whole}.{}", frac / 10)
    } else {
        format!("{whole}.{frac:02}")
    }
}

fn cents(decimal: &str) -> Option<i64> {
    let (w, f) = decimal.split_once('.').unwrap_or((decimal, "0"));
    let f = format!("{f:0<2}");
    Some(w.parse::<i64>().ok()? * 100 + f.get(..2)?.parse::<i64>().ok()?)
}

const FIRST_NAMES: [&str; 24] = [
    "Jon", "Arya", "Sansa", "Bran", "Ana", "Luis", "Mei", "Kenji", "Fatima", "Omar", "Grace",
    "Noah", "Chloe", "Liam", "Ines", "Tomas", "Priya", "Ravi", "Zoe", "Elif", "Marta", "Pavel",
    "Aiko", "Sam",
];
const LAST_NAMES: [&str; 20] = [
    "Snow", "Stark", "Garcia", "Nguyen", "Smith", "Kowalski", "Tanaka", "Haddad", "Okafor",
    "Rossi", "Martin", "Silva", "Khan", "Novak", "Jensen", "Moreau", "Cohen", "Park", "Murphy",
    "Costa",
];
const ADJECTIVES: [&str; 12] = [
    "Alpine",
    "Merino",
    "Waxed",
    "Recycled",
    "Classic",
    "Insulated",
    "Trail",
    "Summit",
    "Everyday",
    "Storm",
    "Organic",
    "Heritage",
];
const NOUNS: [&str; 12] = [
    "Snowboard",
    "Beanie",
    "Parka",
    "Gloves",
    "Socks",
    "Backpack",
    "Goggles",
    "Hoodie",
    "Mittens",
    "Wax Kit",
    "Boots",
    "Scarf",
];
