//! HttpCache size bounds: bytes of bodies and headers, or entries.
#![cfg(feature = "http")]

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use palisade_cache::HttpCache;
use tower::{ServiceBuilder, ServiceExt, service_fn};

async fn fill(cache: &HttpCache, urls: usize) {
    let svc = ServiceBuilder::new()
        .layer(cache.layer())
        .service(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(vec![b'z'; 900]))))
        }));
    for i in 0..urls {
        let req = Request::get(format!("http://site/page/{i}"))
            .body(())
            .unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(
            resp.into_body().collect().await.unwrap().to_bytes().len(),
            900
        );
    }
    cache.run_pending_tasks().await;
}

#[tokio::test]
async fn ten_times_max_bytes_stays_within_it() {
    let cache = HttpCache::builder("bytes")
        .max_bytes(10_000)
        .max_body_bytes(1_000)
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    fill(&cache, 110).await; // ~100 KB offered
    let stats = cache.stats();
    assert!(stats.weighed_size <= 10_000, "{stats:?}");
    assert!(stats.entries >= 1 && stats.evictions > 0, "{stats:?}");
}

#[tokio::test]
async fn max_entries_counts_responses_not_bytes() {
    let cache = HttpCache::builder("entries")
        .max_entries(10)
        .max_body_bytes(1_000)
        .default_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    fill(&cache, 100).await;
    let stats = cache.stats();
    assert!(stats.entries <= 10 && stats.entries > 0, "{stats:?}");
    assert_eq!(stats.weighed_size, stats.entries, "{stats:?}");
}
