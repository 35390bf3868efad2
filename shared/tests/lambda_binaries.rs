//! Every function binary (`target/debug/<function>`) started under a Lambda Runtime API emulator
//! with its `events/` sample, as `sam local invoke` would, answers what the in-process code answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_shopify;
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use fake_shopify::{FakeConfig, FakeShopify};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::App;
use shared::app::SecretNames;
use shared::clock::SystemClock;
use shared::secrets::StaticSecrets;
use shared::store::dynamo::DynamoStore;
use shared::sync::SyncDeps;
use shared::sync::queue::EventBridgeQueue;
use shared::sync::vault::SecretsManagerVault;
use support::runtime_api::{Emulator, InvokeError};
use support::{JWT_SECRET, SHOPIFY_SECRET, random_hex};
use tower::ServiceExt;

// ------------------------------------------------------------------------------------------------
// The in-process answers: the only two functions that call the library's routing and job API.

/// What the in-process router answers for an API Gateway v2 `event`: lambda_http's conversion of
/// the event, then a router mounting only `function`'s endpoint, as the function's `main.rs` does.
async fn router_answer(app: &App, function: &str, event: &Value) -> (u16, Value) {
    let route = shared::routes::route(function)
        .unwrap_or_else(|| panic!("{function} is not an HTTP route"));
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = req.into_parts();
    let req = http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let res = route.router(app).oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, body_json(&bytes))
}

/// What a job function's code answers in-process for `event` with `timeout` left (Lambda's
/// deadline); an error is its message and its sources.
async fn job_answer(
    app: &App,
    function: &str,
    event: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    match function {
        "sync-scheduler" => shared::lambda::sync_scheduler(&app.deps())
            .await
            .map_err(chain),
        "sync-shop" => shared::lambda::sync_shop(&app.deps(), event, timeout)
            .await
            .map_err(chain),
        "webhooks-eventbridge" => shared::lambda::webhooks_eventbridge(&app.deps(), event)
            .await
            .map_err(chain),
        "checkouts-abandon" => shared::lambda::checkouts_abandon(&app.deps(), timeout)
            .await
            .map_err(chain),
        "ledger-backfill" => shared::lambda::ledger_backfill(&app.deps(), timeout)
            .await
            .map_err(chain),
        other => panic!("{other}: no in-process job (add it here)"),
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: impl std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(x) = source {
        write!(s, ": {x}").unwrap();
        source = x.source();
    }
    s
}

// ------------------------------------------------------------------------------------------------
// What each sample is replayed on

/// What the table holds before a sample is replayed; each state includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Given {
    /// Nothing.
    Empty,
    /// `events/auth-register.json`'s merchant (snowdevil.myshopify.com) is registered.
    Registered,
    /// ... its shop connected to the fake Admin API with `events/shopify-connect.json`.
    Connected,
    /// ... a sync requested with `events/sync-request.json` (claimed, not run).
    Requested,
    /// ... and run with `events/sync-shop.json`: the fake shop's data is in the table.
    Synced,
    /// ... and Shopify's `customers/data_request` fixture (request 9999) received.
    DataRequested,
}

/// Each function's state, and its answer: the HTTP status, or `None` for a job (which must
/// succeed).
const SCENARIOS: &[(&str, Given, Option<u16>)] = &[
    ("health", Given::Empty, Some(200)),
    ("auth-register", Given::Empty, Some(201)),
    ("auth-login", Given::Registered, Some(200)),
    ("tenants-me", Given::Registered, Some(200)),
    ("webhooks", Given::Registered, Some(200)),
    ("webhooks-customers", Given::Registered, Some(200)),
    ("webhooks-orders", Given::Registered, Some(200)),
    ("webhooks-products", Given::Registered, Some(200)),
    ("webhooks-eventbridge", Given::Registered, None),
    ("dashboard-metrics", Given::Synced, Some(200)),
    ("dashboard-orders-by-date", Given::Synced, Some(200)),
    ("dashboard-top-customers", Given::Synced, Some(200)),
    ("shopify-connect", Given::Registered, Some(200)),
    ("shopify-disconnect", Given::Connected, Some(204)),
    ("sync-request", Given::Connected, Some(202)),
    ("sync-status", Given::Synced, Some(200)),
    ("sync-scheduler", Given::Connected, None),
    ("sync-shop", Given::Requested, None),
    ("shopify-install-start", Given::Registered, Some(200)),
    // Signed with the app secret: redirected to the authorize URL.
    ("shopify-install", Given::Empty, Some(302)),
    // Signed, but with a state this service never issued.
    ("shopify-callback", Given::Registered, Some(400)),
    ("auth-signin-code", Given::Registered, Some(401)),
    // The registered merchant has a login already.
    ("tenants-me-login", Given::Registered, Some(409)),
    ("tenants-me-api-key", Given::Registered, Some(200)),
    ("compliance-requests", Given::DataRequested, Some(200)),
    ("compliance-request", Given::DataRequested, Some(200)),
    // Two Web Pixels events by the merchant's ingest key.
    ("events-ingest", Given::Registered, Some(202)),
    ("tenants-me-ingest-key", Given::Registered, Some(200)),
    (
        "tenants-me-ingest-key-replace",
        Given::Registered,
        Some(200),
    ),
    ("tenants-me-settings", Given::Registered, Some(200)),
    ("tenants-me-settings-put", Given::Registered, Some(200)),
    ("dashboard-events", Given::Registered, Some(200)),
    ("dashboard-funnel", Given::Registered, Some(200)),
    ("dashboard-sales", Given::Registered, Some(200)),
    ("dashboard-top-products", Given::Registered, Some(200)),
    ("checkouts-abandon", Given::Registered, None),
    ("ledger-backfill", Given::Registered, None),
];

/// How long a binary may take from spawn to its first `GET /next`.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait for an answer (sync-shop is told Lambda's 15 minutes, but answers in seconds).
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Everything for one function: two scenes, the binary's run, the in-process answer.
const PER_FUNCTION: Duration = Duration::from_secs(180);
/// The generated shop's data ends here, so twin scenes hold the same records and watermarks.
const DATA_UNTIL: &str = "2026-11-25T03:00:00Z";

// ------------------------------------------------------------------------------------------------
// Reading the repository

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `CARGO_TARGET_DIR` (relative to the workspace when relative), else the workspace's `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => workspace().join(d),
        None => workspace().join("target"),
    }
}

/// Which build the binaries come from: `LAMBDA_BIN_PROFILE` (`release` to measure cold starts of
/// `cargo build --release --bins`), else `debug`.
fn profile() -> String {
    std::env::var("LAMBDA_BIN_PROFILE").unwrap_or_else(|_| "debug".into())
}

fn binary(function: &str) -> PathBuf {
    target_dir().join(profile()).join(function)
}

/// The newest modification time of `paths` (files, and the files under directories).
fn newest_modified(paths: &[PathBuf]) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = paths.to_vec();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified()) {
            newest = newest.max(Some(t));
        }
    }
    newest
}

/// Why `function`'s binary cannot be run: missing, or older than its sources (`cargo test` does
/// not rebuild other packages' binaries).
fn unusable_binary(function: &str) -> Option<String> {
    let Ok(built) = std::fs::metadata(binary(function)).and_then(|m| m.modified()) else {
        return Some(format!("{function}: missing"));
    };
    let w = workspace();
    let sources = [
        w.join("shared/src"),
        w.join("functions").join(function),
        w.join("Cargo.lock"),
    ];
    newest_modified(&sources)
        .filter(|newest| *newest > built)
        .map(|_| format!("{function}: older than its sources"))
}

/// The directories under `functions/` that hold a package.
fn function_dirs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(workspace().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A template function as this test runs it.
struct Function {
    name: String,
    /// It has an `HttpApi` event (else it is a job).
    http: bool,
    /// `Timeout` (its own or `Globals.Function`'s).
    timeout: Duration,
    /// Its environment, globals included: a literal value, or `None` for an intrinsic (`!Ref`).
    env: BTreeMap<String, Option<String>>,
}

/// The template's functions by binary name.
fn template_functions() -> BTreeMap<String, Function> {
    let text = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    let t: serde_norway::Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
    let globals = &t["Globals"]["Function"];
    let mut out = BTreeMap::new();
    for (id, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id:?}: no Metadata.BuildProperties.Binary"))
            .to_owned();
        let p = &r["Properties"];
        let mut env = BTreeMap::new();
        for vars in [
            &globals["Environment"]["Variables"],
            &p["Environment"]["Variables"],
        ] {
            for (k, v) in vars.as_mapping().into_iter().flatten() {
                env.insert(
                    k.as_str().unwrap().to_owned(),
                    v.as_str().map(str::to_owned),
                );
            }
        }
        let timeout = p["Timeout"]
            .as_u64()
            .or(globals["Timeout"].as_u64())
            .unwrap_or(3);
        let http = p["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, e)| e["Type"].as_str() == Some("HttpApi"));
        out.insert(
            name.clone(),
            Function {
                name,
                http,
                timeout: Duration::from_secs(timeout),
                env,
            },
        );
    }
    out
}

fn sample_text(name: &str) -> String {
    let path = workspace().join("events").join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A response body as JSON: `Null` when empty, a string when not JSON.
fn body_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

// ------------------------------------------------------------------------------------------------
// The local AWS services and the scenes built on them

/// `vars` are set, else the test is skipped (or fails when `require` is set), as
/// `support::dynamo_table` does.
fn configured(vars: &[&str], require: &str, what: &str) -> bool {
    if vars.iter().all(|v| std::env::var_os(v).is_some()) {
        return true;
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{require} is set but {vars:?} are not"
    );
    eprintln!("skipped: {what} is not running (scripts/test starts it)");
    false
}

/// What every scene shares: the two secrets (moto's Secrets Manager, and the same values in the
/// in-process app's static secrets) and the sync bus (moto's EventBridge).
struct World {
    sdk: aws_config::SdkConfig,
    jwt_secret_id: String,
    shopify_secret_id: String,
    bus: String,
}

impl World {
    async fn new() -> Option<World> {
        if !configured(
            &["AWS_ENDPOINT_URL_DYNAMODB"],
            "INSIGHTS_REQUIRE_DYNAMODB",
            "DynamoDB Local",
        ) || !configured(
            &[
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                "AWS_ENDPOINT_URL_EVENTBRIDGE",
            ],
            "INSIGHTS_REQUIRE_MOTO",
            "moto",
        ) {
            return None;
        }
        let sdk = shared::config::aws().await;
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let run = random_hex(4);
        let mut ids = Vec::new();
        for (name, value) in [("jwt", JWT_SECRET), ("shopify-api", SHOPIFY_SECRET)] {
            let out = sm
                .create_secret()
                .name(format!("insights-lambda-{run}/{name}"))
                .secret_string(value)
                .send()
                .await
                .unwrap();
            // The template hands the functions `!Ref <secret>`: the ARN.
            ids.push(out.arn().unwrap().to_owned());
        }
        let bus = format!("insights-lambda-{run}-sync");
        aws_sdk_eventbridge::Client::new(&sdk)
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .unwrap();
        let shopify_secret_id = ids.pop().unwrap();
        let jwt_secret_id = ids.pop().unwrap();
        Some(World {
            sdk,
            jwt_secret_id,
            shopify_secret_id,
            bus,
        })
    }

    /// The ports a function's bundle holds in Lambda, in-process: the same table, the same secret
    /// values (static, under the same ids), the same token vault prefix and bus.
    fn app(&self, store: DynamoStore, token_prefix: &str, shopify: &FakeShopify) -> App {
        let secrets = StaticSecrets(
            [
                (&self.jwt_secret_id, JWT_SECRET),
                (&self.shopify_secret_id, SHOPIFY_SECRET),
            ]
            .into_iter()
            .map(|(k, v)| (k.clone(), SecretString::from(v)))
            .collect(),
        );
        let names = SecretNames {
            jwt: Some(self.jwt_secret_id.clone()),
            shopify_api: Some(self.shopify_secret_id.clone()),
        };
        App::new(
            Arc::new(store),
            Arc::new(secrets),
            names,
            Arc::new(SystemClock),
        )
        .with_sync(SyncDeps {
            vault: Arc::new(SecretsManagerVault::new(
                aws_sdk_secretsmanager::Client::new(&self.sdk),
                token_prefix,
            )),
            queue: Arc::new(EventBridgeQueue::new(
                aws_sdk_eventbridge::Client::new(&self.sdk),
                &self.bus,
            )),
            shopify_base_url: Some(shopify.base_url()),
            http: reqwest::Client::new(),
            // As in Lambda: the first import goes through a bulk operation.
            bulk_orders: true,
            bulk_poll: Duration::from_secs(5),
        })
    }
}

/// A fresh table in a given state, its own token vault prefix and fake Shopify, and the app over
/// them; the binary is pointed at the same table, secrets, prefix, bus and fake.
struct Scene {
    app: App,
    table: String,
    token_prefix: String,
    fake: FakeShopify,
    token: String,
    /// The registered merchant's storefront ingest key.
    ingest_key: String,
    tenant: Option<String>,
    sync_id: Option<String>,
}

impl Scene {
    async fn new(world: &World, given: Given) -> Scene {
        let store = support::dynamo_table("lambda")
            .await
            .expect("DynamoDB Local is configured");
        let table = store.table().to_owned();
        let token_prefix = format!("insights-lambda-{}/shopify-token/", random_hex(4));
        let connect: Value = serde_json::from_str(&sample_text("shopify-connect")).unwrap();
        let connect: Value = serde_json::from_str(connect["body"].as_str().unwrap()).unwrap();
        let fake = FakeShopify::start(FakeConfig {
            // The only token the fake accepts: the connect sample's.
            token: connect["access_token"].as_str().unwrap().to_owned(),
            // Complete on the first poll: the binaries poll every 5 s.
            bulk_polls_to_complete: 1,
            data_until: DATA_UNTIL.parse::<DateTime<Utc>>().unwrap(),
            ..FakeConfig::default()
        })
        .await;
        fake.generate(12, 4, 30, 7);
        let app = world.app(store, &token_prefix, &fake);
        let mut scene = Scene {
            app,
            table,
            token_prefix,
            fake,
            token: String::new(),
            ingest_key: String::new(),
            tenant: None,
            sync_id: None,
        };
        if given >= Given::Registered {
            let (status, body) = scene.http("auth-register").await;
            assert_eq!(status, 201, "given: registration: {body}");
            scene.token = body["token"].as_str().unwrap().to_owned();
            scene.tenant = Some(body["tenant"]["id"].as_str().unwrap().to_owned());
            let tenant = shared::domain::TenantId::parse(scene.tenant.as_deref().unwrap()).unwrap();
            scene.ingest_key =
                shared::storefront::ingest_key::current(scene.app.store.as_ref(), tenant)
                    .await
                    .unwrap();
        }
        if given >= Given::Connected {
            let (status, body) = scene.http("shopify-connect").await;
            assert_eq!(status, 200, "given: connection: {body}");
            // Connecting queued a first sync on the bus, which nothing here runs: it is ended, so
            // the scenes below ask for their own.
            let tenant = shared::domain::TenantId::parse(scene.tenant.as_deref().unwrap()).unwrap();
            shared::sync::state::SyncState::finish(
                scene.app.store.as_ref(),
                chrono::Utc::now(),
                tenant,
                shared::sync::state::End::Idle(None),
            )
            .await
            .unwrap();
        }
        if given >= Given::Requested {
            let (status, body) = scene.http("sync-request").await;
            assert_eq!(status, 202, "given: sync request: {body}");
            scene.sync_id = Some(body["sync_id"].as_str().unwrap().to_owned());
        }
        if given >= Given::Synced {
            let answer = job_answer(
                &scene.app,
                "sync-shop",
                &scene.sample("sync-shop"),
                Duration::from_secs(900),
            )
            .await;
            let answer = answer.unwrap_or_else(|e| panic!("given: sync: {e}"));
            assert_eq!(answer["result"], "done", "given: sync: {answer}");
        }
        if given >= Given::DataRequested {
            // Delivered in process, signed as Shopify signs it.
            let body = support::fixture("customers-data_request.json");
            let mut headers = http::HeaderMap::new();
            for (k, v) in [
                ("x-shopify-topic", "customers/data_request".to_owned()),
                (
                    "x-shopify-shop-domain",
                    "snowdevil.myshopify.com".to_owned(),
                ),
                ("x-shopify-event-id", random_hex(8)),
                (
                    "x-shopify-hmac-sha256",
                    shared::ingest::verify::sign(SHOPIFY_SECRET.as_bytes(), &body),
                ),
            ] {
                headers.insert(k, v.parse().unwrap());
            }
            let app = &scene.app;
            shared::ingest::receive(
                app.store.as_ref(),
                chrono::Utc::now(),
                app.sync.vault.as_ref(),
                &app.app_secret,
                None,
                &headers,
                &body,
            )
            .await
            .unwrap_or_else(|e| panic!("given: data request: {e}"));
        }
        scene
    }

    /// `events/<name>.json` for this scene: the merchant's token for `REPLACE_WITH_TOKEN`, the
    /// requested sync in `sync-shop.json`'s detail.
    fn sample(&self, name: &str) -> Value {
        let text = sample_text(name)
            .replace("REPLACE_WITH_TOKEN", &self.token)
            .replace("REPLACE_WITH_INGEST_KEY", &self.ingest_key);
        let mut v: Value = serde_json::from_str(&text).unwrap();
        if let (Some(tenant), Some(sync_id)) = (&self.tenant, &self.sync_id)
            && v["detail"]["sync_id"].is_string()
        {
            let req = shared::sync::SyncRequest::sync(
                shared::domain::TenantId::parse(tenant).unwrap(),
                sync_id.clone(),
            );
            v["detail"] = serde_json::to_value(req).unwrap();
        }
        v
    }

    async fn http(&self, name: &str) -> (u16, Value) {
        router_answer(&self.app, name, &self.sample(name)).await
    }

    /// The function's environment: the Lambda runtime's variables, then each template variable
    /// pointed at this scene (an unknown one fails: give it a local stand-in here).
    fn env(&self, world: &World, f: &Function) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_LAMBDA_FUNCTION_NAME", f.name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/25/[$LATEST]{}", random_hex(16)),
            ),
            ("SHOPIFY_API_BASE_URL", self.fake.base_url()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<Vec<_>>();
        for (k, literal) in &f.env {
            let v = match k.as_str() {
                "TABLE_NAME" => self.table.clone(),
                "JWT_SECRET_ID" => world.jwt_secret_id.clone(),
                "SHOPIFY_API_SECRET_ID" => world.shopify_secret_id.clone(),
                "EVENT_BUS_NAME" => world.bus.clone(),
                "TOKEN_SECRET_PREFIX" => self.token_prefix.clone(),
                // What the in-process app uses when they are unset, so both answer alike.
                "SHOPIFY_API_KEY" => shared::config::LOCAL_CLIENT_ID.to_owned(),
                "APP_URL" => shared::config::LOCAL_APP_URL.to_owned(),
                // No partner event bus: subscriptions point at `{APP_URL}/webhooks`.
                "SHOPIFY_EVENT_SOURCE_ARN" => String::new(),
                _ => literal.clone().unwrap_or_else(|| {
                    panic!("{}: template variable {k} has no local stand-in", f.name)
                }),
            };
            env.push((k.clone(), v));
        }
        env
    }
}

/// Variables a function could inherit from the test's environment but must get only from the
/// template.
const TEMPLATE_SETTINGS: &[&str] = &[
    "TABLE_NAME",
    "JWT_SECRET_ID",
    "SHOPIFY_API_SECRET_ID",
    "EVENT_BUS_NAME",
    "TOKEN_SECRET_PREFIX",
    "SHOPIFY_API_KEY",
    "APP_URL",
    "SHOPIFY_SCOPES",
    "SHOPIFY_EVENT_SOURCE_ARN",
    "RUST_LOG",
];

// ------------------------------------------------------------------------------------------------
// Running a binary

/// One invocation of a freshly started binary.
struct Run {
    answer: Result<Value, InvokeError>,
    /// Spawn to its first `GET /next`.
    init: Duration,
    /// The event queued to its answer.
    invoke: Duration,
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A started binary; killed when dropped (tokio's `process` feature, with `kill_on_drop`, is not
/// enabled in this workspace).
struct Child(std::process::Child);

impl Child {
    /// Waits for the process to exit; its status.
    async fn exited(&mut self) -> String {
        loop {
            match self.0.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(e) => return format!("unknown status: {e}"),
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `f`'s binary under a fresh emulator with `env`, invokes it once with `event` and kills
/// it. Its output goes to `log`.
async fn run_binary(
    f: &Function,
    env: &[(String, String)],
    event: Value,
    log: &Path,
) -> Result<Run, String> {
    let emulator = Emulator::start_named(&f.name).await;
    let out = std::fs::File::create(log).unwrap();
    let mut cmd = std::process::Command::new(binary(&f.name));
    for k in TEMPLATE_SETTINGS {
        cmd.env_remove(k);
    }
    cmd.env("AWS_LAMBDA_RUNTIME_API", emulator.addr())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let spawned = Instant::now();
    let mut child = Child(cmd.spawn().map_err(|e| format!("could not start: {e}"))?);
    let ready = tokio::select! {
        at = emulator.first_poll(INIT_TIMEOUT) => at,
        status = child.exited() => {
            return Err(format!("exited ({status}) before asking for an event"));
        }
    };
    let init = ready
        .ok_or_else(|| format!("did not ask for an event within {INIT_TIMEOUT:?}"))?
        .saturating_duration_since(spawned);
    let started = Instant::now();
    let answer = tokio::select! {
        a = emulator.invoke_until(event, f.timeout, f.timeout.min(MAX_WAIT)) => a,
        status = child.exited() => {
            return Err(format!("exited ({status}) during the invocation"));
        }
    };
    let invoke = started.elapsed();
    // A runtime that answered asks for the next event (the environment stays warm).
    let polled_again = tokio::time::timeout(Duration::from_secs(5), async {
        while emulator.polls() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .is_ok();
    drop(child);
    if !polled_again {
        return Err("did not ask for the next event after answering".into());
    }
    Ok(Run {
        answer,
        init,
        invoke,
    })
}

/// An API Gateway v2 (payload 2.0) Lambda response as status and JSON body.
fn http_answer(response: &Value) -> Result<(u16, Value), String> {
    let status = response["statusCode"]
        .as_u64()
        .ok_or_else(|| format!("no statusCode in {response}"))?;
    let body = match &response["body"] {
        Value::Null => Vec::new(),
        Value::String(s) if response["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("body is not base64: {e}"))?
        }
        Value::String(s) => s.clone().into_bytes(),
        other => return Err(format!("body is not a string: {other}")),
    };
    Ok((u16::try_from(status).unwrap(), body_json(&body)))
}

/// `v` with the values that legitimately differ between two runs (ids and tokens minted per
/// registration, timestamps, sync ids) replaced by their type, so keys and stable values compare.
fn comparable(v: &Value) -> Value {
    fn walk(v: &Value, key: Option<&str>, parent: Option<&str>) -> Value {
        let volatile = key.is_some_and(|k| {
            ["token", "api_key", "sync_id", "ingest_key"].contains(&k)
                || k.ends_with("_at")
                || (k == "id" && parent == Some("tenant"))
        });
        match v {
            // The install's state is minted per request and each scene has its own fake shop:
            // everything else in the URL compares.
            Value::String(url) if key == Some("authorize_url") => {
                let path = url.find("/admin/").map_or(url.as_str(), |i| &url[i..]);
                let (head, rest) = path.split_once("state=").unwrap_or((path, ""));
                let tail = rest.split_once('&').map_or("", |(_, t)| t);
                Value::String(format!("{head}state=<state>&{tail}"))
            }
            _ if volatile => Value::String(format!(
                "<{}>",
                match v {
                    Value::Null => "null",
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "number",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                }
            )),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), walk(x, Some(k), key)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, None, key)).collect()),
            other => other.clone(),
        }
    }
    walk(v, None, None)
}

/// How one function's check went: its binary's timings (when it ran) and what went wrong.
struct Checked {
    /// Spawn to first `GET /next`, and the invocation.
    timing: Option<(Duration, Duration)>,
    failure: Option<String>,
}

impl Checked {
    fn failed(timing: Option<(Duration, Duration)>, why: String) -> Checked {
        Checked {
            timing,
            failure: Some(why),
        }
    }
}

/// One function: its binary on one scene, the in-process code on a twin scene (the samples change
/// state: a second registration or delivery would answer differently).
async fn check(world: &World, f: &Function, given: Given, status: Option<u16>) -> Checked {
    let logs = workspace().join("test-artifacts/lambda-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join(format!("{}.log", f.name));
    let bin_scene = Scene::new(world, given).await;
    let run = run_binary(f, &bin_scene.env(world, f), bin_scene.sample(&f.name), &log).await;
    let run = match run {
        Ok(r) => r,
        Err(e) => return Checked::failed(None, format!("{e}\n{}", tail(&log))),
    };
    let timing = Some((run.init, run.invoke));
    eprintln!(
        "{}: cold start {:.1} ms (spawn to first GET /next), invocation {:.1} ms",
        f.name,
        run.init.as_secs_f64() * 1e3,
        run.invoke.as_secs_f64() * 1e3
    );
    let answer = match run.answer {
        Ok(a) => a,
        Err(e) => return Checked::failed(timing, format!("{e}\n{}", tail(&log))),
    };
    let twin = Scene::new(world, given).await;
    let (got, want) = if f.http {
        let got = match http_answer(&answer) {
            Ok(a) => a,
            Err(e) => return Checked::failed(timing, e),
        };
        if Some(got.0) != status {
            let why = format!("answered {} (expected {status:?}): {}", got.0, got.1);
            return Checked::failed(timing, why);
        }
        let want = router_answer(&twin.app, &f.name, &twin.sample(&f.name)).await;
        (
            json!([got.0, comparable(&got.1)]),
            json!([want.0, comparable(&want.1)]),
        )
    } else {
        let want = job_answer(&twin.app, &f.name, &twin.sample(&f.name), f.timeout).await;
        (
            comparable(&answer),
            want.map_or_else(|e| json!({ "error": e }), |v| comparable(&v)),
        )
    };
    if got != want {
        let why = format!("the binary answered\n  {got}\nthe in-process code\n  {want}");
        return Checked::failed(timing, why);
    }
    // What the binary wrote is what the in-process app reads: its merchant logs in.
    if f.name == "auth-register" {
        let (status, body) = bin_scene.http("auth-login").await;
        if status != 200 {
            let why = format!("the registered merchant cannot log in in-process: {status} {body}");
            return Checked::failed(timing, why);
        }
    }
    Checked {
        timing,
        failure: None,
    }
}

#[tokio::test]
async fn every_function_binary_answers_its_sample_event_as_the_router_does() {
    let Some(world) = World::new().await else {
        return;
    };
    let fns = template_functions();
    let dirs = function_dirs();
    let mut names: Vec<&str> = SCENARIOS.iter().map(|(n, _, _)| *n).collect();
    names.sort_unstable();
    assert_eq!(names, dirs, "SCENARIOS covers every functions/<name>");
    let unusable: Vec<String> = dirs.iter().filter_map(|n| unusable_binary(n)).collect();
    assert!(
        unusable.is_empty(),
        "function binaries in {}: {}; run `cargo build --workspace --bins` first (scripts/test \
         does)",
        target_dir().join(profile()).display(),
        unusable.join(", ")
    );

    let mut table = format!(
        "# Lambda cold starts: spawning target/{p}/<function> to its first GET \
         /2018-06-01/runtime/invocation/next (init), then its sample event (invoke); {p} builds, \
         DynamoDB Local and moto (shared/tests/lambda_binaries.rs)\n",
        p = profile()
    );
    writeln!(
        table,
        "{:<26} {:>8} {:>10}  result",
        "function", "init_ms", "invoke_ms"
    )
    .unwrap();
    let mut failures = Vec::new();
    for (name, given, status) in SCENARIOS {
        let f = fns
            .get(*name)
            .unwrap_or_else(|| panic!("template.yaml has no function building {name}"));
        assert_eq!(
            f.http,
            status.is_some(),
            "{name}: an HTTP function has a status in SCENARIOS, a job none"
        );
        let checked = tokio::time::timeout(PER_FUNCTION, check(&world, f, *given, *status))
            .await
            .unwrap_or_else(|_| Checked::failed(None, format!("not done within {PER_FUNCTION:?}")));
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
        let (init, invoke) = checked
            .timing
            .map_or(("-".into(), "-".into()), |(i, v)| (ms(i), ms(v)));
        let result = if checked.failure.is_none() {
            "ok"
        } else {
            "FAILED"
        };
        writeln!(table, "{name:<26} {init:>8} {invoke:>10}  {result}").unwrap();
        if let Some(why) = checked.failure {
            failures.push(format!("{name} (events/{name}.json): {why}"));
        }
    }
    let dir = workspace().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lambda-cold-starts.txt"), &table).unwrap();
    eprintln!("{table}");
    assert!(
        failures.is_empty(),
        "{} function(s) did not answer as the in-process code (logs in \
         test-artifacts/lambda-logs/):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
