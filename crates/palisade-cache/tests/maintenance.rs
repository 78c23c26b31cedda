//! The task that applies moka's read log off the request path: started by
//! hits, and gone with the cache (no task left behind per cache).
#![cfg(feature = "http")]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use palisade_cache::HttpCache;
use tower::{Layer, Service, ServiceExt, service_fn};

async fn origin(_req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header(header::CACHE_CONTROL, "max-age=3600")
        .body(Full::new(Bytes::from_static(b"page")))
        .unwrap())
}

fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn hits_start_one_maintenance_task_that_ends_with_the_cache() {
    let before = alive();
    let cache = HttpCache::builder("maintained").build().unwrap();
    let mut svc = cache.layer().layer(service_fn(origin));
    let req = || Request::get("http://example.com/page").body(()).unwrap();
    let first = svc.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(first.headers()["x-cache"], "MISS");
    settle().await;
    let after_miss = alive();

    // 31 hits: not yet; the 32nd starts the task (and wakes it).
    for _ in 0..31 {
        let hit = svc.ready().await.unwrap().call(req()).await.unwrap();
        assert_eq!(hit.headers()["x-cache"], "HIT");
    }
    settle().await;
    assert_eq!(alive(), after_miss, "no task before 32 hits");
    for _ in 0..200 {
        let hit = svc.ready().await.unwrap().call(req()).await.unwrap();
        assert_eq!(hit.headers()["x-cache"], "HIT");
        tokio::task::yield_now().await;
    }
    settle().await;
    assert_eq!(alive(), after_miss + 1, "one maintenance task per cache");
    assert_eq!(cache.stats().hits, 231);

    drop((svc, cache));
    settle().await;
    assert_eq!(alive(), before, "the task ends with the cache");
}
