//! The snapshot as JSON.
//!
//! ```json
//! { "name": "api", "uptime_secs": 12.5, "window_secs": 60.0,
//!   "cumulative": { "elapsed_secs": 12.5, "routes": [ROUTE, ...] },
//!   "window":     { "elapsed_secs": 12.5, "routes": [ROUTE, ...] } }
//! ```
//! where `ROUTE` is `STATS` plus `"classes": {"2xx": STATS, ...}` and
//! `"distribution": [[upper_us, count], ...]` (requests per power-of-two
//! bucket from the fastest request's, as [`RouteStats::distribution`]), and `STATS`
//! is `{method, route, count, errors, aborted, blocking_polls, slow,
//! rate_per_sec, mean_us, max_us, p50_us, p90_us, p95_us, p99_us, p999_us,
//! head_p50_us, head_p99_us, head_max_us}` (durations in whole microseconds).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::snapshot::{RouteStats, Snapshot, View};

#[derive(Serialize)]
struct SnapshotJson<'a> {
    name: &'a str,
    uptime_secs: f64,
    window_secs: f64,
    cumulative: ViewJson<'a>,
    window: ViewJson<'a>,
}

#[derive(Serialize)]
struct ViewJson<'a> {
    elapsed_secs: f64,
    routes: Vec<RouteJson<'a>>,
}

#[derive(Serialize)]
struct RouteJson<'a> {
    #[serde(flatten)]
    stats: StatsJson<'a>,
    classes: BTreeMap<&'static str, StatsJson<'a>>,
    distribution: Vec<(u64, u64)>,
}

#[derive(Serialize)]
struct StatsJson<'a> {
    method: &'static str,
    route: &'a str,
    count: u64,
    errors: u64,
    aborted: u64,
    blocking_polls: u64,
    slow: u64,
    rate_per_sec: f64,
    mean_us: u64,
    max_us: u64,
    p50_us: u64,
    p90_us: u64,
    p95_us: u64,
    p99_us: u64,
    p999_us: u64,
    head_p50_us: u64,
    head_p99_us: u64,
    head_max_us: u64,
}

fn us(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<'a> StatsJson<'a> {
    fn of(s: &'a RouteStats) -> Self {
        Self {
            method: s.method,
            route: &s.route,
            count: s.count,
            errors: s.errors,
            aborted: s.aborted,
            blocking_polls: s.blocking_polls,
            slow: s.slow,
            rate_per_sec: s.rate_per_sec,
            mean_us: us(s.mean),
            max_us: us(s.max),
            p50_us: us(s.quantile(0.5)),
            p90_us: us(s.quantile(0.9)),
            p95_us: us(s.quantile(0.95)),
            p99_us: us(s.quantile(0.99)),
            p999_us: us(s.quantile(0.999)),
            head_p50_us: us(s.head_quantile(0.5)),
            head_p99_us: us(s.head_quantile(0.99)),
            head_max_us: us(s.head_max()),
        }
    }
}

fn view(v: &View) -> ViewJson<'_> {
    ViewJson {
        elapsed_secs: v.elapsed().as_secs_f64(),
        routes: v
            .routes()
            .iter()
            .map(|r| RouteJson {
                stats: StatsJson::of(r),
                classes: v
                    .classes()
                    .iter()
                    .filter(|c| c.method == r.method && c.route == r.route)
                    .filter_map(|c| Some((c.class?.as_str(), StatsJson::of(c))))
                    .collect(),
                distribution: r
                    .distribution()
                    .into_iter()
                    .skip_while(|(_, count)| *count == 0)
                    .map(|(upper, count)| (us(upper), count))
                    .collect(),
            })
            .collect(),
    }
}

impl Serialize for Snapshot {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SnapshotJson {
            name: self.name(),
            uptime_secs: self.uptime().as_secs_f64(),
            window_secs: self.window_length().as_secs_f64(),
            cumulative: view(self.cumulative()),
            window: view(self.window()),
        }
        .serialize(serializer)
    }
}

impl Snapshot {
    /// The snapshot as a JSON value (the same document the report service
    /// serves; the crate docs describe its shape).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
