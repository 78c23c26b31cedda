//! All metric and tracing output of the crate. Every function compiles to
//! nothing when its feature (`metrics`, `tracing`) is off.
//!
//! The [`Counter`] and [`Gauge`] handles below are shared by every
//! middleware's telemetry: they describe the metric, attach the instance's
//! `name` label, and are empty (zero-sized, no-op) without the `metrics`
//! feature, so no telemetry struct needs `cfg` attributes of its own. Metric
//! handles are created once per layer instance and cached; nothing is looked
//! up per request.

use palisade_core::RejectKind;

/// The counter every refusing middleware of the crate shares, labelled by
/// `name` and `reason`.
pub(crate) const REJECTED: &str = "palisade_shed_rejected_total";
/// The gauge of requests holding a slot of a (fixed or adaptive) limit.
pub(crate) const IN_FLIGHT: &str = "palisade_shed_in_flight";

/// The unit of a gauge.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    Count,
    Seconds,
}

/// A cached counter handle of one layer instance (empty without `metrics`).
#[derive(Debug, Clone)]
pub(crate) struct Counter {
    #[cfg(feature = "metrics")]
    handle: metrics::Counter,
}

impl Counter {
    /// Describes `key` and registers it for the instance `name`, with the
    /// extra static `labels`.
    pub(crate) fn new(
        key: &'static str,
        help: &'static str,
        name: &str,
        labels: &[(&'static str, &'static str)],
    ) -> Self {
        #[cfg(feature = "metrics")]
        {
            metrics::describe_counter!(key, metrics::Unit::Count, help);
            Self {
                handle: metrics::counter!(key, labels_of(name, labels)),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (key, help, name, labels);
            Self {}
        }
    }

    /// `palisade_shed_rejected_total{name, reason}` for `kind`.
    pub(crate) fn rejected(name: &str, kind: RejectKind) -> Self {
        Self::rejected_for(name, kind.label())
    }

    /// `palisade_shed_rejected_total{name, reason}`.
    pub(crate) fn rejected_for(name: &str, reason: &'static str) -> Self {
        Self::new(
            REJECTED,
            "Requests refused without reaching the inner service, by reason.",
            name,
            &[("reason", reason)],
        )
    }

    #[inline]
    pub(crate) fn increment(&self, n: u64) {
        #[cfg(feature = "metrics")]
        self.handle.increment(n);
        #[cfg(not(feature = "metrics"))]
        let _ = n;
    }
}

/// A cached gauge handle of one layer instance (empty without `metrics`).
#[derive(Debug, Clone)]
pub(crate) struct Gauge {
    #[cfg(feature = "metrics")]
    handle: metrics::Gauge,
}

impl Gauge {
    /// Describes `key` and registers it for the instance `name`, with the
    /// extra static `labels`.
    pub(crate) fn new(
        key: &'static str,
        unit: Unit,
        help: &'static str,
        name: &str,
        labels: &[(&'static str, &'static str)],
    ) -> Self {
        #[cfg(feature = "metrics")]
        {
            let unit = match unit {
                Unit::Count => metrics::Unit::Count,
                Unit::Seconds => metrics::Unit::Seconds,
            };
            metrics::describe_gauge!(key, unit, help);
            Self {
                handle: metrics::gauge!(key, labels_of(name, labels)),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (key, unit, help, name, labels);
            Self {}
        }
    }

    /// `palisade_shed_in_flight{name}`.
    pub(crate) fn in_flight(name: &str) -> Self {
        Self::new(
            IN_FLIGHT,
            Unit::Count,
            "Requests currently holding a slot of the concurrency limit.",
            name,
            &[],
        )
    }

    #[inline]
    pub(crate) fn increment(&self, by: f64) {
        #[cfg(feature = "metrics")]
        self.handle.increment(by);
        #[cfg(not(feature = "metrics"))]
        let _ = by;
    }

    #[inline]
    pub(crate) fn decrement(&self, by: f64) {
        #[cfg(feature = "metrics")]
        self.handle.decrement(by);
        #[cfg(not(feature = "metrics"))]
        let _ = by;
    }

    #[inline]
    pub(crate) fn set(&self, value: f64) {
        #[cfg(feature = "metrics")]
        self.handle.set(value);
        #[cfg(not(feature = "metrics"))]
        let _ = value;
    }
}

#[cfg(feature = "metrics")]
fn labels_of(name: &str, labels: &[(&'static str, &'static str)]) -> Vec<metrics::Label> {
    let mut all = Vec::with_capacity(labels.len() + 1);
    all.push(metrics::Label::new("name", name.to_owned()));
    all.extend(
        labels
            .iter()
            .map(|&(key, value)| metrics::Label::from_static_parts(key, value)),
    );
    all
}
