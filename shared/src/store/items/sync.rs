//! Sync records: the shop connection, the sync state (see `sync/state.rs`), the encrypted shop token.
