//! A first import through a bulk operation: `bulkOperationRunQuery`, poll until it is done, stream
//! the JSONL result line by line (children regrouped under their parent by `__parentId`), and apply
//! every record. The operation id and the lines applied so far are checkpointed, so a run that runs
//! out of time resumes the same operation where it stopped instead of starting over.

use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::SyncError;
use super::state::SyncState;
use crate::deps::SyncRunner;
use crate::domain::TenantId;
use crate::ingest::{Outcome, apply};
use crate::shopify::records::{Kind, since_filter, to_change};
use crate::shopify::{Shopify, ShopifyError};
use crate::store::items::sync::StateWrite;

const RUN: &str = "mutation Run($query: String!) { bulkOperationRunQuery(query: $query, groupObjects: true) { bulkOperation { id status } userErrors { field message } } }";
const POLL: &str = "query Poll($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } } }";
/// Lines between checkpoints.
const CHECKPOINT_EVERY: u64 = 500;

/// The bulk query for `kind`, of the records updated at or after `since` (all without).
fn bulk_query(kind: Kind, since: Option<DateTime<Utc>>) -> Option<String> {
    let fields = bulk_fields(kind)?;
    let root = kind.field();
    Some(match since_filter(since) {
        Some(filter) => {
            let filter = serde_json::to_string(&filter).ok()?;
            format!("{{ {root}(query: {filter}) {fields} }}")
        }
        None => format!("{{ {root} {fields} }}"),
    })
}

/// The selection of a kind's bulk query: the same fields as the paged query. Abandoned checkouts
/// are only ever read page by page, so they have none.
fn bulk_fields(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        // With the sale parts (five connections, two levels deep: Shopify's bulk limits); the
        // operation runs with `groupObjects`, so an order's child lines follow it.
        Kind::Orders => {
            "{ edges { node { id name createdAt updatedAt cancelledAt test displayFinancialStatus currencyCode currentTotalPriceSet { shopMoney { amount currencyCode } } totalPriceSet { shopMoney { amount currencyCode } } customer { id firstName lastName email updatedAt } totalDiscountsSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } } lineItems { edges { node { __typename id title quantity originalUnitPriceSet { shopMoney { amount } } totalDiscountSet { shopMoney { amount } } product { id } } } } shippingLines { edges { node { __typename originalPriceSet { shopMoney { amount } } } } } refunds { id createdAt refundLineItems { edges { node { __typename quantity subtotalSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } } lineItem { id product { id } } } } } refundShippingLines { edges { node { __typename subtotalAmountSet { shopMoney { amount } } } } } } } } }"
        }
        Kind::Customers => "{ edges { node { id firstName lastName email updatedAt } } }",
        Kind::Products => {
            "{ edges { node { id title updatedAt variants { edges { node { id title price sku } } } } } }"
        }
        Kind::Checkouts => return None,
    })
}

/// How a bulk import ended.
pub enum Bulk {
    /// Every line applied; the newest `updatedAt` seen.
    Done {
        applied: u64,
        newest: Option<DateTime<Utc>>,
    },
    Requeued,
    NeedsReauth,
    /// The operation failed on Shopify's side: read the kind page by page instead.
    Fallback,
}

async fn save(deps: &SyncRunner, tenant: TenantId, write: StateWrite) -> Result<(), SyncError> {
    SyncState::progress(deps.store.as_ref(), tenant, write).await?;
    Ok(())
}

/// What one bulk read is of: a kind, updated since an instant (all of it without), and until
/// when the run may wait for it; the shop's zone dates its records.
pub struct Run {
    pub kind: Kind,
    pub since: Option<DateTime<Utc>>,
    pub deadline: Instant,
    pub zone: Option<Tz>,
}

/// Starts (or resumes) the bulk import of `run.kind`.
pub async fn import(
    deps: &SyncRunner,
    client: &Shopify,
    tenant: TenantId,
    state: &SyncState,
    run: Run,
    progress: super::Progress<'_>,
) -> Result<Bulk, SyncError> {
    let Run {
        kind,
        since,
        deadline,
        zone,
    } = run;
    let map_err = |e: ShopifyError| match e {
        ShopifyError::Unauthorized { .. } => None,
        e => Some(SyncError::Unreachable(e)),
    };
    // The operation this shop's import is on, or a new one.
    let id = match &state.record().bulk_id {
        Some(id) => id.clone(),
        None => {
            let Some(query) = bulk_query(kind, since) else {
                return Ok(Bulk::Fallback);
            };
            let data = match client.query(RUN, json!({"query": query})).await {
                Ok(d) => d,
                Err(e) => return map_err(e).map_or(Ok(Bulk::NeedsReauth), Err),
            };
            let errors = data
                .pointer("/bulkOperationRunQuery/userErrors")
                .and_then(Value::as_array);
            let id = data
                .pointer("/bulkOperationRunQuery/bulkOperation/id")
                .and_then(Value::as_str);
            match (id, errors) {
                (Some(id), Some(e)) if e.is_empty() => id.to_owned(),
                _ => {
                    tracing::warn!(%tenant, errors = ?errors, "bulk operation refused; reading page by page");
                    return Ok(Bulk::Fallback);
                }
            }
        }
    };
    save(
        deps,
        tenant,
        StateWrite::BulkStarted {
            kind,
            id: id.clone(),
        },
    )
    .await?;

    // Poll until Shopify has the file.
    let url = loop {
        let data = match client.query(POLL, json!({"id": id})).await {
            Ok(d) => d,
            Err(e) => return map_err(e).map_or(Ok(Bulk::NeedsReauth), Err),
        };
        let node = data.get("node").cloned().unwrap_or(Value::Null);
        match node.get("status").and_then(Value::as_str) {
            Some("COMPLETED") => match node.get("url").and_then(Value::as_str) {
                Some(u) => break Some(u.to_owned()),
                None => break None, // no records at all
            },
            Some("CREATED" | "RUNNING") => {}
            other => {
                tracing::warn!(%tenant, status = ?other, error = ?node.get("errorCode"), "bulk operation did not complete; reading page by page");
                save(deps, tenant, StateWrite::BulkAbandoned).await?;
                return Ok(Bulk::Fallback);
            }
        }
        if Instant::now() >= deadline {
            return Ok(Bulk::Requeued);
        }
        tokio::time::sleep(deps.settings.bulk_poll).await;
    };

    let done_lines: u64 = state.record().bulk_line;
    let mut newest = state.record().bulk_newest;
    let mut applied = 0u64;
    if let Some(url) = url {
        let mut res = deps
            .shopify
            .http
            .get(&url)
            // A whole shop's orders: longer than one API call may take, never unbounded.
            .timeout(std::time::Duration::from_secs(10 * 60))
            .send()
            .await
            .map_err(|e| {
                SyncError::Unreachable(ShopifyError::Unreachable {
                    source: Box::new(e),
                })
            })?;
        if !res.status().is_success() {
            return Err(SyncError::Unreachable(ShopifyError::Unreachable {
                source: format!("bulk result download answered {}", res.status()).into(),
            }));
        }
        let mut lines = Lines::new(MAX_LINE_BYTES);
        let mut line_no = 0u64;
        // The parent being assembled (a line, then its children's lines) and its line number.
        let mut parent: Option<(u64, Value)> = None;
        let mut since_checkpoint = 0u64;
        let mut eof = false;
        while !eof {
            let complete = match res.chunk().await.map_err(|e| {
                SyncError::Unreachable(ShopifyError::Unreachable {
                    source: Box::new(e),
                })
            })? {
                Some(chunk) => lines.push(&chunk).map_err(|_| {
                    SyncError::Unreachable(ShopifyError::Protocol(format!(
                        "a bulk result line is over {MAX_LINE_BYTES} bytes"
                    )))
                })?,
                None => {
                    eof = true;
                    lines.finish().into_iter().collect()
                }
            };
            for line in complete {
                line_no += 1;
                if line_no <= done_lines || line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                    tracing::warn!(%tenant, line = line_no, "skipped an unreadable bulk line");
                    continue;
                };
                if v.get("__parentId").is_some() {
                    // A child: regrouped under its parent (the line before it).
                    if let Some(children) = parent
                        .as_mut()
                        .and_then(|(_, p)| p.as_object_mut())
                        .map(|o| o.entry("__children").or_insert_with(|| json!([])))
                        .and_then(Value::as_array_mut)
                    {
                        children.push(v);
                    }
                    continue;
                }
                if let Some((_, p)) = parent.replace((line_no, v)) {
                    applied += apply_node(deps, tenant, kind, &p, zone, &mut newest).await?;
                    since_checkpoint += 1;
                    // Resume point: every line before the parent now pending is applied.
                    if since_checkpoint >= CHECKPOINT_EVERY || Instant::now() >= deadline {
                        since_checkpoint = 0;
                        checkpoint(deps, tenant, line_no - 1, newest).await?;
                        progress(kind, line_no - 1);
                        if Instant::now() >= deadline {
                            return Ok(Bulk::Requeued);
                        }
                    }
                }
            }
        }
        if let Some((_, p)) = parent.take() {
            applied += apply_node(deps, tenant, kind, &p, zone, &mut newest).await?;
        }
        progress(kind, line_no);
    }
    save(deps, tenant, StateWrite::BulkApplied).await?;
    Ok(Bulk::Done { applied, newest })
}

/// The longest bulk result line read (one object; Shopify's are a few KB).
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// A line longer than the splitter's bound.
#[derive(Debug, PartialEq, Eq)]
pub struct LineTooLong;

/// JSONL lines out of a stream of chunks: each `\n`-terminated line whole (empty ones included),
/// then the unterminated rest at the end. Each byte is looked at once, and the unfinished line it
/// holds is bounded, whatever the stream.
pub struct Lines {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Adds a chunk; answers the lines it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, LineTooLong> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(i) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
            let end = self.scanned + i;
            out.push(self.buf[start..end].to_vec());
            start = end + 1;
            self.scanned = start;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > self.max {
            return Err(LineTooLong);
        }
        Ok(out)
    }

    /// The last line when the stream ended without a newline (the splitter is empty after).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        let rest = std::mem::take(&mut self.buf);
        (!rest.is_empty()).then_some(rest)
    }
}

async fn checkpoint(
    deps: &SyncRunner,
    tenant: TenantId,
    lines: u64,
    newest: Option<DateTime<Utc>>,
) -> Result<(), SyncError> {
    // The checkpoint moves only forward: lines before it are applied.
    save(deps, tenant, StateWrite::BulkLines { lines, newest }).await
}

async fn apply_node(
    deps: &SyncRunner,
    tenant: TenantId,
    kind: Kind,
    node: &Value,
    zone: Option<Tz>,
    newest: &mut Option<DateTime<Utc>>,
) -> Result<u64, SyncError> {
    let Some((change, updated)) = to_change(kind, node, zone) else {
        tracing::warn!(%tenant, kind = kind.as_str(), "skipped a bulk record without an id or timestamps");
        return Ok(0);
    };
    *newest = Some(newest.map_or(updated, |n| n.max(updated)));
    let outcome = apply(deps.store.as_ref(), deps.clock.now(), tenant, None, &change).await?;
    Ok(u64::from(outcome == Outcome::Applied))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The lines of a whole stream: what the splitter must give whatever the chunking.
    fn reference(stream: &[u8]) -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = stream.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        lines
    }

    proptest! {
        #[test]
        fn any_chunking_of_a_stream_gives_its_lines(
            stream in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'{'), any::<u8>()], 0..600),
            cuts in prop::collection::vec(0usize..600, 0..12),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut lines = Lines::new(usize::MAX);
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([stream.len()]) {
                got.extend(lines.push(&stream[at..c]).unwrap());
                at = c;
            }
            got.extend(lines.finish());
            prop_assert_eq!(got, reference(&stream));
        }
    }

    #[test]
    fn a_bulk_query_is_one_balanced_document_filtered_when_incremental() {
        let since = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        for kind in [Kind::Orders, Kind::Customers, Kind::Products] {
            for s in [None, since] {
                let q = bulk_query(kind, s).unwrap_or_default();
                assert_eq!(q.matches('{').count(), q.matches('}').count(), "{q}");
                assert!(q.starts_with(&format!("{{ {}", kind.field())), "{q}");
                assert_eq!(
                    q.contains(r#"(query: "updated_at:>='2026-11-01T00:00:00Z'")"#),
                    s.is_some(),
                    "{q}"
                );
            }
        }
        assert_eq!(bulk_query(Kind::Checkouts, since), None);
    }

    #[test]
    fn an_unterminated_line_past_the_bound_is_refused() {
        let mut lines = Lines::new(10);
        assert_eq!(
            lines.push(b"{\"a\":1}\n{\"b\"").unwrap(),
            vec![b"{\"a\":1}".to_vec()]
        );
        assert_eq!(lines.push(b":12345678"), Err(LineTooLong));
    }
}
