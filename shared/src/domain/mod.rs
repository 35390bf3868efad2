//! Pure types and rules: no HTTP, no AWS, no storage.

pub mod ids;

pub use ids::{ShopifyId, TenantId};
