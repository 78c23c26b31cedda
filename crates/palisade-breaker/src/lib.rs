//! A circuit breaker for tower services: stop calling a dependency that is
//! failing, probe it carefully, recover.
//!
//! - **Trip rules**, whichever fires first: the failure rate of a sliding
//!   window ([`failure_rate`](CircuitBreakerBuilder::failure_rate)), the slow-call rate
//!   ([`slow_calls`](CircuitBreakerBuilder::slow_calls)) and failures in a row
//!   ([`consecutive_failures`](CircuitBreakerBuilder::consecutive_failures)), with no
//!   verdict on fewer than [`minimum_calls`](CircuitBreakerBuilder::minimum_calls).
//! - **Windows** that really slide and cost O(1) per call: the last N calls
//!   ([`count_window`](CircuitBreakerBuilder::count_window), a ring of outcome slots with
//!   packed atomic counters) or the last stretch of time
//!   ([`time_window`](CircuitBreakerBuilder::time_window), a ring of 10 buckets that
//!   expire one at a time). The window resets on every transition.
//! - **Open**: calls are rejected at once with [`palisade_core::Rejected`]
//!   (kind `CircuitOpen`, `retry_after` = time until the next probe), without
//!   touching the inner service. The wait is fixed
//!   ([`open_wait`](CircuitBreakerBuilder::open_wait)) or grows with each re-open
//!   ([`open_backoff`](CircuitBreakerBuilder::open_backoff), [`Backoff`] with jitter).
//! - **Half-open**: exactly [`half_open_probes`](CircuitBreakerBuilder::half_open_probes)
//!   calls are let through at once, the rest are rejected; all succeeding
//!   closes the breaker, any failure (or a probe overrunning
//!   [`half_open_timeout`](CircuitBreakerBuilder::half_open_timeout)) re-opens it; a
//!   cancelled probe frees its slot.
//! - **Manual states**: [`force_open`](CircuitBreaker::force_open),
//!   [`disable`](CircuitBreaker::disable),
//!   [`metrics_only`](CircuitBreaker::metrics_only),
//!   [`reset`](CircuitBreaker::reset).
//! - **Protocols**: [`builder`](CircuitBreaker::builder) counts every `Err`;
//!   `builder_for_http` (feature `http`) also 5xx answers; `builder_for_grpc`
//!   (feature `grpc`) the server-side gRPC codes, read from the response
//!   head or, when the status comes in trailers, at the end of the body
//!   ([`AtEndOfStream`]; the body becomes a `GrpcBody`).
//! - **Shared by default**: [`CircuitBreaker`] is a cheap handle; every
//!   service made from `breaker.layer()` (every axum route under it) shares
//!   one breaker. [`KeyedCircuitBreaker`] keeps one per request key.
//! - **Without tower**: [`CircuitBreaker::try_acquire`] gives a [`Permit`]
//!   to record the outcome with.
//! - **Observable**: [`state`](CircuitBreaker::state),
//!   [`snapshot`](CircuitBreaker::snapshot) (with monotonic call and
//!   rejection totals, for rates),
//!   [`on_transition`](CircuitBreaker::on_transition) callbacks, metrics
//!   `palisade_breaker_state`, `palisade_breaker_calls_total`,
//!   `palisade_breaker_transitions_total` (feature `metrics`) and a `tracing`
//!   event per transition (feature `tracing`).
//!
//! Admission while closed is one atomic load; recording a success while the
//! count window holds only successes is another, plus one relaxed add to the
//! call total on a cache line of the calling thread's own (the window is not
//! written, so a healthy breaker shares no written cache line between
//! threads), and any other outcome is a ring slot and one `fetch_add`. The clock is read only
//! when a rule needs it. The response future holds one reference count, on
//! a per-thread lane of the breaker; nothing allocates per call (a
//! rejection boxes its error), the future is a named type, and `call` never
//! clones the inner service.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use palisade_breaker::{CircuitBreaker, State};
//! use palisade_core::{BoxError, Rejected, RejectKind};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder("payments")
//!     .failure_rate(0.5)
//!     .count_window(10)
//!     .minimum_calls(4)
//!     .open_wait(Duration::from_secs(5))
//!     .build()?;
//!
//! // A dependency that is down.
//! let inner = service_fn(|_req: u32| async { Err::<u32, BoxError>("connection refused".into()) });
//! let mut svc = ServiceBuilder::new().layer(breaker.layer()).service(inner);
//!
//! for i in 0..4 {
//!     let err = svc.ready().await?.call(i).await.unwrap_err();
//!     assert!(Rejected::find(&*err).is_none()); // the dependency's own error
//! }
//! assert_eq!(breaker.state(), State::Open);
//!
//! // Now calls are refused at once, without reaching the dependency.
//! let err = svc.ready().await?.call(5).await.unwrap_err();
//! let rejected = Rejected::find(&*err).unwrap();
//! assert_eq!(rejected.kind(), RejectKind::CircuitOpen);
//! assert!(rejected.retry_after().unwrap() <= Duration::from_secs(5));
//! # Ok(())
//! # }
//! ```
//!
//! # Contributor notes
//!
//! The crate follows the layout shared by every Palisade crate:
//!
//! - The breaker's front end sits in `src/`: the handle [`CircuitBreaker`]
//!   (`breaker.rs`), [`CircuitBreakerBuilder`] and the `builder*`
//!   constructors (`builder.rs`), [`CircuitBreakerLayer`] and
//!   `CircuitBreaker::layer` (`layer.rs`), [`CircuitBreakerService`]
//!   (`service.rs`) and [`ResponseFuture`](future::ResponseFuture)
//!   (`future.rs`). The manual [`Permit`] and the guard every admitted call
//!   holds are in `permit.rs`.
//! - `keyed/` is the per-key breaker, in the same shape: the handle in
//!   `mod.rs`, `builder.rs`, `layer.rs`, `service.rs`, and the per-key
//!   breakers in `state.rs`. It reuses the breaker's response future.
//! - Shared state sits at the bottom and imports nothing above it: `state.rs`
//!   (`BreakerState`: what an `Arc` of one breaker holds), `lane.rs` (how
//!   guards reach it), `machine.rs` (`StateMachine`: the lock-free state
//!   machine, admissions and outcomes), `window.rs` (count and time windows),
//!   `settings.rs` (the checked settings), `status.rs` (the public [`State`],
//!   [`Reason`], [`Transition`], [`Snapshot`]), `backoff.rs` and
//!   `telemetry.rs` (every metric and `tracing` event).
//! - Names: builders `<X>Builder` in `builder.rs`, layers `<X>Layer`,
//!   services `<X>Service`, futures `ResponseFuture` in `future.rs`; a
//!   handle's `layer()` is defined beside the layer and its `builder()` beside
//!   the builder, so no module imports one that uses it
//!   (`python3 circles.py crates/palisade-breaker` prints 0).
#![forbid(unsafe_code)]
#![cfg_attr(all(doctest, feature = "http"), doc = include_str!("../README.md"))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
#[cfg(feature = "grpc")]
mod body;
mod breaker;
mod builder;
pub mod future;
mod keyed;
mod lane;
mod layer;
mod machine;
mod permit;
mod service;
mod settings;
mod state;
mod status;
mod telemetry;
mod verdict;
mod window;

pub use backoff::Backoff;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub use body::{GrpcBody, Reporter};
pub use breaker::CircuitBreaker;
pub use builder::CircuitBreakerBuilder;
pub use keyed::{
    KeyedCircuitBreaker, KeyedCircuitBreakerBuilder, KeyedCircuitBreakerLayer,
    KeyedCircuitBreakerService,
};
pub use layer::CircuitBreakerLayer;
pub use permit::Permit;
pub use service::CircuitBreakerService;
pub use status::{Reason, Snapshot, State, Transition};
pub use verdict::{AtEndOfStream, AtResponse};

#[doc(no_inline)]
pub use palisade_core::{Classify, ConfigError, ErrorsAsFailures, Outcome, RejectKind, Rejected};
