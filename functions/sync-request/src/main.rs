//! Lambda: POST /sync. Logic lives in `shared`.

use shared::{App, Endpoint};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let app = App::from_env().await?;
    lambda_http::run(shared::http::router(app, &[Endpoint::SyncRequest])).await
}
