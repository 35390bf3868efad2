//! Webhook ingestion: verification in the contract's order, topic routing, parsing, and the
//! exactly-once apply shared with the sync.

pub mod apply;
pub mod backfill;
pub mod lifecycle;
pub mod payload;
pub mod topic;
pub mod verify;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::deps::AppSecret;
use crate::domain::{ShopDomain, TenantId};
use crate::store::items::tenant::DirectoryEntry;
use crate::store::keys::Directory;
use crate::store::{Store, StoreError};
use crate::sync::TokenVault;
pub use apply::{Change, EventRef, Outcome, apply};
use payload::PayloadError;
pub use topic::{Family, Topic};

/// The largest webhook body accepted (Shopify's bodies are far smaller; this is the contract's floor).
pub const MAX_WEBHOOK_BODY: usize = 5 * 1024 * 1024;

/// The longest event id stored (characters, as the contract counts them). Header values are read
/// as visible ASCII, so its record's sort key (`EVENT#<topic>#<id>`) stays far within the store's
/// 1,024-byte limit.
pub const MAX_EVENT_ID_CHARS: usize = 256;
/// How far ahead of the arrival an unsigned `X-Shopify-Triggered-At` may be (clock skew).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 60;

/// Why a delivery was refused, in the contract's order of checks.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("body over {MAX_WEBHOOK_BODY} bytes")]
    TooLarge,
    #[error("missing or invalid HMAC signature")]
    BadSignature,
    #[error("shop is not connected to any tenant")]
    UnknownShop,
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The delivery can never be stored (an item past the store's limits): a 4xx, so Shopify does
    /// not retry it for hours. Nothing was written.
    #[error("the delivery would exceed the store's item size limit")]
    ItemTooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("webhook secret unavailable")]
    Secret(#[source] crate::secrets::SecretError),
    #[error("token vault unavailable")]
    Vault(#[source] crate::sync::VaultError),
}

impl From<lifecycle::LifecycleError> for IngestError {
    fn from(e: lifecycle::LifecycleError) -> IngestError {
        match e {
            lifecycle::LifecycleError::Store(s) => IngestError::Store(s),
            lifecycle::LifecycleError::Vault(v) => IngestError::Vault(v),
        }
    }
}

impl From<PayloadError> for IngestError {
    fn from(e: PayloadError) -> IngestError {
        IngestError::BadRequest {
            code: e.code,
            message: e.message,
        }
    }
}

/// A shop's directory entry: its tenant and, for webhooks a merchant created in the admin, the
/// secret those are signed with.
pub struct ShopEntry {
    pub tenant: TenantId,
    pub webhook_secret: Option<String>,
}

/// The tenant a shop domain belongs to.
pub async fn find_shop(store: &dyn Store, domain: &str) -> Result<Option<ShopEntry>, StoreError> {
    let Ok(domain) = ShopDomain::parse(domain) else {
        return Ok(None);
    };
    let Some(item) = store
        .get(&Directory::Shop(domain.as_str().to_owned()).key())
        .await?
    else {
        return Ok(None);
    };
    Ok(DirectoryEntry::from_item(&item).map(|entry| ShopEntry {
        tenant: entry.tenant,
        webhook_secret: entry.webhook_secret,
    }))
}

/// An HTTPS delivery from Shopify: size, signature, shop, then body, then apply. `family` is the
/// endpoint's topic group (`None` for `/webhooks`, which takes every topic).
pub async fn receive(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    app_secret: &AppSecret,
    family: Option<Family>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Outcome, IngestError> {
    if body.len() > MAX_WEBHOOK_BODY {
        return Err(IngestError::TooLarge);
    }
    let signature = verify::header(headers, "hmac-sha256").ok_or(IngestError::BadSignature)?;
    // The shop is looked up before the signature is checked (its own secret may sign it), but an
    // unknown shop is reported only after a valid signature: a forger learns nothing.
    let domain = verify::header(headers, "shop-domain");
    let shop = match domain {
        Some(d) => find_shop(store, d).await?,
        None => None,
    };
    let app_secret = app_secret
        .get()
        .await
        .map_err(IngestError::Secret)?
        .expose_secret()
        .as_bytes();
    let signed = verify::hmac_matches(app_secret, body, signature)
        || shop
            .as_ref()
            .and_then(|s| s.webhook_secret.as_deref())
            .is_some_and(|own| verify::hmac_matches(own.as_bytes(), body, signature));
    if !signed {
        tracing::warn!("webhook refused: bad signature");
        return Err(IngestError::BadSignature);
    }
    if domain.is_none() {
        return Err(IngestError::BadRequest {
            code: "missing_shop_domain",
            message: "X-Shopify-Shop-Domain is missing".into(),
        });
    }
    let shop = shop.ok_or(IngestError::UnknownShop)?;
    ingest(store, now, vault, shop.tenant, family, headers, body).await
}

/// A delivery from a trusted source (Shopify's EventBridge partner source): no HMAC.
pub async fn receive_trusted(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Outcome, IngestError> {
    let domain = verify::header(headers, "shop-domain").ok_or(IngestError::UnknownShop)?;
    let shop = find_shop(store, domain)
        .await?
        .ok_or(IngestError::UnknownShop)?;
    ingest(store, now, vault, shop.tenant, None, headers, body).await
}

async fn ingest(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    tenant: TenantId,
    family: Option<Family>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Outcome, IngestError> {
    let (topic, event_id, change) = match parse_delivery(family, headers, body, now)? {
        Parsed::Change {
            topic,
            event_id,
            change,
        } => (topic, event_id, change),
        Parsed::Lifecycle(Topic::AppUninstalled) => {
            lifecycle::uninstalled(store, now, vault, tenant).await?;
            return Ok(Outcome::Applied);
        }
        Parsed::Lifecycle(Topic::ShopRedact) => {
            let deadline = std::time::Instant::now() + lifecycle::INLINE_ERASE;
            lifecycle::redact_shop(store, vault, now, tenant, deadline).await?;
            return Ok(Outcome::Applied);
        }
        Parsed::Lifecycle(topic) => {
            tracing::info!(%tenant, topic = topic.as_str(), "lifecycle webhook acknowledged");
            return Ok(Outcome::Applied);
        }
        Parsed::DataRequest { id, customer } => {
            return Ok(lifecycle::data_request(store, now, tenant, id, customer).await?);
        }
    };
    // The span gives the apply's debug events their context; at the default level it is off and
    // costs nothing (its fields were a tenth of a delivery's CPU). The delivery's own line carries
    // the same fields.
    let span = tracing::debug_span!("apply", %tenant, topic = topic.as_str(), event_id = %event_id);
    let event = EventRef {
        topic,
        id: &event_id,
    };
    let outcome = match apply(store, now, tenant, Some(event), &change)
        .instrument(span)
        .await
    {
        Ok(o) => o,
        // The batch was refused whole before anything was written: a retry could never succeed.
        Err(StoreError::ItemTooLarge) => {
            tracing::warn!(%tenant, topic = topic.as_str(), event_id = %event_id,
                "webhook refused: item too large");
            return Err(IngestError::ItemTooLarge);
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(%tenant, topic = topic.as_str(), event_id = %event_id,
        result = outcome.as_str(), "webhook");
    Ok(outcome)
}

/// What a delivery asks for, known from its headers and body alone.
// Built once per request and consumed at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    Change {
        topic: Topic,
        event_id: String,
        change: Change,
    },
    /// A valid delivery of a lifecycle or shop-wide compliance topic (no resource to apply).
    Lifecycle(Topic),
    /// `customers/data_request`: Shopify's request id and the customer it is about.
    DataRequest {
        id: crate::domain::ShopifyId,
        customer: crate::domain::ShopifyId,
    },
}

fn invalid_triggered_at() -> IngestError {
    IngestError::BadRequest {
        code: "invalid_triggered_at",
        message: "X-Shopify-Triggered-At is not an RFC 3339 time".into(),
    }
}

/// Parses a delivery (topic, event id, body) without touching storage: the handler's CPU work
/// after the signature check. `now` orders deletes that carry no `X-Shopify-Triggered-At`.
pub fn parse_delivery(
    family: Option<Family>,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Parsed, IngestError> {
    let topic_name = verify::header(headers, "topic").ok_or_else(|| IngestError::BadRequest {
        code: "unknown_topic",
        message: "X-Shopify-Topic is missing".into(),
    })?;
    let topic = Topic::parse(topic_name).ok_or_else(|| IngestError::BadRequest {
        code: "unknown_topic",
        message: "this topic is not supported".into(),
    })?;
    if family.is_some_and(|f| f != topic.family()) {
        return Err(IngestError::BadRequest {
            code: "wrong_endpoint",
            message: format!(
                "{} does not belong to this endpoint; use /webhooks",
                topic.as_str()
            ),
        });
    }
    // Same event = same id: Shopify's event id, else the webhook id, else the content itself.
    let event_id = verify::header(headers, "event-id")
        .or_else(|| verify::header(headers, "webhook-id"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let d = Sha256::new()
                .chain_update(topic.as_str())
                .chain_update(body)
                .finalize();
            d.iter().map(|b| format!("{b:02x}")).collect()
        });
    if event_id.chars().count() > MAX_EVENT_ID_CHARS {
        return Err(IngestError::BadRequest {
            code: "event_id_too_long",
            message: format!("X-Shopify-Event-Id is over {MAX_EVENT_ID_CHARS} characters"),
        });
    }
    // A delete carries only the id: it is ordered by when Shopify triggered it. The header is not
    // covered by the signature, so a time past the arrival (plus clock skew) is the arrival: a
    // delete dated in the future would tombstone the resource until then.
    // Shopify always sends an RFC 3339 time; one that is there but unreadable is refused, not
    // silently taken as the arrival.
    let triggered_at = match verify::header(headers, "triggered-at") {
        Some(t) => Some(DateTime::parse_from_rfc3339(t).map_err(|_| invalid_triggered_at())?),
        None if verify::present(headers, "triggered-at") => return Err(invalid_triggered_at()),
        None => None,
    };
    let deleted_at = triggered_at
        .map_or(now, |t| t.with_timezone(&Utc))
        .min(now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECONDS));
    let change = match topic {
        Topic::OrdersCreate
        | Topic::OrdersUpdated
        | Topic::OrdersPaid
        | Topic::OrdersCancelled
        | Topic::OrdersFulfilled
        | Topic::OrdersPartiallyFulfilled => {
            let (order, customer) = payload::order(body)?;
            Change::UpsertOrder(order, customer)
        }
        Topic::OrdersDelete => Change::DeleteOrder {
            id: payload::deleted_id(body)?,
            at: deleted_at,
        },
        Topic::CustomersCreate | Topic::CustomersUpdate => {
            Change::UpsertCustomer(payload::customer(body)?)
        }
        Topic::CustomersDelete => Change::DeleteCustomer {
            id: payload::deleted_id(body)?,
            at: deleted_at,
        },
        Topic::ProductsCreate | Topic::ProductsUpdate => {
            Change::UpsertProduct(payload::product(body)?)
        }
        Topic::ProductsDelete => Change::DeleteProduct {
            id: payload::deleted_id(body)?,
            at: deleted_at,
        },
        Topic::CheckoutsCreate | Topic::CheckoutsUpdate => {
            Change::UpsertCheckout(payload::checkout(body)?)
        }
        Topic::CheckoutsDelete => Change::DeleteCheckout {
            token: payload::deleted_checkout(body)?,
            at: deleted_at,
        },
        Topic::CustomersRedact => Change::RedactCustomer {
            id: payload::redacted_customer(body)?,
        },
        Topic::CustomersDataRequest => {
            let (id, customer) = payload::data_request(body)?;
            return Ok(Parsed::DataRequest { id, customer });
        }
        Topic::ShopRedact | Topic::AppUninstalled => {
            payload::parse_any_object(body)?;
            return Ok(Parsed::Lifecycle(topic));
        }
    };
    Ok(Parsed::Change {
        topic,
        event_id,
        change,
    })
}
