//! [`TimeoutService`].

use super::{
    Deadline, DeadlineSource, HttpHeaders, future::ResponseFuture, state::TimeoutSettings,
    telemetry::Expiry,
};
use palisade_core::BoxError;
use palisade_core::lane::Lanes;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

/// The service made by [`TimeoutLayer`](super::TimeoutLayer).
///
/// Every request gets a response, an error of the inner service, or a
/// [`Rejected`](palisade_core::Rejected) of kind `DeadlineExceeded`.
pub struct TimeoutService<S, X = HttpHeaders> {
    inner: S,
    settings: Arc<Lanes<TimeoutSettings>>,
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
    pub(crate) fn new(inner: S, settings: Arc<Lanes<TimeoutSettings>>, source: X) -> Self {
        Self {
            inner,
            settings,
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
            Arc::clone(&self.settings),
            self.source.clone(),
        )
    }
}

impl<S: fmt::Debug, X: fmt::Debug> fmt::Debug for TimeoutService<S, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutService")
            .field("inner", &self.inner)
            .field("name", &self.settings.name)
            .field("timeout", &self.settings.timeout)
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
            let mut until = now + self.settings.timeout;
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
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.settings.include_ready {
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
            return ResponseFuture::rejected(self.settings.expired(Expiry::WaitingReady));
        }
        let mut deadline = started.unwrap_or(now) + self.settings.timeout;
        if let Some(outer) = Deadline::current() {
            deadline = deadline.min(outer.instant());
        }
        if let Some(asked) = self.source.requested(&req, now) {
            deadline = deadline.min(asked);
        }
        if deadline <= now {
            return ResponseFuture::rejected(self.settings.expired(Expiry::OnArrival));
        }
        let deadline = Deadline::at(deadline);
        self.source.attach(&mut req, deadline);
        ResponseFuture::running(
            deadline.scope(self.inner.call(req)),
            self.settings.current().clone(),
        )
    }
}
