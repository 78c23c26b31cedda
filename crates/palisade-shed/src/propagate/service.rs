//! [`PropagateDeadlineService`].

use super::future::ResponseFuture;
use crate::timeout::{Deadline, grpc_timeout};
use http::{HeaderName, Request};
use palisade_core::{BoxError, RejectKind, Rejected};
use std::{
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;
use tower_service::Service;

/// The name in the rejections of [`PropagateDeadlineService`].
const NAME: &str = "propagate_deadline";

/// The service made by [`PropagateDeadlineLayer`](super::PropagateDeadlineLayer).
#[derive(Debug)]
pub struct PropagateDeadlineService<S> {
    inner: S,
    header: Option<HeaderName>,
    /// The deadline passed while the inner service was not ready.
    expired: bool,
}

impl<S: Clone> Clone for PropagateDeadlineService<S> {
    /// A clone never copies a reservation.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            header: self.header.clone(),
            expired: false,
        }
    }
}

impl<S> PropagateDeadlineService<S> {
    pub(crate) fn new(inner: S, header: Option<HeaderName>) -> Self {
        Self {
            inner,
            header,
            expired: false,
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

fn rejected() -> Rejected {
    super::telemetry::propagation_expired();
    Rejected::new(RejectKind::DeadlineExceeded, NAME)
}

impl<S, B> Service<Request<B>> for PropagateDeadlineService<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.expired {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(result) => Poll::Ready(result.map_err(Into::into)),
            Poll::Pending => {
                // Never wait on the client past the deadline: `call` rejects.
                if Deadline::current().is_some_and(Deadline::is_expired) {
                    self.expired = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if std::mem::take(&mut self.expired) {
            return ResponseFuture::rejected(rejected());
        }
        let deadline = match (Deadline::current(), req.extensions().get::<Deadline>()) {
            (Some(a), Some(&b)) => Some(a.min(b)),
            (a, b) => a.or(b.copied()),
        };
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if deadline.instant() <= now {
                return ResponseFuture::rejected(rejected());
            }
            let budget = deadline.instant() - now;
            write_budget(&mut req, budget);
            if let Some(name) = &self.header {
                let kept = req
                    .headers()
                    .get(name)
                    .and_then(|v| grpc_timeout::parse_millis(v.as_bytes()))
                    .is_some_and(|existing| existing <= budget);
                if !kept {
                    req.headers_mut()
                        .insert(name.clone(), grpc_timeout::encode_millis(budget));
                }
            }
        }
        ResponseFuture::called(self.inner.call(req))
    }
}

/// Writes `budget` as `grpc-timeout` unless a smaller one is already there.
fn write_budget<B>(req: &mut Request<B>, budget: Duration) {
    let kept = req
        .headers()
        .get(grpc_timeout::GRPC_TIMEOUT)
        .and_then(|v| grpc_timeout::parse(v.as_bytes()))
        .is_some_and(|existing| existing <= budget);
    if !kept {
        req.headers_mut()
            .insert(grpc_timeout::GRPC_TIMEOUT, grpc_timeout::encode(budget));
    }
}
