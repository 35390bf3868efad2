//! End to end: `insights serve` started as a process and driven over HTTP, stopped with SIGTERM
//! and started again on the same data dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    first_line: String,
}

impl Drop for Server {
    /// A test that fails midway leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `insights serve` on a free port over `data_dir`, generated secrets unless `secret` (the app's
/// webhook secret) is given.
fn spawn(data_dir: &std::path::Path, secret: Option<&str>, log: &str) -> (Child, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_insights"));
    cmd.args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env_remove("JWT_SECRET")
        .env_remove("SHOPIFY_API_SECRET")
        .env("RUST_LOG", log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(s) = secret {
        cmd.env("SHOPIFY_API_SECRET", s);
    }
    (cmd.spawn().unwrap(), port)
}

fn start(data_dir: &std::path::Path) -> Server {
    let (mut child, port) = spawn(data_dir, None, "info");
    // The first line says where it listens and where its data lives.
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        first_line,
    }
}

/// Registers a merchant (password `correct horse battery`); the `201` answer.
async fn register(http: &reqwest::Client, server: &Server, email: &str, shop: &str) -> Value {
    let reg = http
        .post(format!("{}/auth/register", server.base))
        .json(&json!({
            "name": "Merchant",
            "email": email,
            "password": "correct horse battery",
            "shop_domain": shop,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    reg.json().await.unwrap()
}

fn stop(mut s: Server) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serve_answers_health_logs_where_it_is_and_keeps_accounts_across_a_sigterm_restart() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    let server = start(dir.path());
    assert!(
        server.first_line.contains(&server.base),
        "{}",
        server.first_line
    );
    assert!(
        server
            .first_line
            .contains(&dir.path().display().to_string()),
        "{}",
        server.first_line
    );
    let health: Value = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let reg = register(&http, &server, "jon@example.com", "snowdevil.myshopify.com").await;
    assert!(stop(server).success(), "clean exit on SIGTERM");

    // Acknowledged before the stop, so present after it: the account, its API key, and tokens
    // (the generated signing key is kept in the data dir).
    let server = start(dir.path());
    let me = http
        .get(format!("{}/tenants/me", server.base))
        .bearer_auth(reg["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let by_key = http
        .get(format!("{}/tenants/me", server.base))
        .header("x-api-key", reg["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);
    let login = http
        .post(format!("{}/auth/login", server.base))
        .json(&json!({"email": "jon@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(stop(server).success());
}

#[test]
fn a_data_dir_already_in_use_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["serve", "--port", &free_port().to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    stop(server);
}

/// `insights serve` with a known webhook secret (the app's client secret).
fn start_with_secret(data_dir: &std::path::Path, secret: &str) -> Server {
    let (mut child, port) = spawn(data_dir, Some(secret), "warn");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.stdout.take();
    Server {
        child,
        base,
        first_line: String::new(),
    }
}

fn order(id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "name": format!("#{id}"),
        "email": "buyer@example.com",
        "created_at": "2026-11-20T10:00:00-05:00",
        "updated_at": "2026-11-20T10:00:00-05:00",
        "currency": "USD",
        "current_total_price": "10.00",
        "total_price": "10.00",
        "financial_status": "paid",
        "test": false,
        "customer": null,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_load_no_acknowledged_webhook_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "crash-test-app-secret";
    let shop = "crash.myshopify.com";
    let http = reqwest::Client::new();
    let mut server = start_with_secret(dir.path(), secret);
    let reg = register(&http, &server, "crash@example.com", shop).await;
    let token = reg["token"].as_str().unwrap().to_owned();

    // 16 senders deliver distinct orders until the process dies under them.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let mut senders = Vec::new();
    for s in 0..16u64 {
        let (http, base, acked) = (http.clone(), server.base.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..100_000u64 {
                let id = 1_000_000 + s * 100_000 + i;
                match deliver(&http, &base, secret, shop, id).await {
                    Ok((200, _)) => acked.lock().unwrap().push(id),
                    Ok((status, _)) => panic!("delivery answered {status}"),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.child.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "load reached the server: {}", acked.len());

    // Restarted on the same data dir: every acknowledged order is there.
    let server = start_with_secret(dir.path(), secret);
    let mut held = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/dashboard/orders-by-date?from=2026-11-01&to=2026-11-30&limit=250",
            server.base
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for o in page["orders"].as_array().unwrap() {
            let id = o["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or(o["id"].as_u64())
                .unwrap();
            held.insert(id);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let lost: Vec<u64> = acked
        .iter()
        .filter(|id| !held.contains(id))
        .copied()
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged orders lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(stop(server).success());
}

#[test]
fn a_signing_secret_under_32_bytes_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["serve", "--port", &free_port().to_string(), "--data-dir"])
        .arg(dir.path())
        .env("JWT_SECRET", "a")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("JWT_SECRET"), "{err}");
    assert!(err.contains("32 bytes"), "{err}");
    assert!(
        !err.contains("secret is a"),
        "the value is never shown: {err}"
    );
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_logins_stay_under_300_mb_and_each_is_answered_within_10_s() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_secret(dir.path(), "login-flood-secret");
    let http = reqwest::Client::new();
    register(&http, &server, "flood@example.com", "flood.myshopify.com").await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (http, base) = (http.clone(), server.base.clone());
            tokio::spawn(async move {
                let password = if i % 7 == 0 {
                    "correct horse battery"
                } else {
                    "not the password"
                };
                let started = Instant::now();
                let status = http
                    .post(format!("{base}/auth/login"))
                    .json(&json!({"email": "flood@example.com", "password": password}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                (status, started.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (status, took) = t.await.unwrap();
        assert!([200, 401, 429, 503].contains(&status), "{status}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
    let peak = peak_rss_kib(server.child.id()).unwrap();
    assert!(peak < 300 * 1024, "peak RSS {} MiB", peak / 1024);
    assert!(stop(server).success());
}

/// DynamoDB Local backed by a file (not `-inMemory`), so it can be stopped and started again with
/// its data; the jar comes from `DYNAMODB_LOCAL_JAR` (scripts/test exports it).
struct FileBackedDynamo {
    child: Child,
    port: u16,
    jar: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl FileBackedDynamo {
    fn jar() -> Option<std::path::PathBuf> {
        match std::env::var_os("DYNAMODB_LOCAL_JAR") {
            Some(j) => Some(j.into()),
            None if std::env::var_os("INSIGHTS_REQUIRE_DYNAMODB").is_some() => {
                panic!("INSIGHTS_REQUIRE_DYNAMODB is set but DYNAMODB_LOCAL_JAR is not")
            }
            None => None,
        }
    }

    fn start(jar: std::path::PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Self::spawn(&jar, dir.path(), port);
        FileBackedDynamo {
            child,
            port,
            jar,
            dir,
        }
    }

    fn spawn(jar: &std::path::Path, db: &std::path::Path, port: u16) -> Child {
        let lib = jar.parent().unwrap().join("DynamoDBLocal_lib");
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={}", lib.display()))
            .arg("-jar")
            .arg(jar)
            .args(["-sharedDb", "-disableTelemetry", "-dbPath"])
            .arg(db)
            .args(["-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "DynamoDB Local did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Stops it (SIGTERM, as an outage of the service would look from here). Not SIGKILL:
    /// DynamoDB Local's own file is not crash-safe (a SIGKILL once lost a write it had
    /// acknowledged), and DynamoDB's durability is not what this tests.
    fn stop(&mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(&self.jar, self.dir.path(), self.port);
    }
}

impl Drop for FileBackedDynamo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A delivery of order `id` as Shopify makes it (the event id is the order's: a redelivery carries
/// the same one); the status and how long the answer took, or the transport error.
async fn deliver(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    shop: &str,
    id: u64,
) -> Result<(u16, Duration), reqwest::Error> {
    let body = order(id);
    let sig = shared::ingest::verify::sign(secret.as_bytes(), &body);
    let started = Instant::now();
    let status = http
        .post(format!("{base}/webhooks/orders"))
        .header("content-type", "application/json")
        .header("x-shopify-topic", "orders/create")
        .header("x-shopify-shop-domain", shop)
        .header("x-shopify-event-id", format!("evt-{id}"))
        .header("x-shopify-hmac-sha256", sig)
        .body(body)
        .send()
        .await?
        .status()
        .as_u16();
    Ok((status, started.elapsed()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_dynamodb_a_store_outage_answers_503_fast_and_redelivery_afterwards_ends_in_exact_totals()
 {
    let Some(jar) = FileBackedDynamo::jar() else {
        eprintln!("skipped: DYNAMODB_LOCAL_JAR is not set (scripts/test sets it)");
        return;
    };
    let mut dynamo = FileBackedDynamo::start(jar);
    let secret = "outage-test-app-secret";
    let shop = "outage.myshopify.com";
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["serve", "--store", "dynamodb", "--port", &port.to_string()])
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://127.0.0.1:{}", dynamo.port),
        )
        .env("TABLE_NAME", "insights-outage")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SHOPIFY_API_SECRET", secret)
        .env("JWT_SECRET", "outage-test-signing-secret-of-enough-length")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        first_line: String::new(),
    };
    let http = reqwest::Client::new();
    let token = register(&http, &server, "outage@example.com", shop).await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // 8 senders deliver distinct orders; DynamoDB Local stops under them and stays down 3 s.
    let stop_sending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for s in 0..8u64 {
        let (http, base, stop_sending) = (http.clone(), server.base.clone(), stop_sending.clone());
        senders.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0u64;
            while !stop_sending.load(std::sync::atomic::Ordering::Relaxed) {
                let id = 5_000_000 + s * 1_000_000 + i;
                let (status, took) = deliver(&http, &base, secret, shop, id).await.unwrap();
                answers.push((id, status, took));
                i += 1;
                if status != 200 {
                    // Shopify backs off after a failed delivery (and retries it later).
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    dynamo.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_sending.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for s in senders {
        answers.extend(s.await.unwrap());
    }
    let refused: Vec<_> = answers.iter().filter(|(_, st, _)| *st != 200).collect();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (_, st, _) in &answers {
        *by_status.entry(*st).or_default() += 1;
    }
    assert!(
        by_status.get(&200).copied().unwrap_or(0) >= 8,
        "load reached the store before the outage: {by_status:?}"
    );
    assert!(
        refused.len() >= 8,
        "deliveries met the outage: {}",
        refused.len()
    );
    eprintln!(
        "deliveries by status: {by_status:?}; slowest 503: {:?}",
        refused.iter().map(|(_, _, took)| *took).max()
    );
    for (id, status, took) in &refused {
        assert_eq!(*status, 503, "order {id} during the outage");
        // Shopify gives up on an answer after 5 s and counts it a failure.
        assert!(
            *took < Duration::from_secs(5),
            "order {id}: 503 after {took:?}"
        );
    }

    // DynamoDB Local comes back with its file; Shopify redelivers every unacknowledged delivery
    // (and, as it may, some acknowledged ones again) until each is acknowledged.
    dynamo.restart();
    let mut pending: Vec<u64> = refused.iter().map(|(id, _, _)| *id).collect();
    pending.extend(answers.iter().step_by(7).map(|(id, _, _)| *id));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} never acknowledged",
            pending.len()
        );
        let mut again = Vec::new();
        for id in pending {
            if deliver(&http, &server.base, secret, shop, id)
                .await
                .unwrap()
                .0
                != 200
            {
                again.push(id);
            }
        }
        pending = again;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let metrics: Value = http
        .get(format!("{}/dashboard/metrics", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = answers.len() as u64;
    assert_eq!(metrics["orders"], json!(sent), "{metrics}");
    assert_eq!(
        metrics["revenue"],
        json!(format!("{}.00", sent * 10)),
        "{metrics}"
    );
    assert!(stop(server).success());
}
