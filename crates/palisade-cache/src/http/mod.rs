//! [`HttpCache`]: a shared cache for HTTP services, with HTTP semantics.

mod background;
mod body;
mod builder;
mod future;
mod invalidate;
mod key;
mod l2;
mod layer;
mod lead;
mod pack;
mod policy;
mod service;

pub use body::CacheBody;
pub use builder::HttpCacheBuilder;
pub use future::HttpResponseFuture;
pub use layer::HttpCacheLayer;
pub use policy::X_CACHE;
pub use service::HttpCacheService;

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode, header};

use crate::{state::CacheState, stats::Stats};

/// A stored response: status, headers and the whole body (shared).
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The variant suffix (see `key.rs`) of the request it answered.
    pub(crate) variant: Box<str>,
    /// Its age when it arrived (RFC 9111 §4.2.3); kept in `headers` as
    /// `Age` (whole seconds) so that it survives the L2.
    pub(crate) initial_age: Duration,
    /// It may answer a request with `Authorization` (RFC 9111 §3.5).
    pub(crate) authorized_ok: bool,
    /// The headers of a fresh hit, made once: `headers` plus `x-cache: HIT`
    /// and an `Age` slot, so a hit clones one map and overwrites `Age` in
    /// place (no header name parsed, no entry added, no growth).
    pub(crate) hit_headers: HeaderMap,
}

impl Stored {
    /// A stored response from headers already stripped for storage.
    pub(crate) fn new(
        status: StatusCode,
        mut headers: HeaderMap,
        body: Bytes,
        variant: Box<str>,
        initial_age: Duration,
    ) -> Self {
        headers.remove(header::AGE);
        if initial_age.as_secs() > 0 {
            headers.insert(header::AGE, policy::age_value(initial_age));
        }
        let authorized_ok = policy::authorized_ok(&headers);
        let (headers, body) = pack::pack(headers, body);
        let mut hit_headers = headers.clone();
        hit_headers.insert(policy::X_CACHE_NAME, policy::x_cache::HIT);
        if !hit_headers.contains_key(header::AGE) {
            hit_headers.insert(header::AGE, policy::age_value(Duration::ZERO));
        }
        Self {
            status,
            headers,
            body,
            variant,
            initial_age,
            authorized_ok,
            hit_headers,
        }
    }
}

/// What the HTTP L1 holds under a key.
#[derive(Debug, Clone)]
pub(crate) enum HttpValue {
    Response(Arc<Stored>),
    /// Under a URL's base key: its responses vary on these request headers.
    Vary(Arc<[HeaderName]>),
}

pub(crate) type HttpState = CacheState<Bytes, HttpValue>;

/// A response cache for HTTP services, with HTTP semantics: the handle to
/// its shared state.
///
/// A shared cache following RFC 9111 (the crate README's "HTTP
/// conformance" section lists the rules and the deliberate deviations):
///
/// - Only `GET` and `HEAD` are cached; `HEAD` is answered from the `GET`
///   entry. The key is the authority, path and query, plus the request
///   headers named by the response's `Vary` and the opt-in key headers.
/// - Freshness comes from the response (`s-maxage`, `max-age`, `Expires`,
///   the `Last-Modified` heuristic, minus its `Age`); there is no default
///   TTL unless [`default_ttl`](HttpCacheBuilder::default_ttl) opts in.
/// - Responses to requests with `Authorization` are shared only when they
///   allow it; requests with `Cookie` are passed unless opted in.
/// - Stale responses with validators are revalidated (304s freshen them);
///   conditional and range requests are answered from stored responses;
///   unsafe methods invalidate their target.
/// - Responses carry `x-cache: HIT | MISS | STALE | REVALIDATED | BYPASS`
///   and, from the cache, `Age`.
/// - Errors of the inner service pass through unchanged; where the cache
///   itself cannot answer, it answers `502 Bad Gateway`.
///
/// ```
/// use std::time::Duration;
/// use palisade_cache::HttpCache;
///
/// # fn main() -> Result<(), palisade_core::ConfigError> {
/// let pages = HttpCache::builder("pages")
///     .max_bytes(256 << 20)
///     .max_body_bytes(1 << 20)
///     .stale_if_error(Duration::from_secs(30))
///     .build()?;
/// let layer = pages.layer(); // share it across routes: one cache
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpCache {
    state: Arc<HttpState>,
    defaults: Arc<policy::Defaults>,
}

impl fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCache")
            .field("state", &self.state)
            .field("defaults", &self.defaults)
            .finish()
    }
}

impl HttpCache {
    /// Starts building an HTTP cache named `name` (the `name` label of its
    /// metrics).
    #[must_use]
    pub fn builder(name: &str) -> HttpCacheBuilder {
        HttpCacheBuilder::new(name)
    }

    /// A layer caching the responses of the services it wraps; every service
    /// made from it (and from other layers of this cache) shares the cache.
    #[must_use]
    pub fn layer(&self) -> HttpCacheLayer {
        HttpCacheLayer::new(Arc::clone(&self.state), Arc::clone(&self.defaults))
    }

    /// Drops every response tagged `tag` (by `Cache-Tag` / `Surrogate-Key`)
    /// here and, with an L2, in the shared tier and every replica's L1.
    pub async fn invalidate_tag(&self, tag: &str) {
        self.state.invalidate_tag(tag).await;
    }

    /// Drops everything this replica's L1 holds.
    pub fn clear(&self) {
        self.state.l1.invalidate_all();
    }

    /// The cache's counters and current size (bytes of bodies and headers).
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Applies moka's pending work now (evictions, invalidations), so that
    /// [`stats`](Self::stats) reports exact sizes.
    pub async fn run_pending_tasks(&self) {
        self.state.l1.run_pending_tasks().await;
        self.state
            .recorder
            .set_size(self.state.l1.entry_count(), self.state.l1.weighed_size());
    }

    /// The name given to the builder.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.state.name
    }
}
