//! Where the permit goes when the response is ready: [`UntilResponse`]
//! (dropped) or [`UntilBodyEnd`] (into a [`LimitBody`]).

use super::Permit;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    task::{Context, Poll},
};

/// When a request gives its slot back; chosen on the builder.
///
/// Implemented by [`UntilResponse`] for every response type and by
/// [`UntilBodyEnd`] for `http::Response<B>`.
pub trait ReleasePolicy<Res> {
    /// The response the service returns.
    type Response;

    /// Hands the ready response the permit of its request.
    fn hold(response: Res, permit: Permit) -> Self::Response;
}

/// The slot is given back when the response future completes or is dropped
/// (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct UntilResponse;

impl<Res> ReleasePolicy<Res> for UntilResponse {
    type Response = Res;

    #[inline]
    fn hold(response: Res, permit: Permit) -> Res {
        drop(permit);
        response
    }
}

/// The slot is given back when the HTTP response body ends or is dropped
/// ([`hold_until_body_end`](super::ConcurrencyLimitBuilder::hold_until_body_end)).
#[derive(Debug, Clone, Copy, Default)]
pub struct UntilBodyEnd;

impl<B> ReleasePolicy<http::Response<B>> for UntilBodyEnd {
    type Response = http::Response<LimitBody<B>>;

    fn hold(response: http::Response<B>, permit: Permit) -> Self::Response {
        response.map(|inner| LimitBody {
            inner,
            permit: Some(permit),
        })
    }
}

pin_project! {
    /// A response body that holds its request's slot of a
    /// [`ConcurrencyLimit`](super::ConcurrencyLimit) until it ends (its last
    /// frame, an error, or `is_end_stream`) or is dropped.
    #[derive(Debug)]
    pub struct LimitBody<B> {
        #[pin]
        inner: B,
        permit: Option<Permit>,
    }
}

impl<B> LimitBody<B> {
    /// Whether the body still holds its slot.
    pub fn holds_permit(&self) -> bool {
        self.permit.is_some()
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the inner body, giving the slot back.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for LimitBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        let ended = match &frame {
            None | Some(Err(_)) => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
        };
        if ended {
            this.permit.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
