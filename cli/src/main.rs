//! `insights`: the whole service on one machine (every endpoint on the embedded store), plus
//! the operator's helpers.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod loadgen;
mod sales_bench;
mod seed;
mod seed_storefront;
mod server;
mod soak;
mod storefront_bench;
mod webhook_load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::App;
use shared::config::Config;

#[derive(Parser)]
#[command(name = "insights", version, about = "Shopify Insights, locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every endpoint and the dashboard on the embedded store.
    Serve {
        /// Port to listen on.
        #[arg(long, default_value_t = 3000, env = "PORT")]
        port: u16,
        /// Address to bind (loopback by default; 0.0.0.0 to expose it).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Where the embedded store keeps its data.
        #[arg(long, default_value = "./data", env = "INSIGHTS_DATA_DIR")]
        data_dir: PathBuf,
        /// Minutes between scheduled syncs of connected shops.
        #[arg(long, default_value_t = 15)]
        sync_minutes: u64,
        /// Where tenants' data lives: the embedded store in the data dir, or a DynamoDB table
        /// (`TABLE_NAME`, created with its indexes when missing; endpoint from the AWS SDK's
        /// settings, e.g. `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).
        #[arg(long, value_enum, default_value = "embedded", env = "INSIGHTS_STORE")]
        store: StoreKind,
    },
    /// Fill a demo merchant with a realistic store, sent as signed webhooks to a running server.
    Seed(seed::SeedArgs),
    /// Run one shop's sync from the Shopify Admin API in the foreground, with progress (the server
    /// must not be running on the same data dir).
    Sync {
        /// The shop, e.g. snowdevil.myshopify.com (connected with PUT /tenants/me/shopify).
        #[arg(long)]
        shop: String,
        #[arg(long, default_value = "./data", env = "INSIGHTS_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Add the orders stored before the sales ledger to it: once, resumable, safe to repeat
    /// (the server must not be running on the same data dir; on AWS the `ledger-backfill`
    /// function does this). Connected shops' orders are then read again by their next sync.
    BackfillLedger {
        #[arg(long, default_value = "./data", env = "INSIGHTS_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Load generators; see docs/benchmarks.md.
    #[command(subcommand)]
    Bench(bench::Bench),
}

fn main() -> ExitCode {
    shared::telemetry::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                port,
                host,
                data_dir,
                sync_minutes,
                store,
            } => {
                let every = std::time::Duration::from_secs(sync_minutes.max(1) * 60);
                serve(SocketAddr::new(host, port), data_dir, every, store).await
            }
            Command::Bench(b) => bench::run(b).await,
            Command::Sync { shop, data_dir } => sync_one(&shop, &data_dir).await,
            Command::BackfillLedger { data_dir } => backfill_ledger(&data_dir).await,
            Command::Seed(args) => seed::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Which store `insights serve` runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StoreKind {
    Embedded,
    Dynamodb,
}

async fn serve(
    addr: SocketAddr,
    data_dir: PathBuf,
    sync_interval: std::time::Duration,
    kind: StoreKind,
) -> Result<(), CliError> {
    let config = Config::from_env();
    let (app, sync_requests) = match kind {
        StoreKind::Embedded => App::local(&data_dir, &config).await?,
        StoreKind::Dynamodb => {
            let table = config.table()?.to_owned();
            let client = shared::store::dynamo::client(&shared::config::aws().await);
            shared::store::dynamo::create_table(&client, &table).await?;
            let store = std::sync::Arc::new(shared::store::dynamo::DynamoStore::new(client, table));
            App::local_on(store, &data_dir, &config).await?
        }
    };
    let where_data = match kind {
        StoreKind::Embedded => data_dir
            .join(shared::store::embedded::FILE_NAME)
            .display()
            .to_string(),
        StoreKind::Dynamodb => format!("DynamoDB table {}", config.table()?),
    };
    // Unless APP_URL says otherwise, the OAuth callback comes back to this server.
    let local_url = format!("http://127.0.0.1:{}", addr.port());
    let app = app.with_shopify_app(config.shopify_app(Some(&local_url)));
    // The sync runs in process: a worker for queued requests and the scheduler on an interval.
    tokio::spawn(shared::sync::local_worker(app.deps(), sync_requests));
    let scheduler: shared::deps::Scheduler = app.deps();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(sync_interval);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = shared::sync::schedule(&scheduler).await {
                tracing::warn!(error = %e, "sync scheduler failed");
            }
        }
    });
    // The abandonment job, as EventBridge runs it every minute on AWS: every 30 s here, so a
    // checkout is abandoned within a minute of its moment.
    let storefront: shared::deps::Storefront = app.deps();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            every.tick().await;
            let now = storefront.clock.now();
            let budget = std::time::Duration::from_secs(25);
            match shared::storefront::abandon::run(storefront.store.as_ref(), now, budget).await {
                Ok(r) if r.abandoned > 0 => {
                    tracing::info!(abandoned = r.abandoned, "checkouts abandoned")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "abandonment job failed"),
            }
        }
    });
    // What DynamoDB's TTL does on AWS: expired delivery records and login counters are deleted.
    let store = app.store.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match store.sweep_expired(chrono::Utc::now().timestamp()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(swept = n, "expired items deleted"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
        }
    });
    let router = shared::routes::local_router(app);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!("listening on http://{local}, data in {where_data}");
    server::serve(
        listener,
        router,
        server::Limits::default(),
        shutdown_signal(),
    )
    .await?;
    // The router (and with it the last store handle) is dropped here: the writer thread finishes
    // and the file is closed. Every acknowledged write was already durable.
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

async fn backfill_ledger(data_dir: &std::path::Path) -> Result<(), CliError> {
    let (app, _queued) = App::local(data_dir, &Config::from_env()).await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let progress = |r: &shared::ingest::backfill::Report| {
        bar.set_message(format!(
            "{} tenants done, {} orders added to the ledger",
            r.tenants, r.orders
        ));
    };
    let clock = app.clock.clone();
    let forever = std::time::Duration::from_secs(365 * 24 * 3600);
    let r = shared::ingest::backfill::run(app.store.as_ref(), || clock.now(), forever, &progress)
        .await?;
    bar.finish_and_clear();
    println!(
        "ledger backfill finished: {} tenants, {} orders added by this run",
        r.tenants, r.orders
    );
    Ok(())
}

async fn sync_one(shop: &str, data_dir: &std::path::Path) -> Result<(), CliError> {
    let (app, _queued) = App::local(data_dir, &Config::from_env()).await?;
    let entry = shared::ingest::find_shop(app.store.as_ref(), shop)
        .await?
        .ok_or_else(|| format!("no tenant has the shop {shop}"))?;
    let sync_id = shared::sync::request(
        app.store.as_ref(),
        app.clock.now(),
        app.sync.queue.as_ref(),
        entry.tenant,
    )
    .await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let progress = |kind: shared::shopify::records::Kind, read: u64| {
        bar.set_message(format!("{read} records read (now: {})", kind.as_str()));
    };
    let req = shared::sync::SyncRequest::sync(entry.tenant, sync_id);
    // No Lambda limit here: run to the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let outcome = shared::sync::run(&app.deps(), &req, deadline, &progress).await?;
    bar.finish_and_clear();
    println!("{shop}: {outcome:?}");
    Ok(())
}
