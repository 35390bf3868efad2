//! The storage conformance suite on DynamoDB Local, through the real aws-sdk-dynamodb client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use shared::store::conformance::Subject;

async fn dynamodb() -> Option<Subject> {
    let store = support::dynamo_table("conf").await?;
    Some(Subject {
        store: Arc::new(store),
        guard: Box::new(()),
    })
}

shared::conformance_suite!(dynamodb);
