//! Palisade handles as health components, each behind the feature of its
//! crate.
//!
//! Each handle can be registered directly (`.component(breaker.clone())`)
//! or through its wrapper here, to change how it is judged
//! (`BreakerComponent::new(breaker).when_open(Status::Degraded)`). They
//! read only the handles' public state; their checks are cheap and run
//! every second by default, so the status page stays live.
//!
//! | handle | status | figures on the page |
//! |---|---|---|
//! | `CircuitBreaker` | closed `UP`, half-open `DEGRADED`, open `DOWN` (configurable; `DEGRADED` once a probe is due), forced open `OUT_OF_SERVICE` | state, failure and slow rates, calls in the window, times opened, time to next probe |
//! | `RedisStore` | `DEGRADED` when a ping fails or its breaker skips Redis | L2 up/down, lookups, errors, timeouts |
//! | `Cache`, `HttpCache` | `UP` (or the L2's state with `.l2(store)`) | hit ratio, hits, misses, stale served, entries |
//! | `ConcurrencyLimit` | `DEGRADED` when saturated for longer than `saturated_for` | in flight against the limit |
//! | `Batcher`, `Loader` | `DOWN` when no worker runs | queued, batches in flight, workers, batch size since the previous check, flushes by reason |
//! | `LatencyTracker` | `UP` | p50 / p95 / p99 per route, with a p99 sparkline |

use std::time::Duration;

use crate::Options;

#[cfg(feature = "batch")]
mod batch;
#[cfg(feature = "breaker")]
mod breaker;
#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "latency")]
mod latency;
#[cfg(feature = "shed")]
mod limit;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "batch")]
pub use batch::{BatchComponent, BatchHandle};
#[cfg(feature = "breaker")]
pub use breaker::BreakerComponent;
#[cfg(feature = "cache")]
pub use cache::{CacheComponent, CacheHandle};
#[cfg(feature = "latency")]
pub use latency::LatencyComponent;
#[cfg(feature = "shed")]
pub use limit::LimitComponent;
#[cfg(feature = "redis")]
pub use redis::RedisComponent;

/// The default options of a handle: every second, a 2 s timeout, readiness only.
#[allow(dead_code)]
pub(crate) const HANDLE_OPTIONS: Options = Options::new()
    .interval(Duration::from_secs(1))
    .timeout(Duration::from_secs(2));

/// Per second between two samples of a counter (0 when no time passed).
#[allow(dead_code)]
pub(crate) fn per_sec(now: u64, before: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    now.saturating_sub(before) as f64 / secs
}
