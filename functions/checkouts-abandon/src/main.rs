//! Lambda job: abandon the checkouts that are due (EventBridge schedule). Logic lives in `shared`; the job is declared in `shared::routes`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_job::<shared::routes::CheckoutsAbandon>().await
}
