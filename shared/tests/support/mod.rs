//! Test support shared by the integration tests: DynamoDB Local tables.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use shared::store::dynamo::{DynamoStore, create_table};

/// A fresh table on DynamoDB Local, or `None` (the test returns early) when DynamoDB Local is not
/// configured. `scripts/test` starts it and sets `INSIGHTS_REQUIRE_DYNAMODB=1`, so there a missing
/// endpoint fails instead of skipping.
pub async fn dynamo_table(purpose: &str) -> Option<DynamoStore> {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        assert!(
            std::env::var_os("INSIGHTS_REQUIRE_DYNAMODB").is_none(),
            "INSIGHTS_REQUIRE_DYNAMODB is set but AWS_ENDPOINT_URL_DYNAMODB is not"
        );
        eprintln!("skipped: DynamoDB Local is not running (scripts/test starts it)");
        return None;
    }
    let sdk = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    let name = format!(
        "insights-{purpose}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    );
    create_table(&client, &name).await.unwrap();
    Some(DynamoStore::new(client, name))
}
