//! Where a request's route label comes from, and the bounded table of routes.
//!
//! A route is a template (`/users/{id}`), a gRPC method, or whatever a
//! [`RouteFn`] returns — never the raw path. Requests without a route are
//! recorded as [`UNMATCHED`]; once `max_routes` distinct routes are known,
//! every new one is folded into [`OTHER`].

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use arc_swap::ArcSwap;
use http::{Extensions, HeaderMap, Method, Uri};

use crate::{export::RouteMetrics, histogram::Slot, slow::RateLimit};

/// The route label of requests that had no route (no `MatchedPath`, the
/// extractor returned `None`).
pub const UNMATCHED: &str = "unmatched";
/// The route label of every route beyond `max_routes`.
pub const OTHER: &str = "other";

/// The method label of methods outside the standard set (OTel convention).
pub const OTHER_METHOD: &str = "_OTHER";

pub(crate) const METHODS: [&str; 10] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    OTHER_METHOD,
];

/// Index of a method label in [`METHODS`]; anything non-standard is `_OTHER`.
#[inline]
pub(crate) fn method_index(method: &str) -> usize {
    match method {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "CONNECT" => 5,
        "OPTIONS" => 6,
        "TRACE" => 7,
        "PATCH" => 8,
        _ => 9,
    }
}

/// The class of a finished request: the first digit of its status, or
/// `error` when the inner service returned an error (or the request was
/// dropped before its response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusClass {
    /// `100..=199` (a WebSocket upgrade answers `101`).
    Informational,
    /// `200..=299`.
    Success,
    /// `300..=399`.
    Redirection,
    /// `400..=499`.
    ClientError,
    /// `500..=599`.
    ServerError,
    /// The inner service returned an error, or the request was dropped before
    /// its response head.
    Error,
}

impl StatusClass {
    /// Every class, in label order.
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::Error,
    ];

    /// The class of a status code (codes outside `100..=599` count as `5xx`).
    pub const fn from_code(code: u16) -> Self {
        match code {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }

    /// The label: `1xx`, `2xx`, `3xx`, `4xx`, `5xx` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::Error => "error",
        }
    }

    /// Whether requests of this class count as errors (`5xx` and `error`).
    pub const fn is_error(self) -> bool {
        matches!(self, StatusClass::ServerError | StatusClass::Error)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StatusClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// Index of the `unmatched` route.
pub(crate) const UNMATCHED_IDX: u32 = 0;
/// Index of the `other` route.
pub(crate) const OTHER_IDX: u32 = 1;

/// One route: its per method × class slots, its rate limiters and its
/// cached metric handles.
pub(crate) struct RouteEntry {
    pub(crate) name: Arc<str>,
    slots: [[OnceLock<Box<Slot>>; StatusClass::ALL.len()]; METHODS.len()],
    pub(crate) slow_log: RateLimit,
    pub(crate) blocking_log: RateLimit,
    pub(crate) metrics: RouteMetrics,
}

impl RouteEntry {
    fn new(name: Arc<str>, tracker: &str) -> Self {
        let metrics = RouteMetrics::new(tracker, &name);
        Self {
            name,
            slots: Default::default(),
            slow_log: RateLimit::default(),
            blocking_log: RateLimit::default(),
            metrics,
        }
    }

    /// The slot of `method` × `class`, created on first use.
    #[inline]
    pub(crate) fn slot(
        &self,
        method: usize,
        class: StatusClass,
        shards: usize,
        tracker: &str,
    ) -> &Slot {
        self.slots[method][class.index()].get_or_init(|| {
            Box::new(Slot::new(
                shards,
                tracker,
                &self.name,
                METHODS[method],
                class,
            ))
        })
    }

    /// The slots created so far, with their method and class.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (&'static str, StatusClass, &Slot)> {
        self.slots.iter().enumerate().flat_map(|(m, row)| {
            row.iter()
                .zip(StatusClass::ALL)
                .filter_map(move |(cell, class)| cell.get().map(|s| (METHODS[m], class, &**s)))
        })
    }
}

type RouteMap = HashMap<Arc<str>, u32, foldhash::fast::RandomState>;

/// The bounded table of routes: a read-mostly map from route string to an
/// index into a fixed array of entries. Known routes are found without a
/// lock or an allocation.
pub(crate) struct Routes {
    map: ArcSwap<RouteMap>,
    entries: Box<[OnceLock<Box<RouteEntry>>]>,
    insert: Mutex<()>,
    full: AtomicBool,
    tracker: Arc<str>,
}

impl Routes {
    pub(crate) fn new(max_routes: usize, tracker: Arc<str>) -> Self {
        let entries: Box<[OnceLock<Box<RouteEntry>>]> =
            (0..max_routes + 2).map(|_| OnceLock::new()).collect();
        let _ = entries[UNMATCHED_IDX as usize]
            .set(Box::new(RouteEntry::new(Arc::from(UNMATCHED), &tracker)));
        let _ =
            entries[OTHER_IDX as usize].set(Box::new(RouteEntry::new(Arc::from(OTHER), &tracker)));
        Self {
            map: ArcSwap::from_pointee(RouteMap::default()),
            entries,
            insert: Mutex::new(()),
            full: AtomicBool::new(max_routes == 0),
            tracker,
        }
    }

    /// The index of `route`, registering it if there is room.
    #[inline]
    pub(crate) fn resolve(&self, route: Option<&str>) -> u32 {
        let Some(route) = route else {
            return UNMATCHED_IDX;
        };
        if let Some(&idx) = self.map.load().get(route) {
            return idx;
        }
        self.insert_slow(route)
    }

    /// The index of a client-chosen `route` if it is known already;
    /// otherwise `UNMATCHED` and a copy of the name, registered by
    /// [`resolve`](Self::resolve) once a response shows the server serves it.
    #[inline]
    pub(crate) fn claim(&self, route: &str) -> (u32, Option<Box<str>>) {
        match self.map.load().get(route) {
            Some(&idx) => (idx, None),
            None => (UNMATCHED_IDX, Some(Box::from(route))),
        }
    }

    #[cold]
    fn insert_slow(&self, route: &str) -> u32 {
        if route == UNMATCHED {
            return UNMATCHED_IDX;
        }
        if route == OTHER || self.full.load(Ordering::Relaxed) {
            return OTHER_IDX;
        }
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.map.load_full();
        if let Some(&idx) = current.get(route) {
            return idx;
        }
        let idx = current.len() + 2;
        let Some(cell) = self.entries.get(idx) else {
            self.full.store(true, Ordering::Relaxed);
            return OTHER_IDX;
        };
        let name: Arc<str> = Arc::from(route);
        let _ = cell.set(Box::new(RouteEntry::new(name.clone(), &self.tracker)));
        let mut next = RouteMap::clone(&current);
        #[allow(clippy::cast_possible_truncation)] // bounded by max_routes (u32 checked at build)
        next.insert(name, idx as u32);
        self.map.store(Arc::new(next));
        if idx + 1 == self.entries.len() {
            self.full.store(true, Ordering::Relaxed);
        }
        #[allow(clippy::cast_possible_truncation)]
        let idx = idx as u32;
        idx
    }

    #[inline]
    pub(crate) fn entry(&self, idx: u32) -> &RouteEntry {
        // Every index handed out by `resolve` was set before it was published.
        self.entries[idx as usize]
            .get()
            .or_else(|| self.entries[UNMATCHED_IDX as usize].get())
            .map(|b| &**b)
            .unwrap_or_else(|| unreachable!("the unmatched entry is set at construction"))
    }

    /// Every route created so far.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &RouteEntry> {
        self.entries.iter().filter_map(|e| e.get().map(|b| &**b))
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("known", &self.map.load().len())
            .field("max_routes", &(self.entries.len() - 2))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_classes() {
        assert_eq!(METHODS[method_index("GET")], "GET");
        assert_eq!(METHODS[method_index("PATCH")], "PATCH");
        assert_eq!(METHODS[method_index("PURGE")], OTHER_METHOD);
        assert_eq!(METHODS[method_index("get")], OTHER_METHOD);
        assert_eq!(StatusClass::from_code(101), StatusClass::Informational);
        assert_eq!(StatusClass::from_code(204).as_str(), "2xx");
        assert_eq!(StatusClass::from_code(404).as_str(), "4xx");
        assert_eq!(StatusClass::from_code(999).as_str(), "5xx");
        assert!(StatusClass::Error.is_error());
        assert!(!StatusClass::ClientError.is_error());
    }

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

    #[test]
    fn table_is_bounded() {
        let routes = Routes::new(2, Arc::from("t"));
        let a = routes.resolve(Some("/a"));
        let b = routes.resolve(Some("/b"));
        assert_eq!(routes.resolve(Some("/a")), a);
        assert_ne!(a, b);
        assert_eq!(routes.resolve(Some("/c")), OTHER_IDX);
        assert_eq!(routes.resolve(None), UNMATCHED_IDX);
        assert_eq!(routes.resolve(Some(UNMATCHED)), UNMATCHED_IDX);
        assert_eq!(&*routes.entry(a).name, "/a");
        assert_eq!(routes.iter().count(), 4);
    }
}
