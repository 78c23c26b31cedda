//! [`KeyedCircuitBreakerLayer`].

use super::{KeyedCircuitBreaker, service::KeyedCircuitBreakerService};
use std::fmt;
use tower_layer::Layer;

impl<K, F, C> KeyedCircuitBreaker<K, F, C> {
    /// A layer whose services all share these breakers.
    pub fn layer(&self) -> KeyedCircuitBreakerLayer<K, F, C> {
        KeyedCircuitBreakerLayer {
            keyed: self.clone(),
        }
    }
}

/// Wraps services in a [`KeyedCircuitBreakerService`]: made by
/// [`KeyedCircuitBreaker::layer`].
pub struct KeyedCircuitBreakerLayer<K, F, C> {
    keyed: KeyedCircuitBreaker<K, F, C>,
}

impl<K, F, C> Clone for KeyedCircuitBreakerLayer<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            keyed: self.keyed.clone(),
        }
    }
}

impl<K, F, C> fmt::Debug for KeyedCircuitBreakerLayer<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F, C> Layer<S> for KeyedCircuitBreakerLayer<K, F, C> {
    type Service = KeyedCircuitBreakerService<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreakerService::new(inner, self.keyed.clone())
    }
}
