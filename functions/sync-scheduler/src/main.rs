//! Lambda job: queue a sync of every connected shop (EventBridge schedule). Logic lives in `shared`; the job is declared in `shared::routes`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_job::<shared::routes::SyncScheduler>().await
}
