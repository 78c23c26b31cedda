//! The purge subscriber, seen from the sinks a cache registers.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::RedisStore;
use crate::store::{L2Store, Purge, PurgeSink, PurgeTarget};

#[path = "../../../tests/support/redis_server.rs"]
mod server;
use server::{RedisServer, eventually, shared_redis, unique_namespace};

const WAIT: Duration = Duration::from_secs(5);

/// A stand-in for a cache's L1: records what it was told to purge.
#[derive(Default)]
struct Recorder(Mutex<Vec<Purge>>);

impl PurgeTarget for Recorder {
    fn purge(&self, purge: &Purge) {
        self.0.lock().unwrap().push(purge.clone());
    }
}

impl Recorder {
    fn attach(store: &RedisStore) -> Arc<Self> {
        let recorder = Arc::new(Self::default());
        let target: Arc<dyn PurgeTarget> = recorder.clone();
        store.subscribe(PurgeSink::new(
            Arc::downgrade(&target) as Weak<dyn PurgeTarget>
        ));
        recorder
    }

    fn seen(&self) -> Vec<Purge> {
        self.0.lock().unwrap().clone()
    }
}

async fn store(url: &str, namespace: &str) -> RedisStore {
    let l2 = RedisStore::builder(url)
        .namespace(namespace)
        .timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    assert!(
        l2.connected(Duration::from_secs(5)).await,
        "Redis answers at {url}"
    );
    l2
}

#[tokio::test]
async fn purges_reach_other_replicas_once_and_local_caches_directly() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("purge_fanout");
    let a = store(&url, &ns).await;
    let b = store(&url, &ns).await;
    let other = store(&url, &unique_namespace("purge_other")).await;
    let a_cache1 = Recorder::attach(&a);
    let a_cache2 = Recorder::attach(&a);
    let b_cache = Recorder::attach(&b);
    let other_cache = Recorder::attach(&other);
    // The subscription is set up in the background: wait until B hears A.
    let heard = eventually(WAIT, async || {
        a.invalidate(b"warmup").await;
        !b_cache.seen().is_empty()
    })
    .await;
    assert!(heard, "B's subscriber never heard A");
    // Give A's own subscriber time to be live, so its echo would show.
    assert!(
        eventually(WAIT, async || {
            b.invalidate(b"warmup-b").await;
            a_cache1
                .seen()
                .contains(&Purge::Key(Bytes::from_static(b"warmup-b")))
        })
        .await
    );
    let before = (
        a_cache1.seen().len(),
        a_cache2.seen().len(),
        b_cache.seen().len(),
    );

    a.invalidate_tag("user:42").await;
    let tag = Purge::Tag("user:42".into());
    assert!(eventually(WAIT, async || b_cache.seen().last() == Some(&tag)).await);
    // Both local caches got it exactly once (directly, no echo).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a_cache1.seen().len(), before.0 + 1);
    assert_eq!(a_cache2.seen().len(), before.1 + 1);
    assert_eq!(a_cache1.seen().last(), Some(&tag));
    assert_eq!(b_cache.seen().len(), before.2 + 1);
    assert!(
        other_cache.seen().is_empty(),
        "other namespaces hear nothing"
    );
    assert!(b.stats().invalidations_received >= 2);
}

#[tokio::test]
async fn a_dropped_cache_is_forgotten_and_a_dropped_store_stops_its_subscriber() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("purge_drop");
    let a = store(&url, &ns).await;
    let gone = Recorder::attach(&a);
    drop(gone);
    let kept = Recorder::attach(&a);
    a.invalidate(b"k").await;
    assert_eq!(kept.seen(), [Purge::Key(Bytes::from_static(b"k"))]);
    assert_eq!(a.shared.sinks.len(), 1);
    let weak = Arc::downgrade(&a.shared);
    drop(a);
    assert!(weak.upgrade().is_none(), "no task keeps the store alive");
}

#[tokio::test]
async fn after_a_lost_subscription_every_cache_is_cleared() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let a = store(&server.url(), "resubscribe").await;
    let cache = Recorder::attach(&a);
    server.stop();
    server.restart().await;
    assert!(
        eventually(Duration::from_secs(10), async || cache
            .seen()
            .contains(&Purge::All))
        .await,
        "no Purge::All after the reconnect: {:?}",
        a.stats()
    );
    assert!(a.stats().resubscriptions >= 1);
}
