//! The [`Health`] handle and what it serves.
//!
//! Health is an endpoint, not a middleware, so it has no layer: the handle
//! makes services ([`HealthService`], [`StatusPage`]) to mount on routes.

mod builder;
pub mod future;
mod page;
mod service;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::{
    Status,
    state::{Group, State},
};

pub use builder::{DEFAULT_PAGE_REFRESH, HealthBuilder};
pub use page::StatusPage;
pub use service::HealthService;

/// The health of a service: its registered components, checked in the
/// background, and the endpoints that report them.
///
/// Built once with [`Health::builder`]; cheap to clone, and every clone and
/// every service made from it share the same checks and results. Each
/// component is checked by a background task on its own interval and under
/// its own timeout; the result is cached, so probes, the JSON and the status
/// page never trigger a check. The tasks end when the last clone (and the
/// last service made from it) is dropped.
///
/// ```
/// use std::time::Duration;
/// use palisade_health::{Health, Options, Probe, Status};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), palisade_core::ConfigError> {
/// let health = Health::builder()
///     .name("api")
///     .component_with(
///         Probe::new("database", || async { Ok::<_, std::io::Error>(()) }),
///         Options::new().interval(Duration::from_secs(5)).timeout(Duration::from_secs(1)),
///     )
///     .build()?;
/// assert_eq!(health.readiness(), Status::Unknown); // not checked yet
/// tokio::time::sleep(Duration::from_millis(10)).await;
/// assert_eq!(health.readiness(), Status::Up);
/// assert!(health.is_ready() && health.is_live());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    pub(crate) state: Arc<State>,
}

impl Health {
    /// Starts registering components.
    pub fn builder() -> HealthBuilder {
        HealthBuilder::new()
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The worst status of every component.
    pub fn status(&self) -> Status {
        self.state.docs().status
    }

    /// The worst status of the readiness components (`Up` when there are none).
    pub fn readiness(&self) -> Status {
        self.state.docs().ready
    }

    /// The worst status of the liveness components (`Up` when there are none).
    pub fn liveness(&self) -> Status {
        self.state.docs().live
    }

    /// Whether readiness passes (`Up` or `Degraded`).
    pub fn is_ready(&self) -> bool {
        self.readiness().is_passing()
    }

    /// Whether liveness passes (`Up` or `Degraded`).
    pub fn is_live(&self) -> bool {
        self.liveness().is_passing()
    }

    /// The last status of the component called `name` (`Unknown` before its
    /// first check), or `None` when there is no such component.
    pub fn component_status(&self, name: &str) -> Option<Status> {
        let index = self.state.slots.iter().position(|s| &*s.name == name)?;
        self.state.docs().components.get(index).copied()
    }

    /// Every component with its status, detail, time of the last check and
    /// figures, as JSON (the body of [`service`](Self::service) and of the
    /// status page's data).
    pub fn to_json(&self) -> Bytes {
        self.state.docs().all.clone()
    }

    /// A receiver that sees every change of readiness (starting with the
    /// current one). It reports a closed channel once the `Health` is gone.
    pub fn watch_readiness(&self) -> watch::Receiver<Status> {
        self.state.watch_ready()
    }

    /// The endpoint of every component, with their figures; 503 when any
    /// component is `Down`, `OutOfService` or `Unknown`.
    pub fn service(&self) -> HealthService {
        HealthService::new(Arc::clone(&self.state), Group::All)
    }

    /// The readiness endpoint (a Kubernetes `readinessProbe`): 503 takes the
    /// instance out of load balancing until it passes again.
    pub fn readiness_service(&self) -> HealthService {
        HealthService::new(Arc::clone(&self.state), Group::Readiness)
    }

    /// The liveness endpoint (a Kubernetes `livenessProbe`): 503 gets the
    /// container restarted, so only components in the liveness group count.
    pub fn liveness_service(&self) -> HealthService {
        HealthService::new(Arc::clone(&self.state), Group::Liveness)
    }

    /// The live status page and its JSON.
    pub fn status_page(&self) -> StatusPage {
        StatusPage::new(Arc::clone(&self.state))
    }
}
