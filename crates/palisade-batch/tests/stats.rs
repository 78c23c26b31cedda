//! The handles' cumulative counters: batches and items sent and flushes by
//! reason, checked against what the inner service saw (paused clock).

mod common;

use std::time::Duration;

use common::{Behaviour, KeyedRecorder, Recorder};
use palisade_batch::{BatchStats, Batcher, FlushReason, Loader};
use tower::{Layer, Service, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The flush counts of `stats` as `(label, count)`, zeros left out.
fn flushes(stats: &BatchStats) -> Vec<(&'static str, u64)> {
    stats
        .flushes
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| (reason.label(), n))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_and_a_lingering_one() {
    let batcher = Batcher::builder("t")
        .max_size(4)
        .max_wait(ms(50))
        .build()
        .unwrap();
    assert_eq!(batcher.stats(), BatchStats::default());
    assert_eq!(batcher.stats().mean_size(), None);
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let calls: Vec<_> = (0..6)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for (i, call) in (0..6).zip(calls) {
        assert_eq!(call.await.unwrap().unwrap(), i * 10);
    }
    assert_eq!(log.batches(), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    let stats = batcher.stats();
    assert_eq!((stats.batches, stats.items), (2, 6));
    assert_eq!(flushes(&stats), [("size", 1), ("time", 1)]);
    assert_eq!(stats.flushes.get(FlushReason::Size), 1);
    assert_eq!(stats.flushes.total(), stats.batches);
    assert_eq!(stats.mean_size(), Some(3.0));
}

#[tokio::test(start_paused = true)]
async fn weight_eager_close_and_retry_are_told_apart() {
    // Weight: 6 + 5 reaches 10, so 6 goes alone; 5 then lingers.
    let by_weight = Batcher::builder("w")
        .max_weight(10)
        .max_wait(ms(50))
        .weigh(|x: &u32| *x as usize)
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = by_weight.layer().layer(inner);
    let (a, b) = tokio::join!(svc.clone().oneshot(6), svc.clone().oneshot(5));
    assert_eq!((a.unwrap(), b.unwrap()), (60, 50));
    assert_eq!(log.batches(), vec![vec![6], vec![5]]);
    assert_eq!(flushes(&by_weight.stats()), [("weight", 1), ("time", 1)]);

    // Eager: max_wait zero sends a lone request at once (the service is
    // kept: with it dropped, the worker would be closing).
    let eager = Batcher::builder("e").build().unwrap();
    let (inner, _) = Recorder::new(Behaviour::default());
    let svc = eager.layer().layer(inner);
    assert_eq!(svc.clone().oneshot(3).await.unwrap(), 30);
    assert_eq!(flushes(&eager.stats()), [("eager", 1)]);
    drop(svc);

    // Close: every service dropped while two items linger for an hour.
    let closing = Batcher::builder("c")
        .max_wait(Duration::from_secs(3600))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let mut svc = closing.layer().layer(inner);
    let a = svc.ready().await.unwrap().call(1);
    let b = svc.ready().await.unwrap().call(2);
    drop(svc);
    let (a, b) = tokio::join!(a, b);
    assert_eq!((a.unwrap(), b.unwrap()), (10, 20));
    assert_eq!(log.batches(), vec![vec![1, 2]]);
    let stats = closing.stats();
    assert_eq!(flushes(&stats), [("close", 1)]);
    assert_eq!((stats.batches, stats.items), (1, 2));

    // Retry: a full batch of two fails on its poison item and is bisected.
    let bisecting = Batcher::builder("r")
        .max_size(2)
        .max_wait(Duration::from_secs(3600))
        .bisect_on_error(1)
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour {
        poison: Some(2),
        ..Behaviour::default()
    });
    let svc = bisecting.layer().layer(inner);
    let (a, b) = tokio::join!(svc.clone().oneshot(1), svc.clone().oneshot(2));
    assert_eq!(a.unwrap(), 10);
    assert!(b.is_err());
    assert_eq!(log.batches(), vec![vec![1, 2], vec![1], vec![2]]);
    let stats = bisecting.stats();
    assert_eq!(flushes(&stats), [("size", 1), ("retry", 2)]);
    assert_eq!((stats.batches, stats.items), (3, 4));
}

#[tokio::test(start_paused = true)]
async fn a_loader_counts_the_distinct_keys_it_sent() {
    let loader = Loader::builder("k")
        .max_size(2)
        .max_wait(ms(50))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = loader.layer().layer(KeyedRecorder(inner));
    let (a, b, c) = tokio::join!(
        svc.clone().oneshot(1),
        svc.clone().oneshot(1),
        svc.clone().oneshot(2)
    );
    assert_eq!(
        (a.unwrap(), b.unwrap(), c.unwrap()),
        (Some(10), Some(10), Some(20))
    );
    assert_eq!(log.batches(), vec![vec![1, 2]]);
    let stats = loader.stats();
    assert_eq!((stats.batches, stats.items), (1, 2));
    assert_eq!(flushes(&stats), [("size", 1)]);
    // Clones of a handle read the same counters.
    assert_eq!(loader.clone().stats(), stats);
}
