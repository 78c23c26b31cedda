//! [`LatencyService`]: the service that records every request.

use std::task::{Context, Poll};

use tower_service::Service;

use crate::{
    LatencyTracker,
    completion::Completion,
    future::ResponseFuture,
    method::method_index,
    route::RouteName,
    route_table::UNMATCHED_IDX,
    traits::{TrackRequest, TrackResponse},
};

/// Records the latency of every request to the inner service; made by
/// [`LatencyLayer`](crate::LatencyLayer).
///
/// Errors of the inner service pass through unchanged (the tracker never
/// refuses a request), so an `Infallible` service stays `Infallible`.
#[derive(Debug, Clone)]
pub struct LatencyService<S> {
    inner: S,
    tracker: LatencyTracker,
}

impl<S> LatencyService<S> {
    /// Wraps `inner`, recording into `tracker`.
    pub fn new(inner: S, tracker: &LatencyTracker) -> Self {
        Self {
            inner,
            tracker: tracker.clone(),
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

    /// Consumes this service, returning the inner one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The tracker this service records into.
    pub fn tracker(&self) -> &LatencyTracker {
        &self.tracker
    }
}

impl<S, Req> Service<Req> for LatencyService<S>
where
    S: Service<Req>,
    S::Response: TrackResponse,
    Req: TrackRequest,
{
    type Response = <S::Response as TrackResponse>::Tracked;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let shared = &self.tracker.shared;
        let (route, claimed) = match req.route_name(&shared.route_from) {
            None => (UNMATCHED_IDX, None),
            Some(RouteName::Known(route)) => (shared.routes.resolve(Some(route)), None),
            Some(RouteName::Claimed(route)) => shared.routes.claim(route),
        };
        let method = method_index(req.method());
        let done = Completion::start(self.tracker.handle(), route, claimed, method);
        ResponseFuture::new(self.inner.call(req), done)
    }
}
