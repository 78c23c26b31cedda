//! Health checks for tower services, and one live status page for every
//! Palisade component.
//!
//! - **Components**: any async check ([`Probe`]: a database ping, an HTTP
//!   call) and Palisade handles directly ([`components`]): a circuit
//!   breaker (open = down, or degraded, as configured), the cache's Redis
//!   tier (unavailable = degraded: the cache still answers), a concurrency
//!   limit (saturated for long = degraded), a batcher or loader (worker gone
//!   = down), a latency tracker (percentiles for the page). Any type can be
//!   one through the small [`Component`] trait.
//! - **Cached background checks**: each component is checked by a tokio
//!   task on its own interval and under its own timeout; a check that hangs
//!   is cut off and reported `DOWN` ("timed out"). Probes read the cached
//!   result, so a flood of probes runs no check and cannot overload a
//!   dependency. The tasks end when the last handle is dropped.
//! - **Statuses and groups**: `UP`, `DEGRADED`, `DOWN`, `OUT_OF_SERVICE`,
//!   `UNKNOWN` (as Spring Boot Actuator, plus degraded); liveness and
//!   readiness groups as Kubernetes means them: a dead dependency makes the
//!   service *not ready*, not dead.
//! - **Served** as tower services (JSON, 200 / 503, each component with its
//!   status, detail and time of the last check) for axum's
//!   `Router::route_service`, and to `tonic-health` ([`Health::serve_grpc`],
//!   feature `grpc`).
//! - **Status page** ([`Health::status_page`]): one self-contained HTML
//!   page (no CDN, works offline), Hystrix-dashboard style, that refreshes
//!   itself from its JSON.
//! - **Observable**: status changes are `tracing` events; metrics
//!   `palisade_health_status{name,component}` (the [`Status::severity`]),
//!   `palisade_health_checks_total{name,component,result}`,
//!   `palisade_health_check_duration_seconds{name,component}`,
//!   `palisade_health_ready{name}` and `palisade_health_live{name}`.
//!
//! ```
//! use std::time::Duration;
//! use axum::Router;
//! use palisade_health::{Health, Options, Probe};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let health = Health::builder()
//!     .name("api")
//!     .component_with(
//!         Probe::new("database", || async {
//!             // e.g. `client.simple_query("SELECT 1").await`
//!             Ok::<_, std::io::Error>(())
//!         }),
//!         Options::new().interval(Duration::from_secs(5)).timeout(Duration::from_secs(1)),
//!     )
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route_service("/health/ready", health.readiness_service())
//!     .route_service("/health/live", health.liveness_service())
//!     .route_service("/health", health.service())
//!     .route_service("/status", health.status_page());
//! # drop(app);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod component;
pub mod components;
mod health;
mod render;
mod runner;
mod state;
mod status;
mod telemetry;

#[cfg(feature = "grpc")]
mod grpc;

pub use component::{Check, CheckFuture, Component, IntoComponent, Options, Probe};
pub use health::{DEFAULT_PAGE_REFRESH, Health, HealthBuilder, HealthService, StatusPage, future};
pub use palisade_core::ConfigError;
pub use status::Status;

/// The README's code, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
