//! What every service of one `Timeout` shares: [`TimeoutSettings`].

use super::telemetry::{Expiry, TimeoutTelemetry};
use palisade_core::{RejectKind, Rejected};
use std::{sync::Arc, time::Duration};

/// The settings and metric handles every service made from one
/// [`Timeout`](super::Timeout) shares.
#[derive(Debug)]
pub(crate) struct TimeoutSettings {
    pub(crate) name: Arc<str>,
    pub(crate) timeout: Duration,
    pub(crate) include_ready: bool,
    pub(crate) telemetry: TimeoutTelemetry,
}

impl TimeoutSettings {
    /// Counts and logs an expiry, and returns the error to answer with.
    #[cold]
    pub(crate) fn expired(&self, stage: Expiry) -> Rejected {
        self.telemetry.exceeded(&self.name, stage);
        Rejected::new(RejectKind::DeadlineExceeded, Arc::clone(&self.name))
    }
}
