//! Every builder, given arbitrary values (zero, huge, `Duration::MAX`, hostile
//! strings), either refuses with a `ConfigError` naming the field in the
//! common format, or builds a cache that serves a few hundred requests and
//! expires its entries, without a panic.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use palisade_cache::{Cache, store::MemoryStore};
use palisade_core::{BoxError, ConfigError};
use proptest::prelude::*;
use tower::{Layer, Service, ServiceExt, service_fn};

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(1)),
        (1_u64..120_000).prop_map(Duration::from_millis),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
    ]
}

fn bound() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(1)),
        (2_u64..10_000).prop_map(Some),
        Just(Some(u64::MAX)),
    ]
}

/// The message names the field first, in the format of every Palisade
/// builder, and quotes no number or duration.
fn check_message(err: &ConfigError, fields: &[&str]) {
    let msg = err.to_string();
    assert!(fields.contains(&err.field()), "unexpected field: {msg}");
    let field = err.field();
    assert!(
        msg.starts_with(&format!("{field} must be ")) || msg.starts_with(&format!("{field}: ")),
        "not the common format: {msg}"
    );
    // Strings are shown as `Debug` does (quoted, escaped); numbers and
    // durations are not quoted.
    let string_field = matches!(field, "namespace" | "url");
    assert!(
        string_field || !msg.contains("got \""),
        "a quoted value: {msg}"
    );
}

/// Counts calls; fails every 7th while `flaky`.
#[derive(Clone, Default)]
struct Backend {
    calls: Arc<AtomicUsize>,
    flaky: Arc<AtomicBool>,
}

impl Backend {
    fn service(
        &self,
    ) -> impl Service<u64, Response = String, Error = BoxError, Future: Send> + Clone + Send + 'static
    {
        let me = self.clone();
        service_fn(move |key: u64| {
            let n = me.calls.fetch_add(1, SeqCst);
            let fail = me.flaky.load(SeqCst) && n % 7 == 6;
            async move {
                if fail {
                    return Err::<String, BoxError>("flaky".into());
                }
                Ok(format!("value {key}"))
            }
        })
    }
}

#[derive(Debug, Clone)]
struct CacheConfig {
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    weigh: bool,
    ttl: Option<Duration>,
    ttl_for: Option<Duration>,
    swr: Duration,
    sie: Duration,
    l2: Option<u64>,
}

fn cache_config() -> impl Strategy<Value = CacheConfig> {
    (
        bound(),
        bound(),
        any::<bool>(),
        proptest::option::of(duration()),
        proptest::option::of(duration()),
        duration(),
        duration(),
        proptest::option::of(prop_oneof![
            Just(0_u64),
            Just(1),
            Just(1_000),
            Just(u64::MAX)
        ]),
    )
        .prop_map(
            |(max_entries, max_bytes, weigh, ttl, ttl_for, swr, sie, l2)| CacheConfig {
                max_entries,
                max_bytes,
                weigh,
                ttl,
                ttl_for,
                swr,
                sie,
                l2,
            },
        )
}

fn build(c: &CacheConfig) -> Result<Cache<u64, String>, ConfigError> {
    let mut b = Cache::<u64, String>::builder("any")
        .stale_while_revalidate(c.swr)
        .stale_if_error(c.sie);
    if let Some(n) = c.max_entries {
        b = b.max_entries(n);
    }
    if let Some(n) = c.max_bytes {
        b = b.max_bytes(n);
    }
    if c.weigh {
        b = b.weigh(|v: &String| v.len());
    }
    if let Some(ttl) = c.ttl {
        b = b.ttl(ttl);
    }
    if let Some(ttl) = c.ttl_for {
        // Keys ending in 0 are not stored.
        b = b.ttl_for(move |v: &String| (!v.ends_with('0')).then_some(ttl));
    }
    if let Some(n) = c.l2 {
        b = b.l2(MemoryStore::new(n));
    }
    b.build()
}

/// How long a value of `c` lives in the cache, when that is finite and
/// short enough to wait out.
fn lifetime(c: &CacheConfig) -> Option<Duration> {
    let ttl = c.ttl_for.or(c.ttl)?;
    let total = ttl.checked_add(c.swr.max(c.sie))?;
    (total < Duration::from_secs(3_600)).then_some(total)
}

async fn exercise(c: &CacheConfig, cache: &Cache<u64, String>) {
    let backend = Backend::default();
    backend.flaky.store(true, SeqCst);
    let svc = cache.layer(|k: &u64| Some(*k)).layer(backend.service());
    for i in 0..300_u64 {
        let key = i % 17;
        match svc.clone().oneshot(key).await {
            Ok(v) => assert_eq!(v, format!("value {key}")),
            Err(e) => assert!(e.to_string().contains("flaky"), "{e}"),
        }
        if i % 10 == 9 {
            tokio::time::advance(Duration::from_millis(250)).await;
        }
    }
    cache.run_pending_tasks().await;
    let _ = cache.stats();
    // Past the whole lifetime, a stored value is gone: the backend answers.
    // (Not checked with the L2: it judges freshness by the wall clock, which
    // this paused runtime does not move; the Redis case below checks it.)
    backend.flaky.store(false, SeqCst);
    if let Some(total) = lifetime(c).filter(|_| c.l2.is_none()) {
        let key = 1_001; // stored (does not end in 0)
        assert_eq!(svc.clone().oneshot(key).await.unwrap(), "value 1001");
        cache.run_pending_tasks().await;
        let before = backend.calls.load(SeqCst);
        tokio::time::advance(total + Duration::from_millis(1)).await;
        assert_eq!(svc.clone().oneshot(key).await.unwrap(), "value 1001");
        assert_eq!(
            backend.calls.load(SeqCst),
            before + 1,
            "expired after {total:?}: {c:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_cache_configuration_is_refused_by_name_or_serves_and_expires(c in cache_config()) {
        match build(&c) {
            Err(err) => {
                check_message(&err, &["max_entries", "max_bytes", "weigh", "ttl"]);
            }
            Ok(cache) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .start_paused(true)
                    .build()
                    .unwrap();
                rt.block_on(exercise(&c, &cache));
            }
        }
    }
}

#[test]
fn required_settings_and_zeros_have_clear_messages() {
    let err = Cache::<u64, String>::builder("x").build().unwrap_err();
    assert_eq!(err.to_string(), "ttl: must be set (with ttl or ttl_for)");
    let err = Cache::<u64, String>::builder("x")
        .ttl(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "ttl must be greater than zero, got 0ns");
    let err = Cache::<u64, String>::builder("x")
        .ttl(Duration::from_secs(1))
        .max_entries(0)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "max_entries must be at least 1, got 0");
    let err = Cache::<u64, String>::builder("x")
        .ttl(Duration::from_secs(1))
        .max_bytes(0)
        .weigh(|v: &String| v.len())
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "max_bytes must be at least 1, got 0");
}

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

#[cfg(feature = "redis")]
mod redis_store {
    use super::*;

    use super::redis_server::{shared_redis, unique_namespace};
    use palisade_cache::RedisStore;

    #[derive(Debug, Clone)]
    enum Url {
        Live,
        Dead,
        Garbage(String),
    }

    /// A namespace: empty, or a unique prefix (so no two runs share keys)
    /// followed by arbitrary characters (some invalid, some too long).
    #[derive(Debug, Clone)]
    enum Ns {
        Empty,
        Unique(String),
    }

    #[derive(Debug, Clone)]
    struct RedisConfig {
        url: Url,
        namespace: Option<Ns>,
        timeout: Option<Duration>,
        connect_timeout: Option<Duration>,
    }

    fn redis_config() -> impl Strategy<Value = RedisConfig> {
        (
            prop_oneof![
                4 => Just(Url::Live),
                1 => Just(Url::Dead),
                1 => "[a-z:/ ]{0,16}".prop_map(Url::Garbage),
            ],
            proptest::option::of(prop_oneof![
                4 => Just(Ns::Unique(String::new())),
                1 => Just(Ns::Empty),
                1 => Just(Ns::Unique("x".repeat(129))),
                1 => Just(Ns::Unique("x".repeat(60))),
                1 => "\\PC{0,8}".prop_map(Ns::Unique),
                1 => r"[ \t\n\x00]{1,3}".prop_map(Ns::Unique),
            ]),
            proptest::option::of(duration()),
            proptest::option::of(duration()),
        )
            .prop_map(|(url, namespace, timeout, connect_timeout)| RedisConfig {
                url,
                namespace,
                timeout,
                connect_timeout,
            })
    }

    async fn run(c: RedisConfig, live: &str) {
        let url = match &c.url {
            Url::Live => live.to_owned(),
            Url::Dead => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                format!("redis://127.0.0.1:{port}")
            }
            Url::Garbage(s) => s.clone(),
        };
        let mut b = RedisStore::builder(url);
        match &c.namespace {
            None => {}
            Some(Ns::Empty) => b = b.namespace(""),
            Some(Ns::Unique(tail)) => {
                b = b.namespace(format!("{}{tail}", unique_namespace("builders")));
            }
        }
        if let Some(t) = c.timeout {
            b = b.timeout(t);
        }
        if let Some(t) = c.connect_timeout {
            b = b.connect_timeout(t);
        }
        let l2 = match b.build().await {
            Err(err) => {
                check_message(&err, &["url", "namespace", "timeout", "connect_timeout"]);
                return;
            }
            Ok(l2) => l2,
        };
        if matches!(c.url, Url::Live) {
            // Whatever the timeouts, a live Redis is reached in the end
            // (a 1 ns timeout may keep failing: then the L2 is skipped).
            let _ = l2.connected(Duration::from_secs(1)).await;
        }
        let ttl = Duration::from_millis(200);
        let cache: Cache<u64, String> = Cache::builder("any-redis")
            .ttl(ttl)
            .l2(l2.clone())
            .build()
            .unwrap();
        let backend = Backend::default();
        let svc = cache.layer(|k: &u64| Some(*k)).layer(backend.service());
        for i in 0..200_u64 {
            assert_eq!(
                svc.clone().oneshot(i % 11).await.unwrap(),
                format!("value {}", i % 11)
            );
        }
        let _ = l2.stats();
        // Past the TTL (L1 and L2 alike), the backend answers again.
        let before = backend.calls.load(SeqCst);
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert_eq!(svc.clone().oneshot(1).await.unwrap(), "value 1");
        assert_eq!(
            backend.calls.load(SeqCst),
            before + 1,
            "{c:?}: {:?}",
            l2.stats()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn any_redis_store_configuration_is_refused_by_name_or_serves(c in redis_config()) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Some(redis) = shared_redis().await else {
                    return;
                };
                run(c, &redis.url()).await;
            });
        }
    }

    #[tokio::test]
    async fn required_settings_and_zeros_have_clear_messages() {
        let err = RedisStore::builder("redis://127.0.0.1:1")
            .build()
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("namespace: must be set"),
            "{err}"
        );
        let err = RedisStore::builder("redis://127.0.0.1:1")
            .namespace("x")
            .timeout(Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timeout must be greater than zero, got 0ns"
        );
        let err = RedisStore::builder("redis://127.0.0.1:1")
            .namespace("x")
            .connect_timeout(Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "connect_timeout must be greater than zero, got 0ns"
        );
    }
}
