//! [`HealthService`]: the JSON health endpoints.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use tower_service::Service;

use crate::state::{Group, State};

use super::future::ResponseFuture;

/// A health endpoint: answers any request with the cached JSON of a group
/// of components, `200 OK` when the group passes (`UP` or `DEGRADED`) and
/// `503 Service Unavailable` otherwise. Made by [`Health::service`],
/// [`Health::readiness_service`] and [`Health::liveness_service`].
///
/// It never runs a check: the body was rendered when the last check
/// finished, so answering costs an atomic load and a reference count.
///
/// [`Health::service`]: super::Health::service
/// [`Health::readiness_service`]: super::Health::readiness_service
/// [`Health::liveness_service`]: super::Health::liveness_service
#[derive(Debug, Clone)]
pub struct HealthService {
    state: Arc<State>,
    group: Group,
}

impl HealthService {
    pub(super) fn new(state: Arc<State>, group: Group) -> Self {
        Self { state, group }
    }
}

pub(super) fn json_response(body: Bytes, status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl<B> Service<Request<B>> for HealthService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> ResponseFuture {
        let docs = self.state.docs();
        let (body, status) = docs.group(self.group);
        let code = if status.is_passing() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        ResponseFuture::new(json_response(body.clone(), code))
    }
}
