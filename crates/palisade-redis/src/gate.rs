//! [`Gate`]: skips Redis cheaply while the breaker is open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use palisade_breaker::{CircuitBreaker, Permit, State};
use palisade_core::Rejected;
use tokio::time::Instant;

/// While the breaker is open, its `retry_after` says how long it will keep
/// refusing: until then, skip Redis with one atomic load and a clock read
/// instead of asking the breaker (which builds a rejection every time).
///
/// The same refusal also lowers `up`, the flag behind
/// [`available`](Gate::available), and starts a timer that raises it again
/// when the wait is over, so callers that check `available` read one atomic
/// and no clock, and the breaker still gets its probe once it is due.
#[derive(Debug)]
pub(crate) struct Gate {
    base: Instant,
    /// Nanoseconds after `base` until which Redis is skipped (0: not skipping).
    until: AtomicU64,
    /// `false` from a refusal by the open breaker until its wait has passed.
    up: Arc<AtomicBool>,
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
            up: Arc::new(AtomicBool::new(true)),
        }
    }

    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether Redis is known to be refused right now.
    fn shut(&self) -> bool {
        let until = self.until.load(Relaxed);
        until != 0 && self.elapsed_nanos() < until
    }

    /// Only an open breaker's `retry_after` is the time until it probes
    /// again (half-open rejections say something else): only that shuts the
    /// gate.
    fn refused(&self, rejected: &Rejected, breaker: &CircuitBreaker) {
        if breaker.state() != State::Open {
            return;
        }
        if let Some(wait) = rejected.retry_after() {
            let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
            let until = self.elapsed_nanos().saturating_add(nanos).max(1);
            self.until.store(until, Relaxed);
            self.lower_until(wait);
        }
    }

    /// Reports Redis unavailable for `wait`. Needs a runtime for the timer
    /// that raises the flag again; without one the flag stays up and only
    /// the clock-checked gate skips.
    fn lower_until(&self, wait: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .up
            .compare_exchange(true, false, Relaxed, Relaxed)
            .is_err()
        {
            return; // a timer is already running
        }
        let up = Arc::clone(&self.up);
        runtime.spawn(async move {
            tokio::time::sleep(wait).await;
            up.store(true, Relaxed);
        });
    }

    /// Whether callers should bother asking: one atomic load (two while the
    /// breaker is open). A breaker forced open, or opened and not yet due
    /// for a probe, makes Redis unavailable; one moved out of `Open` by
    /// hand (reset, disable) makes it available at once.
    pub(crate) fn available(&self, breaker: &CircuitBreaker) -> bool {
        match breaker.state() {
            State::Open => self.up.load(Relaxed),
            State::ForcedOpen => false,
            _ => true,
        }
    }

    /// A permit from the breaker, unless Redis is to be skipped.
    pub(crate) fn admit(&self, breaker: &CircuitBreaker) -> Option<Permit> {
        if self.shut() {
            return None;
        }
        breaker
            .try_acquire()
            .map_err(|r| self.refused(&r, breaker))
            .ok()
    }
}
