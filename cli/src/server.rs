//! `insights serve`'s HTTP server: the router on hyper with the limits a public server needs, so
//! no client can hold the process with slow or idle connections.
//!
//! - a request's headers must arrive within [`Limits::header_read`] (slow-header clients, and idle
//!   keep-alive connections waiting for a next request, are closed);
//! - a whole request, its body included, must be answered within [`Limits::request`] (`408`
//!   otherwise: a body that stalls does not hold a task forever);
//! - at most [`Limits::max_connections`] connections are open; past it, new ones wait in the
//!   kernel's accept queue until one closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The server's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read: Duration,
    pub request: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

async fn request_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(serde_json::json!({"error": {
                "code": "request_timeout",
                "message": "The request was not received in time.",
            }})),
        )
            .into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits.request,
        request_deadline,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = router.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(req.map(axum::body::Body::new))
            },
        ));
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Open requests finish; idle connections close.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; stopping anyway");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let router = Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route(
                "/echo",
                axum::routing::post(|body: axum::body::Bytes| async move { body }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Reads until the peer closes or `within` passes; the text read.
    async fn read_all(s: &mut TcpStream, within: Duration) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(within, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn short() -> Limits {
        Limits {
            header_read: Duration::from_millis(300),
            request: Duration::from_millis(300),
            max_connections: 64,
        }
    }

    #[tokio::test]
    async fn a_client_that_sends_its_headers_too_slowly_is_disconnected() {
        let (addr, _stop) = start(short()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let answer = read_all(&mut s, Duration::from_secs(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "closed by the server"
        );
        assert!(!answer.contains("200 OK"), "{answer}");
    }

    #[tokio::test]
    async fn a_body_that_stalls_gets_408_in_time() {
        let (addr, _stop) = start(short()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
            .await
            .unwrap();
        let answer = read_all(&mut s, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }

    #[tokio::test]
    async fn past_the_connection_limit_a_client_waits_until_a_connection_closes() {
        let (addr, _stop) = start(Limits {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(10),
            max_connections: 2,
        })
        .await;
        let idle_a = TcpStream::connect(addr).await.unwrap();
        let _idle_b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_all(&mut third, Duration::from_millis(400)).await, "");
        drop(idle_a);
        let answer = read_all(&mut third, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn a_request_in_time_is_answered_with_the_client_address_known() {
        let router = Router::new().route(
            "/who",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                peer.ip().to_string()
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router, short(), std::future::pending()));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_all(&mut s, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
    }
}
