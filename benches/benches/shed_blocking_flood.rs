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
//! p50/p99 of each mode over all rounds, the median of the rounds' p99s, and
//! the pool's median p99 against idle's (target: ≤ 2×).

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

const ROUNDS: usize = 9;
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
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut all: Vec<Histogram<u64>> = modes.iter().map(|_| new_hist()).collect();
    // Each round's p99 per mode: the median of these resists a burst of
    // noise from other processes landing on one round.
    let mut round_p99: Vec<Vec<u64>> = modes.iter().map(|_| Vec::new()).collect();
    for r in 0..ROUNDS {
        for i in 0..modes.len() {
            let m = (i + r) % modes.len();
            let mut h = new_hist();
            for us in round(&rt, modes[m], &pool, &app) {
                h.saturating_record(us);
            }
            round_p99[m].push(h.value_at_quantile(0.99));
            all[m].add(&h).unwrap();
        }
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let mut p99 = Vec::new();
    for (m, (h, rounds)) in modes.iter().zip(all.iter().zip(&mut round_p99)) {
        let med = median(rounds);
        p99.push(med as f64);
        println!(
            "blocking_flood/{:<7} probes {:>5}  p50 {:>8} us  p99 {:>8} us (all rounds)  p99 {:>8} us (median of rounds {:?})",
            format!("{m:?}").to_lowercase(),
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            med,
            rounds
        );
    }
    let (idle, inline, pooled) = (p99[0].max(1.0), p99[1], p99[2]);
    println!(
        "blocking_flood (median of round p99s): inline / idle = {:.1}x; pool / idle = {:.2}x (target <= 2x): {}",
        inline / idle,
        pooled / idle,
        if pooled / idle <= 2.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
