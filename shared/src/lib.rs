//! Shopify Insights: the library behind every Lambda and the `insights` CLI.
//!
//! Layers: [`http`] (routing, extractors, error mapping) → use cases in [`domain`] → the storage
//! interface in [`store`] → a backend (DynamoDB or embedded). See `docs/architecture.md`.

pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use http::Endpoint;
