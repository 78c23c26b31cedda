//! An axum server with fast, slow, failing and blocking routes, a built-in
//! load generator, and the latency report at `/latency`.
//!
//! ```text
//! cargo run -p palisade-latency --example dashboard                  # until Ctrl-C
//! cargo run -p palisade-latency --example dashboard -- --duration 5s # stops by itself
//! ```
//!
//! Open <http://127.0.0.1:3000/latency> in a browser (`--addr` to change it;
//! `DASHBOARD_DURATION=5s` works too). The `/blocking` route calls
//! `std::thread::sleep`, so the blocking-poll detector reports it; `/slow`
//! trips the slow-request log. Both warnings are rate-limited per route.

use std::{net::SocketAddr, time::Duration};

use axum::{Router, extract::Path, http::StatusCode, routing::get};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_latency::{LatencyTracker, RouteFrom};

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

struct Args {
    addr: SocketAddr,
    duration: Option<Duration>,
}

fn args() -> Result<Args, String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 3000).into();
    let mut duration = std::env::var("DASHBOARD_DURATION")
        .ok()
        .and_then(|d| parse_duration(&d));
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--duration" => {
                let v = it.next().ok_or("--duration needs a value such as 5s")?;
                duration = Some(parse_duration(&v).ok_or(format!("bad duration {v:?}"))?);
            }
            "--addr" => {
                let v = it
                    .next()
                    .ok_or("--addr needs a value such as 127.0.0.1:3000")?;
                addr = v.parse().map_err(|e| format!("bad address {v:?}: {e}"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --duration, --addr)"
                ));
            }
        }
    }
    Ok(Args { addr, duration })
}

/// A cheap, deterministic spread of latencies per request number.
fn spread(n: u64, max_ms: u64) -> Duration {
    Duration::from_millis(n.wrapping_mul(2_654_435_761) % max_ms + 1)
}

fn app(tracker: &LatencyTracker) -> Router {
    Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<u64>| async move {
                tokio::time::sleep(spread(id, 20)).await;
                format!("user {id}")
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route(
            "/flaky/{n}",
            get(|Path(n): Path<u64>| async move {
                tokio::time::sleep(spread(n, 40)).await;
                if n % 7 == 0 {
                    Err(StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    Ok("ok")
                }
            }),
        )
        .route(
            "/blocking",
            get(|| async {
                // Wrong on purpose: this holds the executor thread.
                std::thread::sleep(Duration::from_millis(15));
                "blocked"
            }),
        )
        .layer(tracker.layer())
        .route_service("/latency", tracker.report())
}

async fn load(addr: SocketAddr, worker: u64) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for n in (worker * 1_000_000).. {
        let path = match n % 10 {
            0..=3 => "/fast".to_owned(),
            4..=6 => format!("/users/{n}"),
            7 => format!("/flaky/{n}"),
            8 if n % 40 == 8 => "/slow".to_owned(),
            8 => "/no/such/page".to_owned(),
            _ if n % 30 == 9 => "/blocking".to_owned(),
            _ => "/fast".to_owned(),
        };
        let Ok(uri) = format!("http://{addr}{path}").parse() else {
            continue;
        };
        if let Ok(res) = client.get(uri).await {
            let _ = res.into_body().collect().await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_target(false).init();
    let args = args()?;
    let tracker = LatencyTracker::builder("dashboard")
        .route(RouteFrom::AxumMatchedPath)
        .max_routes(64)
        .slow_threshold(Duration::from_millis(250))
        .blocking_threshold(Duration::from_millis(5))
        .window(Duration::from_secs(10))
        .build()?;

    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!("serving on http://{addr} — open http://{addr}/latency");
    let server = tokio::spawn(axum::serve(listener, app(&tracker)).into_future());
    let workers: Vec<_> = (0..4).map(|w| tokio::spawn(load(addr, w))).collect();

    match args.duration {
        Some(d) => {
            println!("running for {d:?}");
            tokio::select! {
                () = tokio::time::sleep(d) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            println!("press Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
        }
    }
    for w in &workers {
        w.abort();
    }
    server.abort();

    let snap = tracker.snapshot();
    println!(
        "\n{:<16} {:>6} {:>7} {:>6} {:>9} {:>9} {:>9}",
        "route", "method", "count", "errors", "p50", "p99", "blocking"
    );
    for s in snap.routes() {
        println!(
            "{:<16} {:>6} {:>7} {:>6} {:>9.1?} {:>9.1?} {:>9}",
            s.route,
            s.method,
            s.count,
            s.errors,
            s.quantile(0.5),
            s.quantile(0.99),
            s.blocking_polls
        );
    }
    Ok(())
}
