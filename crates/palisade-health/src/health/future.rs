//! The response future of [`HealthService`](super::HealthService) and
//! [`StatusPage`](super::StatusPage).

use std::{
    convert::Infallible,
    future::{Future, Ready},
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// The response of a health endpoint or the status page: always ready
    /// (the answer is cached, nothing is awaited).
    #[derive(Debug)]
    pub struct ResponseFuture {
        #[pin]
        inner: Ready<Result<Response<Full<Bytes>>, Infallible>>,
    }
}

impl ResponseFuture {
    pub(super) fn new(response: Response<Full<Bytes>>) -> Self {
        Self {
            inner: std::future::ready(Ok(response)),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
