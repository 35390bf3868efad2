//! Handlers: `GET /dashboard/metrics`, `/dashboard/orders-by-date`, `/dashboard/top-customers`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiError;
use crate::dashboard;
use crate::deps::Accounts;
use crate::domain::{Money, TenantId};
use crate::store::Cursor;

/// The longest range `orders-by-date` serves, in days (inclusive).
pub const MAX_RANGE_DAYS: i64 = 366;
/// The default range when none is given: the last 30 days.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

fn params(raw: Option<String>) -> HashMap<String, String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn money(m: Money) -> Value {
    Value::String(m.to_api())
}

fn limit(p: &HashMap<String, String>, default: u32, max: u32) -> Result<u32, ApiError> {
    match p.get("limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {max}."),
                )
            }),
    }
}

fn date(p: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    let Some(v) = p.get(name) else {
        return Ok(None);
    };
    // Strictly YYYY-MM-DD: chrono alone would also take "2026-1-5".
    let shaped = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    let d = shaped
        .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .flatten();
    d.map(Some).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_date",
            format!("{name} must be a date as YYYY-MM-DD."),
        )
    })
}

pub async fn metrics(
    State(app): State<Accounts>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let m = dashboard::metrics(app.store.as_ref(), tenant).await?;
    Ok(Json(json!({
        "customers": m.customers,
        "orders": m.orders,
        "products": m.products,
        "revenue": money(m.revenue),
        "average_order_value": money(m.average_order_value),
        "currency": m.currency,
    })))
}

/// What a page cursor is bound to: the tenant and the range it was issued for.
#[derive(Serialize, Deserialize)]
struct PageCursor {
    t: u64,
    f: NaiveDate,
    to: NaiveDate,
    c: String,
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "cursor is not valid for this query; start from the first page.",
    )
}

pub async fn orders_by_date(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = params(raw);
    let today = app.clock.now().date_naive();
    let to = date(&p, "to")?.unwrap_or(today);
    let from = match date(&p, "from")? {
        Some(f) => f,
        None => to - chrono::Duration::days(DEFAULT_RANGE_DAYS - 1),
    };
    if from > to {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from must not be after to.",
        ));
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(ApiError::bad_request(
            "range_too_long",
            format!("the range may cover at most {MAX_RANGE_DAYS} days."),
        ));
    }
    let limit = limit(&p, 50, 250)?;
    let keys = app
        .keys
        .get()
        .await
        .map_err(|_| ApiError::Internal("sealing key unavailable"))?;
    let cursor = match p.get("cursor") {
        None => None,
        Some(text) => {
            let payload = keys.open(text).ok_or_else(bad_cursor)?;
            let pc: PageCursor = serde_json::from_slice(&payload).map_err(|_| bad_cursor())?;
            if pc.t != tenant.get() || pc.f != from || pc.to != to {
                return Err(bad_cursor());
            }
            Some(Cursor::decode(&pc.c).map_err(|_| bad_cursor())?)
        }
    };
    let days = dashboard::days(app.store.as_ref(), tenant, from, to).await?;
    let (orders, next) = dashboard::orders(app.store.as_ref(), tenant, from, to, limit, cursor)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::InvalidCursor => bad_cursor(),
            e => e.into(),
        })?;
    let next_cursor = match next {
        None => None,
        Some(c) => {
            let pc = PageCursor {
                t: tenant.get(),
                f: from,
                to,
                c: c.encode(),
            };
            let payload =
                serde_json::to_vec(&pc).map_err(|_| ApiError::Internal("cursor encoding"))?;
            Some(keys.seal(&payload))
        }
    };
    Ok(Json(json!({
        "from": from.format("%Y-%m-%d").to_string(),
        "to": to.format("%Y-%m-%d").to_string(),
        "days": days.iter().map(|d| json!({
            "date": d.date.format("%Y-%m-%d").to_string(),
            "orders": d.orders,
            "revenue": money(d.revenue),
        })).collect::<Vec<_>>(),
        "orders": orders.iter().map(|o| json!({
            "id": o.id,
            "name": o.name,
            "created_at": o.created_at,
            "total_price": money(o.total_price),
            "currency": o.currency,
            "financial_status": o.financial_status,
            "cancelled": o.cancelled,
            "customer_id": o.customer_id,
        })).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

pub async fn top_customers(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = params(raw);
    let limit = limit(&p, 5, 50)?;
    let top = dashboard::top_customers(app.store.as_ref(), tenant, limit).await?;
    Ok(Json(json!({
        "customers": top.iter().map(|c| json!({
            "id": c.id,
            "name": c.name,
            "email": c.email,
            "orders": c.orders,
            "total_spent": money(c.total_spent),
        })).collect::<Vec<_>>(),
    })))
}
