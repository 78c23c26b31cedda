//! A request waiting for another's call for the same key.

use std::{
    hash::Hash,
    sync::Arc,
    task::{Context, Poll},
};

use palisade_core::BoxError;

use crate::{
    entry::SharedEntry,
    flight::{Flight, WaitPoll},
    leader::LeadGuard,
    state::CacheState,
    telemetry::{self, Event},
};

type LeaveFn<K, V> = fn(&CacheState<K, V>, &K, &Arc<Flight<V>>, usize);

/// Leaves the flight when dropped (so an abandoned flight with no one left
/// is forgotten).
pub(crate) struct Waiter<K, V> {
    state: Arc<CacheState<K, V>>,
    key: K,
    flight: Arc<Flight<V>>,
    slot: usize,
    stale: Option<SharedEntry<V>>,
    leave: Option<LeaveFn<K, V>>,
}

impl<K, V> std::fmt::Debug for Waiter<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// What a waiter's poll asks its owner to do.
pub(crate) enum Waited<K, V> {
    Ready(Result<V, BoxError>),
    /// The leader was cancelled: make the call with this guard (the flight is
    /// running again on this waiter's behalf).
    TakeOver(LeadGuard<K, V>),
    /// The result cannot be shared: make an own call, uncoalesced.
    Pass,
}

impl<K, V> Waiter<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        state: Arc<CacheState<K, V>>,
        key: K,
        flight: Arc<Flight<V>>,
        slot: usize,
        stale: Option<SharedEntry<V>>,
    ) -> Self {
        Self {
            state,
            key,
            flight,
            slot,
            stale,
            leave: Some(|state, key, flight, slot| state.flights.leave(key, flight, slot)),
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Waited<K, V>> {
        match self.flight.poll_wait(self.slot, cx) {
            WaitPoll::Pending => Poll::Pending,
            WaitPoll::Ready(res) => Poll::Ready(Waited::Ready(res.map_err(Into::into))),
            WaitPoll::Pass => Poll::Ready(Waited::Pass),
            WaitPoll::TakeOver => {
                telemetry::leader_taken_over(&self.state.name);
                self.state.recorder.record(Event::Miss);
                Poll::Ready(Waited::TakeOver(LeadGuard::new(
                    Arc::clone(&self.state),
                    self.key.clone(),
                    Arc::clone(&self.flight),
                    self.stale.clone(),
                    false,
                )))
            }
        }
    }
}

impl<K, V> Drop for Waiter<K, V> {
    fn drop(&mut self) {
        if let Some(leave) = self.leave.take() {
            leave(&self.state, &self.key, &self.flight, self.slot);
        }
    }
}
