//! [`TrackRequest`] and [`TrackResponse`]: what the layer needs from
//! requests (a method and a route) and from responses (a status, and a way
//! to follow them to their end).

use crate::{
    completion::Completion,
    route::{RequestHead, RouteFrom, RouteName},
};

/// A request the layer can label: its method and its route.
///
/// Implemented for `http::Request<B>` (which reads the route from
/// [`RouteFrom`]); implement it for other request types to track them.
pub trait TrackRequest {
    /// The method label (`GET`, ...); anything outside the standard HTTP
    /// methods is recorded as `_OTHER`.
    fn method(&self) -> &str;

    /// The route template of this request, or `None` for `unmatched`.
    fn route<'a>(&'a self, from: &RouteFrom) -> Option<&'a str>;

    /// The route and who named it; the tracker calls this one. By default
    /// [`route`](Self::route)'s value, as a [`RouteName::Known`] route.
    #[inline]
    fn route_name<'a>(&'a self, from: &RouteFrom) -> Option<RouteName<'a>> {
        self.route(from).map(RouteName::Known)
    }
}

impl<B> TrackRequest for http::Request<B> {
    #[inline]
    fn method(&self) -> &str {
        http::Request::method(self).as_str()
    }

    #[inline]
    fn route<'a>(&'a self, from: &RouteFrom) -> Option<&'a str> {
        from.route_of(&RequestHead::of(self))
    }

    #[inline]
    fn route_name<'a>(&'a self, from: &RouteFrom) -> Option<RouteName<'a>> {
        from.route_name(&RequestHead::of(self))
    }
}

/// A response the layer can classify and follow to its end.
///
/// Implemented for `http::Response<B>`, whose body is wrapped in a
/// [`LatencyBody`](crate::LatencyBody) so the time to the end of the body is
/// recorded. For a response without a body, return it unchanged and call
/// [`Completion::finish`] at once.
pub trait TrackResponse: Sized {
    /// What the tracked service returns instead.
    type Tracked;

    /// The status code (its first digit is the class).
    fn status_code(&self) -> u16;

    /// Attaches `done` to the response; it records the request when it is
    /// finished, or as aborted when it is dropped unfinished.
    fn track(self, done: Completion) -> Self::Tracked;
}

impl<B: http_body::Body> TrackResponse for http::Response<B> {
    type Tracked = http::Response<crate::body::LatencyBody<B>>;

    #[inline]
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }

    #[inline]
    fn track(self, mut done: Completion) -> Self::Tracked {
        done.check_claim(self.headers());
        #[cfg(feature = "grpc")]
        done.grpc_head(&self);
        self.map(|body| crate::body::LatencyBody::new(body, done))
    }
}
