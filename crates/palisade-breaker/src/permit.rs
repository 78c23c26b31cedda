//! Admissions: the guard a service future holds and the public [`Permit`].

use crate::{
    breaker::Inner,
    core::{Ticket, TicketKind},
};
use palisade_core::Outcome;
use std::{any::Any, fmt, sync::Arc};
use tokio::time::Instant;

/// One admitted call; reports `Ignored` if dropped before it reports.
pub(crate) struct Guard<C: ?Sized> {
    pub(crate) inner: Arc<Inner<C>>,
    ticket: Ticket,
    done: bool,
}

impl<C: ?Sized> Guard<C> {
    pub(crate) fn new(inner: Arc<Inner<C>>, ticket: Ticket) -> Self {
        Self {
            inner,
            ticket,
            done: false,
        }
    }

    /// Marks the start of the call, when the slow-call rule needs it.
    #[inline]
    pub(crate) fn start(&mut self) {
        if self.inner.core.timed
            && matches!(
                self.ticket.kind,
                TicketKind::Closed | TicketKind::MetricsOnly
            )
        {
            self.ticket.start = Some(Instant::now());
        }
    }

    #[inline]
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.done = true;
        self.inner.core.finish(&self.ticket, outcome);
    }
}

impl<C: ?Sized> Drop for Guard<C> {
    fn drop(&mut self) {
        if !self.done {
            self.inner.core.finish(&self.ticket, Outcome::Ignored);
        }
    }
}

impl<C: ?Sized> fmt::Debug for Guard<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

/// Permission to make one call through a breaker, without tower: from
/// [`CircuitBreaker::try_acquire`](crate::CircuitBreaker::try_acquire).
///
/// Report how the call went with [`record`](Permit::record) (or
/// [`success`](Permit::success) / [`failure`](Permit::failure)). A permit
/// dropped without reporting counts as [`Outcome::Ignored`]: it is not
/// recorded and, if it was a half-open probe, frees its probe slot. When the
/// slow-call rule is on, the call's duration is measured from `try_acquire`.
///
/// ```
/// use palisade_breaker::CircuitBreaker;
/// use palisade_core::Outcome;
///
/// # async fn fetch_from_redis() -> Result<String, std::io::Error> { Ok("v".into()) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let breaker = CircuitBreaker::builder("redis").consecutive_failures(3).build()?;
///
/// let value = match breaker.try_acquire() {
///     Ok(permit) => match fetch_from_redis().await {
///         Ok(v) => {
///             permit.success();
///             Some(v)
///         }
///         Err(_) => {
///             permit.record(Outcome::Failure);
///             None
///         }
///     },
///     // Open: skip Redis at once; `rejected.retry_after()` says for how long.
///     Err(_rejected) => None,
/// };
/// assert_eq!(value.as_deref(), Some("v"));
/// # Ok(())
/// # }
/// ```
#[must_use = "a permit dropped without recording counts as ignored"]
pub struct Permit {
    guard: Guard<dyn Any + Send + Sync>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.guard.inner.core.config.name)
            .field("probe", &self.is_probe())
            .finish()
    }
}

impl Permit {
    pub(crate) fn new(mut guard: Guard<dyn Any + Send + Sync>) -> Self {
        guard.start();
        Self { guard }
    }

    /// Records the outcome of the call.
    pub fn record(self, outcome: Outcome) {
        self.guard.finish(outcome);
    }

    /// Records a success.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.guard.ticket.kind == TicketKind::Probe
    }
}
