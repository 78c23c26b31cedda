//! `Cache` and `HttpCache` with a Redis L2, against a real Redis: replicas
//! sharing fills and purges, coalescing across tiers, faults on a private
//! `redis-server`, and garbage in Redis.
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_cache::{Cache, HttpCache, RedisStore};
use redis::AsyncCommands;
use redis_server::{RedisServer, eventually, raw, shared_redis, unique_namespace};
use tower::{BoxError as TowerBoxError, Service, ServiceBuilder, ServiceExt, service_fn};

const WAIT: Duration = Duration::from_secs(5);

/// A backend that counts its calls and answers `"user <id>"` after `delay`.
#[derive(Clone)]
struct Backend {
    calls: Arc<AtomicUsize>,
    delay: Duration,
}

impl Backend {
    fn new(delay: Duration) -> Self {
        Self {
            calls: Arc::default(),
            delay,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }

    fn service(
        &self,
    ) -> impl Service<u64, Response = String, Error = Infallible, Future: Send> + Clone + Send + 'static
    {
        let this = self.clone();
        service_fn(move |id: u64| {
            let this = this.clone();
            async move {
                this.calls.fetch_add(1, SeqCst);
                tokio::time::sleep(this.delay).await;
                Ok::<_, Infallible>(format!("user {id}"))
            }
        })
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

/// One replica: its own L1, its own store handle (as a separate process
/// would have), its own backend.
struct Replica {
    cache: Cache<u64, String>,
    l2: RedisStore,
    backend: Backend,
}

impl Replica {
    async fn new(url: &str, namespace: &str, backend_delay: Duration) -> Self {
        let l2 = store(url, namespace).await;
        let cache = Cache::builder("users")
            .ttl(Duration::from_secs(60))
            .stale_if_error(Duration::from_secs(60))
            .tags(|v: &String| [v.replace(' ', ":")])
            .l2(l2.clone())
            .build()
            .unwrap();
        Self {
            cache,
            l2,
            backend: Backend::new(backend_delay),
        }
    }

    async fn get(&self, id: u64) -> Result<String, TowerBoxError> {
        let svc = ServiceBuilder::new()
            .layer(self.cache.layer(|id: &u64| Some(*id)))
            .service(self.backend.service());
        svc.oneshot(id).await
    }

    /// Waits until the store has written `n` entries in total.
    async fn written(&self, n: u64) -> bool {
        eventually(WAIT, async || self.l2.stats().writes >= n).await
    }
}

/// The Redis key under which a `Cache<u64, _>` stores `id`.
fn redis_key(namespace: &str, id: u64) -> Vec<u8> {
    let mut key = format!("palisade:{namespace}:e:v:").into_bytes();
    key.extend(postcard::to_allocvec(&id).unwrap());
    key
}

async fn cleanup(url: &str, namespace: &str, ids: &[u64], tags: &[&str]) {
    let mut conn = raw(url).await;
    for id in ids {
        let _: () = conn.del(redis_key(namespace, *id)).await.unwrap();
    }
    for tag in tags {
        let _: () = conn
            .del(format!("palisade:{namespace}:t:{tag}"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_fill_on_one_replica_is_served_by_the_other_and_a_tag_purge_reaches_both() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("two_replicas");
    let a = Replica::new(&url, &ns, Duration::ZERO).await;
    let b = Replica::new(&url, &ns, Duration::ZERO).await;

    // A misses everywhere: its backend answers and the value goes to Redis.
    assert_eq!(a.get(42).await.unwrap(), "user 42");
    assert_eq!(a.backend.calls(), 1);
    assert!(a.written(1).await);

    // B has never seen the key: Redis answers, B's backend is not called.
    assert_eq!(b.get(42).await.unwrap(), "user 42");
    assert_eq!(b.backend.calls(), 0);
    assert_eq!(b.l2.stats().hits, 1);
    // ...and B's L1 now holds it: no second Redis lookup.
    assert_eq!(b.get(42).await.unwrap(), "user 42");
    assert_eq!(b.l2.stats().gets(), 1);
    b.cache.run_pending_tasks().await;
    assert_eq!(b.cache.stats().entries, 1);

    // Wait until B's subscriber is live (it connects in the background).
    assert!(
        eventually(WAIT, async || {
            a.cache.invalidate(&7).await;
            b.l2.stats().invalidations_received > 0
        })
        .await
    );

    // The purge on A empties B's L1 and Redis.
    a.cache.invalidate_tag("user:42").await;
    let purged = eventually(WAIT, async || {
        b.cache.run_pending_tasks().await;
        b.cache.stats().entries == 0
    })
    .await;
    assert!(
        purged,
        "B's L1 still holds the entry: {:?}",
        b.cache.stats()
    );
    assert_eq!(b.get(42).await.unwrap(), "user 42");
    assert_eq!(
        b.backend.calls(),
        1,
        "after the purge B had to ask its backend"
    );
    assert!(a.l2.stats().invalidations_sent >= 2);
    assert!(b.written(1).await);
    cleanup(&url, &ns, &[42], &["user:42"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_redis_get_and_one_backend_call() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("coalesce");
    let cold = Replica::new(&url, &ns, Duration::from_millis(200)).await;
    let svc = ServiceBuilder::new()
        .layer(cold.cache.layer(|id: &u64| Some(*id)))
        .service(cold.backend.service());
    let calls: Vec<_> = (0..500)
        .map(|_| tokio::spawn(svc.clone().oneshot(1)))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "user 1");
    }
    assert_eq!(cold.l2.stats().gets(), 1, "{:?}", cold.l2.stats());
    assert_eq!(cold.backend.calls(), 1);
    assert!(cold.written(1).await);

    cleanup(&url, &ns, &[1], &["user:1"]).await;
}

/// On a replica whose L1 is cold but where Redis has the key: one GET, no
/// backend call. (Single-threaded: the lookup answers within microseconds,
/// so the 500 requests must all arrive while it is in flight.)
#[tokio::test]
async fn concurrent_misses_of_a_key_in_redis_make_one_get_and_no_backend_call() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("coalesce_warm");
    let filler = Replica::new(&url, &ns, Duration::ZERO).await;
    filler.get(1).await.unwrap();
    assert!(filler.written(1).await);

    let warm = Replica::new(&url, &ns, Duration::ZERO).await;
    let svc = ServiceBuilder::new()
        .layer(warm.cache.layer(|id: &u64| Some(*id)))
        .service(warm.backend.service());
    let calls: Vec<_> = (0..500)
        .map(|_| tokio::spawn(svc.clone().oneshot(1)))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "user 1");
    }
    let stats = warm.l2.stats();
    assert_eq!((stats.gets(), stats.hits), (1, 1), "{stats:?}");
    assert_eq!(warm.backend.calls(), 0);
    cleanup(&url, &ns, &[1], &["user:1"]).await;
}

#[tokio::test]
async fn garbage_in_redis_is_a_miss_the_backend_answers_and_the_garbage_is_overwritten() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("garbage_cache");
    let replica = Replica::new(&url, &ns, Duration::ZERO).await;
    let mut conn = raw(&url).await;
    let key = redis_key(&ns, 5);
    let _: () = conn.set(&key, b"PLSC\x01\xff\xff garbage").await.unwrap();

    assert_eq!(replica.get(5).await.unwrap(), "user 5");
    assert_eq!(replica.backend.calls(), 1);
    assert_eq!(replica.l2.stats().undecodable, 1);
    assert!(replica.written(1).await);
    let stored: Vec<u8> = conn.get(&key).await.unwrap();
    assert_eq!(&stored[..5], b"PLSC\x01");

    // Another replica now gets the good value from Redis.
    let other = Replica::new(&url, &ns, Duration::ZERO).await;
    assert_eq!(other.get(5).await.unwrap(), "user 5");
    assert_eq!((other.backend.calls(), other.l2.stats().hits), (0, 1));
    cleanup(&url, &ns, &[5], &["user:5"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_never_fails_a_request_and_hits_resume_after_restart() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let url = server.url();
    let a = Replica::new(&url, "faults", Duration::ZERO).await;
    for id in 0..10 {
        a.get(id).await.unwrap();
    }
    assert!(a.written(10).await);

    // Traffic flows on two tasks while the server dies: L1 hits for 0..10
    // and a new key (a miss) every other request. Every answer must be right.
    let a = Arc::new(a);
    let flowing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let answered = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..2_u64)
        .map(|task| {
            let (a, flowing, answered) = (a.clone(), flowing.clone(), answered.clone());
            tokio::spawn(async move {
                let mut n = 0_u64;
                while flowing.load(SeqCst) {
                    n += 1;
                    let id = if n.is_multiple_of(2) {
                        n % 10
                    } else {
                        1_000_000 * (task + 1) + n
                    };
                    assert_eq!(a.get(id).await.unwrap(), format!("user {id}"));
                    answered.fetch_add(1, SeqCst);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    assert!(eventually(WAIT, async || answered.load(SeqCst) > 100).await);
    let backend_before = a.backend.calls();
    server.stop();
    let before = answered.load(SeqCst);
    let served_while_down = eventually(WAIT, async || {
        answered.load(SeqCst) > before + 400 && a.l2.stats().skipped > 0
    })
    .await;
    flowing.store(false, SeqCst);
    for task in load {
        task.await.expect("no request failed while Redis died");
    }
    assert!(served_while_down, "{:?}", a.l2.stats());
    let down = a.l2.stats();
    assert!(down.errors + down.timeouts > 0, "{down:?}");
    assert!(down.skipped > 0, "the breaker opened: {down:?}");
    assert!(
        a.backend.calls() - backend_before >= 200,
        "misses reached the backend"
    );
    a.cache.run_pending_tasks().await;
    assert!(
        a.cache.stats().hits >= 200,
        "L1 kept serving: {:?}",
        a.cache.stats()
    );

    server.restart().await;
    // Fills on A reach the (empty) restarted Redis once the breaker lets
    // them through, and B, with a cold L1, is served from Redis again.
    let b = Replica::new(&url, "faults", Duration::ZERO).await;
    let mut next = 1_000;
    let resumed = eventually(Duration::from_secs(10), async || {
        next += 1;
        let writes = a.l2.stats().writes;
        a.get(next).await.unwrap();
        if !eventually(Duration::from_millis(200), async || {
            a.l2.stats().writes > writes
        })
        .await
        {
            return false;
        }
        b.get(next).await.unwrap();
        b.l2.stats().hits > 0
    })
    .await;
    assert!(
        resumed,
        "L2 hits did not resume: a {:?} b {:?}",
        a.l2.stats(),
        b.l2.stats()
    );
    assert_eq!(b.backend.calls(), 0);
}

#[tokio::test]
async fn a_slow_redis_costs_a_request_at_most_the_timeout() {
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
    let backend = Backend::new(Duration::ZERO);
    let cache: Cache<u64, String> = Cache::builder("users")
        .ttl(Duration::from_secs(60))
        .l2(l2.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(cache.layer(|id: &u64| Some(*id)))
        .service(backend.service());

    let mut admin = raw(&server.url()).await;
    let sleeper = tokio::spawn(async move {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("1")
            .query_async::<()>(&mut admin)
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Three different keys while Redis sleeps for a second: each lookup gives
    // up after 50 ms and the backend answers.
    for id in 1..=3 {
        assert_eq!(svc.clone().oneshot(id).await.unwrap(), format!("user {id}"));
    }
    let stats = l2.stats();
    assert_eq!(backend.calls(), 3);
    assert_eq!(
        (stats.timeouts, stats.hits, stats.misses),
        (3, 0, 0),
        "{stats:?}"
    );
    assert!(
        !sleeper.is_finished(),
        "the requests did not wait for Redis"
    );
    sleeper.await.unwrap().expect("DEBUG SLEEP ran");
}

#[tokio::test]
async fn redis_down_at_startup_is_not_an_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let l2 = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .namespace("nowhere")
        .connect_timeout(Duration::from_millis(100))
        .build()
        .await
        .expect("fails open");
    let backend = Backend::new(Duration::ZERO);
    let cache: Cache<u64, String> = Cache::builder("users")
        .ttl(Duration::from_secs(60))
        .l2(l2.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(cache.layer(|id: &u64| Some(*id)))
        .service(backend.service());
    for id in 0..20 {
        assert_eq!(
            svc.clone().oneshot(id % 5).await.unwrap(),
            format!("user {}", id % 5)
        );
    }
    assert_eq!(backend.calls(), 5, "L1 works without the L2");
    assert_eq!(l2.stats().hits, 0);
}

// --- HTTP ------------------------------------------------------------------

/// An axum server with its own `HttpCache` (own L1) over a counting upstream.
struct HttpReplica {
    addr: std::net::SocketAddr,
    cache: HttpCache,
    l2: RedisStore,
    upstream: Arc<AtomicUsize>,
}

impl HttpReplica {
    async fn start(url: &str, namespace: &str) -> Self {
        let l2 = store(url, namespace).await;
        let cache = HttpCache::builder("pages").l2(l2.clone()).build().unwrap();
        let upstream = Arc::new(AtomicUsize::new(0));
        let calls = upstream.clone();
        let router = Router::new()
            .route(
                "/users/42",
                get(move || {
                    let calls = calls.clone();
                    async move {
                        calls.fetch_add(1, SeqCst);
                        (
                            [
                                (header::CACHE_CONTROL, "max-age=60"),
                                (header::HeaderName::from_static("cache-tag"), "user:42"),
                            ],
                            "alice",
                        )
                            .into_response()
                    }
                }),
            )
            .layer(cache.layer());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            addr,
            cache,
            l2,
            upstream,
        }
    }

    async fn get(&self, path: &str) -> (String, String) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        // Replicas sit behind one host name: the cache key uses it.
        let req = Request::get(format!("http://{}{path}", self.addr))
            .header(header::HOST, "users.example")
            .body(Empty::new())
            .unwrap();
        let res: Response<_> = client.request(req).await.unwrap().map(Body::new);
        assert_eq!(res.status(), StatusCode::OK);
        let x_cache = res.headers()["x-cache"].to_str().unwrap().to_owned();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (x_cache, String::from_utf8(body.to_vec()).unwrap())
    }
}

#[tokio::test]
async fn http_replicas_share_responses_and_purges() {
    let Some(redis) = shared_redis().await else {
        return;
    };
    let url = redis.url();
    let ns = unique_namespace("http_replicas");
    let a = HttpReplica::start(&url, &ns).await;
    let b = HttpReplica::start(&url, &ns).await;

    assert_eq!(a.get("/users/42").await, ("MISS".into(), "alice".into()));
    assert!(eventually(WAIT, async || a.l2.stats().writes >= 1).await);
    assert_eq!(b.get("/users/42").await, ("HIT".into(), "alice".into()));
    assert_eq!(b.upstream.load(SeqCst), 0, "B answered from Redis");
    assert_eq!(b.l2.stats().hits, 1);

    // Once B's subscriber listens, a purge on A reaches B's L1.
    assert!(
        eventually(WAIT, async || {
            a.cache.invalidate_tag("warmup").await;
            b.l2.stats().invalidations_received > 0
        })
        .await
    );
    a.cache.invalidate_tag("user:42").await;
    let purged = eventually(WAIT, async || {
        b.cache.run_pending_tasks().await;
        b.cache.stats().entries == 0
    })
    .await;
    assert!(purged, "B still holds the page: {:?}", b.cache.stats());
    assert_eq!(b.get("/users/42").await, ("MISS".into(), "alice".into()));
    assert_eq!(b.upstream.load(SeqCst), 1);

    let mut conn = raw(&url).await;
    let keys: Vec<Vec<u8>> = conn.keys(format!("palisade:{ns}:*")).await.unwrap();
    assert!(eventually(WAIT, async || b.l2.stats().writes >= 1).await);
    let keys_after: Vec<Vec<u8>> = conn.keys(format!("palisade:{ns}:*")).await.unwrap();
    for key in keys.into_iter().chain(keys_after) {
        let _: () = conn.del(key).await.unwrap();
    }
}
