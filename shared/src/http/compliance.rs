//! Handlers: `GET /compliance/requests` and `GET /compliance/requests/{id}`, the customer data
//! requests Shopify sent (`customers/data_request`) and their exports.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::ApiError;
use crate::compliance;
use crate::deps::Accounts;
use crate::domain::{Money, ShopifyId, TenantId};

/// `GET /compliance/requests`: `{requests: [{id, customer_id, received_at, status}]}`.
pub async fn requests(
    State(a): State<Accounts>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let list = compliance::requests(a.store.as_ref(), tenant).await?;
    Ok(Json(json!({
        "requests": list.iter().map(|r| json!({
            "id": r.id.to_string(),
            "customer_id": r.customer_id.to_string(),
            "received_at": r.received_at.to_rfc3339(),
            "status": r.status,
        })).collect::<Vec<_>>(),
    })))
}

/// `GET /compliance/requests/{id}`: `{customer, orders, checkouts, events}`; `404` for a request
/// this tenant did not receive.
pub async fn request(
    State(a): State<Accounts>,
    tenant: TenantId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = ShopifyId::parse(&id).ok_or(ApiError::NotFound)?;
    let export = compliance::export(a.store.as_ref(), tenant, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let customer = export.customer.map(|c| {
        json!({
            "id": c.id.to_string(),
            "first_name": c.first_name,
            "last_name": c.last_name,
            "email": c.email,
            "deleted": c.deleted,
            "orders": c.order_count(),
            "total_spent": Money::new(c.total_spent).to_api(),
        })
    });
    Ok(Json(json!({
        "customer": customer,
        "orders": export.orders.iter().map(|o| json!({
            "id": o.id.to_string(),
            "name": o.name,
            "created_at": o.created_at.to_rfc3339(),
            "updated_at": o.updated_at.to_rfc3339(),
            "total": o.total.to_api(),
            "currency": o.currency,
            "financial_status": o.financial_status,
            "cancelled": o.cancelled,
            "test": o.test,
        })).collect::<Vec<_>>(),
        "checkouts": [],
        "events": [],
    })))
}
