//! Lambda job: add the orders stored before the sales ledger to it (EventBridge schedule, until
//! finished). Logic lives in `shared`; the job is declared in `shared::routes`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_job::<shared::routes::LedgerBackfill>().await
}
