//! The Redis tier on its own, against a real Redis: round trips, expiry,
//! garbage, invalidation, bad configuration, and faults on a private server.
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use palisade_cache::store::{L2Entry, L2Payload, L2Store};
use palisade_cache::{Cache, RedisStore};
use redis::AsyncCommands;
use redis_server::{RedisServer, eventually, raw, shared_redis, unique_namespace};

const WAIT: Duration = Duration::from_secs(5);

fn entry(value: &'static [u8], tags: &[&str]) -> L2Entry {
    L2Entry {
        payload: L2Payload::Value(Bytes::from_static(value)),
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(60),
        stale_while_revalidate: Duration::from_secs(30),
        stale_if_error: Duration::from_secs(120),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    }
}

async fn store(url: &str, namespace: &str) -> RedisStore {
    let l2 = RedisStore::builder(url)
        .namespace(namespace)
        .timeout(Duration::from_millis(200))
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
async fn a_put_is_read_back_with_its_freshness_and_expires_in_redis() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("round_trip");
    let l2 = store(&url, &ns).await;
    let original = entry(b"alice", &["user:1"]);
    l2.put(Bytes::from_static(b"v:1"), original.clone());

    assert!(eventually(WAIT, async || l2.get(b"v:1").await.is_some()).await);
    let read = l2.get(b"v:1").await.unwrap();
    assert_eq!(read.payload, original.payload);
    assert_eq!(read.tags, original.tags);
    assert_eq!(read.expires_after(), original.expires_after());
    assert!(original.stored_at.duration_since(read.stored_at).unwrap() < Duration::from_millis(1));

    let mut conn = raw(&url).await;
    let key = format!("palisade:{ns}:e:v:1");
    let pttl: i64 = conn.pttl(&key).await.unwrap();
    // TTL 60 s plus the longer stale window (120 s).
    assert!((170_000..=180_000).contains(&pttl), "pttl {pttl}");
    let tag_ttl: i64 = conn.pttl(format!("palisade:{ns}:t:user:1")).await.unwrap();
    assert!(
        tag_ttl >= pttl - 1_000,
        "tag set expires with its entry: {tag_ttl}"
    );
    let _: () = conn
        .del(&[key, format!("palisade:{ns}:t:user:1")])
        .await
        .unwrap();

    let stats = l2.stats();
    assert!(stats.hits >= 2 && stats.writes == 1, "{stats:?}");
}

#[tokio::test]
async fn garbage_is_a_counted_miss_and_is_overwritten() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("garbage");
    let l2 = store(&url, &ns).await;
    let mut conn = raw(&url).await;
    let key = format!("palisade:{ns}:e:v:garbage");
    let _: () = conn.set(&key, b"\x00not an envelope").await.unwrap();

    assert_eq!(l2.get(b"v:garbage").await, None);
    assert_eq!(l2.stats().undecodable, 1);

    l2.put(Bytes::from_static(b"v:garbage"), entry(b"good", &[]));
    assert!(eventually(WAIT, async || l2.get(b"v:garbage").await.is_some()).await);
    let stored: Vec<u8> = conn.get(&key).await.unwrap();
    assert_eq!(&stored[..4], b"PLSC");
    let _: () = conn.del(&key).await.unwrap();
}

#[tokio::test]
async fn invalidation_deletes_the_key_and_every_entry_of_a_tag() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("invalidate");
    let l2 = store(&url, &ns).await;
    l2.put(Bytes::from_static(b"v:a"), entry(b"a", &["team"]));
    l2.put(Bytes::from_static(b"v:b"), entry(b"b", &["team", "other"]));
    l2.put(Bytes::from_static(b"v:c"), entry(b"c", &["other"]));
    assert!(eventually(WAIT, async || l2.stats().writes == 3).await);

    l2.invalidate_tag("team").await;
    assert_eq!(l2.get(b"v:a").await, None);
    assert_eq!(l2.get(b"v:b").await, None);
    assert!(l2.get(b"v:c").await.is_some(), "untagged entries stay");
    let mut conn = raw(&url).await;
    let set_exists: bool = conn.exists(format!("palisade:{ns}:t:team")).await.unwrap();
    assert!(!set_exists, "the tag's set is gone");

    l2.invalidate(b"v:c").await;
    assert_eq!(l2.get(b"v:c").await, None);
    assert_eq!(l2.stats().invalidations_sent, 2);
    let _: () = conn.del(format!("palisade:{ns}:t:other")).await.unwrap();
}

#[tokio::test]
async fn an_entry_past_its_lifetime_is_a_miss() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("expired");
    let l2 = store(&url, &ns).await;
    let mut old = entry(b"old", &[]);
    old.stored_at = SystemTime::now() - Duration::from_secs(3600);
    // Already past its lifetime: not even written.
    l2.put(Bytes::from_static(b"v:old"), old);
    l2.put(Bytes::from_static(b"v:new"), entry(b"new", &[]));
    assert!(eventually(WAIT, async || l2.get(b"v:new").await.is_some()).await);
    assert_eq!(l2.get(b"v:old").await, None);
    assert_eq!(l2.stats().writes, 1);
    let _: () = raw(&url)
        .await
        .del(format!("palisade:{ns}:e:v:new"))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_configuration_names_the_field() {
    let err = RedisStore::builder("http://nope")
        .namespace("x")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.field(), "url");
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.field(), "namespace");
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .namespace("has space")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.field(), "namespace");
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .namespace("x")
        .timeout(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.field(), "timeout");
}

#[tokio::test]
async fn an_unreachable_redis_fails_open_and_is_then_skipped() {
    // Nothing listens on this port: build succeeds, lookups are misses.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let l2 = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .namespace("unreachable")
        .connect_timeout(Duration::from_millis(200))
        .build()
        .await
        .expect("an unreachable Redis is not a configuration error");
    for _ in 0..20 {
        assert_eq!(l2.get(b"v:1").await, None);
    }
    let stats = l2.stats();
    assert_eq!(stats.hits + stats.misses, 0);
    assert!(stats.errors + stats.timeouts >= 5, "{stats:?}");
    assert!(stats.skipped >= 10, "the breaker opened: {stats:?}");
}

#[tokio::test]
async fn build_returns_at_once_and_the_l2_becomes_available_when_redis_comes_up() {
    // Nothing listens on this port yet.
    let mut server = RedisServer::unstarted();
    let l2 = RedisStore::builder(server.url())
        .namespace(unique_namespace("late"))
        .connect_timeout(Duration::from_millis(200))
        .build()
        .now_or_never()
        .expect("build completes on its first poll: it never waits for Redis")
        .expect("an unreachable Redis is not a configuration error");
    assert!(!l2.is_connected());
    assert!(!l2.available(), "unavailable until Redis answers");

    // A cache over it serves from L1 and its backend, skipping the L2.
    let cache: Cache<u64, String> = Cache::builder("late")
        .ttl(Duration::from_secs(60))
        .l2(l2.clone())
        .build()
        .unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let backend = {
        let calls = calls.clone();
        tower::service_fn(move |id: u64| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok::<_, std::convert::Infallible>(format!("user {id}")) }
        })
    };
    let svc = tower::ServiceBuilder::new()
        .layer(cache.layer(|id: &u64| Some(*id)))
        .service(backend.clone());
    // A second replica (its own L1) on the same store.
    let other: Cache<u64, String> = Cache::builder("late")
        .ttl(Duration::from_secs(60))
        .l2(l2.clone())
        .build()
        .unwrap();
    let other = tower::ServiceBuilder::new()
        .layer(other.layer(|id: &u64| Some(*id)))
        .service(backend);
    use tower::ServiceExt;
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), "user 1");
    let stats = l2.stats();
    assert_eq!(stats.gets(), 0, "no lookup was sent: {stats:?}");
    assert!(stats.skipped >= 1, "{stats:?}");

    // Redis comes up on that port: the store connects on its own.
    if !server.try_start().await {
        return;
    }
    assert!(
        l2.connected(Duration::from_secs(10)).await,
        "the store connects in the background: {:?}",
        l2.stats()
    );
    assert!(l2.available());
    // And the cache now writes its fills to Redis and reads them back.
    assert_eq!(svc.clone().oneshot(2).await.unwrap(), "user 2");
    assert!(
        eventually(WAIT, async || l2.stats().writes >= 1).await,
        "{:?}",
        l2.stats()
    );
    assert_eq!(other.clone().oneshot(2).await.unwrap(), "user 2");
    assert!(l2.stats().hits >= 1, "{:?}", l2.stats());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_open_breaker_makes_the_store_unavailable_until_the_probe_is_due() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let breaker = palisade_breaker::CircuitBreaker::builder("avail")
        .consecutive_failures(2)
        .open_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    let l2 = RedisStore::builder(server.url())
        .namespace("unavailable")
        .connect_timeout(Duration::from_millis(200))
        .breaker(breaker)
        .build()
        .await
        .unwrap();
    assert!(l2.connected(WAIT).await);
    assert!(l2.available(), "connected and closed: worth asking");
    server.stop();
    let mut lookups = 0;
    while l2.available() && lookups < 20 {
        assert_eq!(l2.get(b"v:1").await, None);
        lookups += 1;
    }
    assert!(!l2.available(), "the breaker opened: {:?}", l2.stats());
    let sent = l2.stats().gets();

    // Once the open wait has passed it is worth a probe again, which goes
    // to Redis (and, failing, opens the breaker again).
    assert!(eventually(WAIT, async || l2.available()).await);
    assert_eq!(l2.get(b"v:1").await, None);
    assert_eq!(l2.stats().gets(), sent + 1, "the probe was sent");
    assert!(
        eventually(WAIT, async || {
            l2.get(b"v:1").await;
            !l2.available()
        })
        .await
    );

    // Manual states apply at once.
    l2.breaker().reset();
    assert!(l2.available());
    l2.breaker().force_open();
    assert!(!l2.available());
}

#[tokio::test]
async fn a_stopped_redis_is_a_miss_and_hits_resume_after_restart() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let l2 = store(&server.url(), "faults").await;
    l2.put(Bytes::from_static(b"v:1"), entry(b"one", &[]));
    assert!(eventually(WAIT, async || l2.get(b"v:1").await.is_some()).await);

    server.stop();
    for _ in 0..20 {
        assert_eq!(l2.get(b"v:1").await, None);
    }
    let down = l2.stats();
    assert!(
        down.errors + down.timeouts >= 1 && down.skipped >= 1,
        "{down:?}"
    );

    server.restart().await;
    // The restarted server is empty: refill it once the breaker lets us.
    let refilled = eventually(Duration::from_secs(10), async || {
        l2.put(Bytes::from_static(b"v:1"), entry(b"one", &[]));
        l2.get(b"v:1").await.is_some()
    })
    .await;
    assert!(refilled, "hits resume: {:?}", l2.stats());
}

#[tokio::test]
async fn a_slow_redis_costs_at_most_the_timeout() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let l2 = RedisStore::builder(server.url())
        .namespace("slow")
        .timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    assert!(l2.connected(Duration::from_secs(5)).await);
    let mut admin = raw(&server.url()).await;
    let sleeper = tokio::spawn(async move {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("0.5")
            .query_async::<()>(&mut admin)
            .await
    });
    // Let DEBUG SLEEP reach the server first.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(l2.get(b"v:1").await, None);
    let stats = l2.stats();
    assert_eq!(
        (stats.timeouts, stats.misses, stats.errors),
        (1, 0, 0),
        "{stats:?}"
    );
    sleeper.await.unwrap().expect("DEBUG SLEEP ran");
}
