//! Lambda job: on the EventBridge schedule, queue one `SyncRequested` per connected shop. Logic lives in `shared`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        shared::sync::jobs::scheduler(app).await
    }))
    .await
}
