//! A latency tracker as a component: percentiles per route for the page.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use palisade_latency::LatencyTracker;
use serde_json::{Value, json};

use crate::{Check, CheckFuture, Component, IntoComponent, Options};

/// The most routes kept in the sparkline history (the tracker bounds its
/// own routes too).
const MAX_HISTORY_ROUTES: usize = 256;

/// A [`LatencyTracker`] on the status page: for each route of the
/// tracker's recent window, requests per second, errors and p50 / p95 /
/// p99, with a sparkline of the p99 over the last
/// [`history`](Self::history) checks (default 60: one minute at the
/// default interval of 1 s). Always `UP`: latency is for the eye, and
/// judging it belongs to alerts.
#[derive(Debug)]
pub struct LatencyComponent {
    tracker: LatencyTracker,
    history: usize,
    series: Mutex<HashMap<String, VecDeque<f64>>>,
}

impl LatencyComponent {
    /// Shows `tracker`; the component is called by the tracker's name.
    pub fn new(tracker: LatencyTracker) -> Self {
        Self {
            tracker,
            history: 60,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// How many checks the sparkline covers (default 60, at least 2).
    #[must_use]
    pub fn history(mut self, checks: usize) -> Self {
        self.history = checks.max(2);
        self
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Component for LatencyComponent {
    fn name(&self) -> &str {
        self.tracker.name()
    }

    fn kind(&self) -> &'static str {
        "latency"
    }

    fn default_options(&self) -> Options {
        super::HANDLE_OPTIONS
    }

    fn check(&self) -> CheckFuture<'_> {
        let snapshot = self.tracker.snapshot();
        let window = snapshot.window();
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut routes = Vec::with_capacity(window.routes().len());
        let mut seen = HashSet::with_capacity(window.routes().len());
        for r in window.routes() {
            let key = format!("{} {}", r.method, r.route);
            let p99 = ms(r.quantile(0.99));
            if series.len() < MAX_HISTORY_ROUTES || series.contains_key(&key) {
                let points = series.entry(key.clone()).or_default();
                points.push_back(p99);
                while points.len() > self.history {
                    points.pop_front();
                }
            }
            let history: Value = series.get(&key).map_or(Value::Null, |p| {
                p.iter().copied().collect::<Vec<_>>().into()
            });
            routes.push(json!({
                "method": r.method,
                "route": &*r.route,
                "count": r.count,
                "rate_per_sec": r.rate_per_sec,
                "errors": r.errors,
                "p50_ms": ms(r.quantile(0.50)),
                "p95_ms": ms(r.quantile(0.95)),
                "p99_ms": p99,
                "max_ms": ms(r.max),
                "history_p99_ms": history,
            }));
            seen.insert(key);
        }
        // Routes with no request in the window drop out of the history.
        series.retain(|k, _| seen.contains(k));
        drop(series);
        let data = json!({
            "window_s": snapshot.window_length().as_secs_f64(),
            "history_checks": self.history,
            "routes": routes,
        });
        Box::pin(std::future::ready(Check::up().with_data(data)))
    }
}

impl IntoComponent for LatencyTracker {
    type Component = LatencyComponent;

    fn into_component(self) -> LatencyComponent {
        LatencyComponent::new(self)
    }
}
