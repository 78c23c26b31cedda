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

/// Declares [`ServiceBuilderExt`] and implements it for `ServiceBuilder`
/// from one list: each method adds the layer its body makes, behind its
/// feature (also shown on docs.rs). A method is one entry here, not a
/// declaration and an implementation kept in step by hand.
macro_rules! service_builder_ext {
    (
        $(#[$trait_meta:meta])*
        pub trait ServiceBuilderExt<L> {
            $(
                $(#[doc = $doc:expr])*
                #[cfg($cfg:meta)]
                fn $name:ident $(<$($generic:ident),*>)? (self $(, $arg:ident: $arg_ty:ty)*) -> $layer:ty
                    $(where [$($bound:tt)*])?
                    { $make:expr }
            )*
        }
    ) => {
        $(#[$trait_meta])*
        pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
            $(
                $(#[doc = $doc])*
                #[cfg($cfg)]
                #[cfg_attr(docsrs, doc(cfg($cfg)))]
                fn $name $(<$($generic),*>)? (self $(, $arg: $arg_ty)*) -> ServiceBuilder<Stack<$layer, L>>
                $(where $($bound)*)?;
            )*
        }

        impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
            $(
                #[cfg($cfg)]
                #[inline]
                fn $name $(<$($generic),*>)? (self $(, $arg: $arg_ty)*) -> ServiceBuilder<Stack<$layer, L>>
                $(where $($bound)*)?
                {
                    self.layer($make)
                }
            )*
        }
    };
}

service_builder_ext! {
    /// Adds Palisade's layers to a [`ServiceBuilder`], one method per layer.
    ///
    /// Each method takes the layer's shared handle by reference and adds
    /// `handle.layer()`: every service built this way shares the handle's state
    /// (one breaker, one cache, one limit) however often the stack is cloned.
    ///
    /// The trait is sealed: it is implemented for `ServiceBuilder` only.
    pub trait ServiceBuilderExt<L> {
        /// Answers errors with HTTP responses
        /// ([`ErrorResponseLayer`](palisade_core::http::ErrorResponseLayer)): a
        /// rejection becomes `503`/`504`/`429` with `Retry-After`, any other error
        /// a `500`. The service becomes `Infallible`, as axum requires.
        #[cfg(feature = "http")]
        fn http_errors(self) -> palisade_core::http::ErrorResponseLayer
            { palisade_core::http::ErrorResponseLayer::new() }

        /// Turns a rejection into a `tonic::Status` error
        /// ([`StatusLayer`](palisade_core::grpc::StatusLayer)) so tonic answers
        /// with the matching gRPC code.
        #[cfg(feature = "grpc")]
        fn grpc_status(self) -> palisade_core::grpc::StatusLayer
            { palisade_core::grpc::StatusLayer::new() }

        /// Adds a circuit breaker ([`CircuitBreaker::layer`](palisade_breaker::CircuitBreaker::layer)).
        #[cfg(feature = "breaker")]
        fn circuit_breaker<C, V>(self, breaker: &palisade_breaker::CircuitBreaker<C, V>) -> palisade_breaker::CircuitBreakerLayer<C, V>
            { breaker.layer() }

        /// Adds a deadline-aware timeout ([`Timeout::layer`](palisade_shed::Timeout::layer)).
        #[cfg(feature = "shed")]
        fn deadline<X>(self, timeout: &palisade_shed::Timeout<X>) -> palisade_shed::TimeoutLayer<X>
            where [X: Clone]
            { timeout.layer() }

        /// Adds a concurrency limit that rejects instead of queueing
        /// ([`ConcurrencyLimit::layer`](palisade_shed::ConcurrencyLimit::layer)).
        ///
        /// When tower's `limit` feature is enabled, `ServiceBuilder` has an
        /// inherent `concurrency_limit(usize)` (tower's queueing limit) that
        /// method-call syntax picks first; use
        /// [`limit_in_flight`](ServiceBuilderExt::limit_in_flight), the same
        /// method under a name tower does not use.
        #[cfg(feature = "shed")]
        fn concurrency_limit<P>(self, limit: &palisade_shed::ConcurrencyLimit<P>) -> palisade_shed::ConcurrencyLimitLayer<P>
            { limit.layer() }

        /// The same as [`concurrency_limit`](ServiceBuilderExt::concurrency_limit),
        /// under a name that tower's own `ServiceBuilder::concurrency_limit(usize)`
        /// does not shadow.
        #[cfg(feature = "shed")]
        fn limit_in_flight<P>(self, limit: &palisade_shed::ConcurrencyLimit<P>) -> palisade_shed::ConcurrencyLimitLayer<P>
            { limit.layer() }

        /// Adds a GCRA rate limit ([`RateLimit::layer`](palisade_shed::RateLimit::layer)).
        /// Named so because tower's `ServiceBuilder` has an inherent
        /// `rate_limit(num, per)`, which would take precedence.
        #[cfg(feature = "rate-limit")]
        fn limit_rate<F, K>(self, limit: &palisade_shed::RateLimit<F, K>) -> palisade_shed::RateLimitLayer<F, K>
            where [F: Clone, K: std::hash::Hash + Eq + Clone + Send + Sync + 'static]
            { limit.layer() }

        /// Adds deadline-aware retries with a budget ([`Retry::layer`](palisade_shed::Retry::layer)).
        /// Named so because tower's `ServiceBuilder` has an inherent `retry(policy)`.
        #[cfg(feature = "retry")]
        fn retry_with<S, C>(self, retry: &palisade_shed::Retry<S, C>) -> palisade_shed::RetryLayer<S, C>
            where [S: Clone, C: Clone]
            { retry.layer() }

        /// Adds an adaptive concurrency limit
        /// ([`AdaptiveLimit::layer`](palisade_shed::AdaptiveLimit::layer)):
        /// Gradient2, Vegas or AIMD, rejecting at once over the current limit.
        #[cfg(feature = "shed")]
        fn adaptive_limit<C>(self, limit: &palisade_shed::AdaptiveLimit<C>) -> palisade_shed::AdaptiveLimitLayer<C>
            { limit.layer() }

        /// Adds client-side adaptive throttling for an outbound stack
        /// ([`AdaptiveThrottle::layer`](palisade_shed::AdaptiveThrottle::layer)):
        /// requests are rejected locally, before they are sent, with the SRE
        /// book's probability `max(0, (requests − k·accepts) / (requests + 1))`,
        /// so a client backs off a backend that sheds.
        #[cfg(feature = "shed")]
        fn adaptive_throttle<C>(self, throttle: &palisade_shed::AdaptiveThrottle<C>) -> palisade_shed::AdaptiveThrottleLayer<C>
            { throttle.layer() }

        /// Adds latency tracking ([`LatencyTracker::layer`](palisade_latency::LatencyTracker::layer)).
        #[cfg(feature = "latency")]
        fn track_latency(self, tracker: &palisade_latency::LatencyTracker) -> palisade_latency::LatencyLayer
            { tracker.layer() }

        /// Adds positional batching ([`Batcher::layer`](palisade_batch::Batcher::layer)):
        /// the service below takes `Vec<Req>`, the one above takes `Req`.
        #[cfg(feature = "batch")]
        fn batch<Req, W>(self, batcher: &palisade_batch::Batcher<W>) -> palisade_batch::BatcherLayer<Req, W>
            where [W: Clone]
            { batcher.layer() }

        /// Adds keyed, DataLoader-style loading ([`Loader::layer`](palisade_batch::Loader::layer)):
        /// the service below takes `Vec<K>` and answers a map, the one above takes `K`.
        #[cfg(feature = "batch")]
        fn load<K, W>(self, loader: &palisade_batch::Loader<W>) -> palisade_batch::LoaderLayer<K, W>
            where [W: Clone]
            { loader.layer() }

        /// Adds a response cache keyed by `key(&request)` (`None` bypasses the
        /// cache) ([`Cache::layer`](palisade_cache::Cache::layer)).
        #[cfg(feature = "cache")]
        fn cache<K, V, Req, F>(self, cache: &palisade_cache::Cache<K, V>, key: F) -> palisade_cache::CacheLayer<K, V, F>
            where [K: std::hash::Hash + Eq + Clone + Send + Sync + 'static, V: Clone + Send + Sync + 'static, F: Fn(&Req) -> Option<K> + Clone]
            { cache.layer(key) }

        /// Adds an HTTP response cache with HTTP caching semantics
        /// ([`HttpCache::layer`](palisade_cache::HttpCache::layer)).
        #[cfg(all(feature = "cache", feature = "http"))]
        fn http_cache(self, cache: &palisade_cache::HttpCache) -> palisade_cache::HttpCacheLayer
            { cache.layer() }
    }
}
