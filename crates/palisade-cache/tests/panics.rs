//! A panic in the call made for a key is an error shared with the requests
//! waiting for that call — never a take-over that runs the call again.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures_util::FutureExt;
use palisade_cache::{
    Cache,
    error::{CallPanicked, SharedError},
};
use palisade_core::BoxError;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

const WORK: Duration = Duration::from_millis(300);

fn cache() -> Cache<u64, String> {
    Cache::builder("panics")
        .max_entries(100)
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Counts its runs; panics after `WORK` while `panic` is set.
fn panicking(
    runs: &Arc<AtomicUsize>,
) -> impl Service<u64, Response = String, Error = BoxError, Future: Send> + Clone + Send + 'static {
    let runs = Arc::clone(runs);
    service_fn(move |key: u64| {
        let runs = Arc::clone(&runs);
        async move {
            runs.fetch_add(1, SeqCst);
            tokio::time::sleep(WORK).await;
            if key < 100 {
                panic!("handler blew up for {key}");
            }
            Ok::<_, BoxError>(format!("{key}"))
        }
    })
}

fn is_shared_panic(err: &BoxError) -> bool {
    err.downcast_ref::<SharedError>()
        .is_some_and(|s| s.inner().downcast_ref::<CallPanicked>().is_some())
}

/// Spawns `n` waiters for `key` after the leader (already polled once) and
/// returns them with the instant each finished.
fn waiters<S>(
    svc: &S,
    key: u64,
    n: usize,
) -> Vec<tokio::task::JoinHandle<(Result<String, BoxError>, Instant)>>
where
    S: Service<u64, Response = String, Error = BoxError, Future: Send + 'static>
        + Clone
        + Send
        + 'static,
{
    (0..n)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move {
                let out = svc.oneshot(key).await;
                (out, Instant::now())
            })
        })
        .collect()
}

async fn check_waiters(
    waiters: Vec<tokio::task::JoinHandle<(Result<String, BoxError>, Instant)>>,
    started: Instant,
) {
    for w in waiters {
        let (out, at) = w.await.expect("a waiter does not panic");
        let err = out.expect_err("the waiter gets the panic as an error");
        assert!(is_shared_panic(&err), "unexpected error: {err}");
        assert!(
            err.to_string().contains("panicked"),
            "the error names the panic: {err}"
        );
        // At once when the one call panicked, not after a call of its own.
        assert_eq!(at - started, WORK, "waiter answered late");
    }
}

#[tokio::test(start_paused = true)]
async fn five_requests_for_a_panicking_key_run_the_handler_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let cache = cache();
    let svc = cache.layer(|k: &u64| Some(*k)).layer(panicking(&runs));
    let started = Instant::now();
    // The leader runs in its own task: tokio catches its panic.
    let leader = tokio::spawn(svc.clone().oneshot(7));
    tokio::task::yield_now().await;
    let waiters = waiters(&svc, 7, 4);
    let err = leader.await.expect_err("the leader's own task panics");
    assert!(err.is_panic());
    check_waiters(waiters, started).await;
    assert_eq!(
        runs.load(SeqCst),
        1,
        "the handler ran once for five requests"
    );
    // Nothing was cached: the next request calls again.
    let next = std::panic::AssertUnwindSafe(svc.clone().oneshot(7))
        .catch_unwind()
        .await;
    assert!(next.is_err());
    assert_eq!(runs.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_panic_is_caught_further_out_is_not_taken_over() {
    // As with tower-http's `CatchPanicLayer`: the leader's future is polled
    // inside `catch_unwind` and dropped only after the unwinding ended.
    let runs = Arc::new(AtomicUsize::new(0));
    let cache = cache();
    let svc = cache.layer(|k: &u64| Some(*k)).layer(panicking(&runs));
    let started = Instant::now();
    let caught = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let fut = svc.oneshot(8);
            let out = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
            out.is_err()
        })
    };
    tokio::task::yield_now().await;
    let waiters = waiters(&svc, 8, 4);
    assert!(
        caught.await.unwrap(),
        "the leader's panic reaches its caller"
    );
    check_waiters(waiters, started).await;
    assert_eq!(runs.load(SeqCst), 1);
}

/// A service whose `call` itself panics for keys below 100.
#[derive(Clone)]
struct PanicInCall {
    runs: Arc<AtomicUsize>,
}

impl Service<u64> for PanicInCall {
    type Response = String;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: u64) -> Self::Future {
        self.runs.fetch_add(1, SeqCst);
        assert!(key >= 100, "call blew up for {key}");
        Box::pin(async move {
            tokio::time::sleep(WORK).await;
            Ok(format!("{key}"))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_take_over_whose_call_panics_fails_its_waiters_and_the_worker_lives_on() {
    // A cancelled leader hands the call to the cache's background worker;
    // that call panics in `call`. The waiters get the error, and the worker
    // still makes the next take-over (it used to die with the panic).
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = {
        let runs = Arc::clone(&runs);
        service_fn(move |key: u64| {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, SeqCst);
                tokio::time::sleep(WORK).await;
                Ok::<_, BoxError>(format!("{key}"))
            }
        })
    };
    let in_call = PanicInCall {
        runs: Arc::clone(&runs),
    };
    // The first clone (the request path) is slow but fine; the worker's
    // clone (made by `layer`) panics in `call` for small keys.
    #[derive(Clone)]
    enum Either<A, B> {
        A(A),
        B(B),
    }
    impl<A, B> Service<u64> for Either<A, B>
    where
        A: Service<u64, Response = String, Error = BoxError>,
        B: Service<u64, Response = String, Error = BoxError>,
        A::Future: Send + 'static,
        B::Future: Send + 'static,
    {
        type Response = String;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, key: u64) -> Self::Future {
            match self {
                Either::A(a) => Box::pin(a.call(key)),
                Either::B(b) => Box::pin(b.call(key)),
            }
        }
    }
    let cache = cache();
    let layer = cache.layer(|k: &u64| Some(*k));
    // `layer` clones the inner service once for its worker: give it the
    // panicking one, then swap the request path's service for the slow one.
    let mut svc = layer.layer(Either::B(in_call));
    *svc.get_mut() = Either::A(slow);

    for (key, expect_panic) in [(1_u64, true), (200, false)] {
        let runs_before = runs.load(SeqCst);
        let mut leader = Box::pin(svc.clone().oneshot(key));
        assert!((&mut leader).now_or_never().is_none());
        let started = Instant::now();
        let waiters = waiters(&svc, key, 4);
        tokio::task::yield_now().await;
        drop(leader); // the client went away: a waiter takes over
        for w in waiters {
            let (out, at) = w.await.expect("a waiter does not panic");
            if expect_panic {
                let err = out.expect_err("the take-over panicked");
                assert!(is_shared_panic(&err), "unexpected error: {err}");
                assert_eq!(at, started, "waiters answered at once");
            } else {
                assert_eq!(out.expect("the worker still serves"), key.to_string());
            }
        }
        // The cancelled call plus one take-over.
        assert_eq!(runs.load(SeqCst) - runs_before, 2);
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_is_still_taken_over() {
    let runs = Arc::new(AtomicUsize::new(0));
    let cache = cache();
    let svc = cache.layer(|k: &u64| Some(*k)).layer(panicking(&runs));
    let mut leader = Box::pin(svc.clone().oneshot(500));
    assert!((&mut leader).now_or_never().is_none());
    let waiters = waiters(&svc, 500, 3);
    tokio::task::yield_now().await;
    drop(leader);
    for w in waiters {
        assert_eq!(w.await.unwrap().0.unwrap(), "500");
    }
    assert_eq!(
        runs.load(SeqCst),
        2,
        "the cancelled call plus one take-over"
    );
}

#[cfg(feature = "http")]
mod http_cache {
    use super::*;
    use std::convert::Infallible;

    use ::http::{Request, Response, StatusCode};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use palisade_cache::HttpCache;

    /// What a waiter of a panicked call gets: a 500, as the leader's own
    /// client gets from hyper or axum.
    fn failed<B, E>(out: Result<Response<B>, E>) -> (bool, Option<Response<B>>) {
        match out {
            Err(_) => (false, None),
            Ok(resp) => (
                resp.status() == StatusCode::INTERNAL_SERVER_ERROR,
                Some(resp),
            ),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn five_http_requests_for_a_panicking_handler_run_it_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let handler = {
            let runs = Arc::clone(&runs);
            service_fn(move |_req: Request<Full<Bytes>>| {
                let runs = Arc::clone(&runs);
                async move {
                    runs.fetch_add(1, SeqCst);
                    tokio::time::sleep(WORK).await;
                    if !WORK.is_zero() {
                        panic!("handler blew up");
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                }
            })
        };
        let cache = HttpCache::builder("panics-http")
            .max_bytes(1 << 20)
            .default_ttl(Duration::from_secs(30))
            .build()
            .unwrap();
        let svc = cache.layer().layer(handler);
        let request = || {
            Request::builder()
                .uri("http://example.com/boom")
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let started = Instant::now();
        let leader = tokio::spawn(svc.clone().oneshot(request()));
        tokio::task::yield_now().await;
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let svc = svc.clone();
                let req = request();
                tokio::spawn(async move {
                    let (failed, resp) = failed(svc.oneshot(req).await);
                    if let Some(resp) = resp {
                        let _ = resp.into_body().collect().await;
                    }
                    (failed, Instant::now())
                })
            })
            .collect();
        assert!(leader.await.unwrap_err().is_panic());
        for w in waiters {
            let (failed, at) = w.await.expect("a waiter does not panic");
            assert!(failed, "the waiter gets the panic as an error");
            assert_eq!(at - started, WORK, "waiter answered late");
        }
        assert_eq!(
            runs.load(SeqCst),
            1,
            "the handler ran once for five requests"
        );
    }
}
