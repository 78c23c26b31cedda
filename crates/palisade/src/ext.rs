//! `ServiceBuilderExt`: one method per Palisade layer on tower's `ServiceBuilder`.

use tower::ServiceBuilder;
#[cfg(any(
    feature = "http",
    feature = "breaker",
    feature = "batch",
    feature = "cache",
    feature = "shed",
    feature = "latency"
))]
use tower_layer::Stack;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// Adds Palisade's layers to a [`ServiceBuilder`], one method per layer.
///
/// Each method takes the layer's shared handle by reference and adds
/// `handle.layer()`: every service built this way shares the handle's state
/// (one breaker, one cache, one limit) however often the stack is cloned.
///
/// The trait is sealed: it is implemented for `ServiceBuilder` only.
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Answers errors with HTTP responses
    /// ([`ErrorResponseLayer`](palisade_core::http::ErrorResponseLayer)): a
    /// rejection becomes `503`/`504`/`429` with `Retry-After`, any other error
    /// a `500`. The service becomes `Infallible`, as axum requires.
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    fn http_errors(self) -> ServiceBuilder<Stack<palisade_core::http::ErrorResponseLayer, L>>;

    /// Turns a rejection into a `tonic::Status` error
    /// ([`StatusLayer`](palisade_core::grpc::StatusLayer)) so tonic answers
    /// with the matching gRPC code.
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    fn grpc_status(self) -> ServiceBuilder<Stack<palisade_core::grpc::StatusLayer, L>>;

    /// Adds a circuit breaker ([`CircuitBreaker::layer`](palisade_breaker::CircuitBreaker::layer)).
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn circuit_breaker<C>(
        self,
        breaker: &palisade_breaker::CircuitBreaker<C>,
    ) -> ServiceBuilder<Stack<palisade_breaker::CircuitBreakerLayer<C>, L>>;

    /// Adds a deadline-aware timeout ([`Timeout::layer`](palisade_shed::Timeout::layer)).
    #[cfg(feature = "shed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "shed")))]
    fn deadline<X: Clone>(
        self,
        timeout: &palisade_shed::Timeout<X>,
    ) -> ServiceBuilder<Stack<palisade_shed::TimeoutLayer<X>, L>>;

    /// Adds a concurrency limit that rejects instead of queueing
    /// ([`ConcurrencyLimit::layer`](palisade_shed::ConcurrencyLimit::layer)).
    ///
    /// When tower's `limit` feature is enabled, `ServiceBuilder` has an
    /// inherent `concurrency_limit(usize)` (tower's queueing limit) that
    /// method-call syntax picks first; use
    /// [`limit_in_flight`](ServiceBuilderExt::limit_in_flight), the same
    /// method under a name tower does not use.
    #[cfg(feature = "shed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "shed")))]
    fn concurrency_limit<P>(
        self,
        limit: &palisade_shed::ConcurrencyLimit<P>,
    ) -> ServiceBuilder<Stack<palisade_shed::ConcurrencyLimitLayer<P>, L>>;

    /// The same as [`concurrency_limit`](ServiceBuilderExt::concurrency_limit),
    /// under a name that tower's own `ServiceBuilder::concurrency_limit(usize)`
    /// does not shadow.
    #[cfg(feature = "shed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "shed")))]
    fn limit_in_flight<P>(
        self,
        limit: &palisade_shed::ConcurrencyLimit<P>,
    ) -> ServiceBuilder<Stack<palisade_shed::ConcurrencyLimitLayer<P>, L>> {
        // `Self` is generic here, so this is the trait's method, not tower's.
        self.concurrency_limit(limit)
    }

    /// Adds a GCRA rate limit ([`RateLimit::layer`](palisade_shed::RateLimit::layer)).
    /// Named so because tower's `ServiceBuilder` has an inherent
    /// `rate_limit(num, per)`, which would take precedence.
    #[cfg(feature = "rate-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
    fn limit_rate<F, K>(
        self,
        limit: &palisade_shed::RateLimit<F, K>,
    ) -> ServiceBuilder<Stack<palisade_shed::RateLimitLayer<F, K>, L>>
    where
        F: Clone,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static;

    /// Adds deadline-aware retries with a budget ([`Retry::layer`](palisade_shed::Retry::layer)).
    /// Named so because tower's `ServiceBuilder` has an inherent `retry(policy)`.
    #[cfg(feature = "retry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    fn retry_with<S, C>(
        self,
        retry: &palisade_shed::Retry<S, C>,
    ) -> ServiceBuilder<Stack<palisade_shed::RetryLayer<S, C>, L>>
    where
        S: Clone,
        C: Clone;

    /// Adds an adaptive concurrency limit
    /// ([`AdaptiveLimit::layer`](palisade_shed::AdaptiveLimit::layer)):
    /// Gradient2, Vegas or AIMD, rejecting at once over the current limit.
    #[cfg(feature = "shed")]
    #[cfg_attr(docsrs, doc(cfg(feature = "shed")))]
    fn adaptive_limit<C>(
        self,
        limit: &palisade_shed::AdaptiveLimit<C>,
    ) -> ServiceBuilder<Stack<palisade_shed::AdaptiveLimitLayer<C>, L>>;

    /// Adds latency tracking ([`LatencyTracker::layer`](palisade_latency::LatencyTracker::layer)).
    #[cfg(feature = "latency")]
    #[cfg_attr(docsrs, doc(cfg(feature = "latency")))]
    fn track_latency(
        self,
        tracker: &palisade_latency::LatencyTracker,
    ) -> ServiceBuilder<Stack<palisade_latency::LatencyLayer, L>>;

    /// Adds positional batching ([`Batcher::layer`](palisade_batch::Batcher::layer)):
    /// the service below takes `Vec<Req>`, the one above takes `Req`.
    #[cfg(feature = "batch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
    fn batch<Req, W>(
        self,
        batcher: &palisade_batch::Batcher<W>,
    ) -> ServiceBuilder<Stack<palisade_batch::BatchLayer<Req, W>, L>>
    where
        W: Clone;

    /// Adds keyed, DataLoader-style loading ([`Loader::layer`](palisade_batch::Loader::layer)):
    /// the service below takes `Vec<K>` and answers a map, the one above takes `K`.
    #[cfg(feature = "batch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
    fn load<K, W>(
        self,
        loader: &palisade_batch::Loader<W>,
    ) -> ServiceBuilder<Stack<palisade_batch::LoadLayer<K, W>, L>>
    where
        W: Clone;

    /// Adds a response cache keyed by `key(&request)` (`None` bypasses the
    /// cache) ([`Cache::layer`](palisade_cache::Cache::layer)).
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    fn cache<K, V, Req, F>(
        self,
        cache: &palisade_cache::Cache<K, V>,
        key: F,
    ) -> ServiceBuilder<Stack<palisade_cache::CacheLayer<K, V, F>, L>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Fn(&Req) -> Option<K> + Clone;

    /// Adds an HTTP response cache with HTTP caching semantics
    /// ([`HttpCache::layer`](palisade_cache::HttpCache::layer)).
    #[cfg(all(feature = "cache", feature = "http"))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "cache", feature = "http"))))]
    fn http_cache(
        self,
        cache: &palisade_cache::HttpCache,
    ) -> ServiceBuilder<Stack<palisade_cache::HttpCacheLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "http")]
    fn http_errors(self) -> ServiceBuilder<Stack<palisade_core::http::ErrorResponseLayer, L>> {
        self.layer(palisade_core::http::ErrorResponseLayer::new())
    }

    #[cfg(feature = "grpc")]
    fn grpc_status(self) -> ServiceBuilder<Stack<palisade_core::grpc::StatusLayer, L>> {
        self.layer(palisade_core::grpc::StatusLayer::new())
    }

    #[cfg(feature = "breaker")]
    fn circuit_breaker<C>(
        self,
        breaker: &palisade_breaker::CircuitBreaker<C>,
    ) -> ServiceBuilder<Stack<palisade_breaker::CircuitBreakerLayer<C>, L>> {
        self.layer(breaker.layer())
    }

    #[cfg(feature = "shed")]
    fn deadline<X: Clone>(
        self,
        timeout: &palisade_shed::Timeout<X>,
    ) -> ServiceBuilder<Stack<palisade_shed::TimeoutLayer<X>, L>> {
        self.layer(timeout.layer())
    }

    #[cfg(feature = "shed")]
    fn concurrency_limit<P>(
        self,
        limit: &palisade_shed::ConcurrencyLimit<P>,
    ) -> ServiceBuilder<Stack<palisade_shed::ConcurrencyLimitLayer<P>, L>> {
        self.layer(limit.layer())
    }

    #[cfg(feature = "rate-limit")]
    fn limit_rate<F, K>(
        self,
        limit: &palisade_shed::RateLimit<F, K>,
    ) -> ServiceBuilder<Stack<palisade_shed::RateLimitLayer<F, K>, L>>
    where
        F: Clone,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.layer(limit.layer())
    }

    #[cfg(feature = "retry")]
    fn retry_with<S, C>(
        self,
        retry: &palisade_shed::Retry<S, C>,
    ) -> ServiceBuilder<Stack<palisade_shed::RetryLayer<S, C>, L>>
    where
        S: Clone,
        C: Clone,
    {
        self.layer(retry.layer())
    }

    #[cfg(feature = "shed")]
    fn adaptive_limit<C>(
        self,
        limit: &palisade_shed::AdaptiveLimit<C>,
    ) -> ServiceBuilder<Stack<palisade_shed::AdaptiveLimitLayer<C>, L>> {
        self.layer(limit.layer())
    }

    #[cfg(feature = "latency")]
    fn track_latency(
        self,
        tracker: &palisade_latency::LatencyTracker,
    ) -> ServiceBuilder<Stack<palisade_latency::LatencyLayer, L>> {
        self.layer(tracker.layer())
    }

    #[cfg(feature = "batch")]
    fn batch<Req, W>(
        self,
        batcher: &palisade_batch::Batcher<W>,
    ) -> ServiceBuilder<Stack<palisade_batch::BatchLayer<Req, W>, L>>
    where
        W: Clone,
    {
        self.layer(batcher.layer())
    }

    #[cfg(feature = "batch")]
    fn load<K, W>(
        self,
        loader: &palisade_batch::Loader<W>,
    ) -> ServiceBuilder<Stack<palisade_batch::LoadLayer<K, W>, L>>
    where
        W: Clone,
    {
        self.layer(loader.layer())
    }

    #[cfg(feature = "cache")]
    fn cache<K, V, Req, F>(
        self,
        cache: &palisade_cache::Cache<K, V>,
        key: F,
    ) -> ServiceBuilder<Stack<palisade_cache::CacheLayer<K, V, F>, L>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Fn(&Req) -> Option<K> + Clone,
    {
        self.layer(cache.layer(key))
    }

    #[cfg(all(feature = "cache", feature = "http"))]
    fn http_cache(
        self,
        cache: &palisade_cache::HttpCache,
    ) -> ServiceBuilder<Stack<palisade_cache::HttpCacheLayer, L>> {
        self.layer(cache.layer())
    }
}
