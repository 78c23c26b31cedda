//! The point of `BlockingPool`: the p99 latency of a fast async route while
//! a flood of blocking requests arrives, with the blocking work done inline
//! in the handler (it holds a runtime worker) versus through the pool (it
//! runs on tokio's blocking threads), beside the same route with no flood.
//!
//! A 2-worker runtime serves both. From outside threads, the flood spawns a
//! request that blocks for `BLOCK` every `FLOOD_EVERY` (twice what two
//! workers can absorb inline), and the probe spawns one fast request (one
//! call of an axum `Router`) every `PROBE_EVERY`, timing it from spawn to
//! completion. Modes run in interleaved rounds (idle, inline, pool, in a
//! rotating order); a round ends once its flood has drained. Prints the
//! p50/p99 of each mode and the pool's p99 against idle (target: ≤ 2×).

use std::{
    hint::black_box,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, routing::get};
use hdrhistogram::Histogram;
use http::Request;
use palisade_shed::BlockingPool;
use tower::ServiceExt;

const ROUNDS: usize = 6;
const ROUND: Duration = Duration::from_millis(400);
const BLOCK: Duration = Duration::from_millis(2);
const FLOOD_EVERY: Duration = Duration::from_micros(500);
const PROBE_EVERY: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Idle,
    Inline,
    Pool,
}

/// Runs one round of `mode`; returns the probe latencies in microseconds.
fn round(rt: &tokio::runtime::Runtime, mode: Mode, pool: &BlockingPool, app: &Router) -> Vec<u64> {
    let handle = rt.handle().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flood = std::thread::spawn({
        let (handle, stop, pool) = (handle.clone(), Arc::clone(&stop), pool.clone());
        move || {
            let mut jobs = Vec::new();
            while mode != Mode::Idle && !stop.load(Ordering::Relaxed) {
                let pool = pool.clone();
                jobs.push(handle.spawn(async move {
                    match mode {
                        // A blocking call in an async handler: holds the worker.
                        Mode::Inline => std::thread::sleep(BLOCK),
                        // The same call through the pool (refusals are answers too).
                        _ => drop(pool.run(|| std::thread::sleep(BLOCK)).await),
                    }
                }));
                std::thread::sleep(FLOOD_EVERY);
            }
            jobs
        }
    });
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut probes = Vec::new();
    let start = Instant::now();
    while start.elapsed() < ROUND {
        let (app, samples) = (app.clone(), Arc::clone(&samples));
        let sent = Instant::now();
        probes.push(handle.spawn(async move {
            let req = Request::get("/").body(Body::empty()).unwrap();
            let res = app.oneshot(req).await.unwrap();
            black_box(res);
            let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            samples.lock().unwrap().push(micros);
        }));
        std::thread::sleep(PROBE_EVERY);
    }
    stop.store(true, Ordering::Relaxed);
    let jobs = flood.join().unwrap();
    rt.block_on(async {
        for p in probes {
            p.await.unwrap();
        }
        for j in jobs {
            j.await.unwrap();
        }
    });
    Arc::try_unwrap(samples).unwrap().into_inner().unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let pool = BlockingPool::builder("flood")
        .max_running(64)
        .max_queued(1024)
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let modes = [Mode::Idle, Mode::Inline, Mode::Pool];
    let mut hist: Vec<Histogram<u64>> = modes
        .iter()
        .map(|_| Histogram::new_with_bounds(1, 60_000_000, 3).unwrap())
        .collect();
    for r in 0..ROUNDS {
        for i in 0..modes.len() {
            let m = (i + r) % modes.len();
            for us in round(&rt, modes[m], &pool, &app) {
                hist[m].saturating_record(us);
            }
        }
    }
    for (m, h) in modes.iter().zip(&hist) {
        println!(
            "blocking_flood/{:<7} probes {:>5}  p50 {:>8} us  p99 {:>8} us",
            format!("{m:?}").to_lowercase(),
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
    let idle = hist[0].value_at_quantile(0.99).max(1) as f64;
    let inline = hist[1].value_at_quantile(0.99) as f64;
    let pooled = hist[2].value_at_quantile(0.99) as f64;
    println!(
        "blocking_flood: p99 inline / idle = {:.1}x; pool / idle = {:.2}x (target <= 2x): {}",
        inline / idle,
        pooled / idle,
        if pooled / idle <= 2.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
