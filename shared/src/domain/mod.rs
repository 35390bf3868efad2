//! Pure types and rules: no HTTP, no AWS, no storage.

pub mod ids;
pub mod tenant;

pub use ids::{ShopifyId, TenantId};
pub use tenant::{Email, FieldError, Password, ShopDomain, Tenant, TenantName};
