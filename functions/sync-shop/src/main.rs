//! Lambda job: sync one shop per `SyncRequested` event, requeueing itself before the 15-minute limit. Logic lives in `shared`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let remaining = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        shared::sync::jobs::shop(app, &event.payload, remaining).await
    }))
    .await
}
