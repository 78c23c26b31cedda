//! Two HttpCache replicas sharing an in-process L2 (MemoryStore).
#![cfg(feature = "http")]

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use palisade_cache::{HttpCache, store::MemoryStore};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn replica(
    l2: &MemoryStore,
    calls: &Arc<AtomicUsize>,
) -> (
    HttpCache,
    impl Service<
        Request<String>,
        Response = Response<palisade_cache::CacheBody<Full<Bytes>>>,
        Error = Infallible,
    > + Clone,
) {
    let cache = HttpCache::builder("replica")
        .default_ttl(Duration::from_secs(60))
        .l2(l2.clone())
        .build()
        .unwrap();
    let calls = Arc::clone(calls);
    let svc = ServiceBuilder::new()
        .layer(cache.layer())
        .service(service_fn(move |req: Request<String>| {
            let n = calls.fetch_add(1, SeqCst) + 1;
            async move {
                let lang = req
                    .headers()
                    .get("accept-language")
                    .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned());
                let resp = Response::builder()
                    .header("vary", "accept-language")
                    .header("cache-tag", "greetings")
                    .body(Full::new(Bytes::from(format!("hello {lang} #{n}"))))
                    .unwrap();
                Ok::<_, Infallible>(resp)
            }
        }));
    (cache, svc)
}

async fn get<S>(svc: &S, lang: &str) -> (String, String)
where
    S: Service<
            Request<String>,
            Response = Response<palisade_cache::CacheBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let req = Request::get("http://site/greeting")
        .header("accept-language", lang)
        .body(String::new())
        .unwrap();
    let resp = svc.clone().oneshot(req).await.unwrap();
    let x = resp.headers()["x-cache"].to_str().unwrap().to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (x, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_fill_on_one_replica_is_served_by_the_other_and_purges_reach_both() {
    let l2 = MemoryStore::new(1_000);
    let (calls_a, calls_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, svc_a) = replica(&l2, &calls_a);
    let (_b, svc_b) = replica(&l2, &calls_b);

    assert_eq!(
        get(&svc_a, "de").await,
        ("MISS".into(), "hello de #1".into())
    );
    // B finds the Vary marker and then the "de" variant in the L2.
    assert_eq!(
        get(&svc_b, "de").await,
        ("HIT".into(), "hello de #1".into())
    );
    assert_eq!(calls_b.load(SeqCst), 0);
    // Another variant is not served from "de".
    assert_eq!(
        get(&svc_b, "fr").await,
        ("MISS".into(), "hello fr #1".into())
    );
    assert_eq!(calls_b.load(SeqCst), 1);
    // Now in B's L1: no more L2 reads.
    let reads = l2.get_count();
    assert_eq!(get(&svc_b, "de").await.0, "HIT");
    assert_eq!(l2.get_count(), reads);

    // A purge on A reaches B's L1 and the L2.
    a.invalidate_tag("greetings").await;
    assert_eq!(
        get(&svc_b, "de").await,
        ("MISS".into(), "hello de #2".into())
    );
    assert_eq!(calls_b.load(SeqCst), 2);
}
