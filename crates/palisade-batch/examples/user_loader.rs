//! An axum server whose `GET /users/{id}` loads users through a [`Loader`]
//! from a bulk lookup that costs a round trip (2 ms) plus 10 µs per id — the
//! shape of `SELECT ... WHERE id IN (...)`. A built-in load generator sends
//! concurrent requests over HTTP and prints how many bulk calls served them.
//!
//! ```text
//! cargo run -p palisade-batch --example user_loader
//! ```

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_batch::{Loader, LoaderService};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// What the bulk lookup saw.
#[derive(Default)]
struct BulkStats {
    calls: AtomicUsize,
    ids: AtomicUsize,
    sizes: Mutex<HashMap<usize, usize>>,
}

type Users = LoaderService<u64, String>;

async fn get_user(State(users): State<Users>, Path(id): Path<u64>) -> (StatusCode, String) {
    match users.oneshot(id).await {
        Ok(Some(user)) => (StatusCode::OK, user),
        Ok(None) => (StatusCode::NOT_FOUND, format!("no user {id}")),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stats = Arc::new(BulkStats::default());
    let bulk_stats = stats.clone();
    // The simulated database: ids above 360 do not exist.
    let bulk_by_id = service_fn(move |ids: Vec<u64>| {
        let stats = bulk_stats.clone();
        async move {
            stats.calls.fetch_add(1, Ordering::Relaxed);
            stats.ids.fetch_add(ids.len(), Ordering::Relaxed);
            *stats.sizes.lock().unwrap().entry(ids.len()).or_default() += 1;
            let cost = Duration::from_millis(2) + Duration::from_micros(10) * ids.len() as u32;
            tokio::time::sleep(cost).await;
            let found = ids
                .into_iter()
                .filter(|id| *id <= 360)
                .map(|id| (id, format!("{{\"id\":{id},\"name\":\"user {id}\"}}")));
            Ok::<_, std::io::Error>(found.collect::<HashMap<_, _>>())
        }
    });

    let loader = Loader::builder("users")
        .max_size(100)
        .max_wait(Duration::from_millis(1))
        .max_in_flight(4)
        .build()?;
    let users: Users = ServiceBuilder::new()
        .layer(loader.layer())
        .service(bulk_by_id);
    let app = Router::new()
        .route("/users/{id}", get(get_user))
        .with_state(users);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    println!("serving GET http://{addr}/users/{{id}}");

    // The load generator: 64 clients, 2,000 requests over ids 1..=400 (so some are asked for concurrently).
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let requests = 2_000;
    let next = Arc::new(AtomicUsize::new(0));
    let (found, missing) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            let (found, missing) = (found.clone(), missing.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        break;
                    }
                    // A cheap hash of n: pseudo-random ids, some repeated.
                    let mut x = n as u64 + 0x9E37_79B9;
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let id = x % 400 + 1;
                    let uri = format!("http://{addr}/users/{id}").parse()?;
                    let res = client.get(uri).await?;
                    let status = res.status();
                    res.into_body().collect().await?;
                    match status {
                        StatusCode::OK => found.fetch_add(1, Ordering::Relaxed),
                        StatusCode::NOT_FOUND => missing.fetch_add(1, Ordering::Relaxed),
                        other => return Err(format!("unexpected status {other}").into()),
                    };
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    for c in clients {
        c.await??;
    }
    let elapsed = started.elapsed();

    let calls = stats.calls.load(Ordering::Relaxed);
    let ids = stats.ids.load(Ordering::Relaxed);
    println!(
        "{requests} requests ({} found, {} not found) in {elapsed:.2?}",
        found.load(Ordering::Relaxed),
        missing.load(Ordering::Relaxed)
    );
    println!(
        "{calls} bulk calls carrying {ids} distinct ids in flight: {:.1} requests per bulk call, \
         {:.1} ids per call ({} requests joined an equal key already pending or in flight)",
        requests as f64 / calls as f64,
        ids as f64 / calls as f64,
        requests - ids
    );
    let mut sizes: Vec<_> = stats.sizes.lock().unwrap().clone().into_iter().collect();
    sizes.sort_unstable();
    let buckets = [(1, 1), (2, 9), (10, 49), (50, 99), (100, 100)];
    println!("batch sizes:");
    for (lo, hi) in buckets {
        let n: usize = sizes
            .iter()
            .filter(|(s, _)| (lo..=hi).contains(s))
            .map(|(_, n)| n)
            .sum();
        println!("  {lo:>3}..={hi:<3} {n:>5} calls");
    }
    println!(
        "without batching: {requests} bulk calls (~{:.0}x more round trips)",
        requests as f64 / calls as f64
    );

    let _ = stop.send(());
    server.await??;
    Ok(())
}
