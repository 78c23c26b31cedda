use crate::{BoxError, RejectKind, Rejected};
use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tonic::{Code, Status, metadata::MetadataValue};
use tower_layer::Layer;
use tower_service::Service;

impl Rejected {
    /// The gRPC status this rejection answers with.
    ///
    /// `CircuitOpen`, `QueueTimeout` and `Closed` → `UNAVAILABLE`;
    /// `Overloaded` and `BatchFull` → `RESOURCE_EXHAUSTED`;
    /// `DeadlineExceeded` → `DEADLINE_EXCEEDED`. The message is the
    /// rejection's `Display`; a retry-after is sent as
    /// `grpc-retry-pushback-ms` metadata, which gRPC retry policies honour.
    ///
    /// ```
    /// use std::time::Duration;
    /// use palisade_core::{RejectKind, Rejected};
    ///
    /// let status = Rejected::new(RejectKind::Overloaded, "api")
    ///     .with_retry_after(Duration::from_millis(1500))
    ///     .to_status();
    /// assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    /// assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "1500");
    /// ```
    pub fn to_status(&self) -> Status {
        let code = match self.kind() {
            RejectKind::DeadlineExceeded => Code::DeadlineExceeded,
            RejectKind::Overloaded | RejectKind::BatchFull => Code::ResourceExhausted,
            _ => Code::Unavailable,
        };
        let mut status = Status::new(code, self.to_string());
        if let Some(after) = self.retry_after() {
            let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", MetadataValue::from(ms));
        }
        status
    }
}

impl From<Rejected> for Status {
    fn from(rejected: Rejected) -> Self {
        rejected.to_status()
    }
}

/// Converts a [`Rejected`] error into a [`tonic::Status`] error so tonic's
/// server answers with the matching gRPC code; other errors pass unchanged.
///
/// Put it outside the Palisade layers of a tonic server:
///
/// ```no_run
/// use palisade_core::grpc::StatusLayer;
/// use tower::ServiceBuilder;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (_reporter, health) = tonic_health::server::health_reporter();
/// tonic::transport::Server::builder()
///     .layer(ServiceBuilder::new().layer(StatusLayer::new()) /* .layer(breaker.layer()) */)
///     .add_service(health)
///     .serve("127.0.0.1:50051".parse()?)
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusLayer {
    _priv: (),
}

impl StatusLayer {
    /// A new `StatusLayer`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for StatusLayer {
    type Service = StatusService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StatusService { inner }
    }
}

/// The service made by [`StatusLayer`].
#[derive(Debug, Clone)]
pub struct StatusService<S> {
    inner: S,
}

impl<S> StatusService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
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

impl<S, Req> Service<Req> for StatusService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = StatusFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| to_status_error(e.into()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        StatusFuture {
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The response future of [`StatusService`].
    #[derive(Debug)]
    pub struct StatusFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, T, E> Future for StatusFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(self.project().inner.poll(cx));
        Poll::Ready(result.map_err(|e| to_status_error(e.into())))
    }
}

fn to_status_error(err: BoxError) -> BoxError {
    match Rejected::find(&*err) {
        Some(rejected) => Box::new(rejected.to_status()),
        None => err,
    }
}
