//! Metrics are recorded under the documented names and labels.
#![cfg(feature = "metrics")]

use std::{convert::Infallible, time::Duration};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use palisade_cache::Cache;
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::test]
async fn requests_entries_and_bytes_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let cache: Cache<u64, String> = metrics::with_local_recorder(&recorder, || {
        Cache::builder("metered")
            .max_bytes(1_000)
            .weigh(|v: &String| v.len())
            .ttl(Duration::from_secs(60))
            .build()
            .unwrap()
    });
    let svc = ServiceBuilder::new()
        .layer(cache.layer(|k: &u64| (*k != 0).then_some(*k)))
        .service(service_fn(|k: u64| async move {
            Ok::<_, Infallible>(format!("v{k}"))
        }));
    svc.clone().oneshot(1).await.unwrap();
    svc.clone().oneshot(1).await.unwrap();
    svc.clone().oneshot(0).await.unwrap();
    cache.run_pending_tasks().await;

    let mut seen = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let k = key.key();
        let labels: Vec<String> = k
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        seen.insert(format!("{}{{{}}}", k.name(), labels.join(",")), value);
    }
    let counter = |name: &str| match seen.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        counter("palisade_cache_requests_total{name=metered,result=hit}"),
        1
    );
    assert_eq!(
        counter("palisade_cache_requests_total{name=metered,result=miss}"),
        1
    );
    assert_eq!(
        counter("palisade_cache_requests_total{name=metered,result=bypass}"),
        1
    );
    match seen.get("palisade_cache_bytes{name=metered}") {
        Some(DebugValue::Gauge(g)) => assert_eq!(g.into_inner(), 2.0),
        other => panic!("bytes gauge: {other:?}"),
    }
    assert!(matches!(
        seen.get("palisade_cache_entries{name=metered}"),
        Some(DebugValue::Gauge(_))
    ));
}
