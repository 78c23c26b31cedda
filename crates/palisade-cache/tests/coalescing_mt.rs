//! Coalescing on a multi-thread runtime: requests that arrive while, or
//! just after, the leader fills L1 must not start a second lookup.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use bytes::Bytes;
use palisade_cache::{
    Cache,
    store::{L2Entry, L2Future, L2Store, MemoryStore, PurgeSink},
};
use tower::{Layer, ServiceExt, service_fn};

/// A [`MemoryStore`] whose lookups take a little while, and are counted.
#[derive(Debug, Clone)]
struct SlowStore {
    inner: MemoryStore,
    gets: Arc<AtomicUsize>,
}

impl L2Store for SlowStore {
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>> {
        self.gets.fetch_add(1, SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.inner.get(key).await
        })
    }
    fn put(&self, key: Bytes, entry: L2Entry) {
        self.inner.put(key, entry);
    }
    fn invalidate<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, ()> {
        self.inner.invalidate(key)
    }
    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> L2Future<'a, ()> {
        self.inner.invalidate_tag(tag)
    }
    fn subscribe(&self, sink: PurgeSink) {
        self.inner.subscribe(sink);
    }
}

fn replica(store: &SlowStore) -> Cache<u64, String> {
    Cache::builder("mt")
        .max_entries(10_000)
        .ttl(Duration::from_secs(600))
        .l2(store.clone())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_arrivals_after_an_l2_fill_make_no_second_lookup() {
    const KEYS: u64 = 30;
    const REQUESTS: usize = 2_000;
    let store = SlowStore {
        inner: MemoryStore::new(10_000),
        gets: Arc::default(),
    };
    let backend = Arc::new(AtomicUsize::new(0));
    let make_svc = |cache: &Cache<u64, String>| {
        let calls = Arc::clone(&backend);
        cache
            .layer(|id: &u64| Some(*id))
            .layer(service_fn(move |id: u64| {
                calls.fetch_add(1, SeqCst);
                async move { Ok::<_, Infallible>(format!("user {id}")) }
            }))
    };

    // Replica A fills the shared tier.
    let a = replica(&store);
    let svc_a = make_svc(&a);
    for id in 0..KEYS {
        svc_a.clone().oneshot(id).await.unwrap();
    }
    assert_eq!(backend.load(SeqCst), KEYS as usize);
    assert_eq!(store.inner.put_count(), KEYS);

    // Replica B, cold: a stream of requests per key, arriving before,
    // during and just after its one L2 lookup.
    let b = replica(&store);
    let svc_b = make_svc(&b);
    let gets_before = store.gets.load(SeqCst);
    for id in 0..KEYS {
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let svc = svc_b.clone();
                tokio::spawn(async move {
                    for _ in 0..i % 64 {
                        tokio::task::yield_now().await;
                    }
                    svc.oneshot(id).await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), format!("user {id}"));
        }
    }
    assert_eq!(
        store.gets.load(SeqCst) - gets_before,
        KEYS as usize,
        "one L2 lookup per key"
    );
    assert_eq!(
        backend.load(SeqCst),
        KEYS as usize,
        "B never called its backend"
    );
}

#[cfg(feature = "http")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_http_arrivals_after_an_l2_fill_make_no_second_lookup() {
    use http::{Request, Response};
    use http_body_util::Full;
    use palisade_cache::HttpCache;

    const PATHS: usize = 20;
    const REQUESTS: usize = 1_000;
    let store = SlowStore {
        inner: MemoryStore::new(10_000),
        gets: Arc::default(),
    };
    let backend = Arc::new(AtomicUsize::new(0));
    let make = || {
        let cache = HttpCache::builder("mt-http")
            .default_ttl(Duration::from_secs(600))
            .l2(store.clone())
            .build()
            .unwrap();
        let calls = Arc::clone(&backend);
        let svc = cache.layer().layer(service_fn(move |req: Request<String>| {
            calls.fetch_add(1, SeqCst);
            async move {
                let body = Full::new(Bytes::from(req.uri().path().to_owned()));
                Ok::<_, Infallible>(Response::new(body))
            }
        }));
        (cache, svc)
    };
    let (_a, svc_a) = make();
    for n in 0..PATHS {
        http_get(svc_a.clone(), format!("/p{n}")).await;
    }
    assert_eq!(backend.load(SeqCst), PATHS);

    let (_b, svc_b) = make();
    let gets_before = store.gets.load(SeqCst);
    for n in 0..PATHS {
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let fut = http_get(svc_b.clone(), format!("/p{n}"));
                tokio::spawn(async move {
                    for _ in 0..i % 64 {
                        tokio::task::yield_now().await;
                    }
                    fut.await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Bytes::from(format!("/p{n}")));
        }
    }
    assert_eq!(
        store.gets.load(SeqCst) - gets_before,
        PATHS,
        "one L2 lookup per URL"
    );
    assert_eq!(backend.load(SeqCst), PATHS, "B never called its backend");
}

#[cfg(feature = "http")]
async fn http_get<S, B>(svc: S, path: String) -> Bytes
where
    S: tower::Service<http::Request<String>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    let req = http::Request::get(format!("http://site{path}"))
        .body(String::new())
        .unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    resp.into_body().collect().await.unwrap().to_bytes()
}
