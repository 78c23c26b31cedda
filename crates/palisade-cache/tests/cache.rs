//! The generic cache: freshness, stale serving, coalescing, bounds, tags, L2.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use futures_util::FutureExt;
use palisade_cache::{Cache, error::SharedError, store::MemoryStore};
use palisade_core::BoxError;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Clone, Default)]
struct Backend {
    calls: Arc<AtomicUsize>,
    fail: Arc<AtomicBool>,
    delay: Duration,
    version: Arc<AtomicUsize>,
}

impl Backend {
    fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }

    /// Answers `"{key}@{version}"` after `delay`, or fails if `fail` is set.
    fn service(
        &self,
    ) -> impl Service<u64, Response = String, Error = BoxError, Future: Send> + Clone + Send + 'static
    {
        let me = self.clone();
        service_fn(move |key: u64| {
            let me = me.clone();
            async move {
                me.calls.fetch_add(1, SeqCst);
                if !me.delay.is_zero() {
                    tokio::time::sleep(me.delay).await;
                }
                if me.fail.load(SeqCst) {
                    return Err::<String, BoxError>("backend down".into());
                }
                Ok(format!("{key}@{}", me.version.load(SeqCst)))
            }
        })
    }
}

fn cache(ttl: u64, swr: u64, sie: u64) -> Cache<u64, String> {
    Cache::builder("test")
        .max_entries(1_000)
        .ttl(Duration::from_secs(ttl))
        .stale_while_revalidate(Duration::from_secs(swr))
        .stale_if_error(Duration::from_secs(sie))
        .build()
        .unwrap()
}

async fn get<S>(svc: &S, key: u64) -> Result<String, BoxError>
where
    S: Service<u64, Response = String, Error = BoxError> + Clone,
{
    svc.clone().oneshot(key).await
}

fn layered(
    cache: &Cache<u64, String>,
    backend: &Backend,
) -> impl Service<u64, Response = String, Error = BoxError, Future: Send> + Clone + Send + 'static {
    ServiceBuilder::new()
        .layer(cache.layer(|k: &u64| Some(*k)))
        .service(backend.service())
}

async fn advance(secs: u64) {
    tokio::time::advance(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn fresh_within_ttl_then_fetched_again() {
    let backend = Backend::default();
    let cache = cache(10, 0, 0);
    let svc = layered(&cache, &backend);
    assert_eq!(get(&svc, 1).await.unwrap(), "1@0");
    backend.version.store(1, SeqCst);
    advance(9).await;
    assert_eq!(get(&svc, 1).await.unwrap(), "1@0");
    assert_eq!(backend.calls(), 1);
    advance(1).await;
    assert_eq!(get(&svc, 1).await.unwrap(), "1@1");
    assert_eq!(backend.calls(), 2);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once() {
    let backend = Backend::slow(Duration::from_secs(5));
    let cache = cache(10, 30, 0);
    let svc = layered(&cache, &backend);
    assert_eq!(get(&svc, 1).await.unwrap(), "1@0");
    backend.version.store(1, SeqCst);
    advance(15).await;
    // Every request in the window is answered at once with the stale value,
    // though the backend takes 5 s: no time passes while they complete.
    for _ in 0..20 {
        let mut s = svc.clone();
        let fut = s.ready().await.unwrap().call(1);
        let answer = fut.now_or_never().expect("stale answer without waiting");
        assert_eq!(answer.unwrap(), "1@0");
    }
    tokio::task::yield_now().await; // the refresh task starts
    assert_eq!(backend.calls(), 2, "exactly one background refresh");
    tokio::time::sleep(Duration::from_secs(6)).await; // the refresh finishes
    assert_eq!(get(&svc, 1).await.unwrap(), "1@1");
    assert_eq!(backend.calls(), 2);
    let stats = cache.stats();
    assert_eq!((stats.stale_hits, stats.refreshes), (20, 1));
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_serves_the_old_value_then_gives_up() {
    let backend = Backend::default();
    let cache = cache(10, 0, 60);
    let svc = layered(&cache, &backend);
    assert_eq!(get(&svc, 1).await.unwrap(), "1@0");
    backend.fail.store(true, SeqCst);
    advance(30).await;
    assert_eq!(get(&svc, 1).await.unwrap(), "1@0");
    assert_eq!(backend.calls(), 2);
    advance(40).await; // 70 s: past ttl + stale_if_error
    let err = get(&svc, 1).await.unwrap_err();
    assert_eq!(err.to_string(), "backend down");
    // The backend recovers: its value is fetched and cached again.
    backend.fail.store(false, SeqCst);
    assert_eq!(get(&svc, 1).await.unwrap(), "1@0");
    assert_eq!(backend.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn past_both_windows_the_entry_is_gone() {
    let backend = Backend::default();
    let cache = cache(10, 5, 20);
    let svc = layered(&cache, &backend);
    get(&svc, 1).await.unwrap();
    backend.version.store(1, SeqCst);
    advance(31).await;
    // Neither stale nor a fallback: the request waits for the new value.
    let mut s = svc.clone();
    let fut = s.ready().await.unwrap().call(1);
    assert_eq!(fut.await.unwrap(), "1@1");
    assert_eq!(backend.calls(), 2);
    assert_eq!(cache.stats().stale_hits, 0);
}

#[tokio::test(start_paused = true)]
async fn thousand_concurrent_misses_make_one_call() {
    let backend = Backend::slow(Duration::from_secs(1));
    let cache = cache(60, 0, 0);
    let svc = layered(&cache, &backend);
    let tasks: Vec<_> = (0..1_000)
        .map(|_| tokio::spawn(svc.clone().oneshot(7)))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "7@0");
    }
    assert_eq!(backend.calls(), 1);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced), (1, 999));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_takes_over_when_the_leader_is_cancelled() {
    let backend = Backend::slow(Duration::from_secs(10));
    let cache = cache(60, 0, 0);
    let svc = layered(&cache, &backend);
    let mut leader = Box::pin(svc.clone().oneshot(3));
    assert!((&mut leader).now_or_never().is_none()); // leads, calls the backend
    let waiters: Vec<_> = (0..5)
        .map(|_| tokio::spawn(svc.clone().oneshot(3)))
        .collect();
    tokio::task::yield_now().await; // the waiters join the flight
    drop(leader);
    tokio::task::yield_now().await; // one waiter takes over
    // Requests arriving after the take-over join the same call.
    let late: Vec<_> = (0..5)
        .map(|_| tokio::spawn(svc.clone().oneshot(3)))
        .collect();
    for w in waiters.into_iter().chain(late) {
        assert_eq!(w.await.unwrap().unwrap(), "3@0");
    }
    assert_eq!(
        backend.calls(),
        2,
        "the cancelled call plus exactly one more"
    );
    assert_eq!(get(&svc, 3).await.unwrap(), "3@0");
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn errors_go_to_current_waiters_and_are_not_cached() {
    let backend = Backend::slow(Duration::from_secs(1));
    backend.fail.store(true, SeqCst);
    let cache = cache(60, 0, 0);
    let svc = layered(&cache, &backend);
    let tasks: Vec<_> = (0..10)
        .map(|_| tokio::spawn(svc.clone().oneshot(5)))
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        let shared = err.downcast_ref::<SharedError>().expect("shared error");
        assert_eq!(shared.inner().to_string(), "backend down");
    }
    assert_eq!(backend.calls(), 1);
    backend.fail.store(false, SeqCst);
    assert_eq!(get(&svc, 5).await.unwrap(), "5@0");
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn ttl_for_decides_what_is_stored() {
    let backend = Backend::default();
    let cache: Cache<u64, String> = Cache::builder("neg")
        .ttl_for(|v: &String| {
            if v.starts_with("0@") {
                Some(Duration::from_secs(1)) // "not found": a short TTL
            } else if v.starts_with("9@") {
                None // never stored
            } else {
                Some(Duration::from_secs(60))
            }
        })
        .build()
        .unwrap();
    let svc = layered(&cache, &backend);
    for key in [0, 9, 4] {
        get(&svc, key).await.unwrap();
        get(&svc, key).await.unwrap();
    }
    assert_eq!(backend.calls(), 4); // 9 twice, 0 and 4 once
    advance(2).await;
    get(&svc, 0).await.unwrap();
    get(&svc, 4).await.unwrap();
    assert_eq!(backend.calls(), 5); // 0 expired, 4 did not
}

#[tokio::test]
async fn weighed_size_stays_within_max_bytes() {
    let cache: Cache<u64, Arc<[u8]>> = Cache::builder("bytes")
        .max_bytes(10_000)
        .weigh(|v: &Arc<[u8]>| v.len())
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(cache.layer(|k: &u64| Some(*k)))
        .service(service_fn(|_k: u64| async {
            Ok::<_, Infallible>(Arc::<[u8]>::from(vec![0u8; 100]))
        }));
    for k in 0..1_000 {
        svc.clone().oneshot(k).await.unwrap();
    }
    cache.run_pending_tasks().await;
    let stats = cache.stats();
    assert!(stats.weighed_size <= 10_000, "{stats:?}");
    assert!(stats.entries <= 100, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn invalidate_tag_removes_exactly_the_tagged_entries() {
    let backend = Backend::default();
    let cache: Cache<u64, String> = Cache::builder("tags")
        .ttl(Duration::from_secs(60))
        .tags(|v: &String| {
            let key: u64 = v.split('@').next().unwrap().parse().unwrap();
            if key.is_multiple_of(2) {
                vec!["even"]
            } else {
                vec!["odd"]
            }
        })
        .build()
        .unwrap();
    let svc = layered(&cache, &backend);
    for k in 0..10 {
        get(&svc, k).await.unwrap();
    }
    assert_eq!(backend.calls(), 10);
    cache.invalidate_tag("even").await;
    for k in (1..10).step_by(2) {
        get(&svc, k).await.unwrap();
    }
    assert_eq!(backend.calls(), 10, "odd entries kept");
    for k in (0..10).step_by(2) {
        get(&svc, k).await.unwrap();
    }
    assert_eq!(backend.calls(), 15, "every even entry was dropped");
    cache.invalidate(&1).await;
    get(&svc, 1).await.unwrap();
    assert_eq!(backend.calls(), 16);
}

#[tokio::test(start_paused = true)]
async fn every_layer_of_one_cache_shares_it_and_none_bypasses() {
    let backend = Backend::default();
    let cache = cache(60, 0, 0);
    let a = layered(&cache, &backend);
    let b = layered(&cache, &backend);
    get(&a, 1).await.unwrap();
    get(&b, 1).await.unwrap();
    assert_eq!(backend.calls(), 1);
    let bypass = ServiceBuilder::new()
        .layer(cache.layer(|k: &u64| (*k != 0).then_some(*k)))
        .service(backend.service());
    get(&bypass, 0).await.unwrap();
    get(&bypass, 0).await.unwrap();
    assert_eq!(backend.calls(), 3);
    assert_eq!(cache.stats().bypassed, 2);
}

#[tokio::test(start_paused = true)]
async fn replicas_share_an_l2_and_purges_reach_every_l1() {
    let l2 = MemoryStore::new(1_000);
    let build = || -> Cache<u64, String> {
        Cache::builder("replica")
            .ttl(Duration::from_secs(60))
            .tags(|_v: &String| ["all"])
            .l2(l2.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let (backend_a, backend_b) = (Backend::default(), Backend::default());
    let (svc_a, svc_b) = (layered(&a, &backend_a), layered(&b, &backend_b));
    assert_eq!(get(&svc_a, 1).await.unwrap(), "1@0");
    assert_eq!(get(&svc_b, 1).await.unwrap(), "1@0");
    assert_eq!(
        (backend_a.calls(), backend_b.calls()),
        (1, 0),
        "B answered from the L2"
    );
    get(&svc_b, 1).await.unwrap();
    assert_eq!(l2.get_count(), 2, "B's second request was an L1 hit");
    a.invalidate_tag("all").await;
    backend_b.version.store(1, SeqCst);
    assert_eq!(
        get(&svc_b, 1).await.unwrap(),
        "1@1",
        "purged from B's L1 and the L2"
    );
    assert_eq!(backend_b.calls(), 1);
}

#[test]
fn bad_config_names_the_field() {
    let err = Cache::<u64, String>::builder("x")
        .max_entries(0)
        .ttl(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_entries");
    let err = Cache::<u64, String>::builder("x").build().unwrap_err();
    assert_eq!(err.field(), "ttl");
    let err = Cache::<u64, String>::builder("x")
        .max_bytes(10)
        .ttl(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "weigh");
    let err = Cache::<u64, String>::builder("x")
        .ttl(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "ttl");
}
