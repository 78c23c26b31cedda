//! The breaker's states, its transitions and its snapshot.

use std::{fmt, sync::Arc};
use tokio::time::Instant;

/// The state of a circuit breaker.
///
/// The three automatic states are [`Closed`](State::Closed),
/// [`Open`](State::Open) and [`HalfOpen`](State::HalfOpen); the other three
/// are set by hand through [`CircuitBreaker`](crate::CircuitBreaker) and left
/// only by another manual call (such as [`reset`](crate::CircuitBreaker::reset)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls go through and their outcomes are recorded in the window.
    Closed,
    /// Calls are rejected at once until the open wait has passed.
    Open,
    /// A capped number of probe calls go through; the rest are rejected.
    HalfOpen,
    /// Every call is rejected until the breaker is reset ([`force_open`](crate::CircuitBreaker::force_open)).
    ForcedOpen,
    /// Every call goes through and nothing is recorded ([`disable`](crate::CircuitBreaker::disable)).
    Disabled,
    /// Every call goes through; outcomes are recorded and reported but the
    /// breaker never trips ([`metrics_only`](crate::CircuitBreaker::metrics_only)).
    MetricsOnly,
}

impl State {
    /// The state as a `snake_case` label (`closed`, `open`, `half_open`,
    /// `forced_open`, `disabled`, `metrics_only`), as used in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics_only",
        }
    }

    /// The value of the `palisade_breaker_state` gauge for this state:
    /// closed 0, open 1, half-open 2, forced open 3, disabled 4, metrics-only 5.
    pub const fn as_gauge(self) -> f64 {
        match self {
            State::Closed => 0.0,
            State::Open => 1.0,
            State::HalfOpen => 2.0,
            State::ForcedOpen => 3.0,
            State::Disabled => 4.0,
            State::MetricsOnly => 5.0,
        }
    }

    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
            State::MetricsOnly => 5,
        }
    }

    pub(crate) const fn from_bits(bits: u64) -> State {
        match bits {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            4 => State::Disabled,
            _ => State::MetricsOnly,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The failure rate of the window reached `failure_rate`.
    FailureRate,
    /// The slow-call rate of the window reached the `slow_calls` rate.
    SlowCallRate,
    /// `consecutive_failures` failures in a row.
    ConsecutiveFailures,
    /// The open wait passed; probing is allowed.
    OpenWaitElapsed,
    /// Every half-open probe succeeded.
    ProbesSucceeded,
    /// A half-open probe failed (or was slow).
    ProbeFailed,
    /// A half-open probe did not finish within `half_open_timeout`.
    ProbeTimedOut,
    /// A manual call: `force_open`, `disable`, `metrics_only` or `reset`.
    Manual,
}

impl Reason {
    /// The reason as a `snake_case` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::OpenWaitElapsed => "open_wait_elapsed",
            Reason::ProbesSucceeded => "probes_succeeded",
            Reason::ProbeFailed => "probe_failed",
            Reason::ProbeTimedOut => "probe_timed_out",
            Reason::Manual => "manual",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of state, as passed to [`on_transition`](crate::CircuitBreaker::on_transition) callbacks.
#[derive(Debug, Clone)]
pub struct Transition {
    pub(crate) name: Arc<str>,
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) at: Instant,
    pub(crate) reason: Reason,
}

impl Transition {
    /// The name of the breaker.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The state left.
    pub fn from(&self) -> State {
        self.from
    }

    /// The state entered.
    pub fn to(&self) -> State {
        self.to
    }

    /// When the transition happened.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// Why it happened.
    pub fn reason(&self) -> Reason {
        self.reason
    }
}

/// A point-in-time view of a breaker, from [`CircuitBreaker::snapshot`](crate::CircuitBreaker::snapshot).
///
/// The window figures are those of the current state's window (it is reset
/// on every transition).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current state.
    pub state: State,
    /// Failures / recorded calls in the window (0 when it is empty).
    pub failure_rate: f64,
    /// Slow calls / recorded calls in the window (0 when it is empty).
    pub slow_call_rate: f64,
    /// Recorded (not ignored) calls in the window.
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Failures in a row (counted only when `consecutive_failures` is set).
    pub consecutive_failures: u32,
    /// How many times the breaker has opened (automatically) since it was built.
    pub times_opened: u64,
    /// Calls finished since the breaker was built (successes, failures and
    /// ignored calls; not the calls admitted while disabled, which record
    /// nothing): monotonic, so the change between two snapshots over the
    /// time between them is the call rate. Calls still running are not
    /// counted yet.
    pub calls_total: u64,
    /// Calls rejected since the breaker was built (open, forced open, or
    /// half-open with every probe slot taken): monotonic.
    pub rejected_total: u64,
    /// When the breaker will admit probes, while it is open.
    pub next_probe_at: Option<Instant>,
}
