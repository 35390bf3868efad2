//! Handlers: `POST /events` (storefront events, by ingest key, CORS open), the ingest key and the
//! settings of the signed-in tenant, `GET /dashboard/events` and `GET /dashboard/funnel`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use super::ApiError;
use super::body::JsonObject;
use crate::deps::{Accounts, Storefront};
use crate::domain::{Money, TenantId};
use crate::limits;
use crate::store::items::storefront::{FunnelCounts, Settings};
use crate::store::keys::TenantItem;
use crate::storefront::read::{self, EventsQuery, FunnelQuery};
use crate::storefront::{apply, ingest_key, pixel, zone};

/// The ingest key header (`?key=` also works: a pixel's `fetch` with `text/plain` and the key in
/// the URL needs no CORS preflight).
pub const INGEST_KEY_HEADER: &str = "x-ingest-key";

/// CORS on `POST /events` only: any origin (storefronts are anywhere), no credentials, the
/// preflight answered here.
pub async fn cors_open(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, x-ingest-key"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    res
}

fn ingest_key_of<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<String> {
    if let Some(v) = headers.get(INGEST_KEY_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.trim().to_owned())
}

/// `POST /events`: `202 {accepted, duplicates, rejected}`.
pub async fn ingest(
    State(deps): State<Storefront>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    limit_slot: Option<axum::Extension<limits::Slot>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::Unauthorized {
        code: "invalid_ingest_key",
        message: "The ingest key is missing or not current.",
    };
    let key = ingest_key_of(&headers, query.as_deref()).ok_or_else(unknown)?;
    let store = deps.store.as_ref();
    let tenant = ingest_key::tenant_of(store, &key)
        .await?
        .ok_or_else(unknown)?;
    let now = deps.clock.now();
    let d = limits::hit(
        store,
        now,
        limits::Subject::IngestKey(&key),
        deps.limits.ingest,
    )
    .await?;
    if let Some(axum::Extension(slot)) = limit_slot {
        slot.set(d);
    }
    super::extract::within(d)?;
    let body = body.map_err(|_| ApiError::PayloadTooLarge {
        limit: pixel::MAX_BODY,
    })?;
    let events = pixel::parse_batch(&body, now).map_err(|e| match e.code {
        "body_too_large" => ApiError::PayloadTooLarge {
            limit: pixel::MAX_BODY,
        },
        code => ApiError::BadRequest {
            code,
            message: e.message,
        },
    })?;
    let zone = zone::of(store, tenant).await?;
    let settings =
        Settings::from_item(store.get(&TenantItem::Settings.key(tenant)).await?.as_ref());
    let counts = apply::ingest_events(store, now, tenant, zone, &settings, events).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "accepted": counts.accepted,
            "duplicates": counts.duplicates,
            "rejected": counts.rejected,
        })),
    )
        .into_response())
}

/// `GET /tenants/me/ingest-key`: `200 {ingest_key}` (made on first use).
pub async fn ingest_key_get(
    State(app): State<Accounts>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let key = ingest_key::current(app.store.as_ref(), tenant).await?;
    Ok(Json(json!({ "ingest_key": key })))
}

/// `POST /tenants/me/ingest-key`: `200 {ingest_key}`, a new key; the old one stops working.
pub async fn ingest_key_replace(
    State(app): State<Accounts>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let key = ingest_key::replace(app.store.as_ref(), tenant).await?;
    Ok(Json(json!({ "ingest_key": key })))
}

/// `GET /tenants/me/settings`: `200 {abandon_after_minutes}`.
pub async fn settings_get(
    State(app): State<Accounts>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let item = app.store.get(&TenantItem::Settings.key(tenant)).await?;
    let s = Settings::from_item(item.as_ref());
    Ok(Json(
        json!({ "abandon_after_minutes": s.abandon_after_minutes }),
    ))
}

/// `PUT /tenants/me/settings {abandon_after_minutes}`: `200` with the settings; `400` unless
/// 1 to 10080. It applies to checkouts updated from now on and to those the job finds due later.
pub async fn settings_put(
    State(app): State<Accounts>,
    tenant: TenantId,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    // A whole number, however it is written (`90` or `90.0`, both JSON integers by JSON Schema).
    let minutes = body
        .get("abandon_after_minutes")
        .and_then(|v| v.as_u64().or_else(|| whole(v.as_f64()?)))
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| (1..=Settings::MAX_ABANDON_AFTER).contains(m))
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid_abandon_after",
            message: "abandon_after_minutes must be a whole number from 1 to 10080.".into(),
        })?;
    let s = Settings {
        abandon_after_minutes: minutes,
    };
    app.store.write(vec![s.write(tenant)]).await?;
    Ok(Json(json!({ "abandon_after_minutes": minutes })))
}

/// `f` as a whole number, when it is one within the settings' range.
fn whole(f: f64) -> Option<u64> {
    (f.fract() == 0.0 && (0.0..=f64::from(Settings::MAX_ABANDON_AFTER)).contains(&f))
        .then(|| rust_decimal::Decimal::from_f64_retain(f))
        .flatten()
        .and_then(|d| d.to_u64())
}

fn counts_json(c: &FunnelCounts, into: &mut Map<String, Value>) {
    for (name, v) in FunnelCounts::NAMES.iter().zip(c.0.iter()) {
        let value = if name.ends_with("_value") {
            Value::String(Money::new(*v).to_api())
        } else {
            json!(v.to_u64().unwrap_or(0))
        };
        into.insert((*name).to_owned(), value);
    }
}

/// `GET /dashboard/funnel?from&to`.
pub async fn funnel(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = FunnelQuery::parse(raw.as_deref(), app.clock.now().date_naive())?;
    let f = read::funnel(app.store.as_ref(), tenant, &q).await?;
    let mut out = Map::new();
    out.insert("from".into(), json!(q.from.format("%Y-%m-%d").to_string()));
    out.insert("to".into(), json!(q.to.format("%Y-%m-%d").to_string()));
    counts_json(&f.total, &mut out);
    out.insert(
        "conversion_rate".into(),
        Value::String(f.conversion_rate().to_string()),
    );
    let days: Vec<Value> = f
        .days
        .iter()
        .map(|(d, c)| {
            let mut day = Map::new();
            day.insert("date".into(), json!(d.format("%Y-%m-%d").to_string()));
            counts_json(c, &mut day);
            Value::Object(day)
        })
        .collect();
    out.insert("days".into(), Value::Array(days));
    Ok(Json(Value::Object(out)))
}

/// `GET /dashboard/events?[type][&from&to][&limit][&cursor]`.
pub async fn events(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = EventsQuery::parse(raw.as_deref())?;
    let keys = app
        .keys
        .get()
        .await
        .map_err(|_| ApiError::Internal("sealing key unavailable"))?;
    let store = app.store.as_ref();
    let zone = zone::of(store, tenant).await?;
    let page = read::events(store, keys, tenant, zone, &q).await?;
    Ok(Json(json!({
        "events": page.events.iter().map(read::event_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}
