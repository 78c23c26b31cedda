//! The keyed strategy: equal keys are sent once (pending or in flight) and
//! every caller of a key gets a clone of its value.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    sync::Arc,
    task::{Context, Poll},
};

use tokio::{sync::OwnedSemaphorePermit, time::Instant};
use tower_service::Service;

use crate::{
    bisect,
    engine::Strategy,
    error::BatchFailed,
    queue::{Answer, Msg, Queue},
    state::BatchState,
    weigh::{Weigh, weigh_caught},
};

/// The callers of one key: the first inline, so a key with one caller (the
/// common case) allocates nothing beyond its answer channel.
struct Waiters<T> {
    first: T,
    rest: Vec<T>,
}

impl<T> Waiters<T> {
    fn new(first: T) -> Self {
        Self {
            first,
            rest: Vec::new(),
        }
    }

    fn push(&mut self, waiter: T) {
        self.rest.push(waiter);
    }

    /// Keeps the waiters `live` says yes to; `None` when none is left.
    fn retain(mut self, live: impl Fn(&T) -> bool) -> Option<Self> {
        self.rest.retain(&live);
        if !live(&self.first) {
            self.first = self.rest.pop()?;
        }
        Some(self)
    }

    fn into_iter(self) -> impl Iterator<Item = T> {
        std::iter::once(self.first).chain(self.rest)
    }
}

impl<V: Clone> Waiters<Answer<Option<V>>> {
    /// Every caller gets a clone of the value (the last one the value itself).
    fn answer(self, value: Option<V>) {
        for tx in self.rest {
            let _ = tx.send(Ok(value.clone()));
        }
        let _ = self.first.send(Ok(value));
    }

    fn fail(self, error: &BatchFailed) {
        for tx in self.into_iter() {
            let _ = tx.send(Err(Box::new(error.clone())));
        }
    }
}

/// A caller of a key waiting in the queue, with its room in the queue.
type PendingCaller<V> = (Answer<Option<V>>, OwnedSemaphorePermit);

/// A batch of distinct keys, whose callers wait in `Keyed::in_flight`.
pub(crate) struct Job<K> {
    keys: Vec<K>,
}

pub(crate) struct Keyed<S, K, V, W> {
    inner: S,
    weigh: Arc<W>,
    /// Callers of keys waiting in the queue, with their room in the queue.
    pending: HashMap<K, Waiters<PendingCaller<V>>>,
    /// Callers of keys sent (or about to be retried).
    in_flight: HashMap<K, Waiters<Answer<Option<V>>>>,
}

impl<S, K, V, W> Keyed<S, K, V, W> {
    pub(crate) fn new(inner: S, weigh: Arc<W>) -> Self {
        Self {
            inner,
            weigh,
            pending: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }
}

impl<S, K, V, H, W> Strategy for Keyed<S, K, V, W>
where
    S: Service<Vec<K>, Response = HashMap<K, V, H>>,
    S::Error: Into<palisade_core::BoxError>,
    K: Eq + Hash + Clone,
    V: Clone,
    H: BuildHasher,
    W: Weigh<K>,
{
    type Msg = Msg<K, Option<V>>;
    type Queued = K;
    type Job = Job<K>;
    type Output = HashMap<K, V, H>;
    type Error = S::Error;
    type Call = S::Future;

    fn admit(&mut self, msg: Self::Msg, queue: &mut Queue<K>) {
        let Msg {
            item: key,
            tx,
            permit,
            arrived,
        } = msg;
        if let Some(waiters) = self.in_flight.get_mut(&key) {
            // Already sent: wait for the same answer (no room in the queue
            // is needed for that).
            waiters.push(tx);
            return;
        }
        if let Some(waiters) = self.pending.get_mut(&key) {
            waiters.push((tx, permit));
            return;
        }
        let weight = match weigh_caught(&*self.weigh, &key) {
            Ok(weight) => weight,
            Err(panicked) => {
                let _ = tx.send(Err(Box::new(panicked)));
                return;
            }
        };
        queue.push(key.clone(), weight, arrived);
        self.pending.insert(key, Waiters::new((tx, permit)));
    }

    fn form(
        &mut self,
        queue: &mut Queue<K>,
        state: &BatchState,
        now: Instant,
    ) -> Option<Self::Job> {
        let mut keys = Vec::new();
        let (pending, in_flight) = (&mut self.pending, &mut self.in_flight);
        queue.take(&state.limits, |entry| {
            let Some(waiters) = pending.remove(&entry.value) else {
                return false;
            };
            // Callers that gave up are dropped here, with their room.
            let Some(live) = waiters.retain(|(tx, _)| !tx.is_closed()) else {
                return false;
            };
            state
                .telemetry
                .waited(now.saturating_duration_since(entry.arrived));
            let live = Waiters {
                first: live.first.0,
                rest: live.rest.into_iter().map(|(tx, _)| tx).collect(),
            };
            in_flight.insert(entry.value.clone(), live);
            keys.push(entry.value);
            true
        });
        (!keys.is_empty()).then_some(Job { keys })
    }

    fn prune(&mut self, mut job: Self::Job) -> Option<Self::Job> {
        job.keys.retain(|key| {
            let Some(waiters) = self.in_flight.remove(key) else {
                return false;
            };
            match waiters.retain(|tx| !tx.is_closed()) {
                Some(live) => {
                    self.in_flight.insert(key.clone(), live);
                    true
                }
                None => false,
            }
        });
        (!job.keys.is_empty()).then_some(job)
    }

    fn len(job: &Self::Job) -> usize {
        job.keys.len()
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, job: &mut Self::Job) -> Self::Call {
        self.inner.call(job.keys.clone())
    }

    fn answer(&mut self, job: Self::Job, mut output: Self::Output) {
        for key in job.keys {
            if let Some(waiters) = self.in_flight.remove(&key) {
                waiters.answer(output.remove(&key));
            }
        }
    }

    fn split(&mut self, mut job: Self::Job) -> (Self::Job, Self::Job) {
        let second = Job {
            keys: bisect::split_half(&mut job.keys),
        };
        (job, second)
    }

    fn fail(&mut self, job: Self::Job, error: &BatchFailed) {
        for key in job.keys {
            if let Some(waiters) = self.in_flight.remove(&key) {
                waiters.fail(error);
            }
        }
    }
}
