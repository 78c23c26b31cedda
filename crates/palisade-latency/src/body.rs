//! [`LatencyBody`]: `palisade-core`'s end-of-body tracker with the request's
//! [`Completion`] as its tracker, so the time to the end of the body is
//! recorded.

use http::HeaderMap;
use palisade_core::body::{OnBodyEnd, TrackedBody};
use tokio::time::Instant;

use crate::completion::Completion;

/// A response body that records its request when it ends.
///
/// The request is recorded when the last frame has been read — the
/// trailers, or a frame after which the body reports its end (or at once,
/// if the body was already complete with its head). The time to head is
/// taken when the body is first polled without ending — servers poll the
/// body right after they get the head — so a body read in one poll costs a
/// single clock read. A body that fails, or is dropped before its end (the
/// client went away), records the request as aborted.
pub type LatencyBody<B> = TrackedBody<B, Completion>;

impl OnBodyEnd for Completion {
    /// Records the request (with the gRPC status of its trailers).
    #[inline]
    #[cfg_attr(not(feature = "grpc"), allow(unused_mut))]
    fn ended(mut self, trailers: Option<&HeaderMap>) {
        #[cfg(feature = "grpc")]
        if let Some(trailers) = trailers {
            self.grpc_trailers(trailers);
        }
        #[cfg(not(feature = "grpc"))]
        let _ = trailers;
        self.finish();
    }

    /// The body goes on: the server has the head now (it polls the body
    /// right after it), so this is the time to head.
    #[inline]
    fn progressed(&mut self) {
        if !self.has_head() {
            self.mark_head(Instant::now());
        }
    }
}
