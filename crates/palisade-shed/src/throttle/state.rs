//! The shared request/accept counts of an `AdaptiveThrottle`, kept in a
//! ring of time buckets (atomics only).

use super::telemetry::ThrottleTelemetry;
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// Buckets the window is split into: the window slides by `window / BUCKETS`.
pub(crate) const BUCKETS: usize = 12;

#[derive(Debug, Default)]
struct Bucket {
    /// The bucket number (since `base`) the counts belong to, plus one (0: never used).
    epoch: AtomicU64,
    requests: AtomicU64,
    accepts: AtomicU64,
}

/// What every service made from one `AdaptiveThrottle` shares.
pub(crate) struct Shared<C> {
    pub(crate) name: Arc<str>,
    pub(crate) classify: C,
    pub(crate) k: f64,
    pub(crate) retry_after: Duration,
    pub(crate) telemetry: ThrottleTelemetry,
    base: Instant,
    bucket_nanos: u64,
    buckets: [Bucket; BUCKETS],
}

impl<C> Shared<C> {
    pub(crate) fn new(
        name: Arc<str>,
        k: f64,
        window: Duration,
        retry_after: Duration,
        classify: C,
    ) -> Self {
        let bucket_nanos = (window.as_nanos() / BUCKETS as u128).max(1);
        Self {
            telemetry: ThrottleTelemetry::new(&name),
            name,
            classify,
            k,
            retry_after,
            base: Instant::now(),
            bucket_nanos: u64::try_from(bucket_nanos).unwrap_or(u64::MAX),
            buckets: Default::default(),
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX);
        elapsed / self.bucket_nanos + 1
    }

    /// The bucket for `epoch`, emptied first if it still holds an older one.
    fn bucket(&self, epoch: u64) -> &Bucket {
        let b = &self.buckets[(epoch % BUCKETS as u64) as usize];
        let seen = b.epoch.load(Ordering::Acquire);
        if seen != epoch
            && b.epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // Counts added between the swap and these stores by a thread
            // that saw the new epoch are lost: a few samples, once per
            // bucket period.
            b.requests.store(0, Ordering::Relaxed);
            b.accepts.store(0, Ordering::Relaxed);
        }
        b
    }

    /// Requests and accepts over the window ending now.
    pub(crate) fn counts(&self, now: Instant) -> (u64, u64) {
        let epoch = self.epoch(now);
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        let (mut requests, mut accepts) = (0, 0);
        for b in &self.buckets {
            let e = b.epoch.load(Ordering::Acquire);
            if e >= oldest && e <= epoch {
                requests += b.requests.load(Ordering::Relaxed);
                accepts += b.accepts.load(Ordering::Relaxed);
            }
        }
        (requests, accepts)
    }

    /// The probability of rejecting the next request locally (SRE book):
    /// `max(0, (requests − k · accepts) / (requests + 1))`.
    pub(crate) fn reject_probability(&self, now: Instant) -> f64 {
        let (requests, accepts) = self.counts(now);
        rejection_probability(requests, accepts, self.k)
    }

    /// Counts one request; `accepted` if the backend accepted it.
    pub(crate) fn record(&self, now: Instant, accepted: bool) {
        let b = self.bucket(self.epoch(now));
        b.requests.fetch_add(1, Ordering::Relaxed);
        if accepted {
            b.accepts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `max(0, (requests − k · accepts) / (requests + 1))`.
pub(crate) fn rejection_probability(requests: u64, accepts: u64, k: f64) -> f64 {
    let requests = requests as f64;
    ((requests - k * accepts as f64) / (requests + 1.0)).max(0.0)
}

impl<C> fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (requests, accepts) = self.counts(Instant::now());
        f.debug_struct("AdaptiveThrottle")
            .field("name", &self.name)
            .field("k", &self.k)
            .field("requests", &requests)
            .field("accepts", &accepts)
            .finish_non_exhaustive()
    }
}
