//! A concurrency limit as a component.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use palisade_shed::ConcurrencyLimit;
use serde_json::json;
use tokio::time::Instant;

use crate::{Check, CheckFuture, Component, IntoComponent, Options};

/// A [`ConcurrencyLimit`] judged by how long it has been full: `DEGRADED`
/// when every slot was taken at each check for longer than
/// [`saturated_for`](Self::saturated_for) (default 30 s), `UP` otherwise. A
/// full limit sheds load, which is what it is for: only a long saturation
/// says the service lacks capacity.
///
/// Its data carries `rejections_per_sec`: the change of the limit's
/// [`rejected_total`](ConcurrencyLimit::rejected_total) between the last two
/// checks over the time between them (`null` on the first check).
///
/// ```
/// use std::time::Duration;
/// use palisade_health::components::LimitComponent;
/// use palisade_shed::ConcurrencyLimit;
///
/// let limit = ConcurrencyLimit::builder("api").max_in_flight(64).build()?;
/// let component = LimitComponent::new(limit).saturated_for(Duration::from_secs(10));
/// # drop(component);
/// # Ok::<(), palisade_core::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct LimitComponent<P> {
    limit: ConcurrencyLimit<P>,
    saturated_for: Duration,
    samples: Mutex<Samples>,
}

/// What one check leaves for the next.
#[derive(Debug, Default)]
struct Samples {
    /// Since when every slot has been taken, at each check.
    full_since: Option<Instant>,
    /// The rejection count at the previous check, and when it was read.
    rejected: Option<(Instant, u64)>,
}

impl<P> LimitComponent<P> {
    /// Judges `limit`; the component is called by the limit's name.
    pub fn new(limit: ConcurrencyLimit<P>) -> Self {
        Self {
            limit,
            saturated_for: Duration::from_secs(30),
            samples: Mutex::new(Samples::default()),
        }
    }

    /// How long the limit must stay full to be `DEGRADED` (default 30 s).
    #[must_use]
    pub fn saturated_for(mut self, after: Duration) -> Self {
        self.saturated_for = after;
        self
    }
}

impl<P: Send + Sync + 'static> Component for LimitComponent<P> {
    fn name(&self) -> &str {
        self.limit.name()
    }

    fn kind(&self) -> &'static str {
        "limit"
    }

    fn default_options(&self) -> Options {
        super::HANDLE_OPTIONS
    }

    fn check(&self) -> CheckFuture<'_> {
        let in_flight = self.limit.in_flight();
        let max = self.limit.max_in_flight();
        let rejected = self.limit.rejected_total();
        let now = Instant::now();
        let (full_for, rejections_per_sec) = {
            let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
            let full_for = if in_flight >= max {
                Some(now.saturating_duration_since(*samples.full_since.get_or_insert(now)))
            } else {
                samples.full_since = None;
                None
            };
            let rate = samples.rejected.map(|(at, before)| {
                super::per_sec(rejected, before, now.saturating_duration_since(at))
            });
            samples.rejected = Some((now, rejected));
            (full_for, rate)
        };
        let check = match full_for {
            Some(d) if d >= self.saturated_for => Check::degraded(format!(
                "saturated for {:.0} s ({in_flight} of {max} in flight)",
                d.as_secs_f64()
            )),
            _ => Check::up(),
        };
        let data = json!({
            "in_flight": in_flight,
            "max_in_flight": max,
            "utilization": if max == 0 { 0.0 } else { in_flight as f64 / max as f64 },
            "saturated_for_ms": full_for.map(|d| d.as_secs_f64() * 1000.0),
            "rejected_total": rejected,
            "rejections_per_sec": rejections_per_sec,
        });
        Box::pin(std::future::ready(check.with_data(data)))
    }
}

impl<P: Send + Sync + 'static> IntoComponent for ConcurrencyLimit<P> {
    type Component = LimitComponent<P>;

    fn into_component(self) -> LimitComponent<P> {
        LimitComponent::new(self)
    }
}
