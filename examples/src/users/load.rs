//! The built-in load generator and its scripted day: normal traffic, a hot
//! key storm, the recommendations service going down and coming back, the
//! database slowing down, Redis restarting (only with a [`PrivateRedis`]),
//! and a 4× overload. One line per second, and a summary per phase.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::time::Instant;

use super::{recommendations::RecommendationsMode, redis_server::PrivateRedis, state::Vitals};

/// How slow the database gets in the "database slow" phase.
pub const SLOW_DB: Duration = Duration::from_millis(400);

/// One phase of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Ordinary traffic over all users, most of it on a warm set.
    Normal,
    /// Nine requests in ten for five users.
    HotKeys,
    /// The recommendations service answers 503.
    RecommendationsDown,
    /// The recommendations service is back.
    RecommendationsBack,
    /// Every query takes [`SLOW_DB`] longer.
    DatabaseSlow,
    /// The database is fast again.
    DatabaseBack,
    /// The private Redis is killed (skipped without one).
    RedisDown,
    /// The private Redis is running again, empty.
    RedisBack,
    /// Four times the clients, without pauses.
    Overload,
}

impl Phase {
    /// The phases and when each starts, as a fraction of the day.
    pub const DAY: [(Phase, f64); 9] = [
        (Phase::Normal, 0.0),
        (Phase::HotKeys, 0.15),
        (Phase::RecommendationsDown, 0.28),
        (Phase::RecommendationsBack, 0.42),
        (Phase::DatabaseSlow, 0.50),
        (Phase::DatabaseBack, 0.60),
        (Phase::RedisDown, 0.66),
        (Phase::RedisBack, 0.73),
        (Phase::Overload, 0.80),
    ];

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Normal => "normal",
            Phase::HotKeys => "hot keys",
            Phase::RecommendationsDown => "recs down",
            Phase::RecommendationsBack => "recs back",
            Phase::DatabaseSlow => "db slow",
            Phase::DatabaseBack => "db back",
            Phase::RedisDown => "redis down",
            Phase::RedisBack => "redis back",
            Phase::Overload => "overload 4x",
        }
    }

    fn at(fraction: f64) -> Phase {
        let mut now = Phase::Normal;
        for (phase, start) in Self::DAY {
            if fraction >= start {
                now = phase;
            }
        }
        now
    }
}

/// What the clients saw in some span of time.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    latencies_us: Vec<u64>,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response at all (connection errors).
    pub transport_errors: u64,
    /// `200`s that carried the recommendations fallback.
    pub fallbacks: u64,
}

impl Seen {
    fn add(&mut self, other: &Seen) {
        self.latencies_us.extend_from_slice(&other.latencies_us);
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.fallbacks += other.fallbacks;
    }

    /// Requests answered (with any status) or failed.
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport_errors
    }

    /// Responses with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// The `q` quantile of the latencies (0 when none).
    pub fn quantile(&mut self, q: f64) -> Duration {
        self.latencies_us.sort_unstable();
        quantile(&self.latencies_us, q)
    }

    fn mix(&self) -> String {
        let mut out = String::new();
        for (s, n) in &self.statuses {
            let _ = write!(out, "{s}:{n} ");
        }
        if self.transport_errors > 0 {
            let _ = write!(out, "conn-err:{} ", self.transport_errors);
        }
        out.trim_end().to_owned()
    }
}

/// What the whole day saw.
#[derive(Debug, Default)]
pub struct DaySummary {
    /// Everything, all phases together.
    pub total: Seen,
    /// Per phase, in the order of the day.
    pub phases: Vec<(Phase, Seen)>,
}

/// The `q` quantile of `sorted` latencies in microseconds (0 when empty).
pub(crate) fn quantile(sorted: &[u64], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    Duration::from_micros(sorted[i.min(sorted.len() - 1)])
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Runs the scripted day against the service at `addr` for `duration`,
/// printing one line per second and a summary. With `redis`, the private
/// Redis is killed and started again in the Redis phase; without, that
/// phase is ordinary traffic (and the day says so).
pub async fn run_day(
    addr: SocketAddr,
    vitals: &Vitals,
    duration: Duration,
    clients: usize,
    mut redis: Option<&mut PrivateRedis>,
) -> DaySummary {
    let skip_redis = redis.is_none();
    if skip_redis {
        println!(
            "(no private Redis: the Redis phases are ordinary traffic; pass --private-redis to restart one)"
        );
    }
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let window = Arc::new(Mutex::new(Seen::default()));
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut tasks = Vec::new();
    for n in 0..clients * 4 {
        let extra = n >= clients;
        let (http, phase, stop, window) =
            (http.clone(), phase.clone(), stop.clone(), window.clone());
        tasks.push(tokio::spawn(async move {
            let client_id = if extra {
                format!("batch-job-{}", n % 4)
            } else {
                format!("client-{n}")
            };
            while !stop.load(Ordering::Relaxed) {
                let now = Phase::DAY[phase.load(Ordering::Relaxed)].0;
                if extra && now != Phase::Overload {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let id = pick_id(now);
                let req = Request::get(format!("http://{addr}/users/{id}"))
                    .header("x-client-id", client_id.as_str())
                    .body(Empty::new());
                let Ok(req) = req else { break };
                let sent = Instant::now();
                let outcome = match http.request(req).await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.into_body().collect().await.map(|b| b.to_bytes());
                        let needle = b"\"recommendations_fallback\":true";
                        let fallback = body
                            .as_ref()
                            .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle));
                        Some((status, fallback))
                    }
                    Err(_) => None,
                };
                let took = sent.elapsed();
                {
                    let mut w = window.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Some((status, fallback)) => {
                            *w.statuses.entry(status).or_default() += 1;
                            w.fallbacks += u64::from(fallback);
                            w.latencies_us
                                .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                        }
                        None => w.transport_errors += 1,
                    }
                }
                if !extra {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }));
    }

    let started = Instant::now();
    let mut summary = DaySummary::default();
    let mut current = 0usize;
    let mut this_phase = Seen::default();
    let mut second = Seen::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut ticks = 0u64;
    let mut last_cache = vitals.repository.cache().stats();
    let mut last_db = vitals.database.stats();
    enter(Phase::Normal, vitals, redis.as_deref_mut()).await;
    loop {
        tick.tick().await;
        ticks += 1;
        let elapsed = started.elapsed();
        let done = elapsed >= duration;
        let fraction = elapsed.as_secs_f64() / duration.as_secs_f64();
        let taken = std::mem::take(&mut *window.lock().unwrap_or_else(|p| p.into_inner()));
        this_phase.add(&taken);
        second.add(&taken);
        let next = Phase::at(fraction);
        let next_index = Phase::DAY.iter().position(|(p, _)| *p == next).unwrap_or(0);
        if next_index != current || done {
            summary
                .phases
                .push((Phase::DAY[current].0, std::mem::take(&mut this_phase)));
            if !done {
                current = next_index;
                phase.store(current, Ordering::Relaxed);
                enter(next, vitals, redis.as_deref_mut()).await;
            }
        }
        if done {
            summary.total.add(&second);
            break;
        }
        if ticks.is_multiple_of(10) {
            let cache = vitals.repository.cache().stats();
            let db = vitals.database.stats();
            let lookups = (cache.hits - last_cache.hits) + (cache.misses - last_cache.misses);
            let hit_pct = if lookups == 0 {
                0.0
            } else {
                100.0 * (cache.hits - last_cache.hits) as f64 / lookups as f64
            };
            let queries = db.queries - last_db.queries;
            let avg_batch = if queries == 0 {
                0.0
            } else {
                (db.ids - last_db.ids) as f64 / queries as f64
            };
            let (open, in_use) = vitals.database.pool_usage();
            let secs = (ticks as f64 / 10.0).round();
            let label = match Phase::DAY[current].0 {
                Phase::RedisDown | Phase::RedisBack if skip_redis => "(no redis)",
                phase => phase.label(),
            };
            println!(
                "t={secs:>3}s {:<11} {:>5} req/s p50 {:>7} p95 {:>7} p99 {:>7} | {} | fallback {} | cache hit {:>3.0}% | breakers db {:?} recs {:?} | limit {} | batches {} x{:.1} | pool {}/{}",
                label,
                second.requests(),
                ms(second.quantile(0.5)),
                ms(second.quantile(0.95)),
                ms(second.quantile(0.99)),
                second.mix(),
                second.fallbacks,
                hit_pct,
                vitals.repository.breaker_state(),
                vitals.recommendations.breaker_state(),
                vitals.limit.limit(),
                queries,
                avg_batch,
                in_use,
                open,
            );
            summary.total.add(&second);
            second = Seen::default();
            last_cache = cache;
            last_db = db;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Leave everything as the day found it.
    enter(Phase::Normal, vitals, redis.as_deref_mut()).await;
    if let Some(redis) = redis
        && !redis.is_running()
    {
        let _ = redis.restart().await;
    }
    summary
}

/// Flips the switches for the phase that starts.
async fn enter(phase: Phase, vitals: &Vitals, redis: Option<&mut PrivateRedis>) {
    match phase {
        Phase::RecommendationsDown => vitals.switch.set(RecommendationsMode::Failing),
        Phase::DatabaseSlow => vitals.database.set_slow(SLOW_DB),
        Phase::RedisDown => {
            if let Some(redis) = redis {
                redis.kill().await;
            }
        }
        Phase::RedisBack => {
            if let Some(redis) = redis
                && let Err(e) = redis.restart().await
            {
                println!("could not restart the private Redis: {e}");
            }
        }
        Phase::Normal
        | Phase::HotKeys
        | Phase::RecommendationsBack
        | Phase::DatabaseBack
        | Phase::Overload => {
            vitals.switch.set(RecommendationsMode::Up);
            vitals.database.set_slow(Duration::ZERO);
        }
    }
}

/// The user a client asks for in `phase`.
fn pick_id(phase: Phase) -> u64 {
    if phase == Phase::HotKeys && fastrand::u8(0..10) < 9 {
        return fastrand::u64(1..=5);
    }
    match fastrand::u8(0..100) {
        // A few users that do not exist: 404, remembered for 30 s.
        0 => fastrand::u64(20_001..=20_100),
        // Most traffic on a warm set that fits the L1.
        1..=79 => fastrand::u64(1..=800),
        _ => fastrand::u64(1..=10_000),
    }
}

/// Prints the summary of a day: per phase and overall.
pub fn print_summary(summary: &mut DaySummary) {
    println!("\nsummary per phase:");
    for (phase, seen) in &mut summary.phases {
        println!(
            "  {:<11} {:>7} requests  p50 {:>7} p99 {:>7}  fallbacks {:>5}  {}",
            phase.label(),
            seen.requests(),
            ms(seen.quantile(0.5)),
            ms(seen.quantile(0.99)),
            seen.fallbacks,
            seen.mix(),
        );
    }
    let t = &mut summary.total;
    println!(
        "  {:<11} {:>7} requests  p50 {:>7} p99 {:>7}  fallbacks {:>5}  {}",
        "whole day",
        t.requests(),
        ms(t.quantile(0.5)),
        ms(t.quantile(0.99)),
        t.fallbacks,
        t.mix(),
    );
}
