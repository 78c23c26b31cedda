//! `HttpCacheBuilder` with arbitrary values: a `ConfigError` naming the
//! field (in the workspace's one message format), or a cache that serves.
#![cfg(feature = "http")]

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use palisade_cache::HttpCache;
use proptest::prelude::*;
use tower::{Layer, ServiceExt, service_fn};

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_secs(2_147_483_648)),
        Just(Duration::from_secs(2_147_483_649)),
        (0u64..100_000).prop_map(Duration::from_millis),
    ]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(1), Just(u64::MAX), 0u64..10_000_000]
}

const FIELDS: [&str; 7] = [
    "max_bytes",
    "max_entries",
    "max_body_bytes",
    "default_ttl",
    "negative_ttl",
    "stale_while_revalidate",
    "stale_if_error",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn builder_gives_an_error_or_a_working_cache(
        max_bytes in proptest::option::of(size()),
        max_entries in proptest::option::of(size()),
        max_body in proptest::option::of(size()),
        default_ttl in proptest::option::of(duration()),
        negative_ttl in proptest::option::of(duration()),
        swr in duration(),
        sie in duration(),
    ) {
        let mut b = HttpCache::builder("prop")
            .stale_while_revalidate(swr)
            .stale_if_error(sie);
        if let Some(n) = max_bytes { b = b.max_bytes(n); }
        if let Some(n) = max_entries { b = b.max_entries(n); }
        if let Some(n) = max_body { b = b.max_body_bytes(usize::try_from(n).unwrap_or(usize::MAX)); }
        if let Some(t) = default_ttl { b = b.default_ttl(t); }
        if let Some(t) = negative_ttl { b = b.negative_ttl(t); }
        let cache = match b.build() {
            Err(e) => {
                prop_assert!(FIELDS.contains(&e.field()), "{e}");
                let msg = e.to_string();
                prop_assert!(msg.starts_with(e.field()), "{msg}");
                prop_assert!(!msg.contains('"'), "quoted value: {msg}");
                return Ok(());
            }
            Ok(cache) => cache,
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        rt.block_on(async {
            let svc = cache.layer().layer(service_fn(|req: Request<()>| async move {
                let cc = if req.uri().path().ends_with('0') { "max-age=1, stale-while-revalidate=5" } else { "max-age=60" };
                Ok::<_, Infallible>(Response::builder()
                    .status(if req.uri().path().ends_with('7') { 404 } else { 200 })
                    .header("cache-control", cc)
                    .body(Full::new(Bytes::from_static(b"body")))
                    .unwrap())
            }));
            for i in 0..200u32 {
                let req = Request::get(format!("http://h/{}", i % 13)).body(()).unwrap();
                let resp = svc.clone().oneshot(req).await.unwrap();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body.len(), 4);
                if i % 50 == 0 {
                    tokio::time::advance(Duration::from_secs(3)).await;
                }
            }
        });
    }
}
