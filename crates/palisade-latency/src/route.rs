//! Where a request's route label comes from.
//!
//! A route is a template (`/users/{id}`), a gRPC method, or whatever a
//! [`RouteFn`] returns — never the raw path. Requests without a route are
//! recorded as [`UNMATCHED`]; once `max_routes` distinct routes are known,
//! every new one is folded into [`OTHER`] (by the route table,
//! `route_table.rs`).

use std::{fmt, sync::Arc};

use http::{Extensions, HeaderMap, Method, Uri};

/// The route label of requests that had no route (no `MatchedPath`, the
/// extractor returned `None`).
pub const UNMATCHED: &str = "unmatched";
/// The route label of every route beyond `max_routes`.
pub const OTHER: &str = "other";

/// The parts of an HTTP request a [`RouteFn`] may look at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request extensions (where routers leave their match).
    pub extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `req`.
    pub fn of<B>(req: &'a http::Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }
}

type DynRouteFn = dyn for<'a> Fn(&RequestHead<'a>) -> Option<&'a str> + Send + Sync;

/// A user function that names a request's route, for [`RouteFrom::Fn`].
///
/// It returns a template or a fixed name, borrowed from the request or
/// `'static`; `None` records the request as [`UNMATCHED`]. Return a bounded
/// set of values: the raw path would make one route per URL (beyond
/// `max_routes` they all fold into [`OTHER`]).
///
/// ```
/// use palisade_latency::{RouteFn, RouteFrom};
///
/// let route = RouteFrom::Fn(RouteFn::new(|head| {
///     let path = head.uri.path();
///     if path.starts_with("/static/") { Some("/static/*") } else { None }
/// }));
/// # let _ = route;
/// ```
#[derive(Clone)]
pub struct RouteFn(Arc<DynRouteFn>);

impl RouteFn {
    /// Wraps `f`.
    pub fn new<F>(f: F) -> Self
    where
        F: for<'a> Fn(&RequestHead<'a>) -> Option<&'a str> + Send + Sync + 'static,
    {
        Self(Arc::new(f))
    }

    /// Calls the function.
    #[inline]
    pub fn call<'a>(&self, head: &RequestHead<'a>) -> Option<&'a str> {
        (self.0)(head)
    }
}

impl fmt::Debug for RouteFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RouteFn(..)")
    }
}

/// Where the route label of a request comes from.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum RouteFrom {
    /// The default: axum's `MatchedPath` when the request has one (feature
    /// `axum`; apply the layer with `Router::layer`); else, with the `grpc`
    /// feature, the gRPC method of a gRPC request (`content-type:
    /// application/grpc*`), as [`GrpcMethod`](Self::GrpcMethod) takes it;
    /// else [`UNMATCHED`].
    #[default]
    Auto,
    /// Every request is [`UNMATCHED`] (one row per method and class).
    None,
    /// axum's `MatchedPath` (`/users/{id}`). Apply the layer with
    /// `Router::layer` (it then runs after routing); requests that matched no
    /// route (the fallback) are [`UNMATCHED`].
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    AxumMatchedPath,
    /// The gRPC method: the request path, `/package.Service/Method`.
    ///
    /// The client chooses that path, so it is a [`RouteName::Claimed`]: a
    /// method gets a row of its own only once the server has answered it with
    /// something other than `UNIMPLEMENTED` (`grpc-status: 12` in the
    /// response head) or HTTP 404. Until then — and always for paths the
    /// server does not serve — its requests are recorded as [`UNMATCHED`], so
    /// junk paths never use up `max_routes`.
    GrpcMethod,
    /// A user function (a [`RouteName::Known`] route).
    Fn(RouteFn),
}

/// A route found for a request, and whether the server or the client named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteName<'a> {
    /// A name the server defines (an axum template, a [`RouteFn`]'s value):
    /// it gets a row of its own at once (while there is room).
    Known(&'a str),
    /// A name the client chose (the gRPC method is the request path): it gets
    /// a row of its own only when a response shows the server serves it (not
    /// HTTP 404, not gRPC `UNIMPLEMENTED` in the response head); until then
    /// the request is recorded as [`UNMATCHED`].
    Claimed(&'a str),
}

impl<'a> RouteName<'a> {
    /// The route label.
    pub fn as_str(self) -> &'a str {
        match self {
            RouteName::Known(s) | RouteName::Claimed(s) => s,
        }
    }
}

/// `/pkg.Service/Method`: exactly two non-empty segments.
fn grpc_method(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (svc, method) = rest.split_once('/')?;
    (!svc.is_empty() && !method.is_empty() && !method.contains('/')).then_some(path)
}

impl RouteFrom {
    /// The route of an HTTP request, if this source finds one (whether the
    /// server or the client named it: see [`route_name`](Self::route_name)).
    pub fn route_of<'a>(&self, head: &RequestHead<'a>) -> Option<&'a str> {
        self.route_name(head).map(RouteName::as_str)
    }

    /// The route of an HTTP request and who named it, if this source finds one.
    #[inline]
    pub fn route_name<'a>(&self, head: &RequestHead<'a>) -> Option<RouteName<'a>> {
        match self {
            RouteFrom::Auto => {
                #[cfg(feature = "axum")]
                if let Some(path) = head.extensions.get::<axum::extract::MatchedPath>() {
                    return Some(RouteName::Known(path.as_str()));
                }
                #[cfg(feature = "grpc")]
                if crate::grpc::is_grpc(head.headers) {
                    return grpc_method(head.uri.path()).map(RouteName::Claimed);
                }
                None
            }
            RouteFrom::None => None,
            #[cfg(feature = "axum")]
            RouteFrom::AxumMatchedPath => head
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map(|p| RouteName::Known(p.as_str())),
            RouteFrom::GrpcMethod => grpc_method(head.uri.path()).map(RouteName::Claimed),
            RouteFrom::Fn(f) => f.call(head).map(RouteName::Known),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_method_route() {
        let from = RouteFrom::GrpcMethod;
        let req = |p: &str| http::Request::builder().uri(p).body(()).unwrap();
        let r = req("/helloworld.Greeter/SayHello");
        assert_eq!(
            from.route_of(&RequestHead::of(&r)),
            Some("/helloworld.Greeter/SayHello")
        );
        for bad in ["/", "/x", "/a/b/c", "//b"] {
            let r = req(bad);
            assert_eq!(from.route_of(&RequestHead::of(&r)), None, "{bad}");
        }
    }
}
