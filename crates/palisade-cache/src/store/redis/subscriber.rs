//! The background purge subscriber: one dedicated pub/sub connection per
//! store, reconnecting on its own, delivering purges to every local cache.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use redis::Client;

use super::events;
use super::keys::decode_purge;
use super::stats::Counters;
use crate::store::{Purge, PurgeSink};

/// How often an idle subscription is pinged, to notice a half-open connection.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Reconnection backoff bounds.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The local caches' purge sinks.
#[derive(Debug, Default)]
pub(crate) struct Sinks {
    list: Mutex<Vec<PurgeSink>>,
}

impl Sinks {
    pub(crate) fn add(&self, sink: PurgeSink) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(PurgeSink::is_alive);
        list.push(sink);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Applies `purge` to every live cache (outside the lock) and forgets
    /// the dropped ones.
    pub(crate) fn deliver(&self, purge: &Purge) {
        let list = self
            .list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut dead = false;
        for sink in &list {
            dead |= !sink.purge(purge);
        }
        if dead {
            let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
            list.retain(PurgeSink::is_alive);
        }
    }
}

/// Everything the subscriber task owns (never the store itself, so the task
/// does not keep the store alive; the store aborts it when dropped).
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) client: Client,
    pub(crate) namespace: Arc<str>,
    pub(crate) channel: String,
    pub(crate) origin: u64,
    pub(crate) connect_timeout: Duration,
    pub(crate) sinks: Arc<Sinks>,
    pub(crate) counters: Arc<Counters>,
}

impl Subscriber {
    /// Runs until aborted: subscribe, deliver, and on any loss reconnect
    /// with backoff. After every loss (or a failed first attempt) the local
    /// caches get [`Purge::All`], since purges may have been missed.
    pub(crate) async fn run(self) {
        let mut missed = false;
        let mut retry = RETRY_MIN;
        loop {
            if let Some(pubsub) = self.connect().await {
                retry = RETRY_MIN;
                if missed {
                    events::resubscribed(&self.namespace);
                    self.counters.resubscribed();
                    self.counters.received();
                    self.sinks.deliver(&Purge::All);
                }
                self.listen(pubsub).await;
                events::subscription_lost(&self.namespace);
            }
            missed = true;
            let jitter = retry.mul_f64(fastrand::f64() * 0.5);
            tokio::time::sleep(retry + jitter).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    async fn connect(&self) -> Option<redis::aio::PubSub> {
        let attempt = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(pubsub)) => Some(pubsub),
            _ => None,
        }
    }

    /// Delivers messages until the connection is lost.
    async fn listen(&self, pubsub: redis::aio::PubSub) {
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { return };
                    match decode_purge(message.get_payload_bytes()) {
                        Some((origin, _)) if origin == self.origin => {}
                        Some((_, purge)) => {
                            self.counters.received();
                            self.sinks.deliver(&purge);
                        }
                        None => {}
                    }
                }
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(
                        self.connect_timeout,
                        sink.ping::<redis::Value>(),
                    );
                    if !matches!(pong.await, Ok(Ok(_))) {
                        return;
                    }
                }
            }
        }
    }
}
