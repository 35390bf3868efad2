//! The storefront: checkout webhooks, Web Pixels events (`POST /events`), sessions and the
//! checkout funnel, abandonment and recovery, and the event log (contract: "Checkouts, storefront
//! events and the funnel").
//!
//! Everything a storefront or a checkout webhook tells is applied with exactly-once effects
//! ([`apply`]), merged in an order-independent way ([`checkout`]), counted into per-day funnel
//! items by "new − old" deltas, and read back in O(days) ([`read`]). The abandonment job
//! ([`abandon`]) finds due checkouts through a time-ordered index.

pub mod abandon;
pub mod apply;
pub mod checkout;
pub mod ingest_key;
pub mod pixel;
pub mod read;
pub mod zone;
