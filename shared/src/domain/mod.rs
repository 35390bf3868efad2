//! Pure types and rules: no HTTP, no AWS, no storage.

pub mod ids;
pub mod money;
pub mod sales;
pub mod shopify;
pub mod tenant;

pub use ids::{ShopifyId, TenantId};
pub use money::Money;
pub use sales::{OrderSales, SalesFigures};
pub use shopify::{Customer, Order, Product, Version};
pub use tenant::{Email, FieldError, Password, ShopDomain, ShopStatus, Tenant, TenantName};
