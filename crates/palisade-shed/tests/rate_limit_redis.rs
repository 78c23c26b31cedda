//! Cluster-wide `RateLimit` through a real Redis: two replicas (two limiter
//! instances, each with its own connection) sharing one limit with exact
//! admission counts, and a private `redis-server` killed under traffic
//! (no request fails, local limiting takes over) and restarted (cluster
//! limiting resumes).
//!
//! The shared Redis is `REDIS_URL` (default `redis://127.0.0.1:6379`); each
//! test uses its own key prefix. The outage test starts, kills and restarts
//! its own `redis-server` on a free port, and stops only that one.
#![cfg(feature = "redis")]

use std::{
    convert::Infallible,
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{Request, Response};
use palisade_breaker::{CircuitBreaker, State};
use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_redis::{RedisConnection, redis};
use palisade_shed::RateLimit;
use tower::{Layer, Service, ServiceExt, service_fn};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test (or run) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("palisade-test:{test}:{}:{nanos:x}:", std::process::id())
}

fn connection(url: &str, breaker: Option<CircuitBreaker>) -> RedisConnection {
    let mut builder = RedisConnection::builder(url)
        .name("rate-test")
        .timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(200));
    if let Some(breaker) = breaker {
        builder = builder.breaker(breaker);
    }
    builder.build().unwrap()
}

/// One replica: 10 requests a minute per key (burst 10), shared by 2
/// replicas through `redis`.
fn replica(
    redis: RedisConnection,
    prefix: &str,
) -> impl Service<Request<()>, Response = Response<()>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ use<> {
    let limit = RateLimit::builder("shared")
        .rate(10)
        .period(Duration::from_secs(60))
        .key(|req: &Request<()>| req.headers().get("x-key").cloned())
        .redis(redis)
        .replicas(2)
        .redis_prefix(prefix)
        .build()
        .unwrap();
    limit.layer().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }))
}

fn req(key: &str) -> Request<()> {
    Request::builder().header("x-key", key).body(()).unwrap()
}

/// `true` if admitted, `false` if refused by the rate limit; any other
/// error fails the test.
async fn admitted<S>(svc: &mut S, key: &str) -> bool
where
    S: Service<Request<()>, Error = BoxError>,
{
    match svc.ready().await.unwrap().call(req(key)).await {
        Ok(_) => true,
        Err(err) => {
            let rejected = Rejected::find(&err).unwrap_or_else(|| panic!("not a rejection: {err}"));
            assert_eq!(rejected.kind(), RejectKind::Overloaded);
            assert!(rejected.is_rate_limit());
            assert!(rejected.retry_after().is_some_and(|w| !w.is_zero()));
            false
        }
    }
}

async fn count<S>(svc: &mut S, key: &str, n: usize) -> usize
where
    S: Service<Request<()>, Error = BoxError>,
{
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(admitted(svc, key).await);
    }
    ok
}

#[tokio::test]
async fn two_replicas_share_one_cluster_limit() {
    let url = redis_url();
    let prefix = unique_prefix("two-replicas");
    let (ra, rb) = (connection(&url, None), connection(&url, None));
    assert!(
        ra.connected(Duration::from_secs(5)).await,
        "no Redis at {url}"
    );
    assert!(
        rb.connected(Duration::from_secs(5)).await,
        "no Redis at {url}"
    );
    let (mut a, mut b) = (replica(ra, &prefix), replica(rb, &prefix));

    // A alone takes the whole burst of key k1 (locally it could take only
    // half): B then gets nothing for k1.
    assert_eq!(count(&mut a, "k1", 12).await, 10);
    assert_eq!(count(&mut b, "k1", 6).await, 0);

    // Interleaved on key k2: exactly the burst in total, whoever asks.
    let mut total = 0;
    for _ in 0..8 {
        total += usize::from(admitted(&mut a, "k2").await);
        total += usize::from(admitted(&mut b, "k2").await);
    }
    assert_eq!(total, 10);

    // Keys are isolated: k3 is untouched by k1 and k2.
    assert_eq!(count(&mut b, "k3", 10).await, 10);

    // One Redis key per bucket, under the prefix.
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("{prefix}shared:+")))
    );
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut raw)
        .await
        .unwrap();
}

/// A `redis-server` of this test alone, on a free port; killed on drop.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn new() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        Self { port, child: None }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..250 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_traffic_then_restarted() {
    let mut server = PrivateRedis::new();
    server.start().await;
    let url = server.url();
    let prefix = unique_prefix("outage");
    let breaker = |name: &str| {
        CircuitBreaker::builder(name)
            .consecutive_failures(2)
            .open_wait(Duration::from_millis(200))
            .build()
            .unwrap()
    };
    let (ra, rb) = (
        connection(&url, Some(breaker("a"))),
        connection(&url, Some(breaker("b"))),
    );
    assert!(ra.connected(Duration::from_secs(5)).await);
    assert!(rb.connected(Duration::from_secs(5)).await);
    let (a_redis, b_redis) = (ra.clone(), rb.clone());
    let (mut a, mut b) = (replica(ra, &prefix), replica(rb, &prefix));

    // Background traffic on its own key, through the kill and the restart:
    // every request gets an answer, and never an error but a rate limit.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let traffic = tokio::spawn({
        let (stop, answered, mut svc) = (Arc::clone(&stop), Arc::clone(&answered), a.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                admitted(&mut svc, "noise").await;
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });

    // Cluster mode: A takes the whole burst of k; B gets none.
    assert_eq!(count(&mut a, "k", 10).await, 10);
    assert_eq!(count(&mut b, "k", 3).await, 0);

    // Redis dies: B's local limiter takes over with its share (10 / 2
    // replicas = 5), where Redis would have refused everything.
    server.kill();
    assert_eq!(count(&mut b, "k", 8).await, 5);
    assert_eq!(b_redis.breaker().state(), State::Open);

    // Redis is back (empty): once the breaker's probe succeeds, Redis
    // decides again. B's local share of k is spent, so B being admitted
    // means cluster limiting resumed.
    server.start().await;
    let mut resumed = false;
    for _ in 0..500 {
        if admitted(&mut b, "k").await {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(resumed, "cluster limiting did not resume");
    assert_ne!(b_redis.breaker().state(), State::Open);
    // A's breaker closes from the background traffic's probes (so none of
    // A's requests below is refused a probe slot and decided locally).
    let mut closed = false;
    for _ in 0..500 {
        if a_redis.breaker().state() == State::Closed {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "A's breaker did not close once Redis was back");
    // The fresh Redis bucket had 10: one went to B above, 9 are left for
    // both replicas together (A's untouched local share would give 5 more).
    let mut total = 0;
    for _ in 0..8 {
        total += usize::from(admitted(&mut a, "k").await);
        total += usize::from(admitted(&mut b, "k").await);
    }
    assert_eq!(total, 9);

    stop.store(true, Ordering::Relaxed);
    traffic
        .await
        .expect("no request of the background traffic failed");
    assert!(answered.load(Ordering::Relaxed) > 0);
}

#[test]
fn cluster_settings_are_validated() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let redis = connection("redis://127.0.0.1:1", None);
    let base = || RateLimit::builder("x").rate(10);
    let field = |r: Result<RateLimit, palisade_core::ConfigError>| r.unwrap_err().field();
    // Missing or zero replicas, replicas without Redis.
    assert_eq!(field(base().redis(redis.clone()).build()), "replicas");
    assert_eq!(
        field(base().replicas(0).redis(redis.clone()).build()),
        "replicas"
    );
    assert_eq!(field(base().replicas(2).build()), "replicas");
    // Under 1 µs between requests, a bad prefix.
    let fast = RateLimit::builder("x").rate(2_000_000).replicas(2);
    assert_eq!(field(fast.redis(redis.clone()).build()), "rate");
    let spaced = base().replicas(2).redis_prefix("has space");
    assert_eq!(field(spaced.redis(redis.clone()).build()), "redis_prefix");
    // `redis` before `key` cannot know the key type.
    let err = base()
        .replicas(2)
        .redis(redis.clone())
        .key(|req: &Request<()>| req.headers().get("x-key").cloned())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "redis");
    let ok = base().replicas(2).redis(redis).build().unwrap();
    assert!(ok.redis().is_some());
}
