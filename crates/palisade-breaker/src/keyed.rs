//! One breaker per key: per upstream host, per route.

use crate::{
    CircuitBreaker,
    config::{Builder, Config},
    core::Callback,
    future::ResponseFuture,
    permit::Guard,
    state::Transition,
};
use palisade_core::{BoxError, Classify, ConfigError};
use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    marker::PhantomData,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// Configures a [`KeyedCircuitBreaker`]: made by [`Builder::key`].
///
/// Defaults: at most 1024 live keys, a key unused for 10 minutes is dropped.
#[must_use]
pub struct KeyedBuilder<C, F> {
    builder: Builder<C>,
    key: F,
    max_keys: usize,
    idle_expiry: Duration,
}

impl<C: fmt::Debug, F> fmt::Debug for KeyedBuilder<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("builder", &self.builder)
            .field("max_keys", &self.max_keys)
            .field("idle_expiry", &self.idle_expiry)
            .finish_non_exhaustive()
    }
}

impl<C, F> KeyedBuilder<C, F> {
    pub(crate) fn new(builder: Builder<C>, key: F) -> Self {
        Self {
            builder,
            key,
            max_keys: 1024,
            idle_expiry: Duration::from_secs(600),
        }
    }

    /// Keep at most this many breakers (at least 1). Making room drops the
    /// least recently used closed breaker, or the least recently used one
    /// when none is closed.
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// Drop the breaker of a key that saw no request for this long (greater
    /// than zero).
    pub fn idle_expiry(mut self, idle: Duration) -> Self {
        self.idle_expiry = idle;
        self
    }

    /// Checks the configuration and builds the keyed breaker.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of range.
    pub fn build<Req, K>(self) -> Result<KeyedCircuitBreaker<K, F, C>, ConfigError>
    where
        F: Fn(&Req) -> K,
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
        Ok(KeyedCircuitBreaker {
            shared: Arc::new(KeyedShared {
                config,
                classify,
                key: self.key,
                max_keys: self.max_keys,
                idle_expiry: self.idle_expiry,
                map: Mutex::new(KeyMap {
                    entries: HashMap::new(),
                    last_sweep: Instant::now(),
                }),
                callbacks: Mutex::new(Vec::new()),
            }),
        })
    }
}

struct Entry<C> {
    breaker: CircuitBreaker<C>,
    last_used: Instant,
}

struct KeyMap<K, C> {
    entries: HashMap<K, Entry<C>>,
    last_sweep: Instant,
}

struct KeyedShared<K, F, C> {
    config: Config,
    classify: C,
    key: F,
    max_keys: usize,
    idle_expiry: Duration,
    map: Mutex<KeyMap<K, C>>,
    callbacks: Mutex<Vec<Callback>>,
}

/// One [`CircuitBreaker`] per key taken from each request, so a failing
/// upstream host (or route) does not cut off healthy ones.
///
/// Every per-key breaker has the configuration of the builder it came from
/// and is named `"{name}/{key}"`. Breakers are made on first use, at most
/// [`max_keys`](KeyedBuilder::max_keys) are kept, and a key idle for
/// [`idle_expiry`](KeyedBuilder::idle_expiry) is dropped. The handle is a
/// cheap `Clone`; every service made from [`layer`](Self::layer) shares it.
///
/// The key is known only in `call`, so the keyed service's `poll_ready` is
/// the inner service's and a rejection is returned from `call`.
///
/// ```
/// use palisade_breaker::{CircuitBreaker, State};
///
/// # fn main() -> Result<(), palisade_core::ConfigError> {
/// let per_host = CircuitBreaker::builder("upstreams")
///     .consecutive_failures(3)
///     .key(|req: &http::Request<String>| req.uri().host().unwrap_or("").to_owned())
///     .max_keys(256)
///     .build()?;
/// let a = per_host.breaker("a.example".to_owned());
/// assert_eq!(a.name(), "upstreams/a.example");
/// assert_eq!(a.state(), State::Closed);
/// # Ok(())
/// # }
/// ```
pub struct KeyedCircuitBreaker<K, F, C = palisade_core::ErrorsAsFailures> {
    shared: Arc<KeyedShared<K, F, C>>,
}

impl<K, F, C> Clone for KeyedCircuitBreaker<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K, F, C> fmt::Debug for KeyedCircuitBreaker<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("name", &self.shared.config.name)
            .field("max_keys", &self.shared.max_keys)
            .finish_non_exhaustive()
    }
}

impl<K, F, C> KeyedCircuitBreaker<K, F, C> {
    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// A layer whose services all share these breakers.
    pub fn layer(&self) -> KeyedCircuitBreakerLayer<K, F, C> {
        KeyedCircuitBreakerLayer {
            keyed: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyMap<K, C>> {
        self.shared
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many breakers are alive.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no breaker is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `callback` on every state change of every per-key breaker
    /// (present and future); see [`CircuitBreaker::on_transition`].
    pub fn on_transition<Cb>(&self, callback: Cb)
    where
        Cb: Fn(&Transition) + Send + Sync + 'static,
    {
        let callback: Callback = Arc::new(callback);
        self.shared
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callback.clone());
        for entry in self.lock().entries.values() {
            entry.breaker.core().add_callback(callback.clone());
        }
    }
}

impl<K, F, C> KeyedCircuitBreaker<K, F, C>
where
    K: Hash + Eq + Clone + fmt::Display,
    C: Clone,
{
    /// The breaker of `key`, if it is alive.
    pub fn get(&self, key: &K) -> Option<CircuitBreaker<C>> {
        self.lock().entries.get(key).map(|e| e.breaker.clone())
    }

    /// The breaker of `key`, made if needed.
    pub fn breaker(&self, key: K) -> CircuitBreaker<C> {
        let now = Instant::now();
        let mut map = self.lock();
        if let Some(entry) = map.entries.get_mut(&key) {
            entry.last_used = now;
            return entry.breaker.clone();
        }
        let shared = &*self.shared;
        let full = map.entries.len() >= shared.max_keys;
        if full || now.saturating_duration_since(map.last_sweep) >= shared.idle_expiry / 4 {
            map.entries
                .retain(|_, e| now.saturating_duration_since(e.last_used) < shared.idle_expiry);
            map.last_sweep = now;
        }
        if map.entries.len() >= shared.max_keys {
            let victim = map
                .entries
                .iter()
                .min_by_key(|(_, e)| (e.breaker.state() != crate::State::Closed, e.last_used))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                map.entries.remove(&victim);
            }
        }
        let mut config = shared.config.clone();
        config.name = format!("{}/{key}", shared.config.name).into();
        // One lane: per-key breakers are many, and the keyed service takes a
        // lock per call anyway.
        let breaker = CircuitBreaker::with_lanes(config, shared.classify.clone(), 1);
        for callback in shared
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            breaker.core().add_callback(callback.clone());
        }
        map.entries.insert(
            key,
            Entry {
                breaker: breaker.clone(),
                last_used: now,
            },
        );
        breaker
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
        KeyedCircuitBreakerService {
            inner,
            keyed: self.keyed.clone(),
            _req: PhantomData,
        }
    }
}

/// A service behind one breaker per request key.
pub struct KeyedCircuitBreakerService<S, K, F, C> {
    inner: S,
    keyed: KeyedCircuitBreaker<K, F, C>,
    _req: PhantomData<fn() -> K>,
}

impl<S, K, F, C> KeyedCircuitBreakerService<S, K, F, C> {
    /// The keyed breaker.
    pub fn keyed(&self) -> &KeyedCircuitBreaker<K, F, C> {
        &self.keyed
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, K, F, C> Clone for KeyedCircuitBreakerService<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            keyed: self.keyed.clone(),
            _req: PhantomData,
        }
    }
}

impl<S: fmt::Debug, K, F, C> fmt::Debug for KeyedCircuitBreakerService<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerService")
            .field("inner", &self.inner)
            .field("keyed", &self.keyed)
            .finish()
    }
}

impl<S, K, F, C, Req> Service<Req> for KeyedCircuitBreakerService<S, K, F, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: Fn(&Req) -> K,
    K: Hash + Eq + Clone + fmt::Display,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.keyed.shared.key)(&req);
        let breaker = self.keyed.breaker(key);
        match breaker.core().acquire() {
            Ok(ticket) => {
                let mut guard = Guard::new(breaker.lane(), ticket);
                guard.start();
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Err(refusal) => ResponseFuture::rejected(breaker.core().rejected(refusal)),
        }
    }
}
