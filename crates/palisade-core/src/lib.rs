//! What every Palisade layer shares.
//!
//! - [`Outcome`] and [`Classify`]: one way to decide whether a finished call
//!   succeeded, failed, or does not count — used by the breaker, adaptive
//!   limits and latency tracking. [`ErrorsAsFailures`] is the default;
//!   [`http::HttpServerErrors`] and [`grpc::GrpcErrors`] (features `http`,
//!   `grpc`) adapt `tower-http`'s classifiers.
//! - [`Rejected`]: the one error a Palisade layer returns when it refuses a
//!   request, with a [`RejectKind`], the name of the refusing layer and an
//!   optional retry-after. [`http::ErrorResponseLayer`] turns it into a `503`
//!   / `504` / `429` response and [`grpc::StatusLayer`] into a `tonic::Status`.
//! - [`ConfigError`]: the error of every Palisade builder, naming the field.
//! - [`body::TrackedBody`] (feature `body`, implied by `http`): the one
//!   end-of-body tracker of the Palisade layers (a limit's permit, a latency
//!   record, a gRPC outcome are each an [`body::OnBodyEnd`]).
//! - [`deadline::Deadline`]: the ambient deadline of a request, set by
//!   `palisade-shed`'s `Timeout` and read by the layers below it.
//!
//! # Example
//!
//! A layer refuses a request; the error tells the caller why, who refused,
//! and when to come back:
//!
//! ```
//! use std::time::Duration;
//! use palisade_core::{BoxError, Classify, ErrorsAsFailures, Outcome, RejectKind, Rejected};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A service that refuses everything, as an open circuit breaker would.
//! let svc = ServiceBuilder::new().service(service_fn(|_req: ()| async {
//!     let err: BoxError = Rejected::new(RejectKind::CircuitOpen, "payments")
//!         .with_retry_after(Duration::from_secs(5))
//!         .into();
//!     Err::<(), _>(err)
//! }));
//! let err = svc.oneshot(()).await.unwrap_err();
//! let rejected = Rejected::find(&*err).expect("a Palisade rejection");
//! assert_eq!(rejected.kind(), RejectKind::CircuitOpen);
//! assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));
//!
//! // Rejections are failures to the default classifier.
//! let verdict = Classify::<(), BoxError>::classify(&ErrorsAsFailures, Err(&err));
//! assert_eq!(verdict, Outcome::Failure);
//! # }
//! ```
//!
//! # Contributor notes
//!
//! - `classify.rs` ([`Outcome`], [`Classify`]), `rejected.rs` ([`Rejected`]),
//!   `error.rs` ([`ConfigError`]), `deadline.rs`: the shared types, each in
//!   its own module at the bottom of the crate.
//! - `body.rs` (feature `body`): [`body::TrackedBody`], the one end-of-body
//!   tracker; the layers (a limit's permit, latency's record, gRPC's
//!   [`grpc::GrpcReport`]) implement [`body::OnBodyEnd`] instead of wrapping
//!   bodies of their own.
//! - `http/` and `grpc/`: the protocol mappings, one middleware each
//!   (`ErrorResponseLayer` / `ErrorResponseService`, `StatusLayer` /
//!   `StatusService`) with their classifiers.
//! - `lane.rs`: lanes and `Padded`, the internal building blocks of the
//!   layer crates' shared state; `#[doc(hidden)]`, not part of the API.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "body")]
#[cfg_attr(docsrs, doc(cfg(feature = "body")))]
pub mod body;
mod classify;
pub mod deadline;
mod error;
#[doc(hidden)]
pub mod lane;
mod rejected;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;

pub use classify::{Classify, ErrorsAsFailures, Outcome};
pub use error::ConfigError;
pub use rejected::{ErrorRef, RateLimitQuota, RejectKind, Rejected};

/// The boxed error type of every Palisade service (the same as `tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
