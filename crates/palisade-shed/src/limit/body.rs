//! Where the permit goes when the response is ready: [`UntilResponse`]
//! (dropped) or [`UntilBodyEnd`] (into a [`LimitBody`]).

use super::Permit;
use http_body::Body;
use palisade_core::body::{OnBodyEnd, TrackedBody};

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

impl<B: Body> ReleasePolicy<http::Response<B>> for UntilBodyEnd {
    type Response = http::Response<LimitBody<B>>;

    fn hold(response: http::Response<B>, permit: Permit) -> Self::Response {
        response.map(|inner| TrackedBody::new(inner, permit))
    }
}

/// A response body that holds its request's slot of a
/// [`ConcurrencyLimit`](super::ConcurrencyLimit) until it ends (its last
/// frame, an error, or `is_end_stream`) or is dropped: `palisade-core`'s
/// [`TrackedBody`] with the request's [`Permit`] as its tracker.
/// [`is_tracking`](TrackedBody::is_tracking) tells whether it still holds
/// the slot.
pub type LimitBody<B> = TrackedBody<B, Permit>;

impl OnBodyEnd for Permit {
    /// The body ended: the slot is given back.
    #[inline]
    fn ended(self, _trailers: Option<&http::HeaderMap>) {}
}
