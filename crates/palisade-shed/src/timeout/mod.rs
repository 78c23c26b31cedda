//! Deadline-aware timeouts that pass the remaining budget on.
//!
//! - [`Timeout`] (built with [`Timeout::builder`]) bounds every request by
//!   the earliest of its own timeout, the request's `grpc-timeout` or
//!   configured header, and any deadline already in force; its
//!   [`layer()`](Timeout::layer) goes in a server stack.
//! - [`Deadline::current()`] gives the handler (and every client call it
//!   makes) the request's deadline.
//! - [`PropagateDeadlineLayer`] on an outgoing client writes the remaining
//!   budget as `grpc-timeout` (and a millisecond header if configured), and
//!   fails the call at once when nothing remains.
//!
//! Unlike `tower::timeout`, the deadline is the caller's as well as the
//! server's, it can bound readiness too ([`TimeoutBuilder::include_ready`]),
//! and expiry is the one Palisade error, [`Rejected`](palisade_core::Rejected) with kind
//! [`DeadlineExceeded`](palisade_core::RejectKind::DeadlineExceeded), which
//! `palisade-core` maps to `504` and to gRPC `DEADLINE_EXCEEDED`.
//!
//! # Request types
//!
//! The service is generic over the request type through a
//! [`DeadlineSource`] chosen on the builder: [`HttpHeaders`] (the default)
//! for `http::Request<B>`, [`Ambient`] for any other request type, or your
//! own. The source is a type parameter rather than a runtime switch so a
//! stack of HTTP services reads headers with no dynamic check, and a
//! non-HTTP stack does not need an `http::Request` at all.

mod builder;
mod deadline;
mod future;
pub mod grpc_timeout;
mod layer;
mod service;
mod source;
mod state;
mod telemetry;

pub use builder::TimeoutBuilder;
pub use deadline::{Deadline, DeadlineScope};
pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
pub use service::TimeoutService;
pub use source::{Ambient, DeadlineSource, HttpHeaders};

use crate::propagate::PropagateDeadlineLayer;
use palisade_core::lane::Lanes;
use state::TimeoutSettings;
use std::{sync::Arc, time::Duration};

/// A deadline-aware timeout: build it once, then put
/// [`layer()`](Timeout::layer) in as many stacks as you like.
///
/// Each request's deadline is the earliest of now + [`timeout`], the
/// request's own deadline (read by the source `X`: by default
/// [`HttpHeaders`], i.e. `grpc-timeout` and the configured header), and the
/// deadline of an outer Palisade timeout. A request whose deadline has
/// already passed is rejected without reaching the inner service; one that
/// runs out of time fails with [`Rejected`](palisade_core::Rejected) of kind
/// [`DeadlineExceeded`](palisade_core::RejectKind::DeadlineExceeded) (504 /
/// `DEADLINE_EXCEEDED` through `palisade-core`'s mappings).
///
/// `Timeout` is a cheap handle (an `Arc` inside); clones share the name and
/// the metric handles.
///
/// [`timeout`]: TimeoutBuilder::timeout
#[derive(Debug, Clone)]
pub struct Timeout<X = HttpHeaders> {
    pub(crate) settings: Arc<Lanes<TimeoutSettings>>,
    pub(crate) source: X,
}

impl Timeout<HttpHeaders> {
    /// Starts building the timeout called `name` (the `name` label of its
    /// metrics and the name in its rejections).
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::HeaderName;
    /// use palisade_shed::Timeout;
    ///
    /// let timeout = Timeout::builder("api")
    ///     .timeout(Duration::from_secs(2))
    ///     .honor_grpc_timeout(true)
    ///     .honor_header(HeaderName::from_static("x-request-timeout-ms"))
    ///     .build()?;
    /// assert_eq!(timeout.timeout(), Duration::from_secs(2));
    /// # Ok::<(), palisade_core::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<Arc<str>>) -> TimeoutBuilder<HttpHeaders> {
        TimeoutBuilder::new(name.into())
    }

    /// A [`PropagateDeadlineLayer`] for outgoing calls that writes
    /// `grpc-timeout` and, if configured, the same millisecond header this
    /// timeout honours.
    pub fn propagate_layer(&self) -> PropagateDeadlineLayer {
        match &self.source.header {
            Some(name) => PropagateDeadlineLayer::new().header(name.clone()),
            None => PropagateDeadlineLayer::new(),
        }
    }
}

impl<X: Clone> Timeout<X> {
    /// The layer to put in a stack; every service it makes shares this
    /// timeout's configuration and metrics.
    pub fn layer(&self) -> TimeoutLayer<X> {
        TimeoutLayer {
            settings: Arc::clone(&self.settings),
            source: self.source.clone(),
        }
    }
}

impl<X> Timeout<X> {
    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The most any request may take here.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Whether the deadline also bounds waiting for the inner service's readiness.
    pub fn includes_ready(&self) -> bool {
        self.settings.include_ready
    }

    /// The deadline source.
    pub fn source(&self) -> &X {
        &self.source
    }
}
