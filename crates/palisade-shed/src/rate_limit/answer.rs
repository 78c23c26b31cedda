//! How a refused request is answered: [`AsError`] or [`AsHttp`], and the
//! bounds a call needs with and without the `redis` feature.

/// Refusals are errors (the default, from [`RateLimit::layer`](super::RateLimit::layer)):
/// a rate-limit [`Rejected`](palisade_core::Rejected) as a `BoxError`, for
/// `ErrorResponseLayer`, `StatusLayer` or a caller to map.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsError;

/// Refusals are HTTP responses (from
/// [`RateLimit::http_layer`](super::RateLimit::http_layer)): `429 Too Many
/// Requests` with `Retry-After` and the `RateLimit-Policy` / `RateLimit`
/// fields, the same answer `ErrorResponseLayer` gives. The inner service's
/// error and body types are kept, so an axum `Router` takes the layer as it
/// is: no `ErrorResponseLayer`, no error boxing, no body re-boxing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsHttp;

/// What the inner service of a [`RateLimitService`](super::RateLimitService)
/// must be: any service; with the `redis` feature, also `Clone + Send +
/// 'static` (a cluster-wide check awaits Redis before calling it, so the
/// ready service moves into the response future). Implemented for every
/// such type.
#[cfg(not(feature = "redis"))]
pub trait InnerService<Req>: tower_service::Service<Req> {}
#[cfg(not(feature = "redis"))]
impl<S: tower_service::Service<Req>, Req> InnerService<Req> for S {}

/// What the inner service of a [`RateLimitService`](super::RateLimitService)
/// must be: any service; with the `redis` feature, also `Clone + Send +
/// 'static` (a cluster-wide check awaits Redis before calling it, so the
/// ready service moves into the response future). Implemented for every
/// such type.
#[cfg(feature = "redis")]
pub trait InnerService<Req>: tower_service::Service<Req> + Clone + Send + 'static {}
#[cfg(feature = "redis")]
impl<S: tower_service::Service<Req> + Clone + Send + 'static, Req> InnerService<Req> for S {}

/// What a request to a [`RateLimitService`](super::RateLimitService) must
/// be: anything; with the `redis` feature, `Send + 'static`. Implemented
/// for every such type.
#[cfg(not(feature = "redis"))]
pub trait RequestBound {}
#[cfg(not(feature = "redis"))]
impl<T> RequestBound for T {}

/// What a request to a [`RateLimitService`](super::RateLimitService) must
/// be: anything; with the `redis` feature, `Send + 'static`. Implemented
/// for every such type.
#[cfg(feature = "redis")]
pub trait RequestBound: Send + 'static {}
#[cfg(feature = "redis")]
impl<T: Send + 'static> RequestBound for T {}
