//! A minimal Lambda Runtime API (2018-06-01) emulator, what `sam local invoke` runs around a
//! function without Docker: the function binary polls it for events and posts its answers to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot, watch};

/// Why an invocation has no response.
#[derive(Debug)]
pub enum InvokeError {
    /// The function reported an error (`POST /runtime/invocation/{id}/error`).
    Function {
        /// The `Lambda-Runtime-Function-Error-Type` header.
        error_type: Option<String>,
        /// The posted body (`{"errorType", "errorMessage"}`), a string when not JSON.
        payload: Value,
    },
    /// The runtime failed to start (`POST /runtime/init/error`).
    Init {
        error_type: Option<String>,
        payload: Value,
    },
    /// No answer in time; `picked_up` says whether the runtime had taken the event from `/next`.
    Timeout { after: Duration, picked_up: bool },
    /// The response body was not JSON.
    NotJson(String),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::Function {
                error_type,
                payload,
            } => write!(
                f,
                "the function answered an error ({error_type:?}): {payload}"
            ),
            InvokeError::Init {
                error_type,
                payload,
            } => write!(
                f,
                "the runtime reported an init error ({error_type:?}): {payload}"
            ),
            InvokeError::Timeout {
                after,
                picked_up: true,
            } => write!(
                f,
                "the runtime took the event but did not answer within {after:?}"
            ),
            InvokeError::Timeout {
                after,
                picked_up: false,
            } => write!(
                f,
                "the runtime did not ask for the event (GET /next) within {after:?}"
            ),
            InvokeError::NotJson(raw) => write!(f, "the response is not JSON: {raw:?}"),
        }
    }
}

impl std::error::Error for InvokeError {}

type Outcome = Result<Value, InvokeError>;

/// An event waiting for `GET /next`.
struct Queued {
    id: String,
    event: Value,
    deadline_ms: u128,
}

struct Shared {
    function_arn: String,
    queue: Mutex<VecDeque<Queued>>,
    /// One permit per queued event (`notify_one` keeps a permit when nobody waits yet).
    queued: Notify,
    /// Invocations awaiting an answer, by request id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Request ids handed out by `/next`.
    picked_up: Mutex<HashSet<String>>,
    /// The first `GET /next`: the end of the function's init.
    first_poll: watch::Sender<Option<Instant>>,
    polls: Mutex<u64>,
    init_error: Mutex<Option<(Option<String>, Value)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The emulator: an HTTP server on `127.0.0.1:<free port>`; stops when dropped.
pub struct Emulator {
    addr: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Emulator {
    /// An emulator for a function named `emulated`.
    pub async fn start() -> Emulator {
        Emulator::start_named("emulated").await
    }

    /// An emulator whose invocations carry this function's ARN.
    pub async fn start_named(function_name: &str) -> Emulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API emulator");
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            waiting: Mutex::new(HashMap::new()),
            picked_up: Mutex::new(HashSet::new()),
            first_poll: watch::channel(None).0,
            polls: Mutex::new(0),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Emulator {
            addr,
            shared,
            server,
        }
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// How many times the runtime asked for an event.
    pub fn polls(&self) -> u64 {
        *lock(&self.shared.polls)
    }

    /// When the runtime first asked for an event (its init ended), waiting at most `timeout`.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.shared.first_poll.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await {
            Ok(Ok(at)) => *at,
            _ => None,
        }
    }

    /// Invokes the function with `event` as Lambda does, `timeout` being both the function's
    /// timeout (the deadline it is told) and how long to wait for its answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Value, InvokeError> {
        self.invoke_until(event, timeout, timeout).await
    }

    /// Invokes with the deadline `lambda_timeout` from now, waiting at most `wait` for the answer
    /// (a job with Lambda's 15 minutes need not hold a test that long).
    pub async fn invoke_until(
        &self,
        event: Value,
        lambda_timeout: Duration,
        wait: Duration,
    ) -> Result<Value, InvokeError> {
        if let Some((error_type, payload)) = lock(&self.shared.init_error).clone() {
            return Err(InvokeError::Init {
                error_type,
                payload,
            });
        }
        let id = request_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.waiting).insert(id.clone(), tx);
        let deadline = SystemTime::now() + lambda_timeout;
        lock(&self.shared.queue).push_back(Queued {
            id: id.clone(),
            event,
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        });
        self.shared.queued.notify_one();
        let timed_out = || InvokeError::Timeout {
            after: wait,
            picked_up: lock(&self.shared.picked_up).contains(&id),
        };
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(outcome)) => outcome,
            // The sender is only dropped with the emulator: treat it as no answer.
            Ok(Err(_)) => Err(timed_out()),
            Err(_) => {
                // Withdrawn: `/next` skips it, a late answer is refused.
                lock(&self.shared.waiting).remove(&id);
                Err(timed_out())
            }
        }
    }
}

/// A request id shaped like Lambda's (a UUID).
fn request_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn trace_id() -> String {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).unwrap();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &h[..24],
        &h[24..]
    )
}

/// `GET /2018-06-01/runtime/invocation/next`: the next queued event; long-polls until there is one.
async fn next(State(s): State<Arc<Shared>>) -> Response {
    *lock(&s.polls) += 1;
    s.first_poll.send_if_modified(|first| {
        if first.is_none() {
            *first = Some(Instant::now());
            true
        } else {
            false
        }
    });
    loop {
        let notified = s.queued.notified();
        if let Some(q) = pop_live(&s) {
            lock(&s.picked_up).insert(q.id.clone());
            return (
                StatusCode::OK,
                [
                    ("lambda-runtime-aws-request-id", q.id),
                    ("lambda-runtime-deadline-ms", q.deadline_ms.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        s.function_arn.clone(),
                    ),
                    ("lambda-runtime-trace-id", trace_id()),
                    ("content-type", "application/json".to_owned()),
                ],
                q.event.to_string(),
            )
                .into_response();
        }
        notified.await;
    }
}

/// The first queued event still awaited (timed-out invocations are dropped).
fn pop_live(s: &Shared) -> Option<Queued> {
    let mut queue = lock(&s.queue);
    let waiting = lock(&s.waiting);
    while let Some(q) = queue.pop_front() {
        if waiting.contains_key(&q.id) {
            return Some(q);
        }
    }
    None
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn unknown_request(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("no invocation {id} is awaiting an answer"),
        })),
    )
        .into_response()
}

fn answer(s: &Shared, id: &str, outcome: Outcome) -> Response {
    match lock(&s.waiting).remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            accepted()
        }
        None => unknown_request(id),
    }
}

fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`.
async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    let outcome = serde_json::from_slice(&body)
        .map_err(|_| InvokeError::NotJson(String::from_utf8_lossy(&body).into_owned()));
    answer(&s, &id, outcome)
}

/// `POST /2018-06-01/runtime/invocation/{id}/error`.
async fn error(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = Err(InvokeError::Function {
        error_type: error_type(&headers),
        payload: json_or_text(&body),
    });
    answer(&s, &id, outcome)
}

/// `POST /2018-06-01/runtime/init/error`: every awaited invocation, and every later one, fails.
async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let error_type = error_type(&headers);
    let payload = json_or_text(&body);
    *lock(&s.init_error) = Some((error_type.clone(), payload.clone()));
    for (_, tx) in lock(&s.waiting).drain() {
        let _ = tx.send(Err(InvokeError::Init {
            error_type: error_type.clone(),
            payload: payload.clone(),
        }));
    }
    accepted()
}
