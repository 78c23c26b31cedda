//! One breaker per key: per upstream host, per route.
//!
//! [`KeyedCircuitBreaker`] (here) is the handle; [`KeyedCircuitBreakerBuilder`]
//! (`builder.rs`) configures it, [`KeyedCircuitBreakerLayer`] (`layer.rs`) and
//! [`KeyedCircuitBreakerService`] (`service.rs`) put it in a stack, and
//! `state.rs` holds the per-key breakers. The response future is the
//! breaker's own [`ResponseFuture`](crate::future::ResponseFuture).

mod builder;
mod layer;
mod service;
mod state;

pub use builder::KeyedCircuitBreakerBuilder;
pub use layer::KeyedCircuitBreakerLayer;
pub use service::KeyedCircuitBreakerService;

use crate::{breaker::CircuitBreaker, machine::Callback, status::Transition, verdict::AtResponse};
use state::KeyedBreakers;
use std::{
    collections::HashSet,
    fmt,
    hash::Hash,
    marker::PhantomData,
    sync::{Arc, PoisonError},
};

/// One [`CircuitBreaker`] per key taken from each request, so a failing
/// upstream host (or route) does not cut off healthy ones.
///
/// Every per-key breaker has the configuration of the builder it came from
/// and is named `"{name}/{key}"`. Breakers are made on first use, at most
/// [`max_keys`](KeyedCircuitBreakerBuilder::max_keys) closed ones are kept (the least
/// recently used makes room; one that is not closed is kept apart and never
/// dropped to make room), and a key idle for
/// [`idle_expiry`](KeyedCircuitBreakerBuilder::idle_expiry) is dropped. The handle is a
/// cheap `Clone`; every service made from [`layer`](Self::layer) shares it.
///
/// The breakers live in a concurrent cache ([moka](https://docs.rs/moka)'s):
/// finding a key's breaker is O(1) and takes no lock shared by all keys,
/// however many keys there are, so a client choosing the key (a `Host`
/// header) cannot make every request scan a map or wait on a global lock.
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
pub struct KeyedCircuitBreaker<K, F, C = palisade_core::ErrorsAsFailures, V = AtResponse> {
    breakers: Arc<KeyedBreakers<K, F, C>>,
    /// When its services learn a call's outcome.
    verdict: PhantomData<fn() -> V>,
}

impl<K, F, C, V> Clone for KeyedCircuitBreaker<K, F, C, V> {
    fn clone(&self) -> Self {
        Self {
            breakers: self.breakers.clone(),
            verdict: PhantomData,
        }
    }
}

impl<K, F, C, V> fmt::Debug for KeyedCircuitBreaker<K, F, C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("name", &self.breakers.config.name)
            .field("max_keys", &self.breakers.max_keys)
            .finish_non_exhaustive()
    }
}

impl<K, F, C, V> KeyedCircuitBreaker<K, F, C, V> {
    fn new(breakers: KeyedBreakers<K, F, C>) -> Self {
        Self {
            breakers: Arc::new(breakers),
            verdict: PhantomData,
        }
    }

    /// The per-key breakers.
    #[inline]
    fn breakers(&self) -> &KeyedBreakers<K, F, C> {
        &self.breakers
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.breakers.config.name
    }

    /// Calls `callback` on every state change of every per-key breaker
    /// (present and future); see [`CircuitBreaker::on_transition`].
    pub fn on_transition<Cb>(&self, callback: Cb)
    where
        Cb: Fn(&Transition) + Send + Sync + 'static,
        K: Hash + Eq + Send + Sync + 'static,
        C: Send + Sync + 'static,
    {
        let callback: Callback = Arc::new(callback);
        self.breakers
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callback.clone());
        let mut seen = HashSet::new();
        for (_, entry) in self.breakers.live.iter().chain(self.breakers.held.iter()) {
            if seen.insert(Arc::as_ptr(&entry) as usize) {
                entry.breaker.machine().add_callback(callback.clone());
            }
        }
    }
}

impl<K, F, C, V> KeyedCircuitBreaker<K, F, C, V>
where
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
{
    /// How many breakers are alive.
    pub fn len(&self) -> usize {
        let shared = &*self.breakers;
        let now = shared.now();
        shared.live.run_pending_tasks();
        let live = shared
            .live
            .iter()
            .filter(|(_, e)| !e.idle(now, shared.idle_nanos))
            .count();
        let held_only = shared
            .held
            .iter()
            .filter(|(k, e)| !e.idle(now, shared.idle_nanos) && !shared.live.contains_key(&**k))
            .count();
        // (A breaker between the two maps while it changes state is counted once.)
        live + held_only
    }

    /// Whether no breaker is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The breaker of `key`, if it is alive.
    pub fn get(&self, key: &K) -> Option<CircuitBreaker<C, V>> {
        self.breakers.live.run_pending_tasks();
        self.breakers
            .live_entry(key, self.breakers.now())
            .map(|e| e.breaker.clone().with_verdict())
    }

    /// The breaker of `key`, made if needed.
    pub fn breaker(&self, key: K) -> CircuitBreaker<C, V> {
        self.breakers
            .with_breaker(key, |b| b.clone().with_verdict())
    }
}
