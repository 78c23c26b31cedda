//! [`KeyedCircuitBreakerLayer`].

use super::{KeyedCircuitBreaker, service::KeyedCircuitBreakerService};
use crate::verdict::AtResponse;
use std::fmt;
use tower_layer::Layer;

impl<K, F, C, V> KeyedCircuitBreaker<K, F, C, V> {
    /// A layer whose services all share these breakers.
    pub fn layer(&self) -> KeyedCircuitBreakerLayer<K, F, C, V> {
        KeyedCircuitBreakerLayer {
            keyed: self.clone(),
        }
    }
}

/// Wraps services in a [`KeyedCircuitBreakerService`]: made by
/// [`KeyedCircuitBreaker::layer`].
pub struct KeyedCircuitBreakerLayer<K, F, C, V = AtResponse> {
    keyed: KeyedCircuitBreaker<K, F, C, V>,
}

impl<K, F, C, V> Clone for KeyedCircuitBreakerLayer<K, F, C, V> {
    fn clone(&self) -> Self {
        Self {
            keyed: self.keyed.clone(),
        }
    }
}

impl<K, F, C, V> fmt::Debug for KeyedCircuitBreakerLayer<K, F, C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F, C, V> Layer<S> for KeyedCircuitBreakerLayer<K, F, C, V> {
    type Service = KeyedCircuitBreakerService<S, K, F, C, V>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreakerService::new(inner, self.keyed.clone())
    }
}
