//! Load generators whose figures go into docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use shared::store::dynamo::{DynamoStore, create_table};
use shared::store::embedded::EmbeddedStore;
use shared::store::{Condition, Key, Store, Update, WriteOp};

#[derive(Subcommand)]
pub enum Bench {
    /// Durable small atomic batches per second (3 conditional writes each) with N concurrent writers.
    Store {
        #[arg(long, value_enum, default_value_t = Backend::Embedded)]
        backend: Backend,
        /// Concurrent writers; repeat for several runs (`--writers 1 --writers 16`).
        #[arg(long, default_values_t = [1, 16, 64])]
        writers: Vec<usize>,
        /// How long each run lasts.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Dashboard read latency at several store sizes (orders loaded through the apply path).
    Dashboard {
        /// Orders in the store; repeat for several runs.
        #[arg(long, default_values_t = [10_000, 1_000_000])]
        orders: Vec<u64>,
        /// Requests timed per endpoint.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// `shop/redact`: the erase of a shop holding N orders (and their customers, days, totals),
    /// through the storage interface (Query and batched deletes).
    ShopRedact {
        #[arg(long, value_enum, default_value_t = Backend::Embedded)]
        backend: Backend,
        /// Orders in the shop.
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
    },
    /// A steady mixed load (webhooks, redeliveries, dashboard reads, wrong logins) against a
    /// running server from this process, with each minute's answers, latency, errors and the
    /// server's memory. Exits non-zero on any 5xx, transport error or unexpected 4xx.
    Soak {
        /// The running server (`insights serve`).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The app secret the server verifies webhooks with.
        #[arg(long, env = "SHOPIFY_API_SECRET", hide_env_values = true)]
        secret: String,
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// Webhook deliveries per second.
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Concurrent webhook senders sharing that rate.
        #[arg(long, default_value_t = 16)]
        senders: u64,
        /// The server's process id, for its resident memory each minute.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// `POST /events` throughput through an in-process server on the embedded store, for each
    /// batch size (events per request).
    Events {
        #[arg(long, default_values_t = [1, 20])]
        batch: Vec<usize>,
        #[arg(long, default_value_t = 64)]
        senders: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// `GET /dashboard/funnel` latency (30 and 366 days) over a store holding N events.
    Funnel {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// `GET /dashboard/sales` (30 and 366 days, with the previous period) and
    /// `GET /dashboard/top-products` latency over a store holding N orders with sale parts.
    Sales {
        #[arg(long, default_value_t = 1_000_000)]
        orders: u64,
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// Whole-server rate of signed `orders/create` webhooks over HTTP. With `--url`, against a
    /// running server from this process alone (`insights serve`, or the `ceiling` server measured
    /// beside it); without, server and load generator share one process on a fresh embedded store.
    Webhooks {
        /// Concurrent senders, one connection each; repeat for several runs.
        #[arg(long, default_values_t = [16, 64])]
        senders: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A running server to load from this process.
        #[arg(long)]
        url: Option<String>,
        /// The app secret that server verifies webhooks with (with `--url`).
        #[arg(long, env = "SHOPIFY_API_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// The shop the deliveries come from (registered first); a new one each run by default.
        #[arg(long)]
        shop: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// redb in a temporary directory (on this machine's disk).
    Embedded,
    /// The table endpoint from AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local) or real AWS.
    Dynamodb,
}

/// An empty store of `backend` in `dir` (DynamoDB: a new table named after it).
async fn open_store(
    backend: Backend,
    dir: &std::path::Path,
) -> Result<Arc<dyn Store>, super::CliError> {
    Ok(match backend {
        Backend::Embedded => Arc::new(EmbeddedStore::open(dir)?),
        Backend::Dynamodb => {
            let sdk = shared::config::aws().await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            // A table per run: every run starts from empty partitions.
            let table = format!(
                "insights-bench-{}",
                dir.file_name().and_then(|n| n.to_str()).unwrap_or("run")
            );
            create_table(&client, &table).await?;
            Arc::new(DynamoStore::new(client, table))
        }
    })
}

/// Loads `orders` orders into one shop through the apply path, then times `shop/redact`.
async fn shop_redact(backend: Backend, orders: u64) -> Result<(), super::CliError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile_dir()?;
    let store = open_store(backend, &dir).await?;
    let tenant = shared::domain::TenantId::new(1);
    let now = chrono::Utc::now();
    let loaded = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= orders {
                    return Ok::<_, shared::store::StoreError>(());
                }
                let body = shared::demo::order_json(&crate::loadgen::order(9_000_000_000 + i));
                let Ok((o, c)) = shared::ingest::payload::order(&body) else {
                    continue;
                };
                let change = shared::ingest::Change::UpsertOrder(o, c);
                shared::ingest::apply(store.as_ref(), now, tenant, None, &change).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!(
        "  loaded {orders} orders in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );
    let before = store.consumed();
    let start = Instant::now();
    // The whole erase in one go, as the job runs it (no delivery's time budget).
    let erased = match shared::ingest::lifecycle::redact_shop(
        store.as_ref(),
        &shared::sync::vault::NoVault,
        now,
        tenant,
        start + std::time::Duration::from_secs(24 * 3600),
    )
    .await
    .map_err(|e| e.to_string())?
    {
        shared::ingest::lifecycle::Erase::Done { erased }
        | shared::ingest::lifecycle::Erase::Unfinished { erased } => erased,
    };
    let took = start.elapsed();
    let after = store.consumed();
    println!("backend     orders   items erased   seconds   items/s   WCU");
    println!(
        "{:<11} {:>6} {:>14} {:>9.1} {:>9.0} {:>5.0}",
        store.backend_name(),
        orders,
        erased,
        took.as_secs_f64(),
        erased as f64 / took.as_secs_f64(),
        after.write_units - before.write_units
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

pub async fn run(b: Bench) -> Result<(), super::CliError> {
    match b {
        Bench::ShopRedact { backend, orders } => shop_redact(backend, orders).await,
        Bench::Dashboard { orders, requests } => crate::loadgen::dashboard(&orders, requests).await,
        Bench::Soak {
            url,
            secret,
            minutes,
            rate,
            senders,
            pid,
        } => {
            crate::soak::run(crate::soak::Soak {
                url,
                secret,
                minutes,
                rate,
                senders,
                pid,
            })
            .await
        }
        Bench::Events {
            batch,
            senders,
            seconds,
        } => crate::storefront_bench::events(&batch, senders, Duration::from_secs(seconds)).await,
        Bench::Funnel { events, requests } => {
            crate::storefront_bench::funnel(events, requests).await
        }
        Bench::Sales { orders, requests } => crate::sales_bench::sales(orders, requests).await,
        Bench::Webhooks {
            senders,
            seconds,
            url: None,
            ..
        } => crate::loadgen::webhooks(&senders, Duration::from_secs(seconds)).await,
        Bench::Webhooks {
            senders,
            seconds,
            url: Some(url),
            secret,
            shop,
        } => {
            let secret = secret.ok_or("--url needs the server's SHOPIFY_API_SECRET")?;
            let shop = match shop {
                Some(s) => s,
                None => format!("load-{}.myshopify.com", random_hex()?),
            };
            crate::webhook_load::run(&url, &secret, &shop, &senders, Duration::from_secs(seconds))
                .await
                .map(|_| ())
        }
        Bench::Store {
            backend,
            writers,
            seconds,
        } => {
            println!("backend     writers  batches/s   p50 ms   p99 ms   batches");
            for w in writers {
                let dir = tempfile_dir()?;
                let store = open_store(backend, &dir).await?;
                let r = store_run(store.clone(), w, Duration::from_secs(seconds)).await?;
                println!(
                    "{:<11} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>9}",
                    store.backend_name(),
                    w,
                    r.per_second,
                    r.p50.as_secs_f64() * 1e3,
                    r.p99.as_secs_f64() * 1e3,
                    r.batches
                );
                drop(store);
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(())
        }
    }
}

struct RunResult {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    batches: usize,
}

/// Each writer sends, one after another, batches shaped like a webhook's: an idempotency record
/// (conditional put) plus two numeric adds. Writers use distinct tenants, as merchants do.
async fn store_run(
    store: Arc<dyn Store>,
    writers: usize,
    length: Duration,
) -> Result<RunResult, super::CliError> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while start.elapsed() < length {
                let pk = format!("T#{w}");
                let mut event = shared::store::Item::new();
                event.insert("pk".into(), pk.clone().into());
                event.insert("sk".into(), format!("EVENT#{i}").into());
                let ops = vec![
                    WriteOp::Put {
                        item: event,
                        condition: Some(Condition::NotExists),
                    },
                    WriteOp::Update {
                        key: Key::new(pk.clone(), "TOTALS"),
                        update: Update::default()
                            .add("orders", 1i64)
                            .add("revenue", rust_decimal::Decimal::new(21463, 2)),
                        condition: None,
                    },
                    WriteOp::Update {
                        key: Key::new(pk, "DAY#2026-11-24"),
                        update: Update::default().add("orders", 1i64),
                        condition: None,
                    },
                ];
                let t = Instant::now();
                store.write(ops).await?;
                lat.push(t.elapsed());
                i += 1;
            }
            Ok::<_, shared::store::StoreError>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| percentile(&all, p);
    Ok(RunResult {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        batches: all.len(),
    })
}

fn random_hex() -> std::io::Result<String> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(std::io::Error::other)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let name = random_hex()?;
    // In the working directory (the disk under test), not a tmpfs /tmp.
    let dir = std::env::current_dir()?.join(format!(".bench-{name}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The `p` quantile (0..=1) of latencies sorted ascending; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}
