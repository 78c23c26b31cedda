//! [`PropagateDeadlineLayer`]: passes the remaining budget on to the next hop.

use super::{Deadline, grpc_timeout};
use http::{HeaderName, Request};
use palisade_core::{BoxError, RejectKind, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// The name in the rejections of [`PropagateDeadline`].
const NAME: &str = "propagate_deadline";

/// Passes the remaining budget of the current request on to an outgoing
/// HTTP or gRPC call.
///
/// Put it on a client (a hyper-util client, a tonic `Channel`, a
/// `reqwest`-like tower service). For each outgoing request, the deadline is
/// the ambient [`Deadline::current()`] (set by a [`Timeout`](super::Timeout)
/// around the handler making the call) or a [`Deadline`] put in the outgoing
/// request's extensions, whichever is earlier. Then:
///
/// - if it has passed, the call fails at once with [`Rejected`] of kind
///   `DeadlineExceeded` (name `"propagate_deadline"`), without reaching the
///   client;
/// - otherwise the remaining budget is written as `grpc-timeout` (and in the
///   millisecond header set with [`header`](Self::header)); a smaller value
///   already on the request is kept.
///
/// Without a deadline the request passes unchanged. The layer sets no timer
/// of its own: the server-side [`Timeout`](super::Timeout) bounds the whole
/// handler, client call included.
///
/// ```
/// use std::{convert::Infallible, time::Duration};
/// use http::{Request, Response};
/// use palisade_shed::{Deadline, PropagateDeadlineLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // A "client" that reports the grpc-timeout it was sent.
/// let client = ServiceBuilder::new()
///     .layer(PropagateDeadlineLayer::new())
///     .service(service_fn(|req: Request<()>| async move {
///         let sent = req.headers()["grpc-timeout"].to_str().unwrap().to_owned();
///         Ok::<_, Infallible>(Response::new(sent))
///     }));
///
/// let sent = Deadline::after(Duration::from_millis(250))
///     .scope(client.oneshot(Request::new(())))
///     .await
///     .unwrap();
/// assert_eq!(sent.into_body(), "250000u");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct PropagateDeadlineLayer {
    header: Option<HeaderName>,
}

impl PropagateDeadlineLayer {
    /// Writes `grpc-timeout`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also writes the remaining budget in whole milliseconds (rounded up)
    /// to `name`, e.g. `x-request-timeout-ms`.
    #[must_use]
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// The millisecond header written, if any.
    pub fn header_name(&self) -> Option<&HeaderName> {
        self.header.as_ref()
    }
}

impl<S> Layer<S> for PropagateDeadlineLayer {
    type Service = PropagateDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateDeadline {
            inner,
            header: self.header.clone(),
            expired: false,
        }
    }
}

/// The service made by [`PropagateDeadlineLayer`].
#[derive(Debug)]
pub struct PropagateDeadline<S> {
    inner: S,
    header: Option<HeaderName>,
    /// The deadline passed while the inner service was not ready.
    expired: bool,
}

impl<S: Clone> Clone for PropagateDeadline<S> {
    /// A clone never copies a reservation.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            header: self.header.clone(),
            expired: false,
        }
    }
}

impl<S> PropagateDeadline<S> {
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

impl<S, B> Service<Request<B>> for PropagateDeadline<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = PropagateFuture<S::Future>;

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
            return PropagateFuture::rejected(rejected());
        }
        let deadline = match (Deadline::current(), req.extensions().get::<Deadline>()) {
            (Some(a), Some(&b)) => Some(a.min(b)),
            (a, b) => a.or(b.copied()),
        };
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if deadline.instant() <= now {
                return PropagateFuture::rejected(rejected());
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
        PropagateFuture::called(self.inner.call(req))
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

pin_project! {
    /// The response future of [`PropagateDeadline`].
    pub struct PropagateFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called {
            #[pin]
            inner: F,
        },
        Rejected {
            error: Option<Rejected>,
        },
    }
}

impl<F> PropagateFuture<F> {
    fn called(inner: F) -> Self {
        Self {
            state: State::Called { inner },
        }
    }

    fn rejected(error: Rejected) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for PropagateFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { inner } => inner.poll(cx).map_err(Into::into),
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("PropagateFuture polled after completion")
                .into())),
        }
    }
}

impl<F> fmt::Debug for PropagateFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropagateFuture").finish_non_exhaustive()
    }
}
