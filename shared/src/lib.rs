//! Shopify Insights: the library behind every Lambda and the `insights` CLI.
//!
//! Layers: [`routes`] (every route and job declared once) → [`http`] handlers or [`lambda`] job
//! adapters → use cases ([`auth`], [`ingest`], [`dashboard`], [`sync`]) taking narrow ports
//! ([`deps`]) over pure types in [`domain`] → the storage interface in [`store`] → a backend
//! (DynamoDB or embedded). Composition: [`app`] locally, [`lambda`] per function.

#![recursion_limit = "256"]

pub mod app;
pub mod auth;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod deps;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod install;
pub mod lambda;
pub mod limits;
pub mod routes;
pub mod secrets;
pub mod shopify;
pub mod store;
pub mod storefront;
pub mod sync;
pub mod telemetry;

pub use app::App;
