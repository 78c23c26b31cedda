use super::ResponseBody;
use crate::{BoxError, RejectKind, Rejected};
use http::{HeaderValue, Request, Response, StatusCode, header};
use pin_project_lite::pin_project;
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tower_layer::Layer;
use tower_service::Service;

/// Turns a fallible HTTP service into an infallible one.
///
/// A [`Rejected`] error becomes its [status](Rejected::http_status) with a
/// short plain-text body (`"service unavailable: circuit open"`) and, when
/// the rejection knows one, `Retry-After` in whole seconds rounded up. Any
/// other error becomes a `500 Internal Server Error` whose body says nothing
/// about the error; the error itself is logged with `tracing` at error level.
///
/// This is what lets a fallible Palisade stack sit directly in an axum
/// `Router` without `HandleErrorLayer`.
///
/// ```
/// use std::{convert::Infallible, time::Duration};
/// use axum::{body::Body, Router};
/// use http::{Request, Response, StatusCode};
/// use palisade_core::{http::ErrorResponseLayer, BoxError, RejectKind, Rejected};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let refusing = service_fn(|_req: Request<Body>| async {
///     let err: BoxError = Rejected::new(RejectKind::CircuitOpen, "payments")
///         .with_retry_after(Duration::from_millis(2500))
///         .into();
///     Err::<Response<Body>, _>(err)
/// });
/// let svc = ServiceBuilder::new().layer(ErrorResponseLayer::new()).service(refusing);
/// let app: Router = Router::new().route_service("/pay", svc);
///
/// let res = app.oneshot(Request::get("/pay").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(res.headers()["retry-after"], "3");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ErrorResponseLayer {
    overrides: Overrides,
}

impl ErrorResponseLayer {
    /// The default mapping (see [`Rejected::http_status`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers rejections of `kind` with `status` instead of the default
    /// (e.g. `Overloaded` → `429` in front of a per-client limit).
    #[must_use]
    pub fn status_for(mut self, kind: RejectKind, status: StatusCode) -> Self {
        let mut all: Vec<_> = self.overrides.as_deref().unwrap_or_default().to_vec();
        all.retain(|(k, _)| *k != kind);
        all.push((kind, status));
        self.overrides = Some(all.into());
        self
    }
}

impl<S> Layer<S> for ErrorResponseLayer {
    type Service = ErrorResponseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponseService {
            inner,
            overrides: self.overrides.clone(),
            ready_error: None,
        }
    }
}

/// The service made by [`ErrorResponseLayer`].
#[derive(Debug)]
pub struct ErrorResponseService<S> {
    inner: S,
    overrides: Overrides,
    /// An error from the inner service's `poll_ready`, answered by the next `call`.
    ready_error: Option<BoxError>,
}

impl<S: Clone> Clone for ErrorResponseService<S> {
    fn clone(&self) -> Self {
        // A clone never inherits the readiness error of the original.
        Self {
            inner: self.inner.clone(),
            overrides: self.overrides.clone(),
            ready_error: None,
        }
    }
}

impl<S> ErrorResponseService<S> {
    /// Wraps `inner` with the default mapping.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            overrides: None,
            ready_error: None,
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for ErrorResponseService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = Infallible;
    type Future = ErrorResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.ready_error.is_some() {
            return Poll::Ready(Ok(()));
        }
        if let Err(err) = ready!(self.inner.poll_ready(cx)) {
            // The inner service cannot take a request; the next call is
            // answered with this error's response instead.
            self.ready_error = Some(err.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let kind = match self.ready_error.take() {
            Some(error) => Kind::Failed {
                error: Some(error),
                overrides: self.overrides.clone(),
            },
            None => Kind::Inner {
                fut: self.inner.call(req),
                overrides: self.overrides.clone(),
            },
        };
        ErrorResponseFuture { kind }
    }
}

type Overrides = Option<Arc<[(RejectKind, StatusCode)]>>;

pin_project! {
    /// The response future of [`ErrorResponseService`].
    #[derive(Debug)]
    pub struct ErrorResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] fut: F, overrides: Overrides },
        Failed { error: Option<BoxError>, overrides: Overrides },
    }
}

impl<F, B, E> Future for ErrorResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let res = match self.project().kind.project() {
            KindProj::Inner { fut, overrides } => match ready!(fut.poll(cx)) {
                Ok(res) => res.map(ResponseBody::inner),
                Err(err) => error_response(&err.into(), overrides.as_deref()),
            },
            KindProj::Failed { error, overrides } => {
                let error = error
                    .take()
                    .unwrap_or_else(|| "response future polled after completion".into());
                error_response(&error, overrides.as_deref())
            }
        };
        Poll::Ready(Ok(res))
    }
}

fn error_response<B>(
    err: &BoxError,
    overrides: Option<&[(RejectKind, StatusCode)]>,
) -> Response<ResponseBody<B>> {
    let Some(rejected) = Rejected::find(&**err) else {
        tracing::error!(error = %err, "service failed; answering 500");
        return internal_error_response(ResponseBody::error);
    };
    rejection_response(rejected, overrides, ResponseBody::error)
}

/// The `500` answered for an error that is not a rejection: a body that says
/// nothing of the error.
pub(crate) fn internal_error_response<B>(body: impl FnOnce(&'static str) -> B) -> Response<B> {
    let mut res = Response::new(body("internal server error"));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    set_plain_text(&mut res);
    res
}

/// The response for a rejection: its status (or an override), a short
/// plain-text body, and `Retry-After` when the rejection has one.
pub(crate) fn rejection_response<B>(
    rejected: &Rejected,
    overrides: Option<&[(RejectKind, StatusCode)]>,
    body: impl FnOnce(&'static str) -> B,
) -> Response<B> {
    let status = overrides
        .unwrap_or_default()
        .iter()
        .find(|(k, _)| *k == rejected.kind())
        .map_or_else(|| rejected.http_status(), |(_, s)| *s);
    tracing::debug!(rejection = %rejected, status = status.as_u16(), "request rejected");
    let mut res = Response::new(body(body_text(status, rejected.kind())));
    *res.status_mut() = status;
    set_plain_text(&mut res);
    if let Some(secs) = rejected.retry_after_secs() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(quota) = rejected.rate_limit_quota() {
        insert_rate_limit_fields(res.headers_mut(), rejected.name(), quota);
    }
    res
}

/// The IETF `RateLimit-Policy` and `RateLimit` fields
/// (draft-ietf-httpapi-ratelimit-headers-08 and later):
/// `RateLimit-Policy: "name";q=10;w=1` and `RateLimit: "name";r=0;t=1`.
fn insert_rate_limit_fields(
    headers: &mut http::HeaderMap,
    name: &str,
    quota: &crate::RateLimitQuota,
) {
    // The policy name is a structured-field string: printable ASCII with
    // `"` and `\` escaped; anything else is replaced so the field stays valid.
    let mut policy = String::with_capacity(name.len() + 2);
    policy.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                policy.push('\\');
                policy.push(c);
            }
            ' '..='~' => policy.push(c),
            _ => policy.push('_'),
        }
    }
    policy.push('"');
    let window = secs_rounded_up(quota.window()).max(1);
    let reset = secs_rounded_up(quota.reset());
    let policy_field = format!("{policy};q={};w={window}", quota.limit());
    let state_field = format!("{policy};r={};t={reset}", quota.remaining());
    if let (Ok(p), Ok(s)) = (
        HeaderValue::try_from(policy_field),
        HeaderValue::try_from(state_field),
    ) {
        headers.insert(http::HeaderName::from_static("ratelimit-policy"), p);
        headers.insert(http::HeaderName::from_static("ratelimit"), s);
    }
}

fn secs_rounded_up(d: std::time::Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

fn set_plain_text<B>(res: &mut Response<B>) {
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
}

fn body_text(status: StatusCode, kind: RejectKind) -> &'static str {
    match (status, kind) {
        (StatusCode::GATEWAY_TIMEOUT, _) => "gateway timeout: deadline exceeded",
        (StatusCode::TOO_MANY_REQUESTS, _) => "too many requests",
        (_, RejectKind::CircuitOpen) => "service unavailable: circuit open",
        (_, RejectKind::Overloaded) => "service unavailable: overloaded",
        (_, RejectKind::QueueTimeout) => "service unavailable: queue timeout",
        (_, RejectKind::BatchFull) => "service unavailable: batch queue full",
        (_, RejectKind::DeadlineExceeded) => "deadline exceeded",
        _ => "service unavailable",
    }
}
