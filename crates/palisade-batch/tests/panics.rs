//! A panic in user code run by the worker fails only the batch it hit: its
//! callers get an error naming the panic, and the worker goes on.

use std::{
    collections::HashMap,
    error::Error as _,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use palisade_batch::{
    Batcher, BoxError, Loader,
    error::{BatchFailed, Panicked},
};
use tower::{Layer, Service, ServiceExt};

type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// Where the test service panics for a batch holding item 13.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Call,
    Future,
    PollReady,
}

/// Answers `x * 10` for each `x`; panics (at `site`) for a batch holding 13.
#[derive(Clone)]
struct Panicky {
    site: Site,
    calls: Arc<AtomicUsize>,
    /// `poll_ready` panics while this is set.
    ready_panics: Arc<AtomicUsize>,
}

impl Panicky {
    fn new(site: Site) -> Self {
        Self {
            site,
            calls: Arc::default(),
            ready_panics: Arc::default(),
        }
    }

    fn run<T: Send + 'static>(&mut self, items: Vec<u32>, f: fn(Vec<u32>) -> T) -> BoxFut<T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let poison = items.contains(&13);
        if poison && self.site == Site::Call {
            panic!("boom in call for {items:?}");
        }
        let site = self.site;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if poison && site == Site::Future {
                panic!("boom in future for {items:?}");
            }
            Ok(f(items))
        })
    }

    fn ready(&mut self) -> Poll<Result<(), BoxError>> {
        if self
            .ready_panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("boom in poll_ready");
        }
        Poll::Ready(Ok(()))
    }
}

impl Service<Vec<u32>> for Panicky {
    type Response = Vec<u32>;
    type Error = BoxError;
    type Future = BoxFut<Vec<u32>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.ready()
    }

    fn call(&mut self, items: Vec<u32>) -> Self::Future {
        self.run(items, |items| items.iter().map(|x| x * 10).collect())
    }
}

/// The keyed flavour.
#[derive(Clone)]
struct KeyedPanicky(Panicky);

impl Service<Vec<u32>> for KeyedPanicky {
    type Response = HashMap<u32, u32>;
    type Error = BoxError;
    type Future = BoxFut<HashMap<u32, u32>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.ready()
    }

    fn call(&mut self, keys: Vec<u32>) -> Self::Future {
        self.0
            .run(keys, |keys| keys.iter().map(|k| (*k, k * 10)).collect())
    }
}

/// The error is a `BatchFailed` of `len` items whose cause is a `Panicked`
/// carrying the panic's message.
fn assert_panicked(err: &BoxError, len: usize, site: &str, message: &str) {
    let failed = err
        .downcast_ref::<BatchFailed>()
        .unwrap_or_else(|| panic!("BatchFailed, got {err:?}"));
    assert_eq!(failed.batch_len(), len);
    let panicked = failed
        .source()
        .and_then(|s| s.downcast_ref::<Panicked>())
        .expect("the cause is a Panicked");
    assert_eq!(panicked.site(), site);
    assert!(
        panicked.message().contains(message),
        "{}",
        panicked.message()
    );
    assert!(err.to_string().contains(message), "{err}");
    assert!(err.to_string().contains("panic"), "{err}");
}

async fn batcher_survives(site: Site, site_name: &str, message: &str) {
    let batcher = Batcher::builder("embed")
        .max_size(2)
        .max_wait(Duration::from_millis(5))
        .build()
        .unwrap();
    let inner = Panicky::new(site);
    let calls = inner.calls.clone();
    let svc = batcher.layer().layer(inner);
    let (a, b) = tokio::join!(svc.clone().oneshot(13), svc.clone().oneshot(2));
    assert_panicked(&a.unwrap_err(), 2, site_name, message);
    assert_panicked(&b.unwrap_err(), 2, site_name, message);
    // The worker goes on serving later batches.
    for round in 0..3 {
        let (c, d) = tokio::join!(svc.clone().oneshot(round), svc.clone().oneshot(5));
        assert_eq!((c.unwrap(), d.unwrap()), (round * 10, 50));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(batcher.workers(), 1);
    assert_eq!(batcher.in_flight(), 0);
}

async fn loader_survives(site: Site, site_name: &str, message: &str) {
    let loader = Loader::builder("users")
        .max_size(2)
        .max_wait(Duration::from_millis(5))
        .build()
        .unwrap();
    let inner = Panicky::new(site);
    let calls = inner.calls.clone();
    let svc = loader.layer().layer(KeyedPanicky(inner));
    let (a, b) = tokio::join!(svc.clone().oneshot(13), svc.clone().oneshot(2));
    assert_panicked(&a.unwrap_err(), 2, site_name, message);
    assert_panicked(&b.unwrap_err(), 2, site_name, message);
    for round in 0..3 {
        let (c, d) = tokio::join!(svc.clone().oneshot(round), svc.clone().oneshot(5));
        assert_eq!((c.unwrap(), d.unwrap()), (Some(round * 10), Some(50)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(loader.workers(), 1);
}

#[tokio::test(start_paused = true)]
async fn batcher_survives_a_panic_in_call() {
    batcher_survives(
        Site::Call,
        "inner service's call",
        "boom in call for [13, 2]",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn batcher_survives_a_panic_in_the_response_future() {
    batcher_survives(
        Site::Future,
        "inner service's response future",
        "boom in future for [13, 2]",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn loader_survives_a_panic_in_call() {
    loader_survives(
        Site::Call,
        "inner service's call",
        "boom in call for [13, 2]",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn loader_survives_a_panic_in_the_response_future() {
    loader_survives(
        Site::Future,
        "inner service's response future",
        "boom in future for [13, 2]",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_poll_ready_fails_the_waiting_batch_only() {
    let batcher = Batcher::builder("embed")
        .max_size(2)
        .max_wait(Duration::from_millis(5))
        .build()
        .unwrap();
    let inner = Panicky::new(Site::PollReady);
    inner.ready_panics.store(1, Ordering::SeqCst);
    let svc = batcher.layer().layer(inner);
    let (a, b) = tokio::join!(svc.clone().oneshot(1), svc.clone().oneshot(2));
    assert_panicked(
        &a.unwrap_err(),
        2,
        "inner service's poll_ready",
        "boom in poll_ready",
    );
    assert_panicked(
        &b.unwrap_err(),
        2,
        "inner service's poll_ready",
        "boom in poll_ready",
    );
    let (c, d) = tokio::join!(svc.clone().oneshot(3), svc.clone().oneshot(4));
    assert_eq!((c.unwrap(), d.unwrap()), (30, 40));
}

#[tokio::test(start_paused = true)]
async fn bisection_isolates_an_item_that_makes_the_inner_service_panic() {
    let batcher = Batcher::builder("embed")
        .max_size(16)
        .max_wait(Duration::from_millis(5))
        .bisect_on_error(4)
        .build()
        .unwrap();
    let inner = Panicky::new(Site::Call);
    let calls = inner.calls.clone();
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = (0..16)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for (i, h) in (0..16).zip(handles) {
        let res = h.await.unwrap();
        if i == 13 {
            assert_panicked(&res.unwrap_err(), 1, "inner service's call", "[13]");
        } else {
            assert_eq!(res.unwrap(), i * 10);
        }
    }
    // 16 items, depth 4: one call and two per level.
    assert_eq!(calls.load(Ordering::SeqCst), 1 + 2 * 4);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_weigh_function_fails_its_caller_only() {
    let batcher = Batcher::builder("embed")
        .max_size(4)
        .max_weight(100)
        .max_wait(Duration::from_millis(5))
        .weigh(|x: &u32| {
            assert!(*x != 13, "cannot weigh {x}");
            1
        })
        .build()
        .unwrap();
    let svc = batcher.layer().layer(Panicky::new(Site::Call));
    let err = svc.clone().oneshot(13).await.unwrap_err();
    let panicked = err.downcast_ref::<Panicked>().expect("Panicked");
    assert_eq!(panicked.site(), "weigh function");
    assert_eq!(panicked.message(), "cannot weigh 13");
    let (a, b) = tokio::join!(svc.clone().oneshot(1), svc.clone().oneshot(2));
    assert_eq!((a.unwrap(), b.unwrap()), (10, 20));

    let loader = Loader::builder("users")
        .max_wait(Duration::from_millis(5))
        .weigh(|x: &u32| {
            assert!(*x != 13, "cannot weigh {x}");
            1
        })
        .build()
        .unwrap();
    let svc = loader.layer().layer(KeyedPanicky(Panicky::new(Site::Call)));
    let err = svc.clone().oneshot(13).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Panicked>().expect("Panicked").message(),
        "cannot weigh 13"
    );
    assert_eq!(svc.oneshot(4).await.unwrap(), Some(40));
}
