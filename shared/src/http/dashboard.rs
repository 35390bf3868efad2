//! Handlers: `GET /dashboard/metrics`, `/dashboard/orders-by-date`, `/dashboard/top-customers`,
//! `/dashboard/sales`, `/dashboard/top-products`.
//! Each parses its query into the use case's request, calls it, and renders JSON.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::ApiError;
use crate::dashboard::sales::{Figures, SalesQuery, TopProductsQuery};
use crate::dashboard::{self, OrdersByDateQuery, TopCustomersQuery};
use crate::deps::Accounts;
use crate::domain::{Money, TenantId};

fn money(m: Money) -> Value {
    Value::String(m.to_api())
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
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

pub async fn orders_by_date(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let request = OrdersByDateQuery::parse(raw.as_deref(), app.clock.now().date_naive())?;
    let keys = app
        .keys
        .get()
        .await
        .map_err(|_| ApiError::Internal("sealing key unavailable"))?;
    let page = dashboard::orders_page(app.store.as_ref(), keys, tenant, &request).await?;
    Ok(Json(json!({
        "from": date(page.from),
        "to": date(page.to),
        "days": page.days.iter().map(|d| json!({
            "date": date(d.date),
            "orders": d.orders,
            "revenue": money(d.revenue),
        })).collect::<Vec<_>>(),
        "orders": page.orders.iter().map(|o| json!({
            "id": o.id,
            "name": o.name,
            "created_at": o.created_at,
            "total_price": money(o.total_price),
            "currency": o.currency,
            "financial_status": o.financial_status,
            "cancelled": o.cancelled,
            "customer_id": o.customer_id,
        })).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

pub async fn top_customers(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let request = TopCustomersQuery::parse(raw.as_deref())?;
    let top = dashboard::top_customers(app.store.as_ref(), tenant, &request).await?;
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

/// One period's or one day's figures, as the contract names them (a typed body: 366 days of 13
/// fields rendered through `serde_json::Map`s cost more than reading them).
#[derive(serde::Serialize)]
struct FiguresJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    orders: u64,
    gross_sales: String,
    discounts: String,
    returns: String,
    net_sales: String,
    taxes: String,
    shipping: String,
    total_sales: String,
    average_order_value: String,
    new_customers: i64,
    returning_customer_orders: i64,
    returning_customer_rate: String,
}

impl FiguresJson {
    fn of(date: Option<NaiveDate>, f: &Figures) -> FiguresJson {
        let s = &f.sales;
        let whole = |d: rust_decimal::Decimal| i64::try_from(d.trunc()).unwrap_or(0);
        let m = |d: rust_decimal::Decimal| Money::new(d).to_api();
        FiguresJson {
            date: date.map(self::date),
            orders: f.orders,
            gross_sales: m(s.gross),
            discounts: m(s.discounts),
            returns: m(s.returns),
            net_sales: m(s.net_sales()),
            taxes: m(s.taxes),
            shipping: m(s.shipping),
            total_sales: m(s.total_sales()),
            average_order_value: f.average_order_value().to_api(),
            new_customers: whole(s.new_customers),
            returning_customer_orders: whole(s.returning_customer_orders()),
            returning_customer_rate: f.returning_customer_rate().to_string(),
        }
    }
}

#[derive(serde::Serialize)]
struct SalesJson {
    from: String,
    to: String,
    currency: Option<String>,
    totals: FiguresJson,
    days: Vec<FiguresJson>,
    previous: Option<FiguresJson>,
}

/// `GET /dashboard/sales?from&to[&compare=previous_period]`.
pub async fn sales(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<impl serde::Serialize>, ApiError> {
    let q = SalesQuery::parse(raw.as_deref(), app.clock.now().date_naive())?;
    let r = dashboard::sales::sales(app.store.as_ref(), tenant, &q).await?;
    Ok(Json(SalesJson {
        from: date(r.from),
        to: date(r.to),
        currency: r.currency,
        totals: FiguresJson::of(None, &r.totals),
        days: r
            .days
            .iter()
            .map(|(d, f)| FiguresJson::of(Some(*d), f))
            .collect(),
        previous: r.previous.as_ref().map(|p| FiguresJson::of(None, p)),
    }))
}

/// `GET /dashboard/top-products[?limit=5]`.
pub async fn top_products(
    State(app): State<Accounts>,
    tenant: TenantId,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = TopProductsQuery::parse(raw.as_deref())?;
    let top = dashboard::sales::top_products(app.store.as_ref(), tenant, &q).await?;
    Ok(Json(json!({
        "products": top.iter().map(|p| json!({
            "id": p.id.to_string(),
            "title": p.title,
            "quantity": i64::try_from(p.quantity.trunc()).unwrap_or(0),
            "net_sales": money(p.net_sales),
        })).collect::<Vec<_>>(),
    })))
}
