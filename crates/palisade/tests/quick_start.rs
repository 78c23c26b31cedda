//! The root README's quick start, as written, run against a real axum server:
//! the breaker opens on HTTP 500 and the client then gets 503 with
//! `Retry-After`; a request to `/users/{id}` is recorded under that template.
//!
//! `readme_quick_start_is_this_test` fails when the README's code and this file
//! drift apart, so the README shows code that is compiled and run.

use axum::{extract::Path, http::StatusCode};
use palisade::{breaker::State, core::BoxError};

async fn get_user(Path(id): Path<u64>) -> (StatusCode, String) {
    // The upstream behind this route is down: every answer is a 500.
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("user {id}: database unavailable"),
    )
}

async fn list_orders() -> &'static str {
    "[]"
}

struct Running {
    addr: std::net::SocketAddr,
    tracker: palisade::latency::LatencyTracker,
    breaker: palisade::breaker::CircuitBreaker<palisade::core::http::HttpServerErrors>,
}

/// The quick start's code, from `let tracker` to the end of `let app`, as in
/// the README; then the server on a free port instead of 0.0.0.0:3000.
#[rustfmt::skip] // kept as the README has it
async fn quick_start() -> Result<Running, BoxError> {
    // README:BEGIN
    use std::time::Duration;
    use axum::{routing::get, Router};
    use palisade::prelude::*;
    use tower::ServiceBuilder;

    let tracker = LatencyTracker::builder("api").build()?;  // routes from axum's MatchedPath
    let timeout = Timeout::builder("api").timeout(Duration::from_secs(2)).build()?;
    let limit = ConcurrencyLimit::builder("api").max_in_flight(256).build()?;
    // `builder_for_http`: 5xx answers and transport errors count as failures.
    let breaker = CircuitBreaker::builder_for_http("upstream")
        .failure_rate(0.5)
        .count_window(100)
        .build()?;

    let app = Router::new()
        .route("/users/{id}", get(get_user))
        .route("/orders", get(list_orders))
        // Every route gets the stack; all of them share one tracker, limit and breaker.
        .layer(
            ServiceBuilder::new()
                .http_errors()              // rejections → 503 / 504 + Retry-After; the router stays Infallible
                .track_latency(&tracker)    // outermost: sees what the client sees
                .deadline(&timeout)         // bounds everything below, publishes Deadline::current()
                .limit_in_flight(&limit)    // shed before the breaker: overload is not the dependency failing
                .circuit_breaker(&breaker), // stop calling a failing dependency
        );
    // README:END

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running {
        addr,
        tracker,
        breaker,
    })
}

/// One HTTP/1.1 request over a fresh connection: the status and `Retry-After`.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    let head = response.split("\r\n\r\n").next().unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let retry_after = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.trim().to_owned());
    (status, retry_after)
}

#[tokio::test]
async fn quick_start_breaker_opens_on_500_and_routes_use_templates() {
    let Running {
        addr,
        tracker,
        breaker,
    } = quick_start().await.unwrap();

    // The breaker needs its minimum number of calls (20) before the failure
    // rate counts; every one of them is a 500 the client sees as it is.
    for id in 0..20 {
        let (status, _) = get(addr, &format!("/users/{id}")).await;
        assert_eq!(status, 500, "call {id} reaches the handler");
    }
    assert!(breaker.state() == State::Open, "{:?}", breaker.state());

    // Now the breaker refuses at once: 503 with a Retry-After in whole seconds.
    let (status, retry_after) = get(addr, "/users/7").await;
    assert_eq!(status, 503);
    let retry_after: u64 = retry_after.expect("Retry-After on a 503").parse().unwrap();
    assert!(retry_after >= 1, "retry-after {retry_after}");

    // The other route shares the same breaker.
    let (status, _) = get(addr, "/orders").await;
    assert_eq!(status, 503);

    // Every request to /users/{id} is filed under the template, none under
    // the raw path, none under `unmatched`.
    let snapshot = tracker.snapshot();
    let users: u64 = snapshot
        .routes()
        .iter()
        .filter(|r| &*r.route == "/users/{id}")
        .map(|r| r.count)
        .sum();
    assert_eq!(users, 21, "{snapshot:?}");
    assert!(
        snapshot.routes().iter().all(|r| &*r.route != "unmatched"),
        "{snapshot:?}"
    );
}

#[test]
fn readme_quick_start_is_this_test() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the workspace README");
    let block = readme
        .split("```rust")
        .nth(1)
        .and_then(|rest| rest.split_once('\n').map(|(_, code)| code))
        .and_then(|code| code.split("```").next())
        .expect("a rust block in the README");
    let code: Vec<&str> = block
        .lines()
        .take_while(|l| !l.starts_with("let listener"))
        .collect();
    let this = include_str!("quick_start.rs");
    let begin = this.find("// README:BEGIN").unwrap();
    let end = this.find("// README:END").unwrap();
    let ours: Vec<&str> = this[begin..end]
        .lines()
        .skip(1)
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let trim = |v: &[&str]| -> Vec<String> {
        v.iter()
            .map(|l| l.trim_end().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert_eq!(
        trim(&code),
        trim(&ours),
        "README quick start and this test differ"
    );
}
