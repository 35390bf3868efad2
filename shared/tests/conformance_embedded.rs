//! The storage conformance suite on the embedded (redb) backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use shared::store::conformance::Subject;
use shared::store::embedded::EmbeddedStore;

async fn embedded() -> Option<Subject> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    Some(Subject {
        store: Arc::new(store),
        guard: Box::new(dir),
    })
}

shared::conformance_suite!(embedded);
