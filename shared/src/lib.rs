//! Shopify Insights: the library behind every Lambda and the `insights` CLI.
//!
//! Layers: [`http`] (routing, extractors, error mapping) → use cases ([`auth`], ...) over pure
//! types in [`domain`] → the storage interface in [`store`] → a backend (DynamoDB or embedded).

#![recursion_limit = "256"]

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod secrets;
pub mod shopify;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use app::App;
pub use http::Endpoint;
