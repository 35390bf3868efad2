//! Lambda job: sync one shop per `SyncRequested` event, requeueing itself before the 15-minute limit. Logic lives in `shared`; the job is declared in `shared::routes`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_job::<shared::routes::SyncShop>().await
}
