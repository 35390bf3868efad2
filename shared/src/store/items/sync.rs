//! Sync records: the shop connection, the sync state item and the writes that move it (the state
//! machine itself is `sync/state.rs`), and the locally encrypted shop token.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{count, flag, keyed, put_opt, text};
use crate::domain::TenantId;
use crate::shopify::records::Kind;
use crate::store::keys::{self, TenantItem};
use crate::store::{Attr, Cmp, Condition, Item, Update, WriteOp};

const SHOP_DOMAIN: &str = "shop_domain";
const CONNECTED: &str = "connected";
/// The sync state of a shop the app was uninstalled from.
const UNINSTALLED: &str = "uninstalled";
const CONNECTED_AT: &str = "connected_at";
const DISCONNECTED_AT: &str = "disconnected_at";
const SCOPES: &str = "scopes";
const IANA_TIMEZONE: &str = "iana_timezone";
const CURRENCY: &str = "currency";
const GSI2PK: &str = "gsi2pk";
const GSI2SK: &str = "gsi2sk";

/// A shop's connection to the Admin API (the token itself is in the vault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub shop_domain: String,
    pub connected: bool,
    pub scopes: Vec<String>,
    pub iana_timezone: Option<String>,
    pub currency: Option<String>,
}

impl ConnectionRecord {
    /// The connection as stored.
    pub fn from_item(item: &Item) -> ConnectionRecord {
        let scopes = match item.get(SCOPES) {
            Some(Attr::L(l)) => l.iter().filter_map(Attr::as_s).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        ConnectionRecord {
            shop_domain: text(item, SHOP_DOMAIN).unwrap_or_default(),
            connected: flag(item, CONNECTED),
            scopes,
            iana_timezone: text(item, IANA_TIMEZONE),
            currency: text(item, CURRENCY),
        }
    }

    /// Writes the connection as connected at `now`, listed for the scheduler (sparse gsi2
    /// partition) while connected.
    pub fn put(&self, tenant: TenantId, now: DateTime<Utc>) -> WriteOp {
        let mut item = keyed(&TenantItem::Connection.key(tenant));
        item.insert(SHOP_DOMAIN.into(), Attr::from(self.shop_domain.as_str()));
        item.insert(CONNECTED.into(), Attr::Bool(self.connected));
        item.insert(CONNECTED_AT.into(), Attr::from(now.to_rfc3339()));
        item.insert(
            SCOPES.into(),
            Attr::L(self.scopes.iter().map(|s| Attr::from(s.as_str())).collect()),
        );
        if self.connected {
            item.insert(GSI2PK.into(), Attr::from(keys::CONNECTED_SHOPS));
            item.insert(GSI2SK.into(), Attr::S(tenant.to_string()));
        }
        put_opt(&mut item, IANA_TIMEZONE, self.iana_timezone.as_deref());
        put_opt(&mut item, CURRENCY, self.currency.as_deref());
        WriteOp::Put {
            item,
            condition: None,
        }
    }

    /// Marks the connection disconnected at `now` and unlists it; its data stays.
    pub fn disconnect(tenant: TenantId, now: DateTime<Utc>) -> WriteOp {
        WriteOp::Update {
            key: TenantItem::Connection.key(tenant),
            update: Update::default()
                .set(CONNECTED, false)
                .set(DISCONNECTED_AT, now.to_rfc3339())
                .remove(GSI2PK)
                .remove(GSI2SK),
            condition: None,
        }
    }

    /// The tenant of an entry in the connected-shops listing.
    pub fn listed_tenant(listing: &Item) -> Option<TenantId> {
        text(listing, GSI2SK).and_then(|t| TenantId::parse(&t))
    }
}

const STATE: &str = "state";
const SYNC_ID: &str = "sync_id";
const LAST_STARTED_AT: &str = "last_started_at";
const LAST_FINISHED_AT: &str = "last_finished_at";
const LEASE_UNTIL: &str = "lease_until";
const ERROR: &str = "error";
const CHECKPOINT_KIND: &str = "checkpoint_kind";
const CHECKPOINT_CURSOR: &str = "checkpoint_cursor";
const BULK_ID: &str = "bulk_id";
const BULK_LINE: &str = "bulk_line";
const BULK_NEWEST: &str = "bulk_newest";

fn watermark_attr(k: Kind) -> String {
    format!("wm_{}", k.as_str())
}

fn count_attr(k: Kind) -> String {
    format!("count_{}", k.as_str())
}

fn run_max_attr(k: Kind) -> String {
    format!("run_max_{}", k.as_str())
}

fn instant(item: &Item, attr: &str) -> Option<DateTime<Utc>> {
    text(item, attr)
        .and_then(|w| DateTime::parse_from_rfc3339(&w).ok())
        .map(|w| w.with_timezone(&Utc))
}

/// The sync state item as stored (an absent item reads as the default: never synced).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStateRecord {
    /// `idle`, `running`, `failed` or `needs_reauth`; absent before the first sync.
    pub state: Option<String>,
    pub sync_id: Option<String>,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    pub lease_until: Option<i64>,
    pub error: Option<String>,
    /// Per kind: the newest `updated_at` a finished read saw.
    pub watermarks: BTreeMap<Kind, DateTime<Utc>>,
    /// Per kind: records applied by every run.
    pub counts: BTreeMap<Kind, u64>,
    /// Per kind: the newest `updated_at` the interrupted run has seen so far.
    pub run_max: BTreeMap<Kind, DateTime<Utc>>,
    /// Where an interrupted run resumes: the kind, and the page cursor within it.
    pub checkpoint_kind: Option<String>,
    pub checkpoint_cursor: Option<String>,
    /// The bulk operation under way, the lines of its file applied, the newest record seen.
    pub bulk_id: Option<String>,
    pub bulk_line: u64,
    pub bulk_newest: Option<DateTime<Utc>>,
}

impl SyncStateRecord {
    pub fn from_item(item: &Item) -> SyncStateRecord {
        let per_kind = |attr: fn(Kind) -> String| {
            Kind::ALL
                .into_iter()
                .filter_map(|k| instant(item, &attr(k)).map(|t| (k, t)))
                .collect()
        };
        SyncStateRecord {
            state: text(item, STATE),
            sync_id: text(item, SYNC_ID),
            last_started_at: text(item, LAST_STARTED_AT),
            last_finished_at: text(item, LAST_FINISHED_AT),
            lease_until: item
                .get(LEASE_UNTIL)
                .and_then(Attr::as_n)
                .and_then(|n| i64::try_from(n).ok()),
            error: text(item, ERROR),
            watermarks: per_kind(watermark_attr),
            counts: Kind::ALL
                .into_iter()
                .map(|k| (k, count(item, &count_attr(k))))
                .collect(),
            run_max: per_kind(run_max_attr),
            checkpoint_kind: text(item, CHECKPOINT_KIND),
            checkpoint_cursor: text(item, CHECKPOINT_CURSOR),
            bulk_id: text(item, BULK_ID),
            bulk_line: count(item, BULK_LINE),
            bulk_newest: instant(item, BULK_NEWEST),
        }
    }
}

/// One write to the sync state item. `sync/state.rs` decides which happen when; this says what
/// each writes.
#[derive(Clone, Debug, PartialEq)]
pub enum StateWrite {
    /// A new run takes the shop: only when no run holds an unexpired lease.
    Claim {
        sync_id: String,
        now: DateTime<Utc>,
        lease_until: i64,
    },
    /// A run ends in `state` (the checkpoint stays for a successor to resume from).
    Finish {
        state: &'static str,
        now: DateTime<Utc>,
        error: Option<String>,
    },
    /// A reconnect after `needs_reauth` or `uninstalled` makes the shop syncable again.
    Reauthorized,
    /// The app was uninstalled from the shop: no run may claim it until it is connected again.
    Uninstalled { now: DateTime<Utc> },
    /// A page of `kind` was applied: counts and where to resume (`next`) with the run's newest
    /// record so far (`run_max`); after the last page (`next` is `None`), the run mark is cleared
    /// and `watermark`, when given, set.
    Page {
        kind: Kind,
        applied: u64,
        next: Option<String>,
        run_max: Option<DateTime<Utc>>,
        watermark: Option<DateTime<Utc>>,
    },
    /// A bulk operation for `kind` is under way.
    BulkStarted { kind: Kind, id: String },
    /// The bulk operation failed on Shopify's side; it is forgotten.
    BulkAbandoned,
    /// `lines` of the bulk file are applied.
    BulkLines {
        lines: u64,
        newest: Option<DateTime<Utc>>,
    },
    /// The whole bulk file is applied.
    BulkApplied,
    /// `kind` is read again from the start by the next run (the ledger backfill: orders stored
    /// before the ledger are read again with their sale parts).
    ResetWatermark(Kind),
    /// `kind` was imported in bulk: counts and watermark, no checkpoint left.
    KindImported {
        kind: Kind,
        applied: u64,
        watermark: Option<DateTime<Utc>>,
    },
}

impl StateWrite {
    /// The write, on `tenant`'s sync state item.
    pub fn op(self, tenant: TenantId) -> WriteOp {
        let (update, condition) = match self {
            StateWrite::Claim {
                sync_id,
                now,
                lease_until,
            } => (
                Update::default()
                    .set(STATE, "running")
                    .set(SYNC_ID, sync_id)
                    .set(LAST_STARTED_AT, now.to_rfc3339())
                    .set(LEASE_UNTIL, lease_until)
                    .remove(ERROR),
                // Free unless running under a live lease, and never once uninstalled.
                Some(Condition::Or(vec![
                    Condition::AttrNotExists(STATE.into()),
                    Condition::And(vec![
                        Condition::compare(STATE, Cmp::Ne, UNINSTALLED),
                        Condition::Or(vec![
                            Condition::compare(STATE, Cmp::Ne, "running"),
                            Condition::compare(LEASE_UNTIL, Cmp::Lt, now.timestamp()),
                        ]),
                    ]),
                ])),
            ),
            StateWrite::Uninstalled { now } => (
                Update::default()
                    .set(STATE, UNINSTALLED)
                    .set(LAST_FINISHED_AT, now.to_rfc3339())
                    .remove(LEASE_UNTIL)
                    .remove(ERROR),
                None,
            ),
            StateWrite::Finish { state, now, error } => {
                let u = Update::default()
                    .set(STATE, state)
                    .set(LAST_FINISHED_AT, now.to_rfc3339())
                    .remove(LEASE_UNTIL);
                let u = match error {
                    Some(e) => u.set(ERROR, e),
                    None => u.remove(ERROR),
                };
                // A run that ends after the app was uninstalled leaves the shop uninstalled.
                (
                    u,
                    Some(Condition::Or(vec![
                        Condition::AttrNotExists(STATE.into()),
                        Condition::compare(STATE, Cmp::Ne, UNINSTALLED),
                    ])),
                )
            }
            StateWrite::Reauthorized => (
                Update::default().set(STATE, "idle").remove(ERROR),
                // Only out of needs_reauth or uninstalled: a running or failed sync keeps its state.
                Some(Condition::Or(vec![
                    Condition::compare(STATE, Cmp::Eq, "needs_reauth"),
                    Condition::compare(STATE, Cmp::Eq, UNINSTALLED),
                ])),
            ),
            StateWrite::Page {
                kind,
                applied,
                next,
                run_max,
                watermark,
            } => {
                let mut u = Update::default().add(&count_attr(kind), Decimal::from(applied));
                u = match next {
                    Some(c) => {
                        u = u
                            .set(CHECKPOINT_KIND, kind.as_str())
                            .set(CHECKPOINT_CURSOR, c);
                        match run_max {
                            Some(n) => u.set(&run_max_attr(kind), n.to_rfc3339()),
                            None => u,
                        }
                    }
                    None => u
                        .remove(CHECKPOINT_KIND)
                        .remove(CHECKPOINT_CURSOR)
                        .remove(&run_max_attr(kind)),
                };
                if let Some(w) = watermark {
                    u = u.set(&watermark_attr(kind), w.to_rfc3339());
                }
                (u, None)
            }
            StateWrite::BulkStarted { kind, id } => (
                Update::default()
                    .set(BULK_ID, id)
                    .set(CHECKPOINT_KIND, kind.as_str())
                    .remove(CHECKPOINT_CURSOR),
                None,
            ),
            StateWrite::BulkAbandoned => {
                (Update::default().remove(BULK_ID).remove(BULK_LINE), None)
            }
            StateWrite::BulkLines { lines, newest } => {
                let mut u = Update::default().set(BULK_LINE, Attr::N(lines.into()));
                if let Some(n) = newest {
                    u = u.set(BULK_NEWEST, n.to_rfc3339());
                }
                (u, None)
            }
            StateWrite::BulkApplied => (
                Update::default()
                    .remove(BULK_ID)
                    .remove(BULK_LINE)
                    .remove(BULK_NEWEST),
                None,
            ),
            StateWrite::ResetWatermark(kind) => {
                (Update::default().remove(&watermark_attr(kind)), None)
            }
            StateWrite::KindImported {
                kind,
                applied,
                watermark,
            } => {
                let mut u = Update::default()
                    .add(&count_attr(kind), Decimal::from(applied))
                    .remove(CHECKPOINT_KIND)
                    .remove(CHECKPOINT_CURSOR);
                if let Some(w) = watermark {
                    u = u.set(&watermark_attr(kind), w.to_rfc3339());
                }
                (u, None)
            }
        };
        WriteOp::Update {
            key: TenantItem::SyncState.key(tenant),
            update,
            condition,
        }
    }
}

const NONCE: &str = "nonce";
const CIPHERTEXT: &str = "ciphertext";

/// A shop token sealed by the local vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedToken {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl SealedToken {
    pub fn put(&self, tenant: TenantId) -> WriteOp {
        let mut item = keyed(&TenantItem::ShopifyToken.key(tenant));
        item.insert(NONCE.into(), Attr::B(self.nonce.clone()));
        item.insert(CIPHERTEXT.into(), Attr::B(self.ciphertext.clone()));
        WriteOp::Put {
            item,
            condition: None,
        }
    }

    /// `None` when the item is not a sealed token.
    pub fn from_item(item: &Item) -> Option<SealedToken> {
        match (item.get(NONCE), item.get(CIPHERTEXT)) {
            (Some(Attr::B(nonce)), Some(Attr::B(ciphertext))) => Some(SealedToken {
                nonce: nonce.clone(),
                ciphertext: ciphertext.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;
    use crate::store::items::applied;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_connection_round_trips_and_is_listed_only_while_connected() {
        let t = TenantId::new(42);
        let c = ConnectionRecord {
            shop_domain: "snowdevil.myshopify.com".into(),
            connected: true,
            scopes: vec!["read_orders".into(), "read_products".into()],
            iana_timezone: Some("Europe/Paris".into()),
            currency: None,
        };
        let WriteOp::Put { item, .. } = c.put(t, at("2026-11-01T00:00:00Z")) else {
            panic!("a put")
        };
        assert_eq!(ConnectionRecord::from_item(&item), c);
        assert_eq!(ConnectionRecord::listed_tenant(&item), Some(t));
        let gone = applied(
            ConnectionRecord::disconnect(t, at("2026-11-02T00:00:00Z")),
            Some(&item),
        );
        assert!(!ConnectionRecord::from_item(&gone).connected);
        assert_eq!(ConnectionRecord::listed_tenant(&gone), None);
    }

    #[test]
    fn pages_checkpoint_and_the_last_page_moves_the_watermark_and_clears_the_run_mark() {
        let t = TenantId::new(7);
        let n = at("2026-11-03T10:00:00Z");
        let s1 = applied(
            StateWrite::Page {
                kind: Kind::Orders,
                applied: 3,
                next: Some("c1".into()),
                run_max: Some(n),
                watermark: None,
            }
            .op(t),
            None,
        );
        let r = SyncStateRecord::from_item(&s1);
        assert_eq!(r.checkpoint_kind.as_deref(), Some("orders"));
        assert_eq!(r.checkpoint_cursor.as_deref(), Some("c1"));
        assert_eq!(r.run_max.get(&Kind::Orders), Some(&n));
        assert_eq!(r.counts[&Kind::Orders], 3);
        let s2 = applied(
            StateWrite::Page {
                kind: Kind::Orders,
                applied: 2,
                next: None,
                run_max: Some(n),
                watermark: Some(n),
            }
            .op(t),
            Some(&s1),
        );
        let r = SyncStateRecord::from_item(&s2);
        assert_eq!(r.checkpoint_kind, None);
        assert_eq!(r.watermarks.get(&Kind::Orders), Some(&n));
        assert_eq!(r.run_max.get(&Kind::Orders), None);
        assert_eq!(r.counts[&Kind::Orders], 5);
    }

    #[test]
    fn a_claim_is_refused_while_a_live_lease_is_held_and_allowed_once_it_expired() {
        let t = TenantId::new(1);
        let now = at("2026-11-03T10:00:00Z");
        let claim = |now: DateTime<Utc>| StateWrite::Claim {
            sync_id: "sync_1".into(),
            now,
            lease_until: now.timestamp() + 60,
        };
        let WriteOp::Update { condition, .. } = claim(now).op(t) else {
            panic!("an update")
        };
        let condition = condition.unwrap();
        assert!(condition.holds(None), "never synced");
        let running = applied(claim(now).op(t), None);
        assert!(!condition.holds(Some(&running)), "a live lease");
        let later = now + chrono::Duration::seconds(61);
        let WriteOp::Update { condition, .. } = claim(later).op(t) else {
            panic!("an update")
        };
        assert!(condition.unwrap().holds(Some(&running)), "an expired lease");
    }

    #[test]
    fn an_uninstalled_shop_is_never_claimed_nor_finished_over_and_only_a_reconnect_leaves_it() {
        let t = TenantId::new(1);
        let now = at("2026-11-03T10:00:00Z");
        let condition = |w: StateWrite| match w.op(t) {
            WriteOp::Update { condition, .. } => condition.unwrap(),
            _ => panic!("an update"),
        };
        let running = applied(
            StateWrite::Claim {
                sync_id: "sync_1".into(),
                now,
                lease_until: now.timestamp() + 60,
            }
            .op(t),
            None,
        );
        let gone = applied(StateWrite::Uninstalled { now }.op(t), Some(&running));
        assert_eq!(
            SyncStateRecord::from_item(&gone).state.as_deref(),
            Some(UNINSTALLED)
        );
        assert_eq!(SyncStateRecord::from_item(&gone).lease_until, None);
        let later = now + chrono::Duration::days(1);
        let claim = StateWrite::Claim {
            sync_id: "sync_2".into(),
            now: later,
            lease_until: later.timestamp() + 60,
        };
        assert!(
            !condition(claim).holds(Some(&gone)),
            "no claim once uninstalled"
        );
        let finish = StateWrite::Finish {
            state: "idle",
            now: later,
            error: None,
        };
        assert!(
            !condition(finish.clone()).holds(Some(&gone)),
            "a late run's end"
        );
        assert!(
            condition(finish).holds(Some(&running)),
            "a run's end otherwise"
        );
        assert!(
            condition(StateWrite::Reauthorized).holds(Some(&gone)),
            "a reconnect"
        );
        assert!(!condition(StateWrite::Reauthorized).holds(Some(&running)));
    }

    #[test]
    fn a_sealed_token_round_trips_and_anything_else_is_not_one() {
        let s = SealedToken {
            nonce: vec![1; 12],
            ciphertext: vec![2; 40],
        };
        let WriteOp::Put { item, .. } = s.put(TenantId::new(3)) else {
            panic!("a put")
        };
        assert_eq!(SealedToken::from_item(&item), Some(s));
        assert_eq!(SealedToken::from_item(&keyed(&Key::new("a", "b"))), None);
    }
}
