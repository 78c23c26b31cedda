//! A store that reports itself unavailable gets no L2 work from the cache:
//! no lookup and no write, on the generic and on the HTTP path.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use bytes::Bytes;
use palisade_cache::{
    Cache,
    store::{L2Entry, L2Future, L2Store, MemoryStore, PurgeSink},
};
use tower::{Layer, ServiceExt, service_fn};

/// A [`MemoryStore`] that counts the calls it gets and can be switched off.
#[derive(Debug, Clone)]
struct Counting {
    inner: MemoryStore,
    up: Arc<AtomicBool>,
    gets: Arc<AtomicUsize>,
    puts: Arc<AtomicUsize>,
    skipped_gets: Arc<AtomicUsize>,
    skipped_puts: Arc<AtomicUsize>,
}

impl Counting {
    fn new() -> Self {
        Self {
            inner: MemoryStore::new(1_000),
            up: Arc::new(AtomicBool::new(false)),
            gets: Arc::default(),
            puts: Arc::default(),
            skipped_gets: Arc::default(),
            skipped_puts: Arc::default(),
        }
    }

    fn calls(&self) -> (usize, usize) {
        (self.gets.load(SeqCst), self.puts.load(SeqCst))
    }

    fn skipped(&self) -> (usize, usize) {
        (
            self.skipped_gets.load(SeqCst),
            self.skipped_puts.load(SeqCst),
        )
    }
}

impl L2Store for Counting {
    fn get<'a>(&'a self, key: &'a [u8]) -> L2Future<'a, Option<L2Entry>> {
        self.gets.fetch_add(1, SeqCst);
        self.inner.get(key)
    }
    fn put(&self, key: Bytes, entry: L2Entry) {
        self.puts.fetch_add(1, SeqCst);
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
    fn available(&self) -> bool {
        self.up.load(SeqCst)
    }
    fn skipped_get(&self) {
        self.skipped_gets.fetch_add(1, SeqCst);
    }
    fn skipped_put(&self) {
        self.skipped_puts.fetch_add(1, SeqCst);
    }
}

#[test]
fn stores_are_available_by_default() {
    let store = MemoryStore::new(10);
    assert!(store.available());
    assert!(Arc::new(store).available());
}

#[test]
fn an_arc_forwards_every_method() {
    let store = Counting::new();
    let shared: Arc<dyn L2Store> = Arc::new(store.clone());
    assert!(!shared.available());
    store.up.store(true, SeqCst);
    assert!(shared.available());
    shared.skipped_get();
    shared.skipped_put();
    assert_eq!(store.skipped(), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_store_gets_no_lookup_and_no_write() {
    let store = Counting::new();
    let cache: Cache<u64, String> = Cache::builder("avail")
        .ttl(Duration::from_secs(60))
        .l2(store.clone())
        .build()
        .unwrap();
    let backend = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&backend);
    let svc = cache
        .layer(|id: &u64| Some(*id))
        .layer(service_fn(move |id: u64| {
            calls.fetch_add(1, SeqCst);
            async move { Ok::<_, Infallible>(format!("user {id}")) }
        }));

    // Down: misses go straight to the backend, fills stay in L1.
    for id in 0..5 {
        assert_eq!(svc.clone().oneshot(id).await.unwrap(), format!("user {id}"));
    }
    assert_eq!(svc.clone().oneshot(0).await.unwrap(), "user 0");
    assert_eq!(store.calls(), (0, 0));
    assert_eq!(
        store.skipped(),
        (5, 5),
        "one skipped lookup and write per miss"
    );
    assert_eq!(backend.load(SeqCst), 5);
    assert_eq!(store.inner.entry_count(), 0);

    // Up again: the next miss looks in the L2 and fills it.
    store.up.store(true, SeqCst);
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), "user 7");
    assert_eq!(store.calls(), (1, 1));
    assert_eq!(store.skipped(), (5, 5));
    assert_eq!(backend.load(SeqCst), 6);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn an_unavailable_store_gets_no_lookup_and_no_write_over_http() {
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full};
    use palisade_cache::HttpCache;

    let store = Counting::new();
    let cache = HttpCache::builder("avail-http")
        .default_ttl(Duration::from_secs(60))
        .l2(store.clone())
        .build()
        .unwrap();
    let backend = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&backend);
    let svc = cache.layer().layer(service_fn(move |req: Request<String>| {
        calls.fetch_add(1, SeqCst);
        async move {
            let body = Full::new(Bytes::from(req.uri().path().to_owned()));
            Ok::<_, Infallible>(Response::new(body))
        }
    }));
    let get = |path: &'static str| {
        let svc = svc.clone();
        async move {
            let req = Request::get(format!("http://site{path}"))
                .body(String::new())
                .unwrap();
            let resp = svc.oneshot(req).await.unwrap();
            let x = resp.headers()["x-cache"].to_str().unwrap().to_owned();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (x, body)
        }
    };

    assert_eq!(get("/a").await, ("MISS".to_owned(), Bytes::from("/a")));
    assert_eq!(get("/b").await.0, "MISS");
    assert_eq!(get("/a").await.0, "HIT");
    assert_eq!(store.calls(), (0, 0));
    assert_eq!(store.skipped(), (2, 2));
    assert_eq!(backend.load(SeqCst), 2);

    store.up.store(true, SeqCst);
    assert_eq!(get("/c").await.0, "MISS");
    assert_eq!(store.calls(), (1, 1));
    assert_eq!(backend.load(SeqCst), 3);
}
