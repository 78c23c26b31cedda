//! One breaker per key: per upstream host, per route.

use crate::{
    CircuitBreaker,
    config::{Builder, Config},
    core::Callback,
    future::ResponseFuture,
    permit::Guard,
    state::{State, Transition},
};
use moka::{policy::EvictionPolicy, sync::Cache};
use palisade_core::{BoxError, Classify, ConfigError};
use std::{
    collections::HashSet,
    fmt,
    hash::Hash,
    marker::PhantomData,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// Configures a [`KeyedCircuitBreaker`]: made by [`Builder::key`].
///
/// Defaults: at most 1024 closed breakers kept, a key unused for 10 minutes
/// is dropped. Both settings are optional; neither may be zero.
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
    pub fn build<Req, K>(self) -> Result<KeyedCircuitBreaker<K, F, C>, ConfigError>
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
        Ok(KeyedCircuitBreaker {
            shared: Arc::new(KeyedShared {
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
            }),
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One key's breaker and when it was last used.
struct Entry<C> {
    breaker: CircuitBreaker<C>,
    /// Nanoseconds since the keyed breaker's base (tokio's clock).
    last_used: AtomicU64,
}

impl<C> Entry<C> {
    fn idle(&self, now: u64, idle: u64) -> bool {
        now.saturating_sub(self.last_used.load(Ordering::Relaxed)) >= idle
    }

    /// Marks a use, writing only when the stamp moved by a 64th of the idle
    /// time (a hot key's line is not written on every call).
    #[inline]
    fn touch(&self, now: u64, idle: u64) {
        let last = self.last_used.load(Ordering::Relaxed);
        if now.saturating_sub(last) > idle / 64 {
            self.last_used.store(now, Ordering::Relaxed);
        }
    }
}

/// A map of breakers by key.
type Map<K, C> = Cache<K, Arc<Entry<C>>>;

struct KeyedShared<K, F, C> {
    config: Config,
    classify: C,
    key: F,
    max_keys: usize,
    idle_nanos: u64,
    base: Instant,
    /// The closed breakers, the least recently used dropped past `max_keys`.
    live: Arc<Map<K, C>>,
    /// The breakers that are not closed, which must not be dropped to make
    /// room: moved here from `live` when they leave `Closed`, moved back
    /// when they return to it (or dropped when idle).
    held: Arc<Map<K, C>>,
    /// When `held` was last swept for idle keys.
    last_sweep: AtomicU64,
    callbacks: Mutex<Vec<Callback>>,
}

/// One [`CircuitBreaker`] per key taken from each request, so a failing
/// upstream host (or route) does not cut off healthy ones.
///
/// Every per-key breaker has the configuration of the builder it came from
/// and is named `"{name}/{key}"`. Breakers are made on first use, at most
/// [`max_keys`](KeyedBuilder::max_keys) closed ones are kept (the least
/// recently used makes room; one that is not closed is kept apart and never
/// dropped to make room), and a key idle for
/// [`idle_expiry`](KeyedBuilder::idle_expiry) is dropped. The handle is a
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

    /// Calls `callback` on every state change of every per-key breaker
    /// (present and future); see [`CircuitBreaker::on_transition`].
    pub fn on_transition<Cb>(&self, callback: Cb)
    where
        Cb: Fn(&Transition) + Send + Sync + 'static,
        K: Hash + Eq + Send + Sync + 'static,
        C: Send + Sync + 'static,
    {
        let callback: Callback = Arc::new(callback);
        self.shared
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callback.clone());
        let mut seen = HashSet::new();
        for (_, entry) in self.shared.live.iter().chain(self.shared.held.iter()) {
            if seen.insert(Arc::as_ptr(&entry) as usize) {
                entry.breaker.core().add_callback(callback.clone());
            }
        }
    }
}

impl<K, F, C> KeyedCircuitBreaker<K, F, C>
where
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
{
    fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.shared.base))
    }

    /// The entry of `key` if it is alive (not idle past the expiry).
    #[inline]
    fn live_entry(&self, key: &K, now: u64) -> Option<Arc<Entry<C>>> {
        let shared = &*self.shared;
        let entry = match shared.live.get(key) {
            Some(entry) => entry,
            None => self.held_entry(key)?,
        };
        if entry.idle(now, shared.idle_nanos) {
            shared.live.invalidate(key);
            shared.held.invalidate(key);
            return None;
        }
        Some(entry)
    }

    /// A breaker that is not closed.
    #[cold]
    fn held_entry(&self, key: &K) -> Option<Arc<Entry<C>>> {
        self.shared.held.get(key)
    }

    /// How many breakers are alive.
    pub fn len(&self) -> usize {
        let shared = &*self.shared;
        let now = self.now();
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
    pub fn get(&self, key: &K) -> Option<CircuitBreaker<C>> {
        self.shared.live.run_pending_tasks();
        self.live_entry(key, self.now()).map(|e| e.breaker.clone())
    }

    /// The breaker of `key`, made if needed.
    pub fn breaker(&self, key: K) -> CircuitBreaker<C> {
        self.with_breaker(key, CircuitBreaker::clone)
    }

    /// Runs `f` on the breaker of `key`, made if needed: O(1), no global lock.
    #[inline]
    fn with_breaker<R>(&self, key: K, f: impl FnOnce(&CircuitBreaker<C>) -> R) -> R {
        let now = self.now();
        if let Some(entry) = self.live_entry(&key, now) {
            entry.touch(now, self.shared.idle_nanos);
            return f(&entry.breaker);
        }
        self.sweep_held(now);
        let entry = self
            .shared
            .live
            .get_with(key.clone(), || self.make(key, now));
        entry.touch(now, self.shared.idle_nanos);
        f(&entry.breaker)
    }

    /// Drops idle breakers from `held` (which nothing else bounds), at most
    /// once a quarter of the idle expiry, when a new key arrives.
    #[cold]
    fn sweep_held(&self, now: u64) {
        let shared = &*self.shared;
        let last = shared.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < shared.idle_nanos / 4
            || shared
                .last_sweep
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        for (key, entry) in shared.held.iter() {
            if entry.idle(now, shared.idle_nanos) {
                shared.held.invalidate(&*key);
            }
        }
    }

    #[cold]
    fn make(&self, key: K, now: u64) -> Arc<Entry<C>> {
        let shared = &*self.shared;
        let mut config = shared.config.clone();
        config.name = format!("{}/{key}", shared.config.name).into();
        // One lane: per-key breakers are many.
        let breaker = CircuitBreaker::with_lanes(config, shared.classify.clone(), 1);
        let entry = Arc::new(Entry {
            breaker: breaker.clone(),
            last_used: AtomicU64::new(now),
        });
        // A breaker that leaves `Closed` moves out of `live`'s eviction.
        let live: Weak<Map<K, C>> = Arc::downgrade(&shared.live);
        let held: Weak<Map<K, C>> = Arc::downgrade(&shared.held);
        let weak_entry = Arc::downgrade(&entry);
        breaker.core().add_callback(Arc::new(move |t: &Transition| {
            let (Some(live), Some(held), Some(entry)) =
                (live.upgrade(), held.upgrade(), weak_entry.upgrade())
            else {
                return;
            };
            if t.to() == State::Closed {
                live.insert(key.clone(), entry);
                held.invalidate(&key);
            } else {
                held.insert(key.clone(), entry);
                live.invalidate(&key);
            }
        }));
        for callback in shared
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            breaker.core().add_callback(callback.clone());
        }
        entry
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
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
    C: Classify<S::Response, S::Error> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.keyed.shared.key)(&req);
        let admission = self.keyed.with_breaker(key, |breaker| {
            breaker
                .core()
                .acquire()
                .map(|ticket| Guard::new(breaker.lane(), ticket))
                .map_err(|refusal| breaker.core().rejected(refusal))
        });
        match admission {
            Ok(mut guard) => {
                guard.start();
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Err(rejected) => ResponseFuture::rejected(rejected),
        }
    }
}
