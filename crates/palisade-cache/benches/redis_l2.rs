//! Cost of the Redis L2, against the Redis at `REDIS_URL` (default
//! `redis://127.0.0.1:6379`; the benchmark exits with a message without one).
//!
//! - `redis_l2_hit`: a raw `GET` of an entry with redis-rs's
//!   `ConnectionManager` (the client `RedisStore` uses) vs the same lookup
//!   answered from Redis through the cache layer. The cache has no "L1 off"
//!   switch, so its L1 holds one entry and the requests cycle over 1,024 keys
//!   already in Redis: every request misses L1, is answered by the L2 (GET,
//!   envelope decode, freshness check) and refills L1. The backend is never
//!   called (checked).
//! - `redis_down`: a request that misses L1 (a new key each time, answered by
//!   a backend that is ready at once) with no L2 configured vs with an L2
//!   whose Redis is down and whose breaker has opened (open wait 10 min, so
//!   no probe falls inside the measurement).
//! - `redis_down_store_only`: what the down L2 itself costs such a request:
//!   two `available()` checks and the two skip reports the cache makes
//!   (`available_and_skips`); for reference, what a skipped lookup and a
//!   skipped write cost when the store is called anyway.
//!
//! Figures are recorded in `docs/BENCHMARKS.md`. Run:
//! `cargo bench -p palisade-cache --features redis --bench redis_l2 -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use palisade_breaker::CircuitBreaker;
use palisade_cache::store::{L2Entry, L2Payload, L2Store};
use palisade_cache::{Cache, RedisStore};
use tower::{Layer, Service, ServiceExt, service_fn};

const KEYS: u64 = 1_024;

fn backend(
    calls: Arc<AtomicU64>,
) -> impl Service<u64, Response = String, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    service_fn(move |id: u64| {
        calls.fetch_add(1, Relaxed);
        std::future::ready(Ok::<_, Infallible>(format!("user {id}")))
    })
}

/// Requests for keys never seen before (so each misses L1) through `svc`.
fn misses<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    svc: &S,
    next: &Arc<AtomicU64>,
) where
    S: Service<u64, Response = String> + Clone,
    S::Error: std::fmt::Debug,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let mut svc = svc.clone();
            let next = next.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = next.fetch_add(1, Relaxed);
                    black_box(svc.ready().await.unwrap().call(id).await.unwrap());
                }
                start.elapsed()
            }
        });
    });
}

/// Runs `a` and `b` alternately in `rounds` rounds of `n` requests each and
/// returns the median over rounds of time(b) / time(a): on a noisy machine a
/// paired ratio is steadier than two separate measurements.
async fn paired_ratio<A, B, FA, FB>(rounds: usize, n: u64, mut a: A, mut b: B) -> f64
where
    A: FnMut(u64) -> FA,
    B: FnMut(u64) -> FB,
    FA: Future<Output = ()>,
    FB: Future<Output = ()>,
{
    let mut ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..n {
            a(i).await;
        }
        let ta = start.elapsed();
        let start = Instant::now();
        for i in 0..n {
            b(i).await;
        }
        ratios.push(start.elapsed().as_secs_f64() / ta.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    ratios[rounds / 2]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let reachable = rt.block_on(async {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            return false;
        };
        let ping = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ping).await,
            Ok(Ok(_))
        )
    });
    if !reachable {
        eprintln!("redis_l2: no Redis at {url}; set REDIS_URL to run this benchmark");
        return;
    }
    let namespace = format!("palisade-bench:{}", std::process::id());

    // --- An L2 hit through the layer vs a raw GET --------------------------
    let (store, raw, hit_calls) = rt.block_on(async {
        let store = RedisStore::builder(url.as_str())
            .namespace(namespace.as_str())
            .timeout(Duration::from_millis(200))
            .build()
            .await
            .unwrap();
        // Fill Redis with KEYS entries through a cache, then wait for the writes.
        let filler: Cache<u64, String> = Cache::builder("bench-fill")
            .ttl(Duration::from_secs(600))
            .l2(store.clone())
            .build()
            .unwrap();
        let mut svc = filler
            .layer(|id: &u64| Some(*id))
            .layer(backend(Arc::default()));
        for id in 0..KEYS {
            svc.ready().await.unwrap().call(id).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.stats().writes < KEYS {
            assert!(
                Instant::now() < deadline,
                "fill did not land: {:?}",
                store.stats()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let client = redis::Client::open(url.as_str()).unwrap();
        let raw = redis::aio::ConnectionManager::new(client).await.unwrap();
        (store, raw, Arc::new(AtomicU64::new(0)))
    });
    let raw_key = |id: u64| {
        let mut key = format!("palisade:{namespace}:e:v:").into_bytes();
        key.extend(postcard::to_allocvec(&id).unwrap());
        key
    };
    let raw_keys: Vec<Vec<u8>> = (0..KEYS).map(raw_key).collect();
    let tiny_l1: Cache<u64, String> = Cache::builder("bench-l2-hit")
        .max_entries(1)
        .ttl(Duration::from_secs(600))
        .l2(store.clone())
        .build()
        .unwrap();
    let through_layer = tiny_l1
        .layer(|id: &u64| Some(*id))
        .layer(backend(hit_calls.clone()));

    let mut group = c.benchmark_group("redis_l2_hit");
    group.bench_function("raw_get", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let mut conn = raw.clone();
            let keys = &raw_keys;
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    let key = &keys[(i % KEYS) as usize];
                    let got: Option<Bytes> = redis::cmd("GET")
                        .arg(key)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    black_box(got.expect("filled"));
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("through_layer", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let mut svc = through_layer.clone();
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    let value = svc.ready().await.unwrap().call(i % KEYS).await.unwrap();
                    black_box(value);
                }
                start.elapsed()
            }
        });
    });
    group.finish();
    let ratio = rt.block_on(async {
        let conn = raw.clone();
        let svc = through_layer.clone();
        paired_ratio(
            21,
            300,
            |i| {
                let mut conn = conn.clone();
                let key = &raw_keys[(i % KEYS) as usize];
                async move {
                    let got: Option<Bytes> = redis::cmd("GET")
                        .arg(key)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    black_box(got);
                }
            },
            |i| {
                let svc = svc.clone();
                async move {
                    black_box(svc.oneshot(i % KEYS).await.unwrap());
                }
            },
        )
        .await
    });
    eprintln!("redis_l2_hit: paired median ratio through_layer / raw_get = {ratio:.3}");
    let stats = store.stats();
    eprintln!(
        "redis_l2_hit: backend calls {} (must be 0), L2 {stats:?}",
        hit_calls.load(Relaxed)
    );

    // --- A request while Redis is down vs no L2 ----------------------------
    let down = rt.block_on(async {
        let breaker = CircuitBreaker::builder("bench-l2-down")
            .consecutive_failures(3)
            .open_wait(Duration::from_secs(600))
            .build()
            .unwrap();
        RedisStore::builder(format!("redis://127.0.0.1:{}", free_port()))
            .namespace("bench-down")
            .timeout(Duration::from_millis(20))
            .connect_timeout(Duration::from_millis(100))
            .breaker(breaker)
            .build()
            .await
            .unwrap()
    });
    let no_l2: Cache<u64, String> = Cache::builder("bench-no-l2")
        .max_entries(10_000)
        .ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let with_down_l2: Cache<u64, String> = Cache::builder("bench-down-l2")
        .max_entries(10_000)
        .ttl(Duration::from_secs(600))
        .l2(down.clone())
        .build()
        .unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let plain = no_l2
        .layer(|id: &u64| Some(*id))
        .layer(backend(Arc::default()));
    let down_svc = with_down_l2
        .layer(|id: &u64| Some(*id))
        .layer(backend(Arc::default()));
    // Open the breaker before measuring.
    rt.block_on(async {
        let mut svc = down_svc.clone();
        while down.stats().skipped == 0 {
            let id = next.fetch_add(1, Relaxed);
            svc.ready().await.unwrap().call(id).await.unwrap();
        }
    });

    assert!(
        !down.available(),
        "the breaker is open: the cache skips the L2"
    );

    let mut group = c.benchmark_group("redis_down");
    misses(&mut group, &rt, "no_l2", &plain, &next);
    misses(&mut group, &rt, "l2_down_breaker_open", &down_svc, &next);
    group.finish();
    let ratio = rt.block_on(async {
        let (plain, down_svc) = (plain.clone(), down_svc.clone());
        let (n1, n2) = (next.clone(), next.clone());
        paired_ratio(
            21,
            20_000,
            |_| {
                let svc = plain.clone();
                let id = n1.fetch_add(1, Relaxed);
                async move {
                    black_box(svc.oneshot(id).await.unwrap());
                }
            },
            |_| {
                let svc = down_svc.clone();
                let id = n2.fetch_add(1, Relaxed);
                async move {
                    black_box(svc.oneshot(id).await.unwrap());
                }
            },
        )
        .await
    });
    eprintln!("redis_down: paired median ratio l2_down_breaker_open / no_l2 = {ratio:.3}");
    eprintln!("redis_down: L2 {:?}", down.stats());
    // What the down L2 itself adds to such a request: the cache asks
    // `available()` twice (before the lookup and before the write) and
    // reports each skip. For reference, what calling the store anyway
    // would cost: one skipped lookup (polled once) and one skipped write.
    let mut group = c.benchmark_group("redis_down_store_only");
    group.bench_function("available_and_skips", |b| {
        b.iter(|| {
            if !black_box(&down).available() {
                down.skipped_get();
            }
            if !black_box(&down).available() {
                down.skipped_put();
            }
        });
    });
    group.bench_function("get_skipped", |b| {
        b.iter(|| {
            let mut lookup = pin!(down.get(b"v:1"));
            let mut cx = Context::from_waker(Waker::noop());
            black_box(lookup.as_mut().poll(&mut cx).is_ready())
        });
    });
    group.bench_function("put_skipped", |b| {
        b.iter(|| {
            down.put(
                Bytes::from_static(b"v:1"),
                L2Entry {
                    payload: L2Payload::Value(Bytes::from_static(b"x")),
                    stored_at: SystemTime::now(),
                    ttl: Duration::from_secs(60),
                    stale_while_revalidate: Duration::ZERO,
                    stale_if_error: Duration::ZERO,
                    tags: Vec::new(),
                },
            );
        });
    });
    group.finish();

    // Remove what the benchmark put in Redis.
    rt.block_on(async {
        let mut conn = raw.clone();
        for key in &raw_keys {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
        }
    });
}

criterion_group!(redis_l2, benches);
criterion_main!(redis_l2);
