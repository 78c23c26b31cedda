//! A point-in-time read of a tracker: per route, method and status class.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::{
    histogram::Recorded,
    method::{METHODS, method_index},
    state::TrackerState,
    status_class::StatusClass,
};

/// The statistics of a tracker, cumulative since it was built and over the
/// recent window; made by [`LatencyTracker::snapshot`](crate::LatencyTracker::snapshot).
///
/// [`route`](Self::route), [`routes`](Self::routes) and
/// [`route_class`](Self::route_class) read the cumulative view;
/// [`window`](Self::window) gives the recent one.
#[derive(Debug, Clone)]
pub struct Snapshot {
    name: Arc<str>,
    uptime: Duration,
    window_length: Duration,
    cumulative: View,
    window: View,
}

/// The routes of one view (cumulative or windowed).
#[derive(Debug, Clone, Default)]
pub struct View {
    elapsed: Duration,
    routes: Vec<RouteStats>,
    classes: Vec<RouteStats>,
}

/// The statistics of one route and method (all classes together), or of
/// one route, method and status class.
///
/// Counts and summary durations are plain fields, computed when the snapshot
/// was taken; percentiles are read with [`quantile`](Self::quantile).
/// Durations are to the end of the response (body included) unless named
/// `head` (to the response head). Precision: 1% (two significant digits),
/// durations from 1 µs to 1 h (longer ones count as 1 h).
#[derive(Clone)]
#[non_exhaustive]
pub struct RouteStats {
    /// The method label (`GET`, ..., `_OTHER`).
    pub method: &'static str,
    /// The route label (a template, `unmatched` or `other`).
    pub route: Arc<str>,
    /// The status class, or `None` for all classes of the route and method together.
    pub class: Option<StatusClass>,
    /// Requests recorded.
    pub count: u64,
    /// Requests that ended in a `5xx` or an error of the inner service.
    pub errors: u64,
    /// Requests dropped before their end (the future before the response,
    /// or the body before its last frame), or whose body failed.
    pub aborted: u64,
    /// Polls of the handler's future longer than the blocking threshold.
    pub blocking_polls: u64,
    /// Requests longer than the slow threshold.
    pub slow: u64,
    /// The longest request.
    pub max: Duration,
    /// The mean request duration.
    pub mean: Duration,
    /// Requests per second over the view (since the tracker started, or over the window).
    pub rate_per_sec: f64,
    total: Histogram<u64>,
    head: Histogram<u64>,
}

impl std::fmt::Debug for RouteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteStats")
            .field("method", &self.method)
            .field("route", &self.route)
            .field("class", &self.class)
            .field("count", &self.count)
            .field("errors", &self.errors)
            .field("aborted", &self.aborted)
            .field("blocking_polls", &self.blocking_polls)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// One class of a route and method: its cumulative and windowed records.
type ClassViews = (StatusClass, Recorded, Recorded);

fn us(v: u64) -> Duration {
    Duration::from_micros(v)
}

fn at_quantile(h: &Histogram<u64>, q: f64) -> Duration {
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    if h.is_empty() {
        return Duration::ZERO;
    }
    us(h.value_at_quantile(q))
}

impl RouteStats {
    fn new(
        method: &'static str,
        route: Arc<str>,
        class: Option<StatusClass>,
        rec: Recorded,
        errors: u64,
        elapsed: Duration,
    ) -> Self {
        let count = rec.count();
        let secs = elapsed.as_secs_f64();
        Self {
            method,
            route,
            class,
            count,
            errors,
            aborted: rec.aborted,
            blocking_polls: rec.blocking_polls,
            slow: rec.slow,
            max: if count == 0 {
                Duration::ZERO
            } else {
                us(rec.total.max())
            },
            mean: Duration::from_secs_f64((rec.total.mean() / 1e6).max(0.0)),
            #[allow(clippy::cast_precision_loss)]
            rate_per_sec: if secs > 0.0 { count as f64 / secs } else { 0.0 },
            total: rec.total,
            head: rec.head,
        }
    }

    /// The duration under which a fraction `q` (0.0 to 1.0) of the requests
    /// finished: `quantile(0.99)` is the p99. Out-of-range `q` is clamped;
    /// an empty view answers zero.
    pub fn quantile(&self, q: f64) -> Duration {
        at_quantile(&self.total, q)
    }

    /// As [`quantile`](Self::quantile), for the time to the response head.
    pub fn head_quantile(&self, q: f64) -> Duration {
        at_quantile(&self.head, q)
    }

    /// The longest time to the response head.
    pub fn head_max(&self) -> Duration {
        if self.head.is_empty() {
            Duration::ZERO
        } else {
            us(self.head.max())
        }
    }

    /// The latency distribution: `(upper bound, count)` per power-of-two
    /// bucket from 1 µs up to the longest request.
    pub fn distribution(&self) -> Vec<(Duration, u64)> {
        if self.total.is_empty() {
            return Vec::new();
        }
        self.total
            .iter_log(1, 2.0)
            .map(|v| (us(v.value_iterated_to()), v.count_since_last_iteration()))
            .collect()
    }
}

impl View {
    /// How long this view covers.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Every route × method, all classes together, sorted by route then method.
    pub fn routes(&self) -> &[RouteStats] {
        &self.routes
    }

    /// Every route × method × class, sorted by route, method, then class.
    pub fn classes(&self) -> &[RouteStats] {
        &self.classes
    }

    /// One route and method, all classes together. A method outside the
    /// standard set is looked up as `_OTHER`.
    pub fn route(&self, method: &str, route: &str) -> Option<&RouteStats> {
        let method = METHODS[method_index(method)];
        self.routes
            .iter()
            .find(|s| s.method == method && &*s.route == route)
    }

    /// One route, method and class.
    pub fn route_class(
        &self,
        method: &str,
        route: &str,
        class: StatusClass,
    ) -> Option<&RouteStats> {
        let method = METHODS[method_index(method)];
        self.classes
            .iter()
            .find(|s| s.method == method && &*s.route == route && s.class == Some(class))
    }
}

impl Snapshot {
    pub(crate) fn take(shared: &TrackerState) -> Self {
        let now = Instant::now();
        let epoch = shared.epoch_of(now);
        let uptime = now.saturating_duration_since(shared.start);
        let window_start = shared.epoch_start(epoch.saturating_sub(1));
        let window_elapsed = now.saturating_duration_since(window_start);

        // (route, method) → per-class views.
        let mut cumulative = View {
            elapsed: uptime,
            ..View::default()
        };
        let mut window = View {
            elapsed: window_elapsed,
            ..View::default()
        };
        let mut groups: BTreeMap<(Arc<str>, &'static str), Vec<ClassViews>> = BTreeMap::new();
        for entry in shared.routes.iter() {
            for (method, class, slot) in entry.slots() {
                let v = slot.view(epoch);
                groups
                    .entry((entry.name.clone(), method))
                    .or_default()
                    .push((class, v.cumulative, v.window));
            }
        }
        for ((route, method), mut classes) in groups {
            classes.sort_by_key(|(c, _, _)| *c);
            for (view, pick) in [(&mut cumulative, 0usize), (&mut window, 1)] {
                let mut all = Recorded::new();
                let mut errors = 0;
                for (class, cum, win) in &classes {
                    let rec = if pick == 0 { cum } else { win };
                    if rec.count() == 0 {
                        continue;
                    }
                    all.add(rec);
                    let class_errors = if class.is_error() { rec.count() } else { 0 };
                    errors += class_errors;
                    view.classes.push(RouteStats::new(
                        method,
                        route.clone(),
                        Some(*class),
                        rec.clone(),
                        class_errors,
                        view.elapsed,
                    ));
                }
                if all.count() > 0 {
                    view.routes.push(RouteStats::new(
                        method,
                        route.clone(),
                        None,
                        all,
                        errors,
                        view.elapsed,
                    ));
                }
            }
        }
        Self {
            name: shared.name.clone(),
            uptime,
            window_length: shared.window,
            cumulative,
            window,
        }
    }

    /// The tracker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time since the tracker was built.
    pub fn uptime(&self) -> Duration {
        self.uptime
    }

    /// The configured window length (the windowed view covers the previous
    /// window and the current, partial one).
    pub fn window_length(&self) -> Duration {
        self.window_length
    }

    /// Everything since the tracker was built.
    pub fn cumulative(&self) -> &View {
        &self.cumulative
    }

    /// The recent view: the previous window and the current one.
    pub fn window(&self) -> &View {
        &self.window
    }

    /// One route and method since the tracker was built, all classes together.
    ///
    /// ```
    /// # let snap = palisade_latency::LatencyTracker::builder("api").build().unwrap().snapshot();
    /// if let Some(s) = snap.route("GET", "/users/{id}") {
    ///     println!("{} requests, p99 {:?}, {} errors", s.count, s.quantile(0.99), s.errors);
    /// }
    /// ```
    pub fn route(&self, method: &str, route: &str) -> Option<&RouteStats> {
        self.cumulative.route(method, route)
    }

    /// One route, method and class since the tracker was built.
    pub fn route_class(
        &self,
        method: &str,
        route: &str,
        class: StatusClass,
    ) -> Option<&RouteStats> {
        self.cumulative.route_class(method, route, class)
    }

    /// Every route × method since the tracker was built.
    pub fn routes(&self) -> &[RouteStats] {
        self.cumulative.routes()
    }
}
