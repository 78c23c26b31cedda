//! The tower layer.

use crate::{breaker::CircuitBreaker, service::CircuitBreakerService};
use std::fmt;
use tower_layer::Layer;

/// Wraps services in a [`CircuitBreakerService`] sharing one breaker.
///
/// Made by [`CircuitBreaker::layer`]. Cloning the layer (axum does it for
/// every route) and every service it makes share the same breaker state.
pub struct CircuitBreakerLayer<C> {
    breaker: CircuitBreaker<C>,
}

impl<C> CircuitBreaker<C> {
    /// A layer whose services all share this breaker.
    pub fn layer(&self) -> CircuitBreakerLayer<C> {
        CircuitBreakerLayer::new(self.clone())
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// A layer for `breaker` (the same as `breaker.layer()`).
    pub fn new(breaker: CircuitBreaker<C>) -> Self {
        Self { breaker }
    }

    /// The breaker this layer's services share.
    pub fn breaker(&self) -> &CircuitBreaker<C> {
        &self.breaker
    }
}

impl<C> Clone for CircuitBreakerLayer<C> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl<S, C> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.breaker.clone())
    }
}
