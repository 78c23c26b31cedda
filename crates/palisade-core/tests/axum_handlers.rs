//! `?` in axum handlers: `Rejected` and `HandlerError` as responses, through a
//! real axum server and a real HTTP client.
#![cfg(feature = "axum")]

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use palisade_core::{BoxError, RejectKind, Rejected, http::HandlerError};
use tokio::{io::AsyncReadExt, io::AsyncWriteExt, net::TcpStream};
use tower::{ServiceExt, service_fn, util::BoxCloneSyncService};

type Users = BoxCloneSyncService<u64, String, BoxError>;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A minimal HTTP/1.1 client: one request, read until the server closes.
async fn get_raw(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// A stack stand-in: what a breaker → loader stack returns for each id.
fn users() -> Users {
    Users::new(service_fn(|id: u64| async move {
        match id {
            1 => Ok("ada".to_owned()),
            2 => Err(Rejected::new(RejectKind::CircuitOpen, "users")
                .with_retry_after(Duration::from_millis(2500))
                .into()),
            3 => Err(Rejected::new(RejectKind::DeadlineExceeded, "edge").into()),
            _ => Err(BoxError::from(
                "connection to db-7 refused, password hunter2",
            )),
        }
    }))
}

/// Passes the stack's `BoxError` on with `?`.
async fn user(State(users): State<Users>, Path(id): Path<u64>) -> Result<String, HandlerError> {
    let name = users.oneshot(id).await?;
    Ok(name)
}

/// Passes a bare `Rejected` on with `?` (as from `CircuitBreaker::try_acquire`).
async fn limited() -> Result<&'static str, Rejected> {
    let admit = || -> Result<(), Rejected> {
        Err(Rejected::new(RejectKind::Overloaded, "per-client")
            .as_rate_limit()
            .with_retry_after(Duration::from_secs(4)))
    };
    admit()?;
    Ok("admitted")
}

async fn app() -> SocketAddr {
    serve(
        Router::new()
            .route("/users/{id}", get(user))
            .route("/limited", get(limited))
            .with_state(users()),
    )
    .await
}

#[tokio::test]
async fn box_error_holding_circuit_open_is_503_with_retry_after() {
    let addr = app().await;
    let (status, head, body) = get_raw(addr, "/users/2").await;
    assert_eq!(status, 503);
    assert!(head.contains("\r\nretry-after: 3\r\n"), "{head}");
    assert_eq!(body, "service unavailable: circuit open");
}

#[tokio::test]
async fn box_error_holding_deadline_is_504_without_retry_after() {
    let addr = app().await;
    let (status, head, body) = get_raw(addr, "/users/3").await;
    assert_eq!(status, 504);
    assert!(!head.contains("retry-after"), "{head}");
    assert_eq!(body, "gateway timeout: deadline exceeded");
}

#[tokio::test]
async fn other_errors_are_500_and_leak_nothing() {
    let addr = app().await;
    let (status, head, body) = get_raw(addr, "/users/9").await;
    assert_eq!(status, 500);
    assert!(!head.contains("retry-after"), "{head}");
    assert_eq!(body, "internal server error");
}

#[tokio::test]
async fn success_passes_through() {
    let addr = app().await;
    let (status, _, body) = get_raw(addr, "/users/1").await;
    assert_eq!(status, 200);
    assert_eq!(body, "ada");
}

#[tokio::test]
async fn bare_rejected_with_question_mark_is_429_with_retry_after() {
    let addr = app().await;
    let (status, head, body) = get_raw(addr, "/limited").await;
    assert_eq!(status, 429);
    assert!(head.contains("\r\nretry-after: 4\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/plain; charset=utf-8\r\n"),
        "{head}"
    );
    assert_eq!(body, "too many requests");
}
