//! Lambda: GET /dashboard/top-products. Logic lives in `shared`; the route is declared in `shared::routes`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve::<shared::routes::DashboardTopProducts>().await
}
