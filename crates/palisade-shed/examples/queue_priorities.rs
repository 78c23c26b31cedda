//! An axum service under overload behind a CoDel `Queue` in front of an
//! `AdaptiveLimit`, with criticality read from the `x-criticality` header,
//! and the outcome per criticality printed every second.
//!
//! The handler stands for a backend of 4 workers × 20 ms (200 req/s). A
//! load generator sends 150 req/s for 3 s, then 600 req/s (3× capacity)
//! for 6 s, then 150 req/s again; one request in ten is `critical`, six
//! `normal`, three `sheddable`. Watch the queue absorb the light load's
//! bursts, then, under overload, CoDel find a standing queue (`standing`),
//! serve newest first and shed by queue time (`503`), sheddable work first,
//! while critical requests keep getting through on their reserved share.
//! Self-contained: binds 127.0.0.1:0 and exits after about 15 s.
//!
//! ```text
//! cargo run -p palisade-shed --example queue_priorities
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, routing::get};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_core::http::ErrorResponseLayer;
use palisade_shed::{
    Timeout,
    adaptive::{AdaptiveLimit, Vegas},
    queue::{Criticality, Queue},
};
use tokio::sync::Semaphore;
use tower::ServiceBuilder;

/// Answers per criticality (most important first): ok, 503, other.
#[derive(Default)]
struct Counts([[AtomicU64; 3]; 3]);

impl Counts {
    fn add(&self, crit: Criticality, status: Option<StatusCode>) {
        let row = match crit {
            Criticality::Critical => 0,
            Criticality::Normal => 1,
            Criticality::Sheddable => 2,
        };
        let col = match status {
            Some(StatusCode::OK) => 0,
            Some(StatusCode::SERVICE_UNAVAILABLE) => 1,
            _ => 2,
        };
        self.0[row][col].fetch_add(1, Ordering::Relaxed);
    }

    fn take(&self, row: usize) -> [u64; 3] {
        let r = &self.0[row];
        [0, 1, 2].map(|c| r[c].swap(0, Ordering::Relaxed))
    }
}

async fn work(State(workers): State<Arc<Semaphore>>) -> &'static str {
    let _worker = workers.acquire().await.expect("never closed");
    tokio::time::sleep(Duration::from_millis(20)).await;
    "done"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let limit = AdaptiveLimit::builder("api")
        .algorithm(Vegas::default().initial_limit(8))
        .window(Duration::from_millis(250))
        .build()?;
    let queue = Queue::builder(limit.clone())
        .criticality_header() // x-criticality: critical | normal | sheddable
        .critical_reserve(0.2)
        .build()?;
    let timeout = Timeout::builder("api")
        .timeout(Duration::from_millis(200))
        .build()?;
    let app = Router::new()
        .route("/", get(work))
        .with_state(Arc::new(Semaphore::new(4)))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(timeout.layer())
                .layer(queue.layer()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let counts = Arc::new(Counts::default());
    let uri: http::Uri = format!("http://{addr}/").parse()?;
    let load = tokio::spawn({
        let counts = Arc::clone(&counts);
        async move {
            let mut n = 0u64;
            for (rate, secs) in [(150u64, 3u64), (600, 6), (150, 5)] {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
                for _ in 0..rate * secs {
                    tick.tick().await;
                    n += 1;
                    let crit = match n % 10 {
                        0 => Criticality::Critical,
                        1..=3 => Criticality::Sheddable,
                        _ => Criticality::Normal,
                    };
                    let req = Request::get(uri.clone())
                        .header("x-criticality", crit.as_str())
                        .body(Full::default())
                        .expect("a valid request");
                    let (client, counts) = (client.clone(), Arc::clone(&counts));
                    tokio::spawn(async move {
                        let status = client.request(req).await.ok().map(|r| r.status());
                        counts.add(crit, status);
                    });
                }
            }
        }
    });

    println!(
        "  s  limit  in-flight  queued  standing  critical ok/503/other  normal ok/503/other  sheddable ok/503/other"
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    for second in 1..=15 {
        tick.tick().await;
        let [c, n, s] = [0, 1, 2].map(|row| counts.take(row));
        let cell = |v: [u64; 3]| format!("{}/{}/{}", v[0], v[1], v[2]);
        println!(
            "{second:>3}  {:>5}  {:>9}  {:>6}  {:>8}  {:>21}  {:>19}  {:>22}",
            limit.limit(),
            limit.in_flight(),
            queue.len(),
            if queue.is_overloaded() { "yes" } else { "no" },
            cell(c),
            cell(n),
            cell(s),
        );
    }
    load.await?;
    Ok(())
}
