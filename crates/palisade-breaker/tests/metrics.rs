//! The metrics a breaker records (a test binary of its own: it installs a
//! global recorder).
#![cfg(feature = "metrics")]

use metrics_util::{
    CompositeKey, MetricKind,
    debugging::{DebugValue, DebuggingRecorder},
};
use palisade_breaker::CircuitBreaker;

type Entry = (
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
);

fn find<'a>(snapshot: &'a [Entry], name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let k = key.key();
        let all = labels
            .iter()
            .all(|(n, v)| k.labels().any(|l| l.key() == *n && l.value() == *v));
        (key.kind() != MetricKind::Histogram && k.name() == name && all).then_some(value)
    })
}

#[tokio::test(start_paused = true)]
async fn calls_state_and_transitions_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let breaker = CircuitBreaker::builder("metered")
        .consecutive_failures(2)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().failure();
    drop(breaker.try_acquire().unwrap());
    breaker.try_acquire().unwrap().failure();
    assert!(breaker.try_acquire().is_err());

    let snap = snapshotter.snapshot().into_vec();
    let calls = |outcome| {
        find(
            &snap,
            "palisade_breaker_calls_total",
            &[("name", "metered"), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("success"), Some(&DebugValue::Counter(1)));
    assert_eq!(calls("failure"), Some(&DebugValue::Counter(2)));
    assert_eq!(calls("ignored"), Some(&DebugValue::Counter(1)));
    assert_eq!(calls("rejected"), Some(&DebugValue::Counter(1)));
    assert_eq!(
        find(&snap, "palisade_breaker_state", &[("name", "metered")]),
        Some(&DebugValue::Gauge(1.0.into()))
    );
    assert_eq!(
        find(
            &snap,
            "palisade_breaker_transitions_total",
            &[("name", "metered"), ("from", "closed"), ("to", "open")]
        ),
        Some(&DebugValue::Counter(1))
    );
}
