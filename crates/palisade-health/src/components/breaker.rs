//! A circuit breaker as a component.

use std::sync::{Mutex, PoisonError};

use palisade_breaker::{AtResponse, CircuitBreaker, State};
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
/// Its data holds the breaker's [`Snapshot`](palisade_breaker::Snapshot)
/// and `calls_per_sec` / `rejected_per_sec`: the change in
/// `calls_total` / `rejected_total` since the previous check, over the time
/// between the two (`null` on the first check).
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
pub struct BreakerComponent<C, V = AtResponse> {
    breaker: CircuitBreaker<C, V>,
    when_open: Status,
    options: Options,
    /// The totals at the previous check, for the rates.
    previous: Mutex<Option<Totals>>,
}

/// The breaker's call totals at one check.
#[derive(Debug, Clone, Copy)]
struct Totals {
    at: Instant,
    calls: u64,
    rejected: u64,
}

impl Totals {
    /// Calls and rejections per second from `earlier` to `self`; `None`
    /// when no time passed between the two.
    fn rates_since(self, earlier: Totals) -> Option<(f64, f64)> {
        let secs = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        (secs > 0.0).then(|| {
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
            (
                rate(self.calls, earlier.calls),
                rate(self.rejected, earlier.rejected),
            )
        })
    }
}

impl<C, V> BreakerComponent<C, V> {
    /// Judges `breaker`; the component is called by the breaker's name.
    pub fn new(breaker: CircuitBreaker<C, V>) -> Self {
        Self {
            breaker,
            when_open: Status::Down,
            options: super::HANDLE_OPTIONS,
            previous: Mutex::new(None),
        }
    }

    /// The status while the breaker is open and no probe is due (default `DOWN`).
    #[must_use]
    pub fn when_open(mut self, status: Status) -> Self {
        self.when_open = status;
        self
    }
}

impl<C: Send + Sync + 'static, V: 'static> Component for BreakerComponent<C, V> {
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
        let now = Instant::now();
        let totals = Totals {
            at: now,
            calls: snap.calls_total,
            rejected: snap.rejected_total,
        };
        let rates = {
            let mut previous = self.previous.lock().unwrap_or_else(PoisonError::into_inner);
            let rates = previous.and_then(|earlier| totals.rates_since(earlier));
            // Two checks at the same instant: keep the earlier sample.
            if rates.is_some() || previous.is_none() {
                *previous = Some(totals);
            }
            rates
        };
        let probe_in = snap
            .next_probe_at
            .map(|at| at.saturating_duration_since(now));
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
            "calls_total": snap.calls_total,
            "rejected_total": snap.rejected_total,
            "calls_per_sec": rates.map(|(calls, _)| calls),
            "rejected_per_sec": rates.map(|(_, rejected)| rejected),
            "next_probe_in_ms": probe_in.map(|d| d.as_secs_f64() * 1000.0),
        });
        Box::pin(std::future::ready(check.with_data(data)))
    }
}

impl<C: Send + Sync + 'static, V: 'static> IntoComponent for CircuitBreaker<C, V> {
    type Component = BreakerComponent<C, V>;

    fn into_component(self) -> BreakerComponent<C, V> {
        BreakerComponent::new(self)
    }
}
