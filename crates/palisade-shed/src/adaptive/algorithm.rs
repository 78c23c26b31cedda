//! The limit algorithms ([`Gradient2`], [`Vegas`], [`Aimd`]) and their
//! update rules, after Netflix's `concurrency-limits`.

use palisade_core::ConfigError;
use std::time::Duration;

/// How an [`AdaptiveLimit`](super::AdaptiveLimit) moves its limit; chosen
/// with [`AdaptiveLimitBuilder::algorithm`](super::AdaptiveLimitBuilder::algorithm)
/// (default: [`Gradient2`] with Netflix's defaults).
///
/// Each algorithm is updated once per sample window with the window's
/// average round-trip time, the most requests that were in flight during the
/// window, and whether any request of the window was a drop (a failure or a
/// deadline expiry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    /// Netflix's `Gradient2Limit`: follows the ratio of a long-term average
    /// RTT to the window's RTT.
    Gradient2(Gradient2),
    /// Netflix's `VegasLimit` (TCP Vegas): estimates the queue from the
    /// no-load RTT and the window's RTT.
    Vegas(Vegas),
    /// Netflix's `AIMDLimit`: additive increase, multiplicative decrease on
    /// drops.
    Aimd(Aimd),
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Gradient2(Gradient2::default())
    }
}

impl From<Gradient2> for Algorithm {
    fn from(g: Gradient2) -> Self {
        Algorithm::Gradient2(g)
    }
}

impl From<Vegas> for Algorithm {
    fn from(v: Vegas) -> Self {
        Algorithm::Vegas(v)
    }
}

impl From<Aimd> for Algorithm {
    fn from(a: Aimd) -> Self {
        Algorithm::Aimd(a)
    }
}

impl Algorithm {
    /// The limit before the first window has been measured.
    pub fn initial_limit(&self) -> usize {
        match self {
            Algorithm::Gradient2(g) => g.initial_limit,
            Algorithm::Vegas(v) => v.initial_limit,
            Algorithm::Aimd(a) => a.initial_limit,
        }
    }

    /// The highest limit the algorithm may reach.
    pub fn max_limit(&self) -> usize {
        match self {
            Algorithm::Gradient2(g) => g.max_limit,
            Algorithm::Vegas(v) => v.max_limit,
            Algorithm::Aimd(a) => a.max_limit,
        }
    }

    /// The algorithm's name in metrics and events (`gradient2`, `vegas`, `aimd`).
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Gradient2(_) => "gradient2",
            Algorithm::Vegas(_) => "vegas",
            Algorithm::Aimd(_) => "aimd",
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Algorithm::Gradient2(g) => g.validate(),
            Algorithm::Vegas(v) => v.validate(),
            Algorithm::Aimd(a) => a.validate(),
        }
    }
}

/// Largest limit any algorithm accepts.
const LIMIT_CAP: usize = 1 << 20;

fn check_limits(
    prefix: &'static str,
    min: usize,
    initial: usize,
    max: usize,
) -> Result<(), ConfigError> {
    if max == 0 || max > LIMIT_CAP {
        return Err(ConfigError::new(
            field(prefix, "max_limit"),
            format_args!("in [1, {LIMIT_CAP}]"),
            max,
        ));
    }
    if min == 0 || min > max {
        return Err(ConfigError::new(
            field(prefix, "min_limit"),
            format_args!("in [1, max_limit = {max}]"),
            min,
        ));
    }
    if initial < min || initial > max {
        return Err(ConfigError::new(
            field(prefix, "initial_limit"),
            format_args!("in [min_limit = {min}, max_limit = {max}]"),
            initial,
        ));
    }
    Ok(())
}

fn field(prefix: &'static str, name: &'static str) -> &'static str {
    match (prefix, name) {
        ("gradient2", "max_limit") => "gradient2.max_limit",
        ("gradient2", "min_limit") => "gradient2.min_limit",
        ("gradient2", "initial_limit") => "gradient2.initial_limit",
        ("vegas", "max_limit") => "vegas.max_limit",
        ("vegas", "min_limit") => "vegas.min_limit",
        ("vegas", "initial_limit") => "vegas.initial_limit",
        ("aimd", "max_limit") => "aimd.max_limit",
        ("aimd", "min_limit") => "aimd.min_limit",
        (_, _) => "aimd.initial_limit",
    }
}

/// Netflix's `Gradient2Limit`, with its defaults: initial 20, min 20, max
/// 200, smoothing 0.2, queue size 4, long window 600 samples, RTT tolerance
/// 1.5.
///
/// Per window, with `short` the window's average RTT and `long` an
/// exponential average of the window RTTs over `long_window` windows:
///
/// ```text
/// gradient = clamp(rtt_tolerance · long / short, 0.5, 1.0)
/// new      = L · gradient + queue_size
/// L        = clamp((1 − smoothing) · L + smoothing · new, min_limit, max_limit)
/// ```
///
/// The limit is not raised while fewer than `L / 2` requests were in flight
/// (the caller, not the service, limited concurrency), and when `long`
/// exceeds twice `short` (load has dropped after a long overload) `long`
/// decays by 5% per window so the limit can recover.
///
/// As published, Gradient2 reacts to latency only. Palisade adds one rule: a
/// window with a drop (a failure, a deadline expiry) takes the smallest
/// gradient, 0.5 — with the default smoothing, about `L · 0.9` per window,
/// like AIMD's backoff. A drop never raises the limit, even when few
/// requests were in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gradient2 {
    initial_limit: usize,
    min_limit: usize,
    max_limit: usize,
    smoothing: f64,
    queue_size: usize,
    long_window: usize,
    rtt_tolerance: f64,
}

impl Default for Gradient2 {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            smoothing: 0.2,
            queue_size: 4,
            long_window: 600,
            rtt_tolerance: 1.5,
        }
    }
}

impl Gradient2 {
    /// The limit before the first window (default 20).
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.initial_limit = limit;
        self
    }

    /// The lowest limit (default 20).
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.min_limit = limit;
        self
    }

    /// The highest limit (default 200).
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max_limit = limit;
        self
    }

    /// How much of each new estimate enters the limit (default 0.2; in (0, 1]).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// The queue allowed on top of the gradient-scaled limit (default 4).
    pub fn queue_size(mut self, queue_size: usize) -> Self {
        self.queue_size = queue_size;
        self
    }

    /// How many windows the long-term RTT averages over (default 600; at least 1).
    pub fn long_window(mut self, windows: usize) -> Self {
        self.long_window = windows;
        self
    }

    /// How much slower than the long-term RTT a window may be before the
    /// limit shrinks (default 1.5; at least 1).
    pub fn rtt_tolerance(mut self, tolerance: f64) -> Self {
        self.rtt_tolerance = tolerance;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_limits(
            "gradient2",
            self.min_limit,
            self.initial_limit,
            self.max_limit,
        )?;
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new(
                "gradient2.smoothing",
                "in (0, 1]",
                self.smoothing,
            ));
        }
        if self.long_window == 0 || self.long_window > 1_000_000 {
            return Err(ConfigError::new(
                "gradient2.long_window",
                "in [1, 1000000]",
                self.long_window,
            ));
        }
        if !(self.rtt_tolerance >= 1.0 && self.rtt_tolerance <= 100.0) {
            return Err(ConfigError::new(
                "gradient2.rtt_tolerance",
                "in [1, 100]",
                self.rtt_tolerance,
            ));
        }
        if self.queue_size > LIMIT_CAP {
            return Err(ConfigError::new(
                "gradient2.queue_size",
                format_args!("in [0, {LIMIT_CAP}]"),
                self.queue_size,
            ));
        }
        Ok(())
    }
}

/// Netflix's `VegasLimit`, with its defaults: initial 20, max 1000,
/// smoothing 1.0, probe multiplier 30.
///
/// Per window, with `rtt` the window's average RTT and `rtt_noload` the
/// lowest window RTT seen:
///
/// ```text
/// queue = ceil(L · (1 − rtt_noload / rtt))
/// alpha = 3 · log10(L), beta = 6 · log10(L), threshold = log10(L)
/// ```
///
/// where `log10(L)` is `max(1, ⌊log10 L⌋)` as in Netflix's
/// `Log10RootIntFunction` — never 0, which is what keeps a limit of 1 from
/// being stuck there (tower-resilience#103). On a drop `L − log10(L)`;
/// otherwise, unless fewer than `L / 2` requests were in flight: `queue ≤
/// threshold` → `L + beta`; `queue < alpha` → `L + log10(L)`; `queue >
/// beta` → `L − log10(L)`; else unchanged. The result is clamped to `[1,
/// max_limit]` and smoothed. `rtt_noload` is probed again every
/// `probe_multiplier · L` windows (with jitter in [0.5, 1)) so it can rise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vegas {
    initial_limit: usize,
    max_limit: usize,
    smoothing: f64,
    probe_multiplier: usize,
}

impl Default for Vegas {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            max_limit: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
        }
    }
}

impl Vegas {
    /// The limit before the first window (default 20).
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.initial_limit = limit;
        self
    }

    /// The highest limit (default 1000).
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max_limit = limit;
        self
    }

    /// How much of each new estimate enters the limit (default 1.0; in (0, 1]).
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Re-measure the no-load RTT about every `multiplier · limit` windows
    /// (default 30; at least 1).
    pub fn probe_multiplier(mut self, multiplier: usize) -> Self {
        self.probe_multiplier = multiplier;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_limits("vegas", 1, self.initial_limit, self.max_limit)?;
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new(
                "vegas.smoothing",
                "in (0, 1]",
                self.smoothing,
            ));
        }
        if self.probe_multiplier == 0 || self.probe_multiplier > 1_000_000 {
            return Err(ConfigError::new(
                "vegas.probe_multiplier",
                "in [1, 1000000]",
                self.probe_multiplier,
            ));
        }
        Ok(())
    }
}

/// Netflix's `AIMDLimit`, with its defaults: initial 20, min 20, max 200,
/// backoff ratio 0.9, timeout 5 s.
///
/// Per window: on a drop (a failure, a deadline expiry) or a window RTT
/// above `timeout`, `L = ⌊L · backoff_ratio⌋`; otherwise, when at least
/// `L / 2` requests were in flight, `L + 1`. Clamped to `[min_limit,
/// max_limit]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aimd {
    initial_limit: usize,
    min_limit: usize,
    max_limit: usize,
    backoff_ratio: f64,
    timeout: Duration,
}

impl Default for Aimd {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Aimd {
    /// The limit before the first window (default 20).
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.initial_limit = limit;
        self
    }

    /// The lowest limit (default 20).
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.min_limit = limit;
        self
    }

    /// The highest limit (default 200).
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.max_limit = limit;
        self
    }

    /// The factor applied on a drop (default 0.9; in [0.5, 1)).
    pub fn backoff_ratio(mut self, ratio: f64) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// A window whose RTT exceeds this counts as a drop (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_limits("aimd", self.min_limit, self.initial_limit, self.max_limit)?;
        if !(self.backoff_ratio >= 0.5 && self.backoff_ratio < 1.0) {
            return Err(ConfigError::new(
                "aimd.backoff_ratio",
                "in [0.5, 1)",
                self.backoff_ratio,
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "aimd.timeout",
                "greater than zero",
                self.timeout,
            ));
        }
        Ok(())
    }
}

/// One closed sample window, as the algorithms see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowSample {
    /// The average round-trip time of the window's requests, in nanoseconds.
    pub(crate) rtt_nanos: f64,
    /// The most requests in flight when one of the window's requests started.
    pub(crate) max_in_flight: usize,
    /// Whether any request of the window was a drop.
    pub(crate) did_drop: bool,
}

/// `max(1, ⌊log10 x⌋)`, Netflix's `Log10RootIntFunction`.
pub(crate) fn log10_root(x: usize) -> usize {
    if x < 100 { 1 } else { x.ilog10() as usize }
}

/// The running state of an algorithm: its configuration and estimate.
#[derive(Debug, Clone)]
pub(crate) enum Estimator {
    Gradient2 {
        cfg: Gradient2,
        estimate: f64,
        long_rtt: ExpAvg,
    },
    Vegas {
        cfg: Vegas,
        estimate: f64,
        rtt_noload: f64,
        probe_count: u64,
        probe_jitter: f64,
        rng: u64,
    },
    Aimd {
        cfg: Aimd,
        limit: usize,
    },
}

impl Estimator {
    pub(crate) fn new(algorithm: Algorithm, seed: u64) -> Self {
        match algorithm {
            Algorithm::Gradient2(cfg) => Estimator::Gradient2 {
                cfg,
                estimate: cfg.initial_limit as f64,
                long_rtt: ExpAvg::new(cfg.long_window, 10),
            },
            Algorithm::Vegas(cfg) => {
                let mut rng = seed | 1;
                let probe_jitter = jitter(&mut rng);
                Estimator::Vegas {
                    cfg,
                    estimate: cfg.initial_limit as f64,
                    rtt_noload: 0.0,
                    probe_count: 0,
                    probe_jitter,
                    rng,
                }
            }
            Algorithm::Aimd(cfg) => Estimator::Aimd {
                cfg,
                limit: cfg.initial_limit,
            },
        }
    }

    /// The current limit (at least 1).
    pub(crate) fn limit(&self) -> usize {
        match self {
            Estimator::Gradient2 { estimate, .. } | Estimator::Vegas { estimate, .. } => {
                (*estimate as usize).max(1)
            }
            Estimator::Aimd { limit, .. } => *limit,
        }
    }

    /// Feeds one window; returns the new limit.
    pub(crate) fn update(&mut self, s: WindowSample) -> usize {
        match self {
            Estimator::Gradient2 {
                cfg,
                estimate,
                long_rtt,
            } => {
                let short = s.rtt_nanos;
                let long = long_rtt.add(short);
                if long / short > 2.0 {
                    long_rtt.value *= 0.95;
                }
                if !s.did_drop && (s.max_in_flight as f64) < *estimate / 2.0 {
                    return self.limit();
                }
                // A window with a drop (a failure, a deadline expiry) takes
                // the smallest gradient: Palisade's addition to the
                // published rule, which reacts to latency only.
                let gradient = if s.did_drop {
                    0.5
                } else {
                    (cfg.rtt_tolerance * long / short).clamp(0.5, 1.0)
                };
                let new = *estimate * gradient + cfg.queue_size as f64;
                let new = *estimate * (1.0 - cfg.smoothing) + new * cfg.smoothing;
                *estimate = new.clamp(cfg.min_limit as f64, cfg.max_limit as f64);
            }
            Estimator::Vegas {
                cfg,
                estimate,
                rtt_noload,
                probe_count,
                probe_jitter,
                rng,
            } => {
                let rtt = s.rtt_nanos;
                if rtt <= 0.0 {
                    return self.limit();
                }
                *probe_count += 1;
                if *probe_jitter * cfg.probe_multiplier as f64 * *estimate <= *probe_count as f64 {
                    *probe_jitter = jitter(rng);
                    *probe_count = 0;
                    *rtt_noload = rtt;
                    return self.limit();
                }
                if *rtt_noload == 0.0 || rtt < *rtt_noload {
                    *rtt_noload = rtt;
                    return self.limit();
                }
                let current = *estimate;
                let l = current as usize;
                let log = log10_root(l) as f64;
                let new = if s.did_drop {
                    current - log
                } else if (s.max_in_flight as f64) * 2.0 < current {
                    return self.limit();
                } else {
                    let queue = (current * (1.0 - *rtt_noload / rtt)).ceil();
                    let alpha = 3.0 * log;
                    let beta = 6.0 * log;
                    if queue <= log {
                        current + beta
                    } else if queue < alpha {
                        current + log
                    } else if queue > beta {
                        current - log
                    } else {
                        return self.limit();
                    }
                };
                let new = new.clamp(1.0, cfg.max_limit as f64);
                *estimate = (1.0 - cfg.smoothing) * current + cfg.smoothing * new;
            }
            Estimator::Aimd { cfg, limit } => {
                let mut l = *limit;
                if s.did_drop || s.rtt_nanos > cfg.timeout.as_nanos() as f64 {
                    l = (l as f64 * cfg.backoff_ratio) as usize;
                } else if s.max_in_flight * 2 >= l {
                    l += 1;
                }
                *limit = l.clamp(cfg.min_limit, cfg.max_limit);
            }
        }
        self.limit()
    }
}

/// A uniform draw in [0.5, 1) from a xorshift generator.
fn jitter(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    0.5 + (x >> 11) as f64 / (1u64 << 53) as f64 * 0.5
}

/// Netflix's `ExpAvgMeasurement`: a plain average over the first `warmup`
/// samples, then an exponential average with factor `2 / (window + 1)`.
#[derive(Debug, Clone)]
pub(crate) struct ExpAvg {
    value: f64,
    sum: f64,
    count: usize,
    warmup: usize,
    factor: f64,
}

impl ExpAvg {
    fn new(window: usize, warmup: usize) -> Self {
        Self {
            value: 0.0,
            sum: 0.0,
            count: 0,
            warmup,
            factor: 2.0 / (window as f64 + 1.0),
        }
    }

    fn add(&mut self, sample: f64) -> f64 {
        if self.count < self.warmup {
            self.count += 1;
            self.sum += sample;
            self.value = self.sum / self.count as f64;
        } else {
            self.value = self.value * (1.0 - self.factor) + sample * self.factor;
        }
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(rtt_ms: f64, in_flight: usize, did_drop: bool) -> WindowSample {
        WindowSample {
            rtt_nanos: rtt_ms * 1e6,
            max_in_flight: in_flight,
            did_drop,
        }
    }

    /// Netflix's integer log: 1 below 100, then the number of digits − 1.
    #[test]
    fn log10_root_matches_netflix_table() {
        for (x, want) in [
            (0, 1),
            (1, 1),
            (9, 1),
            (10, 1),
            (99, 1),
            (100, 2),
            (999, 2),
            (1000, 3),
        ] {
            assert_eq!(log10_root(x), want, "log10_root({x})");
        }
    }

    /// The Vegas stuck-at-1 regression (tower-resilience#103): once the limit
    /// has fallen to 1, windows with a little queueing and no drops must
    /// raise it again. With `alpha = beta = threshold = 3·log10(1) = 0` (a
    /// float log) `queue = 1 > beta` shrinks it forever.
    #[test]
    fn vegas_recovers_from_a_limit_of_one() {
        let mut v = Estimator::new(Vegas::default().initial_limit(1).into(), 7);
        v.update(sample(10.0, 1, false)); // sets rtt_noload
        // A little slower than the no-load RTT: queue = ceil(1 · (1 − 10/11)) = 1.
        let after = v.update(sample(11.0, 1, false));
        assert!(after > 1, "Vegas stayed at {after}");
        // Load has ended: the RTT is back at its no-load value.
        let mut l = after;
        for _ in 0..5 {
            l = v.update(sample(10.0, l, false));
        }
        assert!(l >= 20, "Vegas recovered only to {l}");
    }

    /// Model: Vegas against its published rule, on random windows.
    #[derive(Debug, Clone)]
    struct VegasModel {
        l: f64,
        noload: f64,
    }

    impl VegasModel {
        fn step(&mut self, rtt: f64, inflight: usize, drop: bool, max: usize) {
            if self.noload == 0.0 || rtt < self.noload {
                self.noload = rtt;
                return;
            }
            let lg = f64::max(1.0, (self.l as usize as f64).log10().floor());
            let queue = (self.l * (1.0 - self.noload / rtt)).ceil();
            let new = if drop {
                self.l - lg
            } else if (inflight as f64) * 2.0 < self.l {
                return;
            } else if queue <= lg {
                self.l + 6.0 * lg
            } else if queue < 3.0 * lg {
                self.l + lg
            } else if queue > 6.0 * lg {
                self.l - lg
            } else {
                return;
            };
            self.l = new.clamp(1.0, max as f64);
        }
    }

    proptest! {
        #[test]
        fn vegas_follows_its_formula(
            initial in 1usize..500,
            windows in prop::collection::vec((1u32..200, 0usize..600, any::<bool>()), 1..60),
        ) {
            // probe_multiplier large enough that no probe happens in the run.
            let cfg = Vegas::default().initial_limit(initial).probe_multiplier(1_000_000);
            let mut est = Estimator::new(cfg.into(), 3);
            let mut model = VegasModel { l: initial as f64, noload: 0.0 };
            for (rtt, inflight, drop) in windows {
                let rtt = f64::from(rtt) * 1e6;
                est.update(WindowSample { rtt_nanos: rtt, max_in_flight: inflight, did_drop: drop });
                model.step(rtt, inflight, drop, 1000);
                prop_assert_eq!(est.limit(), (model.l as usize).max(1));
            }
        }

        #[test]
        fn gradient2_follows_its_formula(
            windows in prop::collection::vec((1u32..200, 0usize..300, prop::bool::weighted(0.2)), 1..60),
        ) {
            let mut est = Estimator::new(Gradient2::default().into(), 1);
            // Reference: Netflix's rule written out; long RTT is the mean of
            // the first 10 windows, then an EWMA with factor 2 / 601.
            let (mut l, mut long, mut n, mut sum) = (20.0f64, 0.0f64, 0usize, 0.0f64);
            for (rtt, inflight, drop) in windows {
                let short = f64::from(rtt) * 1e6;
                if n < 10 { n += 1; sum += short; long = sum / n as f64; }
                else { long = long * (1.0 - 2.0 / 601.0) + short * 2.0 / 601.0; }
                let seen_long = long;
                if long / short > 2.0 { long *= 0.95; }
                est.update(WindowSample { rtt_nanos: short, max_in_flight: inflight, did_drop: drop });
                if drop || (inflight as f64) >= l / 2.0 {
                    let g = if drop { 0.5 } else { (1.5 * seen_long / short).clamp(0.5, 1.0) };
                    let new = l * g + 4.0;
                    l = (l * 0.8 + new * 0.2).clamp(20.0, 200.0);
                }
                prop_assert_eq!(est.limit(), l as usize);
            }
        }

        #[test]
        fn aimd_follows_its_formula(
            initial in 1usize..200,
            windows in prop::collection::vec((1u64..8000, 0usize..400, any::<bool>()), 1..80),
        ) {
            let cfg = Aimd::default().min_limit(1).initial_limit(initial);
            let mut est = Estimator::new(cfg.into(), 1);
            let mut l = initial;
            for (rtt_ms, inflight, drop) in windows {
                est.update(WindowSample { rtt_nanos: rtt_ms as f64 * 1e6, max_in_flight: inflight, did_drop: drop });
                if drop || rtt_ms > 5000 {
                    l = (l * 9) / 10;
                } else if inflight * 2 >= l {
                    l += 1;
                }
                l = l.clamp(1, 200);
                prop_assert_eq!(est.limit(), l);
            }
        }
    }

    #[test]
    fn gradient2_shrinks_under_queueing_and_recovers() {
        let mut g = Estimator::new(Gradient2::default().min_limit(1).into(), 1);
        for _ in 0..20 {
            g.update(sample(10.0, 20, false));
        }
        let high = g.limit();
        for _ in 0..20 {
            g.update(sample(40.0, high, false));
        }
        let low = g.limit();
        assert!(low < high / 2, "limit {high} → {low} under 4× RTT");
        for _ in 0..60 {
            let l = g.limit();
            g.update(sample(10.0, l, false));
        }
        assert!(g.limit() > low * 2, "no recovery: {low} → {}", g.limit());
    }

    #[test]
    fn vegas_probes_rtt_noload_again() {
        let mut v = Estimator::new(
            Vegas::default()
                .initial_limit(10)
                .probe_multiplier(1)
                .into(),
            5,
        );
        v.update(sample(5.0, 10, false));
        // The backend got slower for good; the probe lets rtt_noload rise.
        for _ in 0..50 {
            let l = v.limit();
            v.update(sample(20.0, l, false));
        }
        let Estimator::Vegas { rtt_noload, .. } = v else {
            unreachable!()
        };
        assert_eq!(rtt_noload, 20.0e6);
    }

    #[test]
    fn validation_names_the_field() {
        let cases: [(Algorithm, &str); 9] = [
            (
                Gradient2::default().min_limit(0).into(),
                "gradient2.min_limit",
            ),
            (
                Gradient2::default().initial_limit(300).into(),
                "gradient2.initial_limit",
            ),
            (
                Gradient2::default().smoothing(1.5).into(),
                "gradient2.smoothing",
            ),
            (
                Gradient2::default().rtt_tolerance(0.9).into(),
                "gradient2.rtt_tolerance",
            ),
            (
                Gradient2::default().long_window(0).into(),
                "gradient2.long_window",
            ),
            (Vegas::default().max_limit(0).into(), "vegas.max_limit"),
            (
                Vegas::default().smoothing(f64::NAN).into(),
                "vegas.smoothing",
            ),
            (
                Aimd::default().backoff_ratio(1.0).into(),
                "aimd.backoff_ratio",
            ),
            (
                Aimd::default().timeout(Duration::ZERO).into(),
                "aimd.timeout",
            ),
        ];
        for (alg, field) in cases {
            assert_eq!(alg.validate().unwrap_err().field(), field);
        }
        assert!(Algorithm::default().validate().is_ok());
        assert!(Algorithm::from(Vegas::default()).validate().is_ok());
        assert!(Algorithm::from(Aimd::default()).validate().is_ok());
    }
}
