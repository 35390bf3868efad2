//! Lambda: Shopify webhooks from EventBridge (`detail-type: shopifyWebhook`). Logic lives in `shared`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        shared::ingest::eventbridge::handle(app, &event.payload).await
    }))
    .await
}
