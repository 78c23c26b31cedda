//! Admissions: the guard a service future holds and the public [`Permit`].

use crate::{
    lane::Owner,
    machine::{Dropped, Ticket, TicketKind},
    state::BreakerState,
};
use palisade_core::{Outcome, deadline::Deadline};
use std::{any::Any, fmt, sync::Arc};
use tokio::time::Instant;

/// One admitted call. Dropped before it reports, it records why (see
/// [`Guard::finish_dropped`]).
pub(crate) struct Guard<P: Owner> {
    owner: P,
    ticket: Ticket,
    /// When the call started: for timed calls and probes only.
    start: Option<Instant>,
}

impl<P: Owner> Guard<P> {
    #[inline]
    pub(crate) fn new(owner: P, ticket: Ticket) -> Self {
        // A probe is timed from its admission (`half_open_timeout`).
        let start = (ticket.kind() == TicketKind::Probe).then(Instant::now);
        Self {
            owner,
            ticket,
            start,
        }
    }

    /// The breaker's shared state.
    #[inline]
    pub(crate) fn state(&self) -> &BreakerState<P::Classify> {
        self.owner.state()
    }

    /// Marks the start of the call, when the slow-call rule needs it.
    #[inline]
    pub(crate) fn start(&mut self) {
        if self.ticket.timed() {
            self.start = Some(Instant::now());
        }
    }

    /// Records the outcome (once: later calls and the drop do nothing).
    #[inline]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        let ticket = self.ticket;
        if ticket.kind() != TicketKind::Finished {
            self.ticket = ticket.finished();
            self.owner
                .state()
                .machine
                .finish(ticket, self.start.as_ref(), outcome);
        }
    }

    /// Moves the admission out into a new guard (which records it), leaving
    /// this one finished.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn take(&mut self) -> Self
    where
        P: Clone,
    {
        let ticket = self.ticket;
        self.ticket = ticket.finished();
        Self {
            owner: self.owner.clone(),
            ticket,
            start: self.start,
        }
    }

    /// Records the outcome a body reported at its end. `Ignored` means the
    /// body was dropped before its end: recorded as any dropped call (see
    /// [`dropped`](Self::dropped)).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn finish_at_end(mut self, outcome: Outcome) {
        if outcome != Outcome::Ignored {
            self.finish(outcome);
        }
        // Otherwise the drop records it.
    }

    /// Whether this is a half-open probe.
    pub(crate) fn is_probe(&self) -> bool {
        self.ticket.kind() == TicketKind::Probe
    }

    /// Records a call that ended without an outcome: `cause` says why.
    #[cold]
    #[inline(never)]
    pub(crate) fn finish_dropped(&mut self, cause: Dropped) {
        let ticket = self.ticket;
        if ticket.kind() != TicketKind::Finished {
            self.ticket = ticket.finished();
            self.owner
                .state()
                .machine
                .finish_dropped(ticket, self.start, cause);
        }
    }

    /// Dropped without an outcome: a panic unwinding through the call, its
    /// deadline having passed (the ambient [`Deadline`] is in force while a
    /// timed-out future is dropped), or a plain cancellation.
    #[cold]
    #[inline(never)]
    fn dropped(&mut self) {
        let cause = if std::thread::panicking() {
            Dropped::Panicked
        } else if Deadline::current().is_some_and(Deadline::is_expired) {
            Dropped::DeadlineExceeded
        } else {
            Dropped::Cancelled
        };
        self.finish_dropped(cause);
    }
}

impl<P: Owner> Drop for Guard<P> {
    #[inline]
    fn drop(&mut self) {
        if self.ticket.kind() != TicketKind::Finished {
            self.dropped();
        }
    }
}

impl<P: Owner> fmt::Debug for Guard<P> {
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
    guard: Guard<Arc<BreakerState<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.guard.state().machine.config.name)
            .field("probe", &self.is_probe())
            .finish()
    }
}

impl Permit {
    pub(crate) fn new(mut guard: Guard<Arc<BreakerState<dyn Any + Send + Sync>>>) -> Self {
        guard.start();
        Self { guard }
    }

    /// Records the outcome of the call.
    pub fn record(mut self, outcome: Outcome) {
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
        self.guard.is_probe()
    }
}
