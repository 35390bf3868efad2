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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data_dir: &std::path::Path) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_insights"))
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env_remove("JWT_SECRET")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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

    let reg = http
        .post(format!("{}/auth/register", server.base))
        .json(&json!({
            "name": "Snow Devil",
            "email": "jon@example.com",
            "password": "correct horse battery",
            "shop_domain": "snowdevil.myshopify.com",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    let reg: Value = reg.json().await.unwrap();
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
