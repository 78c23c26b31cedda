//! Metrics and `tracing` events. Handles are created once per component.

use std::time::Duration;

use crate::Status;

/// The metric handles of one component.
pub(crate) struct SlotTelemetry {
    #[cfg(feature = "metrics")]
    status: metrics::Gauge,
    #[cfg(feature = "metrics")]
    checks: [metrics::Counter; 6],
    #[cfg(feature = "metrics")]
    duration: metrics::Histogram,
}

impl SlotTelemetry {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(health: &str, component: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            let labels = [
                ("name", health.to_owned()),
                ("component", component.to_owned()),
            ];
            let counter = |result: &'static str| {
                let mut l = labels.to_vec();
                l.push(("result", result.to_owned()));
                metrics::counter!("palisade_health_checks_total", &l)
            };
            Self {
                status: metrics::gauge!("palisade_health_status", &labels),
                checks: [
                    counter("up"),
                    counter("degraded"),
                    counter("down"),
                    counter("out_of_service"),
                    counter("unknown"),
                    counter("timeout"),
                ],
                duration: metrics::histogram!("palisade_health_check_duration_seconds", &labels),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    /// One finished check.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn check(&self, status: Status, timed_out: bool, took: Duration) {
        #[cfg(feature = "metrics")]
        {
            let i = if timed_out {
                5
            } else {
                match status {
                    Status::Up => 0,
                    Status::Degraded => 1,
                    Status::Down => 2,
                    Status::OutOfService => 3,
                    Status::Unknown => 4,
                }
            };
            self.checks[i].increment(1);
            self.status.set(f64::from(status.severity()));
            self.duration.record(took.as_secs_f64());
        }
    }
}

/// The metric handles of the groups.
pub(crate) struct GroupTelemetry {
    #[cfg(feature = "metrics")]
    ready: metrics::Gauge,
    #[cfg(feature = "metrics")]
    live: metrics::Gauge,
}

impl GroupTelemetry {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(health: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            let labels = [("name", health.to_owned())];
            Self {
                ready: metrics::gauge!("palisade_health_ready", &labels),
                live: metrics::gauge!("palisade_health_live", &labels),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {}
    }

    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn set(&self, ready: Status, live: Status) {
        #[cfg(feature = "metrics")]
        {
            self.ready.set(if ready.is_passing() { 1.0 } else { 0.0 });
            self.live.set(if live.is_passing() { 1.0 } else { 0.0 });
        }
    }
}

/// A component changed status.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn component_changed(
    health: &str,
    component: &str,
    from: Status,
    to: Status,
    detail: &str,
) {
    #[cfg(feature = "tracing")]
    {
        if to.is_passing() && to == Status::Up {
            tracing::info!(
                health,
                component,
                from = from.as_str(),
                to = to.as_str(),
                detail,
                "health component status changed"
            );
        } else {
            tracing::warn!(
                health,
                component,
                from = from.as_str(),
                to = to.as_str(),
                detail,
                "health component status changed"
            );
        }
    }
}

/// A group (readiness, liveness) changed status.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn group_changed(health: &str, group: &'static str, from: Status, to: Status) {
    #[cfg(feature = "tracing")]
    {
        if to.is_passing() {
            tracing::info!(
                health,
                group,
                from = from.as_str(),
                to = to.as_str(),
                "health group status changed"
            );
        } else {
            tracing::warn!(
                health,
                group,
                from = from.as_str(),
                to = to.as_str(),
                "health group status changed"
            );
        }
    }
}
