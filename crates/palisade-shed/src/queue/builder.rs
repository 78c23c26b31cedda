//! [`QueueBuilder`].

use super::{
    Queue,
    criticality::CriticalityHeader,
    limit::QueueLimit,
    state::{QueueSettings, Waitlist},
};
use palisade_core::ConfigError;
use palisade_core::lane::Lanes;
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;

/// Builds a [`Queue`]; made by [`Queue::builder`].
///
/// Defaults: at most 128 waiting requests; CoDel with target 5 ms and
/// interval 100 ms (folly, Wangle); a request waits at most 100 ms
/// (`max_wait`, Facebook's `N`); 10% of the limit reserved for `Critical`
/// requests; every request `Normal` until
/// [`criticality`](Self::criticality) says otherwise.
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the queue"]
pub struct QueueBuilder<L, K = ()> {
    limit: L,
    criticality: K,
    max_len: usize,
    target: Duration,
    interval: Duration,
    max_wait: Duration,
    critical_reserve: f64,
}

impl<L> QueueBuilder<L, ()> {
    pub(crate) fn new(limit: L) -> Self {
        Self {
            limit,
            criticality: (),
            max_len: 128,
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
            max_wait: Duration::from_millis(100),
            critical_reserve: 0.1,
        }
    }
}

impl<L, K> QueueBuilder<L, K> {
    /// The most requests that may wait at once (default 128; in
    /// [1, 65536]). A request that finds the queue full pushes out the
    /// oldest waiter of a lower criticality, or is rejected (`Overloaded`).
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// CoDel's target queueing delay (default 5 ms; greater than zero and
    /// less than the interval). While the queue is overloaded, requests
    /// that waited more than twice this are shed (`QueueTimeout`).
    pub fn target(mut self, target: Duration) -> Self {
        self.target = target;
        self
    }

    /// CoDel's interval (default 100 ms; in [1 ms, 60 s]): the queue is
    /// overloaded when its head stayed older than the target for a whole
    /// interval, or when it has not been empty for a whole interval.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The longest a request waits for a slot (default 100 ms; in
    /// [1 ms, 1 h]); then it is rejected (`QueueTimeout`). A request's own
    /// deadline shortens its wait: it is never admitted when its remaining
    /// budget is shorter than the queue's recent service time.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The share of the limit kept for `Critical` requests (default 0.1; in
    /// [0, 1)): other requests hold at most `limit − ⌊limit · share⌋`
    /// slots (at least one).
    pub fn critical_reserve(mut self, share: f64) -> Self {
        self.critical_reserve = share;
        self
    }

    /// How a request's criticality is read: a closure
    /// `Fn(&Req) -> Criticality`, or [`CriticalityHeader`] (default: every
    /// request is `Normal`).
    pub fn criticality<K2>(self, criticality: K2) -> QueueBuilder<L, K2> {
        QueueBuilder {
            limit: self.limit,
            criticality,
            max_len: self.max_len,
            target: self.target,
            interval: self.interval,
            max_wait: self.max_wait,
            critical_reserve: self.critical_reserve,
        }
    }

    /// Reads the criticality of HTTP requests (or gRPC calls) from the
    /// `x-criticality` header: `critical`, `normal` or `sheddable` (see
    /// [`Criticality::parse`](super::Criticality::parse)).
    pub fn criticality_header(self) -> QueueBuilder<L, CriticalityHeader> {
        self.criticality(CriticalityHeader::default())
    }

    /// Checks the configuration and builds the queue.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field: `max_len`, `target`, `interval`,
    /// `max_wait` or `critical_reserve`.
    pub fn build(self) -> Result<Queue<L, K>, ConfigError>
    where
        L: QueueLimit,
    {
        if self.max_len == 0 || self.max_len > 65_536 {
            return Err(ConfigError::new("max_len", "in [1, 65536]", self.max_len));
        }
        if self.interval < Duration::from_millis(1) || self.interval > Duration::from_secs(60) {
            return Err(ConfigError::new("interval", "in [1ms, 60s]", self.interval));
        }
        if self.target.is_zero() || self.target >= self.interval {
            return Err(ConfigError::new(
                "target",
                "greater than zero and less than interval",
                self.target,
            ));
        }
        if self.max_wait < Duration::from_millis(1) || self.max_wait > Duration::from_secs(3600) {
            return Err(ConfigError::new("max_wait", "in [1ms, 1h]", self.max_wait));
        }
        if !(0.0..1.0).contains(&self.critical_reserve) {
            return Err(ConfigError::new(
                "critical_reserve",
                "in [0, 1)",
                self.critical_reserve,
            ));
        }
        let settings = QueueSettings {
            max_len: self.max_len,
            target: self.target,
            interval: self.interval,
            max_wait: self.max_wait,
            critical_reserve_permille: (self.critical_reserve * 1000.0) as u32,
        };
        let waitlist = Waitlist::new(self.limit, settings, Instant::now());
        Ok(Queue {
            waitlist: Arc::new(Lanes::new(waitlist)),
            criticality: Arc::new(self.criticality),
        })
    }
}
