//! [`KeyedCircuitBreakerBuilder`], started by [`CircuitBreakerBuilder::key`].

use super::{
    KeyedCircuitBreaker,
    state::{KeyedBreakers, nanos},
};
use crate::{builder::CircuitBreakerBuilder, verdict::AtResponse};
use moka::{policy::EvictionPolicy, sync::Cache};
use palisade_core::ConfigError;
use std::{
    fmt,
    hash::Hash,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::Duration,
};
use tokio::time::Instant;

impl<C, V> CircuitBreakerBuilder<C, V> {
    /// One breaker per key taken from each request (an upstream host, a
    /// route), all with this configuration: see [`KeyedCircuitBreaker`].
    pub fn key<F>(self, key: F) -> KeyedCircuitBreakerBuilder<C, F, V> {
        KeyedCircuitBreakerBuilder::new(self, key)
    }
}

/// Configures a [`KeyedCircuitBreaker`]: made by [`CircuitBreakerBuilder::key`].
///
/// Defaults: at most 1024 closed breakers kept, a key unused for 10 minutes
/// is dropped. Both settings are optional; neither may be zero.
#[must_use]
pub struct KeyedCircuitBreakerBuilder<C, F, V = AtResponse> {
    builder: CircuitBreakerBuilder<C, V>,
    key: F,
    max_keys: usize,
    idle_expiry: Duration,
}

impl<C: fmt::Debug, F, V: fmt::Debug> fmt::Debug for KeyedCircuitBreakerBuilder<C, F, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerBuilder")
            .field("builder", &self.builder)
            .field("max_keys", &self.max_keys)
            .field("idle_expiry", &self.idle_expiry)
            .finish_non_exhaustive()
    }
}

impl<C, F, V> KeyedCircuitBreakerBuilder<C, F, V> {
    pub(crate) fn new(builder: CircuitBreakerBuilder<C, V>, key: F) -> Self {
        Self {
            builder,
            key,
            max_keys: 1024,
            idle_expiry: Duration::from_secs(600),
        }
    }

    /// Keep at most this many closed breakers (at least 1; default 1024),
    /// the least recently used making room for new keys. A breaker that is
    /// not closed (open, half-open, or set by hand) is kept apart, on top of
    /// `max`, and never dropped to make room: key churn cannot close a
    /// circuit. It stays until it closes (and rejoins the closed ones) or its
    /// key has been idle for [`idle_expiry`](Self::idle_expiry).
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// Drop the breaker of a key that saw no request for this long (greater
    /// than zero; default 10 minutes), whatever its state.
    pub fn idle_expiry(mut self, idle: Duration) -> Self {
        self.idle_expiry = idle;
        self
    }

    /// Checks the configuration and builds the keyed breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of range.
    pub fn build<Req, K>(self) -> Result<KeyedCircuitBreaker<K, F, C, V>, ConfigError>
    where
        F: Fn(&Req) -> K,
        K: Hash + Eq + Send + Sync + 'static,
        C: Send + Sync + 'static,
    {
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "at least 1", 0));
        }
        if self.idle_expiry.is_zero() {
            return Err(ConfigError::new(
                "idle_expiry",
                "greater than zero",
                self.idle_expiry,
            ));
        }
        let (config, classify) = self.builder.into_parts()?;
        let max = u64::try_from(self.max_keys).unwrap_or(u64::MAX);
        Ok(KeyedCircuitBreaker::new(KeyedBreakers {
            config,
            classify,
            key: self.key,
            max_keys: self.max_keys,
            idle_nanos: nanos(self.idle_expiry),
            base: Instant::now(),
            live: Arc::new(
                Cache::builder()
                    .max_capacity(max)
                    .eviction_policy(EvictionPolicy::lru())
                    .build(),
            ),
            held: Arc::new(Cache::builder().build()),
            last_sweep: AtomicU64::new(0),
            callbacks: Mutex::new(Vec::new()),
        }))
    }
}
