//! The shared counter of a concurrency limit.

use super::telemetry::LimitTelemetry;
use crate::slots::Slots;
use std::{sync::Arc, time::Duration};

/// What every service made from one `ConcurrencyLimit` shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) max_in_flight: usize,
    pub(crate) retry_after: Duration,
    pub(crate) telemetry: LimitTelemetry,
    /// The one counter of requests in flight (and of rejections), on cache
    /// lines of its own: it is written by every request; the fields above
    /// are only read.
    pub(crate) slots: Slots,
}

impl Shared {
    pub(crate) fn new(name: Arc<str>, max_in_flight: usize, retry_after: Duration) -> Self {
        Self {
            telemetry: LimitTelemetry::new(&name, max_in_flight),
            name,
            max_in_flight,
            retry_after,
            slots: Slots::default(),
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.slots.in_flight()
    }
}
