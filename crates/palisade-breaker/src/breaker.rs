//! The [`CircuitBreaker`] handle.

use crate::{
    lane::{Lane, Lanes},
    machine::StateMachine,
    permit::{Guard, Permit},
    settings::Settings,
    state::BreakerState,
    status::{Reason, Snapshot, State, Transition},
    verdict::AtResponse,
};
use palisade_core::{ErrorsAsFailures, Rejected};
use std::{any::Any, fmt, marker::PhantomData, sync::Arc};

/// A circuit breaker: a cheap, cloneable handle to one shared state machine.
///
/// Build it with [`CircuitBreaker::builder`], put it in a stack with
/// [`layer`](Self::layer) (every service made from that layer, and every
/// clone of this handle, shares the same state: two axum routes under one
/// `breaker.layer()` share one breaker), watch it with
/// [`state`](Self::state), [`snapshot`](Self::snapshot) and
/// [`on_transition`](Self::on_transition), steer it with
/// [`force_open`](Self::force_open), [`disable`](Self::disable),
/// [`metrics_only`](Self::metrics_only) and [`reset`](Self::reset), or use it
/// without tower through [`try_acquire`](Self::try_acquire).
///
/// ```
/// use std::time::Duration;
/// use palisade_breaker::{CircuitBreaker, State};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), palisade_core::ConfigError> {
/// let breaker = CircuitBreaker::builder("payments")
///     .consecutive_failures(2)
///     .open_wait(Duration::from_secs(5))
///     .build()?;
/// breaker.on_transition(|t| println!("{}: {} -> {} ({})", t.name(), t.from(), t.to(), t.reason()));
///
/// for _ in 0..2 {
///     breaker.try_acquire().expect("closed").failure();
/// }
/// assert_eq!(breaker.state(), State::Open);
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert!(rejected.retry_after().unwrap() <= Duration::from_secs(5));
///
/// breaker.reset();
/// assert_eq!(breaker.state(), State::Closed);
/// # Ok(())
/// # }
/// ```
pub struct CircuitBreaker<C = ErrorsAsFailures, V = AtResponse> {
    shared: Arc<Shared<C>>,
    /// When its services learn a call's outcome.
    verdict: PhantomData<fn() -> V>,
}

/// What a handle points at: the state and the lanes response futures hold
/// it by (see `lane.rs`).
struct Shared<C> {
    state: Arc<BreakerState<C>>,
    lanes: Lanes<C>,
}

impl<C, V> Clone for CircuitBreaker<C, V> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            verdict: PhantomData,
        }
    }
}

impl<C, V> fmt::Debug for CircuitBreaker<C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.machine().config.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<C, V> CircuitBreaker<C, V> {
    /// A breaker with one lane per core (up to 16).
    pub(crate) fn from_settings(config: Settings, classify: C) -> Self {
        Self::with_lanes(config, classify, palisade_core::lane::default_lanes())
    }

    /// A breaker whose response futures share `lanes` reference counts.
    pub(crate) fn with_lanes(config: Settings, classify: C, lanes: usize) -> Self {
        let state = Arc::new(BreakerState {
            machine: StateMachine::new(config, lanes),
            classify,
        });
        let lanes = Lanes::with_count(Arc::clone(&state), lanes);
        Self {
            shared: Arc::new(Shared { state, lanes }),
            verdict: PhantomData,
        }
    }

    /// The same breaker, its services reading outcomes at another time.
    pub(crate) fn with_verdict<V2>(self) -> CircuitBreaker<C, V2> {
        CircuitBreaker {
            shared: self.shared,
            verdict: PhantomData,
        }
    }

    /// The lane of the calling thread, for a response future to hold.
    #[inline]
    pub(crate) fn lane(&self) -> Lane<C> {
        self.shared.lanes.current().clone()
    }

    /// The state machine.
    #[inline]
    pub(crate) fn machine(&self) -> &StateMachine {
        &self.shared.state.machine
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.machine().config.name
    }

    /// The current state.
    ///
    /// An open breaker whose wait has passed reports `Open` until the next
    /// call moves it to `HalfOpen`.
    pub fn state(&self) -> State {
        self.machine().state()
    }

    /// The state, the window's figures, how often it opened and when it will
    /// next probe.
    pub fn snapshot(&self) -> Snapshot {
        self.machine().snapshot()
    }

    /// Rejects every call until [`reset`](Self::reset) (or another manual state).
    pub fn force_open(&self) {
        self.machine()
            .transition(None, State::ForcedOpen, Reason::Manual);
    }

    /// Admits every call and records nothing until [`reset`](Self::reset).
    pub fn disable(&self) {
        self.machine()
            .transition(None, State::Disabled, Reason::Manual);
    }

    /// Admits every call, records and reports outcomes, but never trips,
    /// until [`reset`](Self::reset).
    pub fn metrics_only(&self) {
        self.machine()
            .transition(None, State::MetricsOnly, Reason::Manual);
    }

    /// Returns to `Closed` with an empty window and the backoff reset.
    pub fn reset(&self) {
        self.machine()
            .transition(None, State::Closed, Reason::Manual);
    }

    /// Calls `callback` on every state change, after the change and outside
    /// any lock. A callback that panics is caught (and logged with the
    /// `tracing` feature); the breaker carries on.
    pub fn on_transition<F>(&self, callback: F)
    where
        F: Fn(&Transition) + Send + Sync + 'static,
    {
        self.machine().add_callback(Arc::new(callback));
    }
}

impl<C: Send + Sync + 'static, V> CircuitBreaker<C, V> {
    /// Asks to make one call, without tower: a [`Permit`] to report the
    /// outcome with, or the rejection (kind `CircuitOpen`, with the time
    /// until the next probe as `retry_after` while open).
    ///
    /// Uses the same state machine as the layer: calls made through either
    /// count in one window.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the breaker is open, forced open, or half-open with
    /// every probe slot taken.
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let machine = self.machine();
        let ticket = machine.acquire().map_err(|r| machine.rejected(r))?;
        let state: Arc<BreakerState<dyn Any + Send + Sync>> = self.shared.state.clone();
        Ok(Permit::new(Guard::new(state, ticket)))
    }
}
