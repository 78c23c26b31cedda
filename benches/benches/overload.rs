//! The overload benchmark: load-shedding strategies in front of a simulated
//! backend of known capacity, under open-loop load from 0.5× to 4× its
//! capacity, with the capacity halved mid-run.
//!
//! ```text
//! cargo bench -p palisade-benches --bench overload            # simulated + real-time pass
//! cargo bench -p palisade-benches --bench overload -- --quick # fewer loads, no plots
//! ```
//!
//! The backend has 8 workers × 10 ms = 800 req/s; requests beyond 8 wait in
//! its FIFO queue, so latency grows with queueing. Every request has a
//! 100 ms deadline (the ambient [`Deadline`] and a timeout that cancels it).
//! At `HALVE_AT` the service time doubles to 20 ms (400 req/s).
//!
//! The run is on tokio's paused clock: time advances only when every task
//! waits on a timer, so the figures are the same on any machine and under
//! any noise. A short real-time pass at 4× load checks that the simulation
//! says the same as the wall clock. Results, table and plots:
//! `docs/BENCHMARKS.md`, `docs/overload-goodput.svg`,
//! `docs/overload-limit.svg`.

use palisade_core::{BoxError, Rejected};
use palisade_shed::{
    ConcurrencyLimit, Deadline,
    adaptive::{AdaptiveLimit, Aimd, Gradient2, Vegas},
    queue::{Queue, QueueLimitFor},
};
use std::{
    fmt::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{sync::Semaphore, time::Instant};
use tower::{Layer, ServiceBuilder, ServiceExt, util::BoxCloneService};

const WORKERS: usize = 8;
const SERVICE: Duration = Duration::from_millis(10);
const CAPACITY: f64 = WORKERS as f64 / 0.010; // req/s
const DEADLINE: Duration = Duration::from_millis(100);
const HALVE_AT: Duration = Duration::from_secs(20);
const RUN: Duration = Duration::from_secs(40);
/// Phase-one figures are taken from here to `HALVE_AT` (after warm-up).
const MEASURE_FROM: Duration = Duration::from_secs(5);
/// Phase-two figures are taken from `HALVE_AT + SETTLE_MEASURE` to `RUN`.
const SETTLE_MEASURE: Duration = Duration::from_secs(5);
const BUCKET: Duration = Duration::from_millis(500);

type Svc = BoxCloneService<u64, (), BoxError>;
/// Reads an adaptive strategy's current limit.
type LimitProbe = Option<Box<dyn Fn() -> usize + Send + Sync>>;

/// The simulated backend: `WORKERS` workers behind a FIFO queue.
#[derive(Clone)]
struct Backend {
    workers: Arc<Semaphore>,
    service_nanos: Arc<AtomicU64>,
}

impl Backend {
    fn new() -> Self {
        Self {
            workers: Arc::new(Semaphore::new(WORKERS)),
            service_nanos: Arc::new(AtomicU64::new(SERVICE.as_nanos() as u64)),
        }
    }

    fn halve(&self) {
        self.service_nanos
            .store(2 * SERVICE.as_nanos() as u64, Ordering::Relaxed);
    }

    fn service(&self) -> Svc {
        let b = self.clone();
        BoxCloneService::new(tower::service_fn(move |_: u64| {
            let b = b.clone();
            async move {
                let _worker = b.workers.acquire().await?;
                let nanos = b.service_nanos.load(Ordering::Relaxed);
                tokio::time::sleep(Duration::from_nanos(nanos)).await;
                Ok::<_, BoxError>(())
            }
        }))
    }
}

/// A strategy: wraps the backend's service; may expose an adaptive limit.
struct Strategy {
    name: &'static str,
    make: fn(Svc) -> (Svc, LimitProbe),
}

fn adaptive<C>(limit: AdaptiveLimit<C>, inner: Svc) -> (Svc, LimitProbe)
where
    C: palisade_core::Classify<(), BoxError> + Send + Sync + 'static,
{
    let svc = BoxCloneService::new(limit.layer().layer(inner));
    (svc, Some(Box::new(move || limit.limit())))
}

/// A CoDel queue (defaults: target 5 ms, interval 100 ms, max wait 100 ms,
/// 128 places) in front of `limit`.
fn queued<L>(limit: L, inner: Svc, probe: LimitProbe) -> (Svc, LimitProbe)
where
    L: QueueLimitFor<(), BoxError>,
{
    let queue = Queue::builder(limit).build().unwrap();
    (BoxCloneService::new(queue.layer().layer(inner)), probe)
}

fn tower_limit(n: usize, inner: Svc) -> (Svc, LimitProbe) {
    let svc = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(n)
        .service(inner);
    (BoxCloneService::new(svc.map_err(Into::into)), None)
}

fn strategies() -> Vec<Strategy> {
    vec![
        Strategy {
            name: "no limit",
            make: |s| (s, None),
        },
        Strategy {
            name: "tower limit 8 + LoadShed",
            make: |s| tower_limit(8, s),
        },
        Strategy {
            name: "tower limit 4 + LoadShed",
            make: |s| tower_limit(4, s),
        },
        Strategy {
            name: "tower limit 16 + LoadShed",
            make: |s| tower_limit(16, s),
        },
        Strategy {
            name: "palisade fixed 8",
            make: |s| {
                let l = ConcurrencyLimit::builder("fixed")
                    .max_in_flight(8)
                    .build()
                    .unwrap();
                (BoxCloneService::new(l.layer().layer(s)), None)
            },
        },
        Strategy {
            name: "adaptive gradient2",
            make: |s| {
                let l = AdaptiveLimit::builder("g2")
                    .algorithm(Gradient2::default())
                    .build()
                    .unwrap();
                adaptive(l, s)
            },
        },
        Strategy {
            name: "adaptive vegas",
            make: |s| {
                let l = AdaptiveLimit::builder("vegas")
                    .algorithm(Vegas::default())
                    .build()
                    .unwrap();
                adaptive(l, s)
            },
        },
        Strategy {
            name: "adaptive aimd",
            make: |s| {
                let l = AdaptiveLimit::builder("aimd")
                    .algorithm(Aimd::default())
                    .build()
                    .unwrap();
                adaptive(l, s)
            },
        },
        Strategy {
            name: "CoDel queue + fixed 8",
            make: |s| {
                let l = ConcurrencyLimit::builder("queue_fixed")
                    .max_in_flight(8)
                    .build()
                    .unwrap();
                queued(l, s, None)
            },
        },
        Strategy {
            name: "CoDel queue + gradient2",
            make: |s| {
                let l = AdaptiveLimit::builder("queue_g2")
                    .algorithm(Gradient2::default())
                    .build()
                    .unwrap();
                let probe = l.clone();
                queued(l, s, Some(Box::new(move || probe.limit())))
            },
        },
        // Not a default: Gradient2 with its floor lowered from 20 to 1, to
        // show what the p99 target needs (the backend has 8 workers).
        Strategy {
            name: "CoDel queue + gradient2 min 1 (tuned)",
            make: |s| {
                let l = AdaptiveLimit::builder("queue_g2_min1")
                    .algorithm(Gradient2::default().min_limit(1))
                    .build()
                    .unwrap();
                let probe = l.clone();
                queued(l, s, Some(Box::new(move || probe.limit())))
            },
        },
        Strategy {
            name: "CoDel queue + vegas",
            make: |s| {
                let l = AdaptiveLimit::builder("queue_vegas")
                    .algorithm(Vegas::default())
                    .build()
                    .unwrap();
                let probe = l.clone();
                queued(l, s, Some(Box::new(move || probe.limit())))
            },
        },
    ]
}

#[derive(Default)]
struct Record {
    /// Per request: arrival (µs since start), outcome, latency (µs).
    rows: Vec<(u64, Outcome, u32)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Answered within the deadline.
    Good,
    /// Refused by the strategy.
    Rejected,
    /// Admitted but not answered within the deadline.
    Late,
}

struct RunResult {
    goodput1: f64,
    p50: f64,
    p99: f64,
    rejected1: f64,
    goodput2: f64,
    settle: Option<f64>,
    /// (second, limit) every 100 ms, for adaptive strategies.
    limits: Vec<(f64, usize)>,
}

/// One run of `strategy` at `load` × capacity on the current runtime.
async fn run(strategy: &Strategy, load: f64, run_for: Duration, halve_at: Duration) -> RunResult {
    let backend = Backend::new();
    let (svc, limit) = (strategy.make)(backend.service());
    let record = Arc::new(Mutex::new(Record::default()));
    let start = Instant::now();
    let limits = Arc::new(Mutex::new(Vec::new()));
    if let Some(limit) = limit {
        let limits = Arc::clone(&limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let t = start.elapsed().as_secs_f64();
                limits.lock().unwrap().push((t, limit()));
                if t > run_for.as_secs_f64() {
                    break;
                }
            }
        });
    }
    // Open loop: every 1 ms (tokio's timer resolution), as many arrivals as
    // the rate says, carrying the fraction over.
    let rate_per_ms = load * CAPACITY / 1000.0;
    let mut due = 0.0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut halved = false;
    let mut tasks = tokio::task::JoinSet::new();
    while start.elapsed() < run_for {
        tick.tick().await;
        if !halved && start.elapsed() >= halve_at {
            backend.halve();
            halved = true;
        }
        due += rate_per_ms;
        while due >= 1.0 {
            due -= 1.0;
            let svc = svc.clone();
            let record = Arc::clone(&record);
            tasks.spawn(async move {
                let arrived = Instant::now();
                let deadline = Deadline::after(DEADLINE);
                let result = deadline
                    .scope(tokio::time::timeout(DEADLINE, svc.oneshot(0)))
                    .await;
                let latency = arrived.elapsed();
                let outcome = match result {
                    Ok(Ok(())) if latency <= DEADLINE => Outcome::Good,
                    Ok(Err(e)) if is_rejection(&e) => Outcome::Rejected,
                    _ => Outcome::Late,
                };
                let at = (arrived - start).as_micros() as u64;
                let micros = latency.min(DEADLINE).as_micros() as u32;
                record.lock().unwrap().rows.push((at, outcome, micros));
            });
        }
        // Reap finished tasks now and then so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let rows = std::mem::take(&mut record.lock().unwrap().rows);
    let limits = std::mem::take(&mut *limits.lock().unwrap());
    summarize(&rows, load, run_for, halve_at, limits)
}

fn is_rejection(e: &BoxError) -> bool {
    Rejected::find(&**e).is_some() || e.is::<tower::load_shed::error::Overloaded>()
}

fn summarize(
    rows: &[(u64, Outcome, u32)],
    load: f64,
    run_for: Duration,
    halve_at: Duration,
    limits: Vec<(f64, usize)>,
) -> RunResult {
    let _ = load;
    let us = |d: Duration| d.as_micros() as u64;
    let (from1, to1) = (us(MEASURE_FROM.min(halve_at / 4)), us(halve_at));
    let (from2, to2) = (
        us(halve_at + SETTLE_MEASURE.min((run_for - halve_at) / 2)),
        us(run_for),
    );
    let phase = |from: u64, to: u64| rows.iter().filter(move |r| r.0 >= from && r.0 < to);
    let secs = |from: u64, to: u64| (to - from) as f64 / 1e6;
    let good1 = phase(from1, to1).filter(|r| r.1 == Outcome::Good).count() as f64;
    let all1 = phase(from1, to1).count().max(1) as f64;
    let rej1 = phase(from1, to1)
        .filter(|r| r.1 == Outcome::Rejected)
        .count() as f64;
    let mut admitted: Vec<u32> = phase(from1, to1)
        .filter(|r| r.1 != Outcome::Rejected)
        .map(|r| r.2)
        .collect();
    admitted.sort_unstable();
    let pct = |p: f64| {
        if admitted.is_empty() {
            f64::NAN
        } else {
            let i = ((admitted.len() as f64 * p).ceil() as usize).clamp(1, admitted.len()) - 1;
            f64::from(admitted[i]) / 1000.0
        }
    };
    let good2 = phase(from2, to2).filter(|r| r.1 == Outcome::Good).count() as f64;
    // Settle: the first bucket after the change from which every bucket's
    // goodput is within 10% of the new capacity.
    let new_cap = CAPACITY / 2.0;
    let bucket = us(BUCKET);
    let mut settle = None;
    let mut t = us(halve_at);
    let end = us(run_for) - us(DEADLINE);
    let mut ok_from: Option<u64> = None;
    while t + bucket <= end {
        let good = phase(t, t + bucket)
            .filter(|r| r.1 == Outcome::Good)
            .count() as f64;
        let rate = good / (bucket as f64 / 1e6);
        if (rate - new_cap).abs() <= 0.1 * new_cap {
            ok_from.get_or_insert(t);
        } else {
            ok_from = None;
        }
        t += bucket;
    }
    if let Some(from) = ok_from {
        settle = Some((from - us(halve_at)) as f64 / 1e6);
    }
    RunResult {
        goodput1: 100.0 * good1 / secs(from1, to1) / CAPACITY,
        p50: pct(0.50),
        p99: pct(0.99),
        rejected1: 100.0 * rej1 / all1,
        goodput2: 100.0 * good2 / secs(from2, to2) / new_cap,
        settle,
        limits,
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Time for `n` requests, one at a time: `ready().await` + `call().await`.
async fn timed<S>(svc: &mut S, n: u64) -> Duration
where
    S: tower::Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let start = std::time::Instant::now();
    for i in 0..n {
        let r = svc.ready().await.unwrap().call(i).await.unwrap();
        std::hint::black_box(r);
    }
    start.elapsed()
}

/// The per-request cost of each limit on the uncontended path (a trivial
/// inner service, one request at a time, a current-thread runtime on the
/// real clock). The contenders run interleaved, round after round, and the
/// median round of each is kept, so they see the same machine noise.
fn uncontended_costs() {
    const N: u64 = 200_000;
    const ROUNDS: usize = 9;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let echo = || tower::service_fn(|x: u64| std::future::ready(Ok::<_, BoxError>(x)));
        let fixed = ConcurrencyLimit::builder("fixed")
            .max_in_flight(1000)
            .build()
            .unwrap();
        let adaptive = AdaptiveLimit::builder("adaptive").build().unwrap();
        let fixed_q = Queue::builder(
            ConcurrencyLimit::builder("fixed_q")
                .max_in_flight(1000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
        let adaptive_q = Queue::builder(AdaptiveLimit::builder("adaptive_q").build().unwrap())
            .build()
            .unwrap();
        let mut bare = echo();
        let mut f = fixed.layer().layer(echo());
        let mut a = adaptive.layer().layer(echo());
        let mut fq = fixed_q.layer().layer(echo());
        let mut aq = adaptive_q.layer().layer(echo());
        let names = [
            "bare service",
            "ConcurrencyLimit",
            "AdaptiveLimit (Gradient2)",
            "Queue + ConcurrencyLimit",
            "Queue + AdaptiveLimit",
        ];
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let per = |d: Duration| d.as_nanos() as f64 / N as f64;
        for _ in 0..ROUNDS {
            samples[0].push(per(timed(&mut bare, N).await));
            samples[1].push(per(timed(&mut f, N).await));
            samples[2].push(per(timed(&mut a, N).await));
            samples[3].push(per(timed(&mut fq, N).await));
            samples[4].push(per(timed(&mut aq, N).await));
        }
        let median: Vec<f64> = samples
            .iter_mut()
            .map(|v| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect();
        println!(
            "Uncontended per-request cost (ready + call on a trivial service, current-thread \
             runtime, median of {ROUNDS} interleaved rounds of {N}):\n"
        );
        println!("| layer | ns per request | added over bare | ratio to ConcurrencyLimit |");
        println!("|---|---:|---:|---:|");
        for (name, ns) in names.iter().zip(&median) {
            println!(
                "| {name} | {ns:.1} | {:.1} | {:.2}× |",
                ns - median[0],
                ns / median[1]
            );
        }
        println!();
    });
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    uncontended_costs();
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let loads: &[f64] = if quick {
        &[1.0, 4.0]
    } else {
        &[0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
    };
    let strategies = strategies();

    // The unloaded p99: the backend alone at 10% load.
    let unloaded = paused_runtime().block_on(run(&strategies[0], 0.1, RUN, RUN));
    println!(
        "unloaded (0.1× load, no limit): p50 {:.1} ms, p99 {:.1} ms\n",
        unloaded.p50, unloaded.p99
    );

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| strategy | load | goodput % of capacity | admitted p50 ms | admitted p99 ms | rejected % | goodput % after halving | settle s |"
    );
    let _ = writeln!(table, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut goodput_series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    let mut limit_series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    for s in &strategies {
        let mut points = Vec::new();
        for &load in loads {
            let r = paused_runtime().block_on(run(s, load, RUN, HALVE_AT));
            let settle = r
                .settle
                .map_or_else(|| "never".to_owned(), |t| format!("{t:.1}"));
            let _ = writeln!(
                table,
                "| {} | {load}× | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {settle} |",
                s.name, r.goodput1, r.p50, r.p99, r.rejected1, r.goodput2
            );
            points.push((load, r.goodput1));
            if load == 4.0 && !r.limits.is_empty() {
                limit_series.push((
                    s.name,
                    r.limits.iter().map(|&(t, l)| (t, l as f64)).collect(),
                ));
            }
        }
        goodput_series.push((s.name, points));
    }
    println!("Simulated (paused clock), {RUN:?} per run, capacity halved at {HALVE_AT:?}:\n");
    println!("{table}");

    if !quick {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
        let svg = line_chart(
            "Goodput before the capacity change (simulated)",
            "offered load (× capacity)",
            "goodput (% of capacity)",
            &goodput_series,
            (0.0, 4.0),
            (0.0, 110.0),
        );
        std::fs::write(format!("{docs}/overload-goodput.svg"), svg).unwrap();
        let svg = line_chart(
            "Adaptive limit at 4× load; capacity halves at 20 s (simulated)",
            "time (s)",
            "limit",
            &limit_series,
            (0.0, RUN.as_secs_f64()),
            (0.0, 60.0),
        );
        std::fs::write(format!("{docs}/overload-limit.svg"), svg).unwrap();
        println!("plots written to docs/overload-goodput.svg and docs/overload-limit.svg\n");
    }

    // Real-time sanity pass: 4× load, 6 s, capacity halved at 3 s.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .worker_threads(2)
        .build()
        .unwrap();
    println!("Real-time sanity pass (wall clock, 4× load, 6 s, halved at 3 s):\n");
    println!(
        "| strategy | goodput % of capacity | admitted p50 ms | admitted p99 ms | rejected % | goodput % after halving |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for s in strategies.iter().filter(|s| {
        matches!(
            s.name,
            "no limit"
                | "palisade fixed 8"
                | "adaptive vegas"
                | "adaptive gradient2"
                | "CoDel queue + fixed 8"
                | "CoDel queue + vegas"
        )
    }) {
        let r = rt.block_on(run(s, 4.0, Duration::from_secs(6), Duration::from_secs(3)));
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.name, r.goodput1, r.p50, r.p99, r.rejected1, r.goodput2
        );
    }
}

/// A minimal SVG line chart (no plotting dependency).
fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> String {
    const COLORS: [&str; 12] = [
        "#000000", "#e41a1c", "#ff7f00", "#a65628", "#984ea3", "#377eb8", "#4daf4a", "#f781bf",
        "#17becf", "#bcbd22", "#7f7f7f", "#1f3a93",
    ];
    let (w, h, left, right, top, bottom) = (900.0, 440.0, 60.0, 290.0, 40.0, 50.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let px = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| top + ph - (y.clamp(y0, y1) - y0) / (y1 - y0) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{left}" y="20" font-size="14">{title}</text>"#
    );
    for i in 0..=5 {
        let y = y0 + (y1 - y0) * f64::from(i) / 5.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{py}" y2="{py}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{y:.0}</text>"##,
            left + pw,
            left - 5.0,
            py(y) + 4.0,
            py = py(y)
        );
        let x = x0 + (x1 - x0) * f64::from(i) / 5.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{x:.1}</text>"#,
            px(x),
            top + ph + 16.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#,
        left + pw / 2.0,
        h - 10.0
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{y_label}</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        let ly = top + 14.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            w - right + 10.0,
            w - right + 30.0,
            w - right + 35.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}
