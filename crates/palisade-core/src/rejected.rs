//! The one error a Palisade layer returns when it refuses to run a request.

use std::{error::Error, fmt, sync::Arc, time::Duration};

/// Why a Palisade layer refused to run a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectKind {
    /// A circuit breaker is open (or half-open with every probe taken).
    CircuitOpen,
    /// A concurrency limit is at capacity.
    Overloaded,
    /// The request's deadline passed, before or while it ran.
    DeadlineExceeded,
    /// The request waited in a queue longer than allowed (queue-time
    /// shedding: `palisade_shed::queue::Queue`, CoDel).
    QueueTimeout,
    /// A batcher's queue is full.
    BatchFull,
    /// The layer's background worker has shut down and can take no more work.
    Closed,
}

impl RejectKind {
    /// The kind as a lowercase phrase, as used in `Display` and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectKind::CircuitOpen => "circuit open",
            RejectKind::Overloaded => "overloaded",
            RejectKind::DeadlineExceeded => "deadline exceeded",
            RejectKind::QueueTimeout => "queue timeout",
            RejectKind::BatchFull => "batch queue full",
            RejectKind::Closed => "closed",
        }
    }

    /// The kind as a `snake_case` metric label (`circuit_open`, `overloaded`, ...).
    pub const fn label(self) -> &'static str {
        match self {
            RejectKind::CircuitOpen => "circuit_open",
            RejectKind::Overloaded => "overloaded",
            RejectKind::DeadlineExceeded => "deadline_exceeded",
            RejectKind::QueueTimeout => "queue_timeout",
            RejectKind::BatchFull => "batch_full",
            RejectKind::Closed => "closed",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Palisade layer refused to run a request.
///
/// Every Palisade layer returns this (boxed into `tower::BoxError`) when it
/// refuses work; errors of the inner service pass through unchanged. It names
/// the layer instance that refused and, where known, when to try again.
///
/// ```
/// use std::time::Duration;
/// use palisade_core::{RejectKind, Rejected};
///
/// let err = Rejected::new(RejectKind::CircuitOpen, "payments")
///     .with_retry_after(Duration::from_millis(2500));
/// assert_eq!(err.to_string(), "circuit open (payments); retry after 2.5s");
///
/// // Layers return it boxed; find it again anywhere in the source chain.
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
/// let found = Rejected::find(&boxed).unwrap();
/// assert_eq!(found.kind(), RejectKind::CircuitOpen);
/// assert_eq!(found.name(), "payments");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    kind: RejectKind,
    name: Arc<str>,
    retry_after: Option<Duration>,
    rate_limited: bool,
    quota: Option<RateLimitQuota>,
}

/// The quota a rate-limit rejection was measured against, sent back as the
/// IETF `RateLimit-Policy` and `RateLimit` response fields
/// (draft-ietf-httpapi-ratelimit-headers).
///
/// `limit` requests are allowed per `window`; when the rejection was made,
/// `remaining` of them were left and the quota resets (enough is free for
/// the next request) after `reset`.
///
/// ```
/// use std::time::Duration;
/// use palisade_core::{RateLimitQuota, RejectKind, Rejected};
///
/// let quota = RateLimitQuota::new(10, Duration::from_secs(1), 0, Duration::from_millis(100));
/// let err = Rejected::new(RejectKind::Overloaded, "api").with_rate_limit_quota(quota);
/// assert!(err.is_rate_limit());
/// assert_eq!(err.rate_limit_quota(), Some(&quota));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitQuota {
    limit: u64,
    window: Duration,
    remaining: u64,
    reset: Duration,
}

impl RateLimitQuota {
    /// `limit` requests per `window`, `remaining` left, reset after `reset`.
    pub const fn new(limit: u64, window: Duration, remaining: u64, reset: Duration) -> Self {
        Self {
            limit,
            window,
            remaining,
            reset,
        }
    }

    /// Requests allowed per window (the `q` parameter of `RateLimit-Policy`).
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// The window the limit applies to (`w`, sent in whole seconds rounded up).
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// Requests left when the rejection was made (`r` of `RateLimit`).
    pub const fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Time until the quota has room again (`t` of `RateLimit`, whole seconds rounded up).
    pub const fn reset(&self) -> Duration {
        self.reset
    }
}

impl Rejected {
    /// A rejection of `kind` by the layer instance called `name`.
    pub fn new(kind: RejectKind, name: impl Into<Arc<str>>) -> Self {
        Self {
            kind,
            name: name.into(),
            retry_after: None,
            rate_limited: false,
            quota: None,
        }
    }

    /// Tells the caller when trying again may succeed.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Marks the rejection as a rate limit: the client, not the server, should
    /// slow down. HTTP maps it to `429 Too Many Requests` instead of `503`
    /// (a `DeadlineExceeded` stays `504`).
    #[must_use]
    pub fn as_rate_limit(mut self) -> Self {
        self.rate_limited = true;
        self
    }

    /// Marks the rejection as a rate limit (as [`Rejected::as_rate_limit`])
    /// and attaches the quota it was measured against, which HTTP sends back
    /// as the `RateLimit-Policy` and `RateLimit` fields.
    #[must_use]
    pub fn with_rate_limit_quota(mut self, quota: RateLimitQuota) -> Self {
        self.rate_limited = true;
        self.quota = Some(quota);
        self
    }

    /// The quota of a rate-limit rejection, if the layer attached one.
    pub fn rate_limit_quota(&self) -> Option<&RateLimitQuota> {
        self.quota.as_ref()
    }

    /// Why the request was refused.
    pub fn kind(&self) -> RejectKind {
        self.kind
    }

    /// The name of the layer instance that refused (`CircuitBreaker::builder("payments")`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When trying again may succeed, if the layer knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether this rejection is a rate limit (see [`Rejected::as_rate_limit`]).
    pub fn is_rate_limit(&self) -> bool {
        self.rate_limited
    }

    /// `retry_after` in whole seconds rounded up, as sent in a `Retry-After` header.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(|d| {
            let secs = d.as_secs();
            if d.subsec_nanos() > 0 {
                secs.saturating_add(1)
            } else {
                secs
            }
        })
    }

    /// Finds a `Rejected` in an error or anywhere in its `source()` chain.
    ///
    /// Takes a `&BoxError` as returned by a tower stack, or a `&dyn Error`
    /// (`Rejected::find(&err)` and `Rejected::find(&*err)` both work).
    pub fn find<E: ErrorRef + ?Sized>(err: &E) -> Option<&Rejected> {
        Self::find_in(err.as_error())
    }

    /// Finds a `Rejected` in any error or its `source()` chain.
    pub fn find_in<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a Rejected> {
        let mut current: Option<&'a (dyn Error + 'static)> = Some(err);
        while let Some(e) = current {
            if let Some(rejected) = e.downcast_ref::<Rejected>() {
                return Some(rejected);
            }
            current = e.source();
        }
        None
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.name)?;
        if let Some(after) = self.retry_after {
            write!(f, "; retry after {after:?}")?;
        }
        Ok(())
    }
}

impl Error for Rejected {}

/// An error value [`Rejected::find`] can search: a `BoxError`, or a
/// `dyn Error` with or without `Send + Sync`. Sealed.
pub trait ErrorRef: sealed::Sealed {
    /// The error as a plain `dyn Error`.
    fn as_error(&self) -> &(dyn Error + 'static);
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! error_ref {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl ErrorRef for $t {
            fn as_error(&self) -> &(dyn Error + 'static) {
                self
            }
        }
    )*};
}

error_ref!(
    dyn Error + 'static,
    dyn Error + Send + 'static,
    dyn Error + Send + Sync + 'static
);

impl sealed::Sealed for Box<dyn Error + Send + Sync> {}
impl ErrorRef for Box<dyn Error + Send + Sync> {
    fn as_error(&self) -> &(dyn Error + 'static) {
        &**self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(Rejected);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn display_names_kind_layer_and_retry() {
        let r = Rejected::new(RejectKind::Overloaded, "api");
        assert_eq!(r.to_string(), "overloaded (api)");
        let r = r.with_retry_after(Duration::from_secs(1));
        assert_eq!(r.to_string(), "overloaded (api); retry after 1s");
        let r = Rejected::new(RejectKind::DeadlineExceeded, "edge")
            .with_retry_after(Duration::from_millis(500));
        assert_eq!(r.to_string(), "deadline exceeded (edge); retry after 500ms");
    }

    #[test]
    fn finds_through_source_chain() {
        let inner = Rejected::new(RejectKind::BatchFull, "embed");
        let boxed: Box<dyn Error + Send + Sync> = Box::new(Wrapper(inner.clone()));
        assert_eq!(Rejected::find(&*boxed), Some(&inner));
        let other: Box<dyn Error + Send + Sync> = "plain".into();
        assert_eq!(Rejected::find(&*other), None);
    }

    #[test]
    fn retry_after_rounds_up() {
        let r = Rejected::new(RejectKind::CircuitOpen, "p");
        assert_eq!(r.retry_after_secs(), None);
        let r = r.with_retry_after(Duration::from_millis(2500));
        assert_eq!(r.retry_after_secs(), Some(3));
        let r =
            Rejected::new(RejectKind::CircuitOpen, "p").with_retry_after(Duration::from_secs(2));
        assert_eq!(r.retry_after_secs(), Some(2));
        let r = Rejected::new(RejectKind::CircuitOpen, "p").with_retry_after(Duration::ZERO);
        assert_eq!(r.retry_after_secs(), Some(0));
    }

    #[test]
    fn labels() {
        assert_eq!(RejectKind::CircuitOpen.label(), "circuit_open");
        assert_eq!(RejectKind::QueueTimeout.as_str(), "queue timeout");
    }
}
