//! [`PropagateDeadlineLayer`].

use super::PropagateDeadlineService;
use http::HeaderName;
use tower_layer::Layer;

/// Passes the remaining budget of the current request on to an outgoing
/// HTTP or gRPC call.
///
/// Put it on a client (a hyper-util client, a tonic `Channel`, a
/// `reqwest`-like tower service). For each outgoing request, the deadline is
/// the ambient [`Deadline::current()`](crate::Deadline::current) (set by a [`Timeout`](crate::Timeout)
/// around the handler making the call) or a [`Deadline`](crate::Deadline) put in the outgoing
/// request's extensions, whichever is earlier. Then:
///
/// - if it has passed, the call fails at once with [`Rejected`](palisade_core::Rejected) of kind
///   `DeadlineExceeded` (name `"propagate_deadline"`), without reaching the
///   client;
/// - otherwise the remaining budget is written as `grpc-timeout` (and in the
///   millisecond header set with [`header`](Self::header)); a smaller value
///   already on the request is kept.
///
/// Without a deadline the request passes unchanged. The layer sets no timer
/// of its own: the server-side [`Timeout`](crate::Timeout) bounds the whole
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
    type Service = PropagateDeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateDeadlineService::new(inner, self.header.clone())
    }
}
