//! A circuit breaker as a component.

use palisade_breaker::{CircuitBreaker, State};
use serde_json::json;
use tokio::time::Instant;

use crate::{Check, CheckFuture, Component, IntoComponent, Options, Status};

/// A [`CircuitBreaker`] judged by its state.
///
/// Closed, disabled and metrics-only are `UP`; half-open is `DEGRADED`;
/// forced open is `OUT_OF_SERVICE`; open is [`when_open`](Self::when_open)
/// (default `DOWN`, so an open breaker makes the service not ready) until
/// its wait has passed: then it is `DEGRADED` ("probe due"), since a breaker
/// only probes when a call arrives, and a service taken out of load
/// balancing would get none.
///
/// ```
/// use palisade_breaker::CircuitBreaker;
/// use palisade_health::{components::BreakerComponent, Health, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), palisade_core::ConfigError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// let health = Health::builder()
///     .component(breaker.clone()) // open = DOWN
///     .component(BreakerComponent::new(CircuitBreaker::builder("search").build()?)
///         .when_open(Status::Degraded)) // open = DEGRADED: still ready
///     .build()?;
/// # drop(health);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BreakerComponent<C> {
    breaker: CircuitBreaker<C>,
    when_open: Status,
    options: Options,
}

impl<C> BreakerComponent<C> {
    /// Judges `breaker`; the component is called by the breaker's name.
    pub fn new(breaker: CircuitBreaker<C>) -> Self {
        Self {
            breaker,
            when_open: Status::Down,
            options: super::HANDLE_OPTIONS,
        }
    }

    /// The status while the breaker is open and no probe is due (default `DOWN`).
    #[must_use]
    pub fn when_open(mut self, status: Status) -> Self {
        self.when_open = status;
        self
    }
}

impl<C: Send + Sync + 'static> Component for BreakerComponent<C> {
    fn name(&self) -> &str {
        self.breaker.name()
    }

    fn kind(&self) -> &'static str {
        "breaker"
    }

    fn default_options(&self) -> Options {
        self.options
    }

    fn check(&self) -> CheckFuture<'_> {
        let snap = self.breaker.snapshot();
        let probe_in = snap
            .next_probe_at
            .map(|at| at.saturating_duration_since(Instant::now()));
        let check = match snap.state {
            State::Closed | State::Disabled | State::MetricsOnly => Check::up(),
            State::HalfOpen => Check::degraded("half-open: probing"),
            State::ForcedOpen => Check::out_of_service("forced open"),
            State::Open => match probe_in {
                Some(wait) if !wait.is_zero() => Check::new(
                    self.when_open,
                    format!("open: next probe in {:.1} s", wait.as_secs_f64()),
                ),
                _ => Check::degraded("open: probe due on the next call"),
            },
        };
        let data = json!({
            "state": snap.state.as_str(),
            "failure_rate": snap.failure_rate,
            "slow_call_rate": snap.slow_call_rate,
            "calls": snap.calls,
            "failures": snap.failures,
            "slow_calls": snap.slow_calls,
            "consecutive_failures": snap.consecutive_failures,
            "times_opened": snap.times_opened,
            "next_probe_in_ms": probe_in.map(|d| d.as_secs_f64() * 1000.0),
        });
        Box::pin(std::future::ready(check.with_data(data)))
    }
}

impl<C: Send + Sync + 'static> IntoComponent for CircuitBreaker<C> {
    type Component = BreakerComponent<C>;

    fn into_component(self) -> BreakerComponent<C> {
        BreakerComponent::new(self)
    }
}
