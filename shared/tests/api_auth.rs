//! API tests for "Tenants and authentication" in the HTTP contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{JWT_SECRET, TestApp, random_hex};

fn registration(tag: &str) -> Value {
    json!({
        "name": "Snow Devil",
        "email": format!("jon-{tag}@example.com"),
        "password": "correct horse battery",
        "shop_domain": format!("snow-{tag}.myshopify.com"),
    })
}

#[tokio::test]
async fn registering_answers_201_with_the_tenant_a_one_time_api_key_and_a_bearer_token() {
    let t = TestApp::embedded().await;
    let body = registration("a1");
    let a = t.post_json("/auth/register", &body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
    let j = &a.json;
    assert!(j["tenant"]["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(j["tenant"]["name"], "Snow Devil");
    assert_eq!(j["tenant"]["email"], "jon-a1@example.com");
    assert_eq!(j["tenant"]["shop_domain"], "snow-a1.myshopify.com");
    assert!(
        chrono::DateTime::parse_from_rfc3339(j["tenant"]["created_at"].as_str().unwrap()).is_ok()
    );
    assert!(j["api_key"].as_str().unwrap().starts_with("sik_"));
    assert_eq!(j["token_type"], "Bearer");
    assert!(j["expires_in"].as_i64().unwrap() > 0);
    let text = String::from_utf8(a.raw).unwrap();
    assert!(!text.contains("correct horse battery") && !text.contains("argon2"));

    // The token and the key both authenticate as this tenant.
    let me = t
        .get_with_token("/tenants/me", j["token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["tenant"]["id"], j["tenant"]["id"]);
    let by_key = t
        .request(
            Method::GET,
            "/tenants/me",
            &[("x-api-key", j["api_key"].as_str().unwrap())],
            Body::empty(),
        )
        .await;
    assert_eq!(by_key.status, StatusCode::OK);
    assert_eq!(by_key.json["tenant"]["id"], j["tenant"]["id"]);
}

#[tokio::test]
async fn every_bad_registration_gets_400_with_its_code_and_creates_nothing() {
    let t = TestApp::embedded().await;
    let good = registration("b2");
    let with = |field: &str, v: Value| {
        let mut b = good.clone();
        b[field] = v;
        b.to_string()
    };
    let without = |field: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        b.to_string()
    };
    let json_ct = "application/json";
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("missing name", without("name"), json_ct, "missing_field"),
        ("missing email", without("email"), json_ct, "missing_field"),
        (
            "missing password",
            without("password"),
            json_ct,
            "missing_field",
        ),
        (
            "missing shop",
            without("shop_domain"),
            json_ct,
            "missing_field",
        ),
        (
            "null email",
            with("email", Value::Null),
            json_ct,
            "missing_field",
        ),
        (
            "bad email",
            with("email", json!("jon.example.com")),
            json_ct,
            "invalid_email",
        ),
        (
            "short password",
            with("password", json!("ninechars")),
            json_ct,
            "invalid_password",
        ),
        (
            "bad shop",
            with("shop_domain", json!("snowdevil.com")),
            json_ct,
            "invalid_shop_domain",
        ),
        (
            "blank name",
            with("name", json!("   ")),
            json_ct,
            "invalid_name",
        ),
        (
            "number as email",
            with("email", json!(42)),
            json_ct,
            "invalid_field",
        ),
        (
            "long name",
            with("name", json!("n".repeat(201))),
            json_ct,
            "field_too_long",
        ),
        (
            "long email",
            with("email", json!(format!("{}@example.com", "a".repeat(250)))),
            json_ct,
            "field_too_long",
        ),
        (
            "long password",
            with("password", json!("p".repeat(257))),
            json_ct,
            "field_too_long",
        ),
        (
            "long shop",
            with(
                "shop_domain",
                json!(format!("{}.myshopify.com", "s".repeat(250))),
            ),
            json_ct,
            "field_too_long",
        ),
        ("not json", "{\"name\": ".into(), json_ct, "invalid_json"),
        ("array", "[]".into(), json_ct, "invalid_json"),
        (
            "form encoded",
            "name=x&email=y".into(),
            "application/x-www-form-urlencoded",
            "unsupported_content_type",
        ),
        (
            "no content type",
            good.to_string(),
            "",
            "unsupported_content_type",
        ),
    ];
    for (what, body, ct, code) in cases {
        let headers: Vec<(&str, &str)> = if ct.is_empty() {
            vec![]
        } else {
            vec![("content-type", ct)]
        };
        let a = t
            .request(Method::POST, "/auth/register", &headers, body)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {}", a.json);
        assert_eq!(a.json["error"]["code"], code, "{what}");
        assert!(
            a.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let non_utf8 = t
        .request(
            Method::POST,
            "/auth/register",
            &[("content-type", json_ct)],
            vec![b'{', 0xff, 0xfe, b'}'],
        )
        .await;
    assert_eq!(non_utf8.status, StatusCode::BAD_REQUEST);
    assert_eq!(non_utf8.json["error"]["code"], "invalid_utf8");

    // None of the refused requests claimed the email or the shop.
    let a = t.post_json("/auth/register", &good).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
}

#[tokio::test]
async fn an_error_message_never_echoes_the_password() {
    let t = TestApp::embedded().await;
    let mut b = registration("c3");
    b["password"] = json!("sekrit");
    let a = t.post_json("/auth/register", &b).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(!String::from_utf8(a.raw).unwrap().contains("sekrit"));
}

#[tokio::test]
async fn a_second_registration_of_an_email_or_a_shop_is_409() {
    let t = TestApp::embedded().await;
    assert_eq!(
        t.post_json("/auth/register", &registration("d4"))
            .await
            .status,
        StatusCode::CREATED
    );

    let mut same_email = registration("d5");
    same_email["email"] = json!("JON-D4@example.com");
    let a = t.post_json("/auth/register", &same_email).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["error"]["code"], "email_taken");

    let mut same_shop = registration("d6");
    same_shop["shop_domain"] = json!("Snow-D4.myshopify.com");
    let a = t.post_json("/auth/register", &same_shop).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["error"]["code"], "shop_taken");

    // The refused shop registration did not keep the email it carried.
    let a = t.post_json("/auth/register", &registration("d6")).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_email_or_one_shop_let_exactly_one_win_on_every_backend() {
    for t in TestApp::every_backend().await {
        let t = Arc::new(t);
        for clash in ["email", "shop_domain"] {
            let tag = random_hex(4);
            let mut tasks = Vec::new();
            for i in 0..8 {
                let t = t.clone();
                let mut body = registration(&format!("{tag}-{i}"));
                body[clash] = registration(&tag)[clash].clone();
                tasks.push(tokio::spawn(async move {
                    t.post_json("/auth/register", &body).await
                }));
            }
            let mut created = 0;
            let mut conflicts = 0;
            for task in tasks {
                let a = task.await.unwrap();
                match a.status {
                    StatusCode::CREATED => created += 1,
                    StatusCode::CONFLICT => conflicts += 1,
                    other => panic!("{}: unexpected {other}: {}", t.backend(), a.json),
                }
            }
            assert_eq!(
                (created, conflicts),
                (1, 7),
                "{} racing on {clash}",
                t.backend()
            );
        }
    }
}

#[tokio::test]
async fn login_answers_200_with_a_token_for_the_right_password() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let email = reg["tenant"]["email"].as_str().unwrap().to_uppercase();
    let a = t
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json["token_type"], "Bearer");
    assert!(a.json["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(a.json["tenant"], reg["tenant"]);
    let me = t
        .get_with_token("/tenants/me", a.json["token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_identical_401s() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let wrong = t
        .post_json(
            "/auth/login",
            &json!({"email": reg["tenant"]["email"], "password": "wrong password!"}),
        )
        .await;
    let unknown = t
        .post_json(
            "/auth/login",
            &json!({"email": "nobody@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json["error"]["code"], "invalid_credentials");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.raw, unknown.raw);
}

#[tokio::test]
async fn a_bad_login_body_is_400() {
    let t = TestApp::embedded().await;
    let a = t
        .request(
            Method::POST,
            "/auth/login",
            &[("content-type", "application/json")],
            "{nope",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "invalid_json");
    let a = t
        .post_json("/auth/login", &json!({"email": "a@example.com"}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "missing_field");
}

#[tokio::test]
async fn repeated_failed_logins_for_one_email_get_429_with_retry_after_until_the_window_passes() {
    for t in TestApp::every_backend().await {
        let reg = t.register().await;
        let email = reg["tenant"]["email"].clone();
        let attempt = |pw: &'static str| {
            let body = json!({"email": email, "password": pw});
            let t = &t;
            async move { t.post_json("/auth/login", &body).await }
        };
        for _ in 0..5 {
            assert_eq!(
                attempt("wrong password!").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // Over the limit: refused even with the right password, and told when to come back.
        let a = attempt("correct horse battery").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", t.backend());
        assert_eq!(a.json["error"]["code"], "too_many_attempts");
        let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");

        // Another email is not affected.
        let other = t.register().await;
        let ok = t
            .post_json(
                "/auth/login",
                &json!({"email": other["tenant"]["email"], "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);

        t.clock.advance(chrono::Duration::seconds(retry as i64));
        assert_eq!(
            attempt("correct horse battery").await.status,
            StatusCode::OK,
            "{}",
            t.backend()
        );
    }
}

fn forge(header: &str, claims: &Value, key: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let h = URL_SAFE_NO_PAD.encode(header);
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{h}.{c}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{c}.{sig}")
}

#[tokio::test]
async fn forged_unsigned_expired_and_foreign_tokens_are_401() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let sub = reg["tenant"]["id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": sub, "iat": now, "exp": now + 3600, "iss": "shopify-insights"});
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;

    // Sanity: a token forged here with the real key is accepted, so the refusals below are real.
    let genuine = forge(hs256, &claims, JWT_SECRET.as_bytes());
    assert_eq!(
        t.get_with_token("/tenants/me", &genuine).await.status,
        StatusCode::OK
    );

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let expired =
        json!({"sub": sub, "iat": now - 7200, "exp": now - 3600, "iss": "shopify-insights"});
    let no_iss = json!({"sub": sub, "iat": now, "exp": now + 3600});
    let bad_tokens = [
        ("alg none", none),
        (
            "other key",
            forge(hs256, &claims, b"not-the-signing-key-not-the-signing-key"),
        ),
        (
            "HS512 header",
            forge(
                r#"{"alg":"HS512","typ":"JWT"}"#,
                &claims,
                JWT_SECRET.as_bytes(),
            ),
        ),
        ("expired", forge(hs256, &expired, JWT_SECRET.as_bytes())),
        ("no issuer", forge(hs256, &no_iss, JWT_SECRET.as_bytes())),
        ("garbage", "abc.def.ghi".to_owned()),
    ];
    for (what, token) in bad_tokens {
        let a = t.get_with_token("/tenants/me", &token).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(a.json["error"]["code"], "unauthorized", "{what}");
    }
    let none = t
        .request(Method::GET, "/tenants/me", &[], Body::empty())
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let bad_key = format!("sik_{}", "A".repeat(43));
    let a = t
        .request(
            Method::GET,
            "/tenants/me",
            &[("x-api-key", bad_key.as_str())],
            Body::empty(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = t
        .request(
            Method::GET,
            "/tenants/me",
            &[("authorization", "Basic Zm9vOmJhcg==")],
            Body::empty(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

/// Collects everything the service logs during a test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_login_logs_that_it_failed_but_not_the_password() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let a = t
        .post_json(
            "/auth/login",
            &json!({"email": reg["tenant"]["email"], "password": "hunter2-but-longer"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("login refused"), "{logs}");
    assert!(!logs.contains("hunter2-but-longer"));
    assert!(!logs.contains("correct horse battery"));
}

// ---- rate limits (contract: "Limits") ------------------------------------------------------------

#[tokio::test]
async fn authenticated_answers_carry_ratelimit_headers_and_past_the_tenants_limit_get_429() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let token = reg["token"].as_str().unwrap();
    let limit = shared::limits::PER_TENANT.max;
    let header =
        |a: &support::Answer, h: &str| -> u64 { a.headers[h].to_str().unwrap().parse().unwrap() };
    let first = t.get_with_token("/tenants/me", token).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(header(&first, "ratelimit-limit"), limit);
    assert_eq!(header(&first, "ratelimit-remaining"), limit - 1);
    assert!((1..=60).contains(&header(&first, "ratelimit-reset")));
    for _ in 1..limit {
        let a = t.get_with_token("/dashboard/metrics", token).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let over = t.get_with_token("/dashboard/metrics", token).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.json["error"]["code"], "rate_limited");
    assert_eq!(header(&over, "ratelimit-remaining"), 0);
    assert!((1..=60).contains(&header(&over, "retry-after")));
    // Another tenant is not affected; the next window starts afresh.
    let other = t.register().await;
    let a = t
        .get_with_token("/tenants/me", other["token"].as_str().unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    t.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        t.get_with_token("/tenants/me", token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn posts_to_auth_from_one_address_past_the_limit_get_429_and_webhooks_are_never_limited() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let shop = reg["tenant"]["shop_domain"].as_str().unwrap().to_owned();
    let limit = shared::limits::PER_CLIENT_AUTH.max;
    // The registration above was the first; malformed bodies count like any other post.
    for _ in 1..limit {
        let a = t.post_json("/auth/login", &json!({})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(a.headers.contains_key("ratelimit-remaining"));
    }
    for path in ["/auth/login", "/auth/register", "/auth/signin-code"] {
        let a = t.post_json(path, &json!({})).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(a.json["error"]["code"], "rate_limited", "{path}");
        assert!(a.headers.contains_key("retry-after"), "{path}");
    }
    // Shopify's deliveries: never counted, never refused, no RateLimit headers.
    for i in 0..(limit + 5) {
        let mut o: Value = serde_json::from_slice(&support::fixture("orders-create.json")).unwrap();
        o["id"] = json!(50_000 + i);
        let d = support::Delivery::new("orders/create", &shop, serde_json::to_vec(&o).unwrap());
        let a = t.deliver(&d).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(!a.headers.contains_key("ratelimit-limit"));
    }
    let health = t.request(http::Method::GET, "/health", &[], "").await;
    assert!(!health.headers.contains_key("ratelimit-limit"));
}

#[tokio::test]
async fn a_new_api_key_works_at_once_and_the_one_it_replaces_stops_working() {
    for t in TestApp::every_backend().await {
        let reg = t.register().await;
        let token = reg["token"].as_str().unwrap();
        let old = reg["api_key"].as_str().unwrap().to_owned();
        let with_key = |key: String| {
            let t = &t;
            async move {
                t.request(
                    Method::GET,
                    "/tenants/me",
                    &[("x-api-key", key.as_str())],
                    "",
                )
                .await
                .status
            }
        };
        assert_eq!(
            with_key(old.clone()).await,
            StatusCode::OK,
            "{}",
            t.backend()
        );
        let rotate = |bearer: String| {
            let t = &t;
            async move {
                t.request(
                    Method::POST,
                    "/tenants/me/api-key",
                    &[("authorization", format!("Bearer {bearer}").as_str())],
                    "",
                )
                .await
            }
        };
        let a = rotate(token.to_owned()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        let new = a.json["api_key"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert_eq!(
            with_key(new.clone()).await,
            StatusCode::OK,
            "{}",
            t.backend()
        );
        assert_eq!(
            with_key(old.clone()).await,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.backend()
        );
        // Again: the second key is replaced too.
        let newer = rotate(token.to_owned()).await.json["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(with_key(newer).await, StatusCode::OK);
        assert_eq!(with_key(new).await, StatusCode::UNAUTHORIZED);
        // Without credentials: 401.
        let anon = t
            .request(Method::POST, "/tenants/me/api-key", &[], "")
            .await;
        assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_logins_for_one_email_checks_no_more_wrong_passwords_than_the_limit() {
    for t in TestApp::every_backend().await {
        let t = Arc::new(t);
        let reg = t.register().await;
        let email = reg["tenant"]["email"].as_str().unwrap().to_owned();
        // 40 at once, the right password among them: at most five are checked at all.
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let t = t.clone();
                let password = if i % 10 == 3 {
                    "correct horse battery"
                } else {
                    "wrong password!"
                };
                let body = json!({"email": email, "password": password});
                tokio::spawn(async move { t.post_json("/auth/login", &body).await.status })
            })
            .collect();
        let (mut wrong, mut right, mut throttled) = (0, 0, 0);
        for task in tasks {
            match task.await.unwrap() {
                StatusCode::UNAUTHORIZED => wrong += 1,
                StatusCode::OK => right += 1,
                StatusCode::TOO_MANY_REQUESTS => throttled += 1,
                // The burst may also find every hashing slot busy: not checked either.
                StatusCode::SERVICE_UNAVAILABLE => throttled += 1,
                other => panic!("{}: unexpected {other}", t.backend()),
            }
        }
        // Every wrong password checked keeps its unit: never more than five. A right one gives its
        // unit back (a merchant logging in often is not locked out), so each may let one more in.
        assert!(
            wrong <= 5,
            "{}: {wrong} wrong passwords checked",
            t.backend()
        );
        assert!(right <= 4, "{}", t.backend());
        assert_eq!(wrong + right + throttled, 40);
        assert!(
            throttled >= 40 - 5 - 4,
            "{}: {throttled} refused",
            t.backend()
        );
    }
}
