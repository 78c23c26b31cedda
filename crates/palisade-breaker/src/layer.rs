//! The tower layer.

use crate::{breaker::CircuitBreaker, service::CircuitBreakerService, verdict::AtResponse};
use std::fmt;
use tower_layer::Layer;

/// Wraps services in a [`CircuitBreakerService`] sharing one breaker.
///
/// Made by [`CircuitBreaker::layer`]. Cloning the layer (axum does it for
/// every route) and every service it makes share the same breaker state.
pub struct CircuitBreakerLayer<C, V = AtResponse> {
    breaker: CircuitBreaker<C, V>,
}

impl<C, V> CircuitBreaker<C, V> {
    /// A layer whose services all share this breaker.
    pub fn layer(&self) -> CircuitBreakerLayer<C, V> {
        CircuitBreakerLayer::new(self.clone())
    }
}

impl<C, V> CircuitBreakerLayer<C, V> {
    /// A layer for `breaker` (the same as `breaker.layer()`).
    pub fn new(breaker: CircuitBreaker<C, V>) -> Self {
        Self { breaker }
    }

    /// The breaker this layer's services share.
    pub fn breaker(&self) -> &CircuitBreaker<C, V> {
        &self.breaker
    }
}

impl<C, V> Clone for CircuitBreakerLayer<C, V> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
        }
    }
}

impl<C, V> fmt::Debug for CircuitBreakerLayer<C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl<S, C, V> Layer<S> for CircuitBreakerLayer<C, V> {
    type Service = CircuitBreakerService<S, C, V>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.breaker.clone())
    }
}
