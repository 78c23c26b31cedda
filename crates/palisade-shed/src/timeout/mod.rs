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

mod config;
mod deadline;
mod future;
pub mod grpc_timeout;
mod layer;
mod propagate;
mod source;
mod telemetry;

pub use config::{Timeout, TimeoutBuilder};
pub use deadline::{Deadline, DeadlineScope};
pub use future::TimeoutFuture;
pub use layer::TimeoutLayer;
pub use propagate::{PropagateDeadline, PropagateDeadlineLayer, PropagateFuture};
pub use source::{Ambient, DeadlineSource, HttpHeaders};

use config::Core;
use palisade_core::BoxError;
use palisade_core::lane::Lanes;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use telemetry::Expiry;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// The service made by [`TimeoutLayer`].
///
/// Every request gets a response, an error of the inner service, or a
/// [`Rejected`](palisade_core::Rejected) of kind `DeadlineExceeded`.
pub struct TimeoutService<S, X = HttpHeaders> {
    inner: S,
    core: Arc<Lanes<Core>>,
    source: X,
    ready: ReadyWait,
}

/// The state of one readiness reservation (only used with `include_ready`).
/// Never copied by `Clone`.
#[derive(Default)]
struct ReadyWait {
    /// When the wait for readiness began (the first `Pending`).
    started: Option<Instant>,
    /// The timer bounding the wait; kept across reservations and reset.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline passed before the inner service became ready.
    expired: bool,
}

impl<S, X> TimeoutService<S, X> {
    pub(crate) fn new(inner: S, core: Arc<Lanes<Core>>, source: X) -> Self {
        Self {
            inner,
            core,
            source,
            ready: ReadyWait::default(),
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, X: Clone> Clone for TimeoutService<S, X> {
    /// A clone never copies a readiness reservation.
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            Arc::clone(&self.core),
            self.source.clone(),
        )
    }
}

impl<S: fmt::Debug, X: fmt::Debug> fmt::Debug for TimeoutService<S, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutService")
            .field("inner", &self.inner)
            .field("name", &self.core.name)
            .field("timeout", &self.core.timeout)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<S, X> TimeoutService<S, X> {
    /// With `include_ready`: the inner service is not ready yet; start or
    /// check the readiness timer. Returns `true` once the deadline passed.
    fn wait_ready_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let ready = &mut self.ready;
        if ready.started.is_none() {
            let now = Instant::now();
            ready.started = Some(now);
            let mut until = now + self.core.timeout;
            if let Some(outer) = Deadline::current() {
                until = until.min(outer.instant());
            }
            match &mut ready.sleep {
                Some(sleep) => sleep.as_mut().reset(until),
                None => ready.sleep = Some(Box::pin(tokio::time::sleep_until(until))),
            }
        }
        let expired = ready
            .sleep
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
        ready.expired = expired;
        expired
    }
}

impl<S, X, Req> Service<Req> for TimeoutService<S, X>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    X: DeadlineSource<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.core.include_ready {
            return self.inner.poll_ready(cx).map_err(Into::into);
        }
        if self.ready.expired {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(result) => Poll::Ready(result.map_err(Into::into)),
            // Ready to answer: `call` rejects without calling the inner service.
            Poll::Pending if self.wait_ready_expired(cx) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    #[inline]
    fn call(&mut self, mut req: Req) -> Self::Future {
        let now = Instant::now();
        let started = self.ready.started.take();
        if std::mem::take(&mut self.ready.expired) {
            return TimeoutFuture::rejected(self.core.expired(Expiry::WaitingReady));
        }
        let mut deadline = started.unwrap_or(now) + self.core.timeout;
        if let Some(outer) = Deadline::current() {
            deadline = deadline.min(outer.instant());
        }
        if let Some(asked) = self.source.requested(&req, now) {
            deadline = deadline.min(asked);
        }
        if deadline <= now {
            return TimeoutFuture::rejected(self.core.expired(Expiry::OnArrival));
        }
        let deadline = Deadline::at(deadline);
        self.source.attach(&mut req, deadline);
        TimeoutFuture::running(
            deadline.scope(self.inner.call(req)),
            self.core.current().clone(),
        )
    }
}
