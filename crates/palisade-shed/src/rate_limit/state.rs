//! The shared state of one `RateLimit`: governor's GCRA over a bounded key
//! table, read with tokio's clock. Imports none of the files above it.

use super::telemetry::RateLimitTelemetry;
use dashmap::DashMap;
use governor::{
    Quota, RateLimiter,
    clock::Clock,
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::{InMemoryState, NotKeyed, StateStore, keyed::ShrinkableKeyedStateStore},
};
use palisade_core::{RateLimitQuota, RejectKind, Rejected};
use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

/// governor's clock, read from `tokio::time::Instant` so the limiter follows
/// paused and advanced time in tests like every other Palisade layer.
///
/// An instant is the time since the clock was made, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    base: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        Self {
            base: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    #[inline]
    fn now(&self) -> Nanos {
        Nanos::from(tokio::time::Instant::now().saturating_duration_since(self.base))
    }
}

/// A keyed GCRA state store with at most `max_keys` keys.
///
/// A key already in the table is measured in its own cell. A new key is
/// given a cell while the table has room; once it is full, every new key
/// shares one overflow cell (with the quota of a single key) until a sweep
/// frees room. So a client that sends ever-new keys gets one key's rate in
/// total and cannot grow memory past `max_keys` cells.
#[derive(Debug)]
pub(crate) struct BoundedStore<K: Hash + Eq + Clone> {
    map: DashMap<K, InMemoryState>,
    counts: Arc<StoreCounts>,
    max_keys: usize,
    overflow: InMemoryState,
}

/// Counts of a `BoundedStore`, shared with the `State` (governor gives no
/// access to the store once it is inside a `RateLimiter`).
#[derive(Debug, Default)]
pub(crate) struct StoreCounts {
    /// Keys in the table.
    len: AtomicUsize,
    /// Checks of new keys measured in the overflow cell since the last sweep.
    overflowed: AtomicU64,
}

impl<K: Hash + Eq + Clone> BoundedStore<K> {
    fn new(max_keys: usize, counts: Arc<StoreCounts>) -> Self {
        Self {
            map: DashMap::new(),
            counts,
            max_keys,
            overflow: InMemoryState::default(),
        }
    }

    /// The theoretical arrival time stored in a cell, read without changing it.
    fn tat(cell: &InMemoryState) -> u64 {
        cell.measure_and_replace(&NotKeyed::NonKey, |prev| {
            Err::<((), Nanos), u64>(prev.map_or(0, Nanos::as_u64))
        })
        .map_or_else(|tat| tat, |()| 0)
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    #[inline]
    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(cell) = self.map.get(key) {
            return cell.measure_and_replace(&NotKeyed::NonKey, f);
        }
        // A new key: take a place in the table if one is left.
        let mut len = self.counts.len.load(Ordering::Relaxed);
        loop {
            if len >= self.max_keys {
                self.counts.overflowed.fetch_add(1, Ordering::Relaxed);
                return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
            }
            match self.counts.len.compare_exchange_weak(
                len,
                len + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => len = now,
            }
        }
        let mut inserted = false;
        let cell = self.map.entry(key.clone()).or_insert_with(|| {
            inserted = true;
            InMemoryState::default()
        });
        if !inserted {
            // Another caller inserted the same key meanwhile: give the place back.
            self.counts.len.fetch_sub(1, Ordering::Relaxed);
        }
        cell.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        let drop_below = drop_below.as_u64();
        self.map.retain(|_, cell| {
            let keep = Self::tat(cell) > drop_below;
            if !keep {
                self.counts.len.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.counts.len.load(Ordering::Relaxed)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Direct = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;
type Keyed<K> = RateLimiter<K, BoundedStore<K>, TokioClock, NoOpMiddleware<Nanos>>;

/// The validated settings of a `RateLimit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) rate: u32,
    pub(crate) period: Duration,
    pub(crate) burst: u32,
    pub(crate) max_keys: usize,
    pub(crate) sweep_interval: Duration,
}

/// Everything the services of one `RateLimit` share.
#[derive(Debug)]
pub(crate) struct State<K: Hash + Eq + Clone> {
    pub(crate) name: Arc<str>,
    pub(crate) settings: Settings,
    direct: Option<Direct>,
    keyed: Option<Keyed<K>>,
    clock: TokioClock,
    counts: Arc<StoreCounts>,
    /// When the next sweep of stale keys is due, in clock nanoseconds.
    next_sweep: AtomicU64,
    telemetry: RateLimitTelemetry,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> State<K> {
    pub(crate) fn new(name: Arc<str>, settings: Settings, keyed: bool) -> Self {
        let quota = quota(&settings);
        let clock = TokioClock::new();
        let telemetry = RateLimitTelemetry::new(
            &name,
            settings.rate,
            settings.period,
            settings.burst,
            keyed,
            settings.max_keys,
        );
        let counts = Arc::new(StoreCounts::default());
        let (direct, keyed) = if keyed {
            let store = BoundedStore::new(settings.max_keys, Arc::clone(&counts));
            (None, Some(RateLimiter::new(quota, store, clock)))
        } else {
            (
                Some(RateLimiter::new(quota, InMemoryState::default(), clock)),
                None,
            )
        };
        Self {
            name,
            settings,
            direct,
            keyed,
            clock,
            counts,
            next_sweep: AtomicU64::new(duration_nanos(settings.sweep_interval)),
            telemetry,
        }
    }

    /// Takes one request's worth of the key's quota, or says why not.
    #[inline]
    pub(crate) fn check(self: &Arc<Self>, key: &K) -> Result<(), Rejected> {
        let outcome = match (&self.keyed, &self.direct) {
            (Some(keyed), _) => {
                let outcome = keyed.check_key(key);
                self.maybe_sweep();
                outcome
            }
            (None, Some(direct)) => direct.check(),
            (None, None) => Ok(()),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                self.telemetry.rejected(&self.name, wait);
                Err(self.rejection(wait))
            }
        }
    }

    fn rejection(&self, wait: Duration) -> Rejected {
        let s = &self.settings;
        let quota = RateLimitQuota::new(u64::from(s.burst), window(s), 0, wait);
        Rejected::new(RejectKind::Overloaded, Arc::clone(&self.name))
            .with_retry_after(wait)
            .with_rate_limit_quota(quota)
    }

    /// Starts a sweep of stale keys in the background when one is due.
    #[inline]
    fn maybe_sweep(self: &Arc<Self>) {
        let due = self.next_sweep.load(Ordering::Relaxed);
        let now = self.clock.now().as_u64();
        if now < due {
            return;
        }
        let next = now.saturating_add(duration_nanos(self.settings.sweep_interval));
        if self
            .next_sweep
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // another caller started it
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let state = Arc::clone(self);
                drop(handle.spawn(async move { state.sweep() }));
            }
            Err(_) => self.sweep(),
        }
    }

    /// Drops every key whose cell is full again (indistinguishable from a new
    /// key), so the table holds only clients seen within one burst's refill.
    pub(crate) fn sweep(&self) {
        if let Some(keyed) = &self.keyed {
            keyed.retain_recent();
            let overflowed = self.counts.overflowed.swap(0, Ordering::Relaxed);
            self.telemetry.swept(&self.name, keyed.len(), overflowed);
        }
    }

    /// Keys currently held in the table (0 for an unkeyed limit).
    pub(crate) fn keys(&self) -> usize {
        self.keyed.as_ref().map_or(0, RateLimiter::len)
    }
}

fn quota(s: &Settings) -> Quota {
    // Validated by the builder: rate >= 1, burst >= 1, period / rate >= 1 ns.
    let per_cell = s.period / s.rate;
    let burst = std::num::NonZeroU32::new(s.burst).unwrap_or(std::num::NonZeroU32::MIN);
    Quota::with_period(per_cell)
        .unwrap_or_else(|| Quota::per_second(burst))
        .allow_burst(burst)
}

/// The time a full burst takes to refill: the window of `RateLimit-Policy`.
pub(crate) fn window(s: &Settings) -> Duration {
    (s.period / s.rate).saturating_mul(s.burst)
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
