//! Coalescing: one call per key in flight, its result handed to the waiters.
//!
//! moka's `get_with` / `try_get_with` coalesce too, but they cannot serve a
//! stale entry while one refresh runs, hand an error to the current waiters
//! without caching it, or let a waiter take over when the leading call is
//! cancelled (moka's init future runs inside the first caller's future and
//! simply restarts in the next caller). So the cache keeps its own small map
//! of calls in flight: a `std::sync::Mutex<HashMap<K, Arc<Flight>>>` touched
//! only on misses and refreshes (never on a fresh hit), held for a few
//! instructions and never across an `.await`.
//!
//! A flight is `Running` while some call for the key is under way (a
//! request's own call, a background refresh, or a take-over), `Abandoned`
//! when that call's future was dropped before it finished (the first waiter
//! to notice starts a new call, so at most one more inner call is made), and
//! `Done` once a result was handed over (waiters clone it out). `Pass` tells
//! HTTP waiters the response could not be shared (not storable, or too big):
//! each then makes its own call.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Waker},
};

use palisade_core::BoxError;

use crate::error::SharedError;

/// The result handed to waiters.
pub(crate) type Shared<V> = Result<V, SharedError>;

pub(crate) enum Phase<V> {
    Running,
    Abandoned,
    Done(Shared<V>),
    Pass,
}

struct State<V> {
    phase: Phase<V>,
    /// One slot per waiter that joined; `None` once woken or left.
    wakers: Vec<Option<Waker>>,
    waiters: usize,
}

pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
}

impl<V> std::fmt::Debug for Flight<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flight").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a waiter's poll found.
pub(crate) enum WaitPoll<V> {
    /// The value (or shared error) is here.
    Ready(Shared<V>),
    /// The leader was cancelled and this waiter must start a new call now
    /// (the flight is `Running` again on its behalf).
    TakeOver,
    /// The result cannot be shared: make your own call.
    Pass,
    Pending,
}

impl<V: Clone> Flight<V> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                phase: Phase::Running,
                wakers: Vec::new(),
                waiters: 0,
            }),
        })
    }

    /// Hands `phase` to every current waiter. Returns whether anyone waited.
    pub(crate) fn finish(&self, phase: Phase<V>) -> bool {
        let wakers = {
            let mut st = lock(&self.state);
            st.phase = phase;
            std::mem::take(&mut st.wakers)
        };
        let any = !wakers.is_empty();
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
        any
    }

    /// Hands an error to the current waiters. With no waiter the original
    /// error comes back untouched; otherwise everyone (the leader too) gets
    /// a [`SharedError`] whose `source()` is the original.
    pub(crate) fn finish_err(&self, err: BoxError) -> BoxError {
        let wakers = {
            let mut st = lock(&self.state);
            if st.waiters == 0 {
                st.phase = Phase::Pass;
                return err;
            }
            let shared = SharedError::new(err);
            st.phase = Phase::Done(Err(shared.clone()));
            (std::mem::take(&mut st.wakers), shared)
        };
        let (wakers, shared) = wakers;
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
        Box::new(shared)
    }

    /// Marks the leading call as gone; returns the number of waiters left.
    /// The waiters keep their slots (the flight goes on with a new leader).
    fn abandon(&self) -> usize {
        let (wakers, waiters) = {
            let mut st = lock(&self.state);
            if !matches!(st.phase, Phase::Running) {
                return st.waiters;
            }
            st.phase = Phase::Abandoned;
            let wakers: Vec<Waker> = st.wakers.iter_mut().filter_map(Option::take).collect();
            (wakers, st.waiters)
        };
        for w in wakers {
            w.wake();
        }
        waiters
    }

    /// Polls as waiter number `slot`.
    pub(crate) fn poll_wait(&self, slot: usize, cx: &mut Context<'_>) -> WaitPoll<V> {
        let mut st = lock(&self.state);
        match &st.phase {
            Phase::Done(res) => WaitPoll::Ready(res.clone()),
            Phase::Pass => WaitPoll::Pass,
            Phase::Abandoned => {
                st.phase = Phase::Running;
                WaitPoll::TakeOver
            }
            Phase::Running => {
                if st.wakers.len() <= slot {
                    st.wakers.resize_with(slot + 1, || None);
                }
                match &mut st.wakers[slot] {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    other => *other = Some(cx.waker().clone()),
                }
                WaitPoll::Pending
            }
        }
    }

    /// Joins as a waiter (the leader of an awaited L2 miss, whose call the
    /// background service makes). Returns the waiter's slot.
    pub(crate) fn add_waiter(&self) -> usize {
        let mut st = lock(&self.state);
        let slot = st.wakers.len();
        st.wakers.push(None);
        st.waiters += 1;
        slot
    }

    fn is_abandoned(&self) -> bool {
        matches!(lock(&self.state).phase, Phase::Abandoned)
    }
}

/// The calls in flight of one cache, by key.
///
/// A flight that ended with a value stays in the map until that value is
/// visible in L1 (see `CacheState::settle`): a request arriving in between, whose
/// L1 lookup found nothing, joins it and gets the value at once instead of
/// starting a second lookup.
pub(crate) struct Flights<K, V> {
    map: Arc<Mutex<HashMap<K, Arc<Flight<V>>>>>,
}

impl<K, V> std::fmt::Debug for Flights<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &lock(&self.map).len())
            .finish()
    }
}

/// The outcome of joining the flight for a key.
pub(crate) enum Join<V> {
    /// No call was under way (or its leader was cancelled): the caller now
    /// leads and must make the call.
    Lead(Arc<Flight<V>>),
    /// A call is under way: wait for it as waiter number `slot`.
    Wait(Arc<Flight<V>>, usize),
}

impl<K: Hash + Eq + Clone, V: Clone> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            map: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Leads or joins the flight for `key`.
    pub(crate) fn join(&self, key: &K) -> Join<V> {
        let mut map = lock(&self.map);
        if let Some(flight) = map.get(key) {
            let mut st = lock(&flight.state);
            match st.phase {
                // Done with a value not yet visible in L1: take it from here.
                Phase::Running | Phase::Done(Ok(_)) => {
                    let slot = st.wakers.len();
                    st.wakers.push(None);
                    st.waiters += 1;
                    drop(st);
                    return Join::Wait(Arc::clone(flight), slot);
                }
                Phase::Abandoned => {
                    // Lead the same flight so its waiters get our result.
                    st.phase = Phase::Running;
                    drop(st);
                    return Join::Lead(Arc::clone(flight));
                }
                Phase::Done(Err(_)) | Phase::Pass => {}
            }
        }
        let flight = Flight::new();
        map.insert(key.clone(), Arc::clone(&flight));
        Join::Lead(flight)
    }

    /// Leads the flight for `key` only if none is under way (background
    /// refresh: one per key).
    pub(crate) fn try_lead(&self, key: &K) -> Option<Arc<Flight<V>>> {
        let mut map = lock(&self.map);
        if let Some(flight) = map.get(key) {
            let mut st = lock(&flight.state);
            if !matches!(st.phase, Phase::Abandoned) {
                return None;
            }
            st.phase = Phase::Running;
            drop(st);
            return Some(Arc::clone(flight));
        }
        let flight = Flight::new();
        map.insert(key.clone(), Arc::clone(&flight));
        Some(flight)
    }

    /// Removes `flight` from the map (if it is still the one for `key`):
    /// new requests then look in L1 again.
    pub(crate) fn remove(&self, key: &K, flight: &Arc<Flight<V>>) {
        remove_from(&self.map, key, flight);
    }

    /// A handle that removes `flight` later (from a task), or when dropped.
    pub(crate) fn remover(&self, key: K, flight: Arc<Flight<V>>) -> Remover<K, V> {
        Remover {
            map: Arc::clone(&self.map),
            key: Some(key),
            flight,
        }
    }

    /// The leader of `flight` went away without a result.
    pub(crate) fn abandon(&self, key: &K, flight: &Arc<Flight<V>>) {
        if flight.abandon() == 0 {
            self.forget_if_orphaned(key, flight);
        }
    }

    /// A waiter went away.
    pub(crate) fn leave(&self, key: &K, flight: &Arc<Flight<V>>, slot: usize) {
        let left = {
            let mut st = lock(&flight.state);
            st.waiters = st.waiters.saturating_sub(1);
            if let Some(w) = st.wakers.get_mut(slot) {
                *w = None;
            }
            st.waiters
        };
        if left == 0 && flight.is_abandoned() {
            self.forget_if_orphaned(key, flight);
        }
    }

    fn forget_if_orphaned(&self, key: &K, flight: &Arc<Flight<V>>) {
        let mut map = lock(&self.map);
        if !map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            return;
        }
        let st = lock(&flight.state);
        if matches!(st.phase, Phase::Abandoned) && st.waiters == 0 {
            drop(st);
            map.remove(key);
        }
    }
}

type Map<K, V> = Mutex<HashMap<K, Arc<Flight<V>>>>;

fn remove_from<K: Hash + Eq, V>(map: &Map<K, V>, key: &K, flight: &Arc<Flight<V>>) {
    let mut map = lock(map);
    if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
        map.remove(key);
    }
}

/// Removes one flight from its map when dropped (after the task holding it
/// finished, or was cancelled).
pub(crate) struct Remover<K: Hash + Eq, V> {
    map: Arc<Map<K, V>>,
    key: Option<K>,
    flight: Arc<Flight<V>>,
}

impl<K: Hash + Eq, V> Drop for Remover<K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            remove_from(&self.map, &key, &self.flight);
        }
    }
}
