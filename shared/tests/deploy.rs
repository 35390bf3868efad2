//! Deployability: `template.yaml`, `functions/`, `events/`, `shared/openapi.json` and the router's
//! route declarations (`shared::routes`) name the same functions, routes and samples; every sample event replays through
//! the code with the answer it is meant to get.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_shopify;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use fake_shopify::{FakeConfig, FakeShopify};
use http::StatusCode;
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::App;
use shared::routes::{JOBS, ROUTES, RouteInfo, route};
use shared::sync::queue::LocalQueue;
use shared::sync::vault::LocalVault;
use shared::sync::{SyncDeps, SyncRequest};
use support::{Delivery, SHOPIFY_SECRET, TestApp, fixture};
use tokio::sync::mpsc;
use tower::ServiceExt;

// ------------------------------------------------------------------------------------------------
// Reading the repository

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A YAML value as JSON; CloudFormation's short tags become their long forms (`!Ref X` →
/// `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": "A.B"}`), as CloudFormation reads them.
fn json_of(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap(),
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(json_of).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other).unwrap().trim().to_owned(),
                    };
                    (k, json_of(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            json!({ long: json_of(t.value) })
        }
    }
}

fn template() -> Value {
    let text = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    json_of(serde_norway::from_str(&text).expect("template.yaml is YAML"))
}

/// A template function: its logical id and resource.
struct Function {
    logical_id: String,
    resource: Value,
}

impl Function {
    fn prop(&self, name: &str) -> &Value {
        &self.resource["Properties"][name]
    }

    /// A property from the function, else from `Globals.Function`.
    fn effective<'a>(&'a self, t: &'a Value, name: &str) -> &'a Value {
        match self.prop(name) {
            Value::Null => &t["Globals"]["Function"][name],
            v => v,
        }
    }

    /// The function's events of one type.
    fn events(&self, kind: &str) -> Vec<&Value> {
        self.prop("Events")
            .as_object()
            .map(|m| m.values().filter(|e| e["Type"] == kind).collect())
            .unwrap_or_default()
    }

    /// Its own environment variables merged over the global ones.
    fn env(&self, t: &Value) -> BTreeMap<String, Value> {
        let mut env = BTreeMap::new();
        for source in [
            &t["Globals"]["Function"]["Environment"]["Variables"],
            &self.prop("Environment")["Variables"],
        ] {
            if let Some(m) = source.as_object() {
                env.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        env
    }

    /// Its SAM policy templates (name, parameters) and inline documents ("Statement", statements).
    fn policies(&self) -> Vec<(String, Value)> {
        let Some(list) = self.prop("Policies").as_array() else {
            assert!(
                self.prop("Policies").is_null(),
                "{}: Policies must be a list of SAM policy templates",
                self.logical_id
            );
            return vec![];
        };
        list.iter()
            .map(|p| {
                let m = p.as_object().unwrap_or_else(|| {
                    panic!(
                        "{}: only SAM policy templates and inline statements, not {p} (least \
                         privilege is read off them)",
                        self.logical_id
                    )
                });
                if let Some(statements) = m.get("Statement") {
                    // An inline policy document.
                    return ("Statement".to_owned(), statements.clone());
                }
                assert_eq!(m.len(), 1, "{}: one template per entry", self.logical_id);
                let (k, v) = m.iter().next().unwrap();
                (k.clone(), v.clone())
            })
            .collect()
    }
}

/// The template's functions by binary name (each binary at most once).
fn functions(t: &Value) -> BTreeMap<String, Function> {
    let mut out = BTreeMap::new();
    for (id, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary is missing"))
            .to_owned();
        let f = Function {
            logical_id: id.clone(),
            resource: r.clone(),
        };
        assert!(
            out.insert(binary.clone(), f).is_none(),
            "two template functions build binary {binary}"
        );
    }
    out
}

/// `dashboard-orders-by-date` → `DashboardOrdersByDateFunction`.
fn logical_id_of(function: &str) -> String {
    let mut s: String = function
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    s.push_str("Function");
    s
}

/// The directories under `functions/` that hold a package.
fn function_dirs() -> BTreeSet<String> {
    std::fs::read_dir(workspace().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The `[package] name` of a manifest (a line scan: the manifests are plain).
fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(rest) = line.strip_prefix("name")
            && let Some(v) = rest.trim_start().strip_prefix('=')
        {
            return v.trim().trim_matches('"').to_owned();
        }
    }
    panic!("{}: no [package] name", manifest.display())
}

/// The sample events by function name (`events/<name>.json`).
fn event_files() -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(workspace().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect()
}

fn event(name: &str) -> Value {
    let path = workspace().join("events").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn endpoint_named(function: &str) -> Option<&'static RouteInfo> {
    route(function)
}

// ------------------------------------------------------------------------------------------------
// The template, functions/, events/ and the router agree

#[test]
fn every_template_function_builds_a_workspace_binary_of_the_same_name_for_arm64() {
    let t = template();
    let fns = functions(&t);
    assert!(!fns.is_empty());
    for (binary, f) in &fns {
        let id = &f.logical_id;
        assert_eq!(*id, logical_id_of(binary), "logical id of {binary}");
        assert_eq!(
            f.resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        assert_eq!(
            f.prop("CodeUri"),
            ".",
            "{id}: CodeUri is the workspace root"
        );
        assert_eq!(f.effective(&t, "Runtime"), "provided.al2023", "{id}");
        assert_eq!(f.effective(&t, "Architectures"), &json!(["arm64"]), "{id}");
        assert_eq!(f.effective(&t, "Handler"), "bootstrap", "{id}");
        let manifest = workspace()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        assert!(
            manifest.is_file(),
            "{id}: functions/{binary}/Cargo.toml is missing"
        );
        assert_eq!(
            package_name(&manifest),
            *binary,
            "functions/{binary}: package name"
        );
        assert!(
            workspace()
                .join("functions")
                .join(binary)
                .join("src/main.rs")
                .is_file(),
            "functions/{binary}: the binary is src/main.rs"
        );
    }
    assert_eq!(
        t["Globals"]["Function"]["LoggingConfig"]["LogFormat"], "JSON",
        "Lambda logs are JSON (shared::telemetry logs JSON in Lambda)"
    );
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"],
        json!({"Ref": "Table"})
    );
}

#[test]
fn every_endpoint_has_exactly_one_function_whose_http_route_is_the_routers() {
    let t = template();
    let fns = functions(&t);
    for e in ROUTES {
        let name = e.name;
        let f = fns
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no template function builds binary {name}"));
        let all = f.events("HttpApi");
        // A CORS-open route (POST /events only) also answers its own preflight.
        let (preflights, routes): (Vec<&Value>, Vec<&Value>) = all
            .into_iter()
            .partition(|r| r["Properties"]["Method"] == "OPTIONS");
        for p in &preflights {
            assert_eq!(name, "events-ingest", "only POST /events is CORS-open");
            assert_eq!(p["Properties"]["Path"], e.path, "{name}: preflight path");
        }
        assert_eq!(routes.len(), 1, "{name}: exactly one HttpApi event");
        let p = &routes[0]["Properties"];
        assert_eq!(p["Path"], e.path, "{name}: path");
        assert_eq!(p["Method"], e.method().as_str(), "{name}: method");
        // Storefront events have their own API (no API-wide CORS; see template.yaml).
        let api = if name == "events-ingest" {
            "StorefrontApi"
        } else {
            "HttpApi"
        };
        assert_eq!(p["ApiId"], json!({"Ref": api}), "{name}: its API");
        for pre in &preflights {
            assert_eq!(
                pre["Properties"]["ApiId"],
                json!({"Ref": api}),
                "{name}: preflight API"
            );
        }
    }
    // Every HTTP route belongs to an endpoint, and each route is served once.
    let mut seen = BTreeSet::new();
    for (name, f) in &fns {
        for r in f.events("HttpApi") {
            let key = format!("{} {}", r["Properties"]["Method"], r["Properties"]["Path"]);
            assert!(seen.insert(key.clone()), "route {key} is served twice");
            assert!(
                endpoint_named(name).is_some(),
                "{name} has route {key} but is not a route in shared/src/routes.rs"
            );
        }
    }
}

#[test]
fn functions_without_a_route_are_invoked_by_a_schedule_or_an_eventbridge_rule() {
    let t = template();
    let fns = functions(&t);
    let rules: Vec<&Value> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Events::Rule")
        .collect();
    for (name, f) in fns.iter().filter(|(n, _)| endpoint_named(n).is_none()) {
        assert!(f.events("HttpApi").is_empty(), "{name}");
        let target = json!({"Fn::GetAtt": format!("{}.Arn", f.logical_id)});
        let triggered = rules.iter().any(|r| {
            r["Properties"]["Targets"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|x| x["Arn"] == target))
        }) || !f.events("EventBridgeRule").is_empty()
            || !f.events("Schedule").is_empty();
        assert!(
            triggered,
            "{name}: neither a route nor a rule or schedule invokes it"
        );
    }
    // Shopify's deliveries: only its webhook events, and only when a bus is named.
    let shopify = &t["Resources"]["ShopifyWebhookRule"];
    assert_eq!(
        shopify["Properties"]["EventPattern"]["detail-type"],
        json!(["shopifyWebhook"])
    );
    assert_eq!(
        shopify["Properties"]["Targets"][0]["Arn"],
        json!({"Fn::GetAtt": "WebhooksEventbridgeFunction.Arn"})
    );
    assert_eq!(shopify["Condition"], "HasShopifyEventBus");
    assert_eq!(
        t["Resources"]["ShopifyWebhookRulePermission"]["Condition"],
        "HasShopifyEventBus"
    );
    // The sync: the scheduler runs on the rate parameter; sync-shop takes exactly the events the
    // queue puts on the bus the functions are told about.
    let scheduler = &fns["sync-scheduler"];
    let schedule = scheduler.events("Schedule");
    assert_eq!(schedule.len(), 1);
    assert_eq!(
        schedule[0]["Properties"]["Schedule"],
        json!({"Ref": "SyncScheduleRate"})
    );
    let shop = &fns["sync-shop"];
    let rule = shop.events("EventBridgeRule");
    assert_eq!(rule.len(), 1);
    let p = &rule[0]["Properties"];
    assert_eq!(p["EventBusName"], json!({"Ref": "SyncBus"}));
    assert_eq!(p["Pattern"]["source"], json!([shared::sync::queue::SOURCE]));
    assert_eq!(
        p["Pattern"]["detail-type"],
        json!([shared::sync::queue::DETAIL_TYPE])
    );
    assert_eq!(t["Resources"]["SyncBus"]["Type"], "AWS::Events::EventBus");
}

#[test]
fn functions_the_template_and_the_sample_events_list_the_same_names() {
    let t = template();
    let in_template: BTreeSet<String> = functions(&t).into_keys().collect();
    let dirs = function_dirs();
    let events: BTreeSet<String> = event_files().into_keys().collect();
    assert_eq!(in_template, dirs, "template.yaml functions vs functions/*");
    assert_eq!(events, dirs, "events/*.json vs functions/*");
    let endpoints: BTreeSet<String> = ROUTES.iter().map(|e| e.name.to_owned()).collect();
    assert_eq!(
        endpoints.len(),
        ROUTES.len(),
        "two endpoints share a function name"
    );
    assert!(
        endpoints.is_subset(&dirs),
        "endpoints without functions/<name>: {:?}",
        endpoints.difference(&dirs).collect::<Vec<_>>()
    );
}

/// What each function may do, as its route or job declares it (`shared::routes`, each need's
/// `grants()`), named as [`grants`] reads them off the template's policies: `table:read` /
/// `table:write` (DynamoDB read or CRUD on the table), `table:count` (UpdateItem on the table, for
/// rate-limit counters), `secret:jwt` / `secret:shopify` (read that
/// secret), `events:put` (PutEvents on the sync bus), `tokens:<Action>` (that Secrets Manager
/// action on the shops' token secrets).
fn declared_grants() -> BTreeMap<&'static str, BTreeSet<String>> {
    ROUTES
        .iter()
        .map(|r| (r.name, r.needs))
        .chain(JOBS.iter().map(|j| (j.name, j.needs)))
        .map(|(name, needs)| (name, needs.iter().flat_map(|n| n.grants()).collect()))
        .collect()
}

/// The token secrets' ARN pattern and the prefix the functions are told.
const TOKEN_SECRETS: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/shopify-token/*";
const TOKEN_PREFIX: &str = "${AWS::StackName}/shopify-token/";

/// A function's grants (see `declared_grants`), checking each policy's target on the way.
fn grants(name: &str, f: &Function) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (p, params) in f.policies() {
        match p.as_str() {
            "DynamoDBReadPolicy" | "DynamoDBCrudPolicy" => {
                assert_eq!(params["TableName"], json!({"Ref": "Table"}), "{name}");
                out.insert(
                    if p == "DynamoDBReadPolicy" {
                        "table:read"
                    } else {
                        "table:write"
                    }
                    .to_owned(),
                );
            }
            "AWSSecretsManagerGetSecretValuePolicy" => {
                let which = match &params["SecretArn"] {
                    v if *v == json!({"Ref": "JwtSecret"}) => "secret:jwt",
                    v if *v == json!({"Ref": "ShopifyApiSecret"}) => "secret:shopify",
                    other => panic!("{name}: reads an unknown secret {other}"),
                };
                out.insert(which.to_owned());
            }
            "EventBridgePutEventsPolicy" => {
                assert_eq!(params["EventBusName"], json!({"Ref": "SyncBus"}), "{name}");
                out.insert("events:put".to_owned());
            }
            "Statement" => {
                for st in params.as_array().unwrap() {
                    assert_eq!(st["Effect"], "Allow", "{name}");
                    // The rate-limit counters: UpdateItem on the table, nothing else.
                    if st["Resource"] == json!({"Fn::GetAtt": "Table.Arn"}) {
                        assert_eq!(
                            st["Action"],
                            json!(["dynamodb:UpdateItem"]),
                            "{name}: only counters are written this way"
                        );
                        out.insert("table:count".to_owned());
                        continue;
                    }
                    assert_eq!(
                        st["Resource"],
                        json!({"Fn::Sub": TOKEN_SECRETS}),
                        "{name}: inline statements only reach the shops' token secrets"
                    );
                    for a in st["Action"].as_array().unwrap() {
                        let a = a.as_str().unwrap();
                        let action = a.strip_prefix("secretsmanager:").unwrap_or_else(|| {
                            panic!("{name}: {a} (inline statements are for token secrets)")
                        });
                        out.insert(format!("tokens:{action}"));
                    }
                }
            }
            other => panic!("{name}: unexpected policy {other}"),
        }
    }
    out
}

#[test]
fn each_function_is_granted_exactly_what_its_code_uses() {
    let t = template();
    let fns = functions(&t);
    let declared = declared_grants();
    let listed: BTreeSet<&str> = declared.keys().copied().collect();
    let defined: BTreeSet<&str> = fns.keys().map(String::as_str).collect();
    assert_eq!(
        listed, defined,
        "every template function is a declared route or job"
    );
    for (name, expected) in &declared {
        let f = &fns[*name];
        let got = grants(name, f);
        assert_eq!(&got, expected, "{name}: grants");
        // Shopify calls the install URL and the OAuth callback with GET; both write (the state).
        // The ingest key is made on its first read (once, conditionally: tenants from before
        // storefront events have none).
        if let Some(e) = endpoint_named(name)
            && e.method() == http::Method::GET
            && ![
                "shopify-install",
                "shopify-callback",
                "tenants-me-ingest-key",
            ]
            .contains(&e.name)
        {
            assert!(!got.contains("table:write"), "{name}: a GET never writes");
        }
        // Each grant comes with the setting that points the code at what it grants, and the other
        // way round.
        let env = f.env(&t);
        let told = |k: &str, v: Value| env.get(k) == Some(&v);
        assert_eq!(
            got.contains("secret:jwt"),
            told("JWT_SECRET_ID", json!({"Ref": "JwtSecret"})),
            "{name}: JWT_SECRET_ID"
        );
        assert_eq!(
            got.contains("secret:shopify"),
            told("SHOPIFY_API_SECRET_ID", json!({"Ref": "ShopifyApiSecret"})),
            "{name}: SHOPIFY_API_SECRET_ID"
        );
        assert_eq!(
            got.contains("events:put"),
            told("EVENT_BUS_NAME", json!({"Ref": "SyncBus"})),
            "{name}: EVENT_BUS_NAME"
        );
        assert_eq!(
            got.iter().any(|g| g.starts_with("tokens:")),
            told("TOKEN_SECRET_PREFIX", json!({"Fn::Sub": TOKEN_PREFIX})),
            "{name}: TOKEN_SECRET_PREFIX"
        );
        for k in env.keys() {
            assert!(
                [
                    "TABLE_NAME",
                    "RUST_LOG",
                    "JWT_SECRET_ID",
                    "SHOPIFY_API_SECRET_ID",
                    "EVENT_BUS_NAME",
                    "TOKEN_SECRET_PREFIX",
                    "SHOPIFY_API_KEY",
                    "APP_URL",
                    "SHOPIFY_EVENT_SOURCE_ARN",
                ]
                .contains(&k.as_str()),
                "{name}: {k} is not a setting the code reads"
            );
        }
    }
}

#[test]
fn every_environment_variable_the_template_sets_is_read_by_the_code() {
    // Source text of the library and the functions (the only places settings are read).
    let mut source = String::new();
    let mut dirs = vec![
        workspace().join("shared/src"),
        workspace().join("functions"),
    ];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                source.push_str(&std::fs::read_to_string(p).unwrap());
            }
        }
    }
    let t = template();
    for (name, f) in functions(&t) {
        for k in f.env(&t).keys() {
            // RUST_LOG is read by tracing-subscriber's Targets filter (shared::telemetry).
            assert!(
                k == "RUST_LOG" || source.contains(&format!("\"{k}\"")),
                "{name}: {k} is set but no code reads it"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The sample events replay through the code

/// Whether `path` is an instance of the route `pattern` (`{param}` segments match any one segment).
fn path_matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| a == b || (a.starts_with('{') && a.ends_with('}') && !b.is_empty()))
}

#[test]
fn a_route_pattern_matches_its_instances_only() {
    assert!(path_matches(
        "/compliance/requests/{id}",
        "/compliance/requests/9999"
    ));
    assert!(path_matches("/sync/status", "/sync/status"));
    assert!(!path_matches(
        "/compliance/requests/{id}",
        "/compliance/requests/"
    ));
    assert!(!path_matches(
        "/compliance/requests/{id}",
        "/compliance/requests"
    ));
    assert!(!path_matches("/sync/status", "/sync/statuses"));
}

/// What the store holds before a sample is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Given {
    /// Nothing.
    Empty,
    /// `events/auth-register.json`'s merchant (snowdevil.myshopify.com) is registered.
    Registered,
    /// ... and its shop connected with `events/shopify-connect.json`.
    Connected,
    /// ... registered, and Shopify's `customers/data_request` fixture (request 9999) received.
    DataRequested,
}

/// Each HTTP function's sample, what the store holds first, and the status it must answer.
const EXPECTED: &[(&str, Given, u16)] = &[
    ("health", Given::Empty, 200),
    ("auth-register", Given::Empty, 201),
    ("auth-login", Given::Registered, 200),
    ("tenants-me", Given::Registered, 200),
    ("webhooks", Given::Registered, 200),
    ("webhooks-customers", Given::Registered, 200),
    ("webhooks-orders", Given::Registered, 200),
    ("webhooks-products", Given::Registered, 200),
    ("dashboard-metrics", Given::Registered, 200),
    ("dashboard-orders-by-date", Given::Registered, 200),
    ("dashboard-top-customers", Given::Registered, 200),
    ("shopify-connect", Given::Registered, 200),
    ("shopify-disconnect", Given::Connected, 204),
    ("sync-request", Given::Connected, 202),
    ("sync-status", Given::Registered, 200),
    ("shopify-install-start", Given::Registered, 200),
    // Signed with the app secret: redirected to the authorize URL.
    ("shopify-install", Given::Empty, 302),
    // Signed, but with a state this service never issued.
    ("shopify-callback", Given::Registered, 400),
    ("auth-signin-code", Given::Registered, 401),
    // The registered merchant has a login already.
    ("tenants-me-login", Given::Registered, 409),
    ("tenants-me-api-key", Given::Registered, 200),
    ("compliance-requests", Given::DataRequested, 200),
    ("compliance-request", Given::DataRequested, 200),
    ("events-ingest", Given::Registered, 202),
    ("tenants-me-ingest-key", Given::Registered, 200),
    ("tenants-me-ingest-key-replace", Given::Registered, 200),
    ("tenants-me-settings", Given::Registered, 200),
    ("tenants-me-settings-put", Given::Registered, 200),
    ("dashboard-events", Given::Registered, 200),
    ("dashboard-funnel", Given::Registered, 200),
    ("dashboard-sales", Given::Registered, 200),
    ("dashboard-top-products", Given::Registered, 200),
];

/// The webhook samples' bodies: a fixture's exact bytes.
const WEBHOOK_BODIES: &[(&str, &str)] = &[
    ("webhooks", "orders-create.json"),
    ("webhooks-customers", "customers-create.json"),
    ("webhooks-orders", "orders-updated-partial-refund.json"),
    ("webhooks-products", "products-create.json"),
];

/// A store in a given state, the app over it with the sync wired to a fake Shopify Admin API (which
/// accepts the access token of `events/shopify-connect.json`), a local token vault and a local
/// queue, and the merchant's token.
struct Scene {
    t: TestApp,
    app: App,
    token: String,
    ingest_key: String,
    queued: mpsc::UnboundedReceiver<SyncRequest>,
    fake: FakeShopify,
}

impl Scene {
    async fn new(given: Given) -> Scene {
        let t = TestApp::embedded().await;
        let connect: Value =
            serde_json::from_str(event("shopify-connect")["body"].as_str().unwrap()).unwrap();
        let fake = FakeShopify::start(FakeConfig {
            token: connect["access_token"].as_str().unwrap().to_owned(),
            ..FakeConfig::default()
        })
        .await;
        let (tx, queued) = mpsc::unbounded_channel();
        let key = SecretString::from("deploy-test-key-material-of-enough-length-0123456789");
        let app = t.app.clone().with_sync(SyncDeps {
            vault: Arc::new(LocalVault::new(t.app.store.clone(), &key)),
            queue: Arc::new(LocalQueue(tx)),
            shopify_base_url: Some(fake.base_url()),
            http: reqwest::Client::new(),
            bulk_orders: false,
            bulk_poll: std::time::Duration::from_millis(10),
        });
        let mut scene = Scene {
            t,
            app,
            token: String::new(),
            ingest_key: String::new(),
            queued,
            fake,
        };
        if given == Given::Empty {
            return scene;
        }
        let body: Value =
            serde_json::from_str(event("auth-register")["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["shop_domain"], "snowdevil.myshopify.com");
        let a = scene.t.post_json("/auth/register", &body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
        scene.token = a.json["token"].as_str().unwrap().to_owned();
        let tenant = TestApp::tenant_of(&a.json);
        scene.ingest_key =
            shared::storefront::ingest_key::current(scene.app.store.as_ref(), tenant)
                .await
                .unwrap();
        if given == Given::DataRequested {
            let d = Delivery::new(
                "customers/data_request",
                "snowdevil.myshopify.com",
                fixture("customers-data_request.json"),
            );
            let a = scene.t.deliver(&d).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        }
        if given == Given::Connected {
            let (status, body) = scene
                .replay(route("shopify-connect").unwrap(), "shopify-connect")
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // Connecting queued the first sync: it runs to its end, so the shop is idle.
            let first = scene
                .queued
                .try_recv()
                .expect("connecting queued the first sync");
            let runner: shared::deps::SyncRunner = scene.app.deps();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            shared::sync::run(&runner, &first, deadline, &|_, _| {})
                .await
                .unwrap();
        }
        scene
    }

    /// Replays `events/<name>.json` as the function's Lambda does: lambda_http's conversion of
    /// the API Gateway event, then a router mounting only that endpoint.
    async fn replay(&self, e: &RouteInfo, name: &str) -> (StatusCode, Value) {
        let path = workspace().join("events").join(format!("{name}.json"));
        let raw = std::fs::read_to_string(path).unwrap();
        let raw = raw
            .replace("REPLACE_WITH_TOKEN", &self.token)
            .replace("REPLACE_WITH_INGEST_KEY", &self.ingest_key);
        let req = lambda_http::request::from_str(&raw).unwrap();
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
        let res = e.router(&self.app).oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn every_http_sample_event_replays_through_its_lambda_router_with_the_expected_status() {
    let files = event_files();
    let http_functions: BTreeSet<&str> = ROUTES.iter().map(|e| e.name).collect();
    let table: BTreeSet<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(table, http_functions, "EXPECTED covers every HTTP function");
    for (name, given, status) in EXPECTED {
        let e = endpoint_named(name).unwrap();
        let path = files
            .get(*name)
            .unwrap_or_else(|| panic!("events/{name}.json is missing"));
        let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(sample["version"], "2.0", "{name}: payload format 2.0");
        let route = format!("{} {}", e.method(), e.path);
        assert_eq!(sample["routeKey"], route, "{name}");
        assert_eq!(sample["requestContext"]["routeKey"], route, "{name}");
        // A path parameter (`{id}`, the same syntax in axum and API Gateway) is any one segment,
        // and the sample names it in `pathParameters`.
        let raw_path = sample["rawPath"].as_str().unwrap();
        assert!(path_matches(e.path, raw_path), "{name}: {raw_path}");
        assert_eq!(sample["requestContext"]["http"]["path"], raw_path, "{name}");
        for segment in e.path.split('/') {
            if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    sample["pathParameters"][param].is_string(),
                    "{name}: pathParameters.{param}"
                );
            }
        }
        assert_eq!(
            sample["requestContext"]["http"]["method"],
            e.method().as_str(),
            "{name}"
        );
        assert_eq!(sample["requestContext"]["stage"], "$default", "{name}");
        assert!(
            sample["requestContext"]["http"]["sourceIp"].is_string(),
            "{name}"
        );

        let scene = Scene::new(*given).await;
        let (got, body) = scene.replay(e, name).await;
        assert_eq!(got.as_u16(), *status, "events/{name}.json: {body}");
        if name.starts_with("webhooks") {
            assert_eq!(body, json!({"result": "applied"}), "events/{name}.json");
        }
        if matches!(e.name, "auth-register" | "auth-login" | "tenants-me") {
            assert_eq!(
                body["tenant"]["shop_domain"], "snowdevil.myshopify.com",
                "{name}"
            );
        }
        if e.name == "shopify-install-start" {
            let url = body["authorize_url"].as_str().unwrap_or_default();
            assert!(url.contains("/admin/oauth/authorize?client_id="), "{url}");
        }
        if e.name == "shopify-callback" {
            assert_eq!(body["error"]["code"], "invalid_state");
        }
        if e.name == "compliance-requests" {
            assert_eq!(body["requests"][0]["id"], "9999", "{body}");
        }
        if e.name == "compliance-request" {
            assert_eq!(body["checkouts"], json!([]), "{body}");
            assert!(body["orders"].is_array(), "{body}");
        }
        if e.name == "shopify-connect" {
            assert_eq!(body["shop_domain"], "snowdevil.myshopify.com");
            assert_eq!(body["connected"], true);
        }
    }
}

#[tokio::test]
async fn the_job_samples_schedule_and_run_a_sync_of_the_connected_shop() {
    let mut scene = Scene::new(Given::Connected).await;
    scene.fake.generate(12, 4, 30, 7);

    // The schedule's event: the scheduler queues the one connected shop.
    let tick = event("sync-scheduler");
    assert_eq!(tick["detail-type"], "Scheduled Event");
    assert_eq!(tick["source"], "aws.events");
    let answer = shared::lambda::sync_scheduler(&scene.app.deps())
        .await
        .unwrap();
    assert_eq!(answer, json!({"queued": 1}));
    let req = scene
        .queued
        .try_recv()
        .expect("a SyncRequested event was queued");

    // The queue's event, as the rule hands it to sync-shop: the sample's detail has the shape of
    // what the queue puts on the bus; the test fills in this run's tenant and sync id.
    let mut run = event("sync-shop");
    assert_eq!(run["source"], shared::sync::queue::SOURCE);
    assert_eq!(run["detail-type"], shared::sync::queue::DETAIL_TYPE);
    let detail = serde_json::to_value(&req).unwrap();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keys(&run["detail"]), keys(&detail));
    run["detail"] = detail;
    let answer = shared::lambda::sync_shop(&scene.app.deps(), &run, Duration::from_secs(900))
        .await
        .unwrap();
    assert_eq!(answer["result"], "done", "{answer}");

    let (status, body) = scene
        .replay(route("sync-status").unwrap(), "sync-status")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "idle", "{body}");
    assert_eq!(body["error"], Value::Null, "{body}");
}

#[tokio::test]
async fn the_eventbridge_sample_is_applied_by_the_eventbridge_function() {
    let scene = Scene::new(Given::Registered).await;
    let sample = event("webhooks-eventbridge");
    assert_eq!(sample["detail-type"], "shopifyWebhook");
    assert_eq!(
        sample["detail"]["payload"],
        serde_json::from_slice::<Value>(&fixture("orders-create.json")).unwrap()
    );
    let answer = shared::lambda::webhooks_eventbridge(&scene.app.deps(), &sample)
        .await
        .unwrap();
    assert_eq!(answer, json!({"result": "applied"}));
    // A redelivery of the same event is recognised.
    let again = shared::lambda::webhooks_eventbridge(&scene.app.deps(), &sample)
        .await
        .unwrap();
    assert_eq!(again, json!({"result": "duplicate"}));
}

#[test]
fn the_webhook_samples_carry_fixture_bytes_signed_with_the_test_secret() {
    let vector: Value = serde_json::from_slice(&fixture("hmac-vector.json")).unwrap();
    assert_eq!(vector["secret"], SHOPIFY_SECRET);
    let names: BTreeSet<&str> = WEBHOOK_BODIES.iter().map(|(n, _)| *n).collect();
    let webhook_endpoints: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|e| e.path.starts_with("/webhooks"))
        .map(|e| e.name)
        .collect();
    assert_eq!(names, webhook_endpoints);
    for (name, file) in WEBHOOK_BODIES {
        let sample = event(name);
        let body = sample["body"].as_str().unwrap();
        let bytes = if sample["isBase64Encoded"] == true {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        } else {
            body.as_bytes().to_vec()
        };
        assert_eq!(
            bytes,
            fixture(file),
            "events/{name}.json carries {file} byte for byte"
        );
        let h = &sample["headers"];
        assert_eq!(
            h["x-shopify-hmac-sha256"],
            shared::ingest::verify::sign(SHOPIFY_SECRET.as_bytes(), &bytes),
            "{name}"
        );
        assert_eq!(
            h["x-shopify-shop-domain"], "snowdevil.myshopify.com",
            "{name}"
        );
        assert_eq!(h["content-length"], bytes.len().to_string(), "{name}");
        if *file == vector["file"] {
            assert_eq!(
                h["x-shopify-hmac-sha256"], vector["hmac_sha256_base64"],
                "{name}"
            );
        }
    }
    // The catch-all sample is the API Gateway base64 case, checked against the published vector.
    assert_eq!(event("webhooks")["isBase64Encoded"], true);
}

// ------------------------------------------------------------------------------------------------
// The OpenAPI description

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn openapi() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"))
            .unwrap(),
    )
    .expect("openapi.json is JSON")
}

#[test]
fn the_openapi_description_lists_exactly_the_routes_the_router_serves() {
    let doc = openapi();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            described.insert(format!("{} {path}", method.to_uppercase()));
            let e = ROUTES
                .iter()
                .find(|e| e.path == path && e.method().as_str().eq_ignore_ascii_case(method))
                .unwrap_or_else(|| panic!("openapi.json describes {method} {path}, no route"));
            assert_eq!(
                op["operationId"],
                e.name.replace('-', "_"),
                "{method} {path}: operationId is the handler's snake_case name"
            );
        }
    }
    let served: BTreeSet<String> = ROUTES
        .iter()
        .map(|e| format!("{} {}", e.method(), e.path))
        .collect();
    assert_eq!(described, served);
}

#[test]
fn every_openapi_error_answer_is_the_error_envelope() {
    let doc = openapi();
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error"]));
    assert_eq!(
        error["properties"]["error"]["required"],
        json!(["code", "message"])
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["apiKey"]["name"], "X-Api-Key");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // A success answer: 2xx, or a redirect for the browser steps of the install.
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{method} {path}: a success answer"
            );
            for (status, r) in responses
                .iter()
                .filter(|(s, _)| s.starts_with('4') || s.starts_with('5'))
            {
                let r = match r["$ref"].as_str() {
                    Some(p) => {
                        let name = p.rsplit('/').next().unwrap();
                        &doc["components"]["responses"][name]
                    }
                    None => r,
                };
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[test]
fn shopify_app_toml_declares_every_handled_topic_the_compliance_topics_the_scopes_and_the_callback()
{
    let text = std::fs::read_to_string(workspace().join("shopify.app.toml")).unwrap();
    let app: toml::Table = toml::from_str(&text).unwrap();
    let strings = |v: &toml::Value| -> Vec<String> {
        let mut v: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let webhooks = app["webhooks"].as_table().unwrap();
    assert_eq!(
        webhooks["api_version"].as_str(),
        Some(shared::shopify::API_VERSION)
    );
    let subs = webhooks["subscriptions"].as_array().unwrap();
    let mut topics = Vec::new();
    let mut compliance = Vec::new();
    for s in subs {
        let s = s.as_table().unwrap();
        assert_eq!(s["uri"].as_str(), Some("/webhooks"));
        if let Some(t) = s.get("topics") {
            topics.extend(strings(t));
        }
        if let Some(c) = s.get("compliance_topics") {
            compliance.extend(strings(c));
        }
    }
    let mut handled: Vec<String> = shared::shopify::subscriptions::topics()
        .map(|t| t.as_str().to_owned())
        .collect();
    handled.sort();
    topics.sort();
    assert_eq!(
        topics, handled,
        "app-wide topics = the topics the service subscribes shops to"
    );
    let mut want: Vec<String> = shared::ingest::Topic::all()
        .filter(|t| t.is_compliance())
        .map(|t| t.as_str().to_owned())
        .collect();
    want.sort();
    compliance.sort();
    assert_eq!(compliance, want);
    let scopes: Vec<&str> = app["access_scopes"]["scopes"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(scopes, shared::config::DEFAULT_SCOPES);
    let base = app["application_url"].as_str().unwrap();
    assert_eq!(
        strings(&app["auth"]["redirect_urls"]),
        vec![format!("{base}/shopify/callback")]
    );
}
