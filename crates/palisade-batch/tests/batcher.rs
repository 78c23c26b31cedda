//! Positional batching: flush timing, limits, errors, bisection, cancellation.

mod common;

use std::{error::Error, time::Duration};

use common::{Behaviour, InnerError, Recorder};
use palisade_batch::{
    Batcher,
    error::{BatchFailed, WrongLength},
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn eager_sends_a_lone_request_at_once() {
    let batcher = Batcher::builder("t").max_size(8).build().unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let start = Instant::now();
    assert_eq!(svc.oneshot(3).await.unwrap(), 30);
    let calls = log.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].items, [3]);
    assert_eq!(
        calls[0].at, start,
        "an idle backend sees the request at once"
    );
}

#[tokio::test(start_paused = true)]
async fn eager_batches_grow_while_slots_are_busy() {
    let batcher = Batcher::builder("t")
        .max_size(8)
        .max_in_flight(1)
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let first = tokio::spawn(svc.clone().oneshot(0));
    tokio::task::yield_now().await;
    let rest: Vec<_> = (1..=5)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    assert_eq!(first.await.unwrap().unwrap(), 0);
    for (i, h) in (1..=5).zip(rest) {
        assert_eq!(h.await.unwrap().unwrap(), i * 10);
    }
    let calls = log.calls();
    assert_eq!(log.batches(), vec![vec![0], vec![1, 2, 3, 4, 5]]);
    // The second batch went out as soon as the first came back.
    assert_eq!(calls[1].at - calls[0].at, ms(10));
}

#[tokio::test(start_paused = true)]
async fn linger_flushes_max_wait_after_the_first_item() {
    let batcher = Batcher::builder("t")
        .max_size(10)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let start = Instant::now();
    let a = tokio::spawn(svc.clone().oneshot(1));
    tokio::time::sleep(ms(2)).await;
    let b = tokio::spawn(svc.clone().oneshot(2));
    let c = tokio::spawn(svc.clone().oneshot(3));
    assert_eq!(a.await.unwrap().unwrap(), 10);
    assert_eq!(b.await.unwrap().unwrap(), 20);
    assert_eq!(c.await.unwrap().unwrap(), 30);
    let calls = log.calls();
    assert_eq!(log.batches(), vec![vec![1, 2, 3]]);
    assert_eq!(
        calls[0].at - start,
        ms(5),
        "sent max_wait after the first item"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_does_not_linger() {
    let batcher = Batcher::builder("t")
        .max_size(4)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let start = Instant::now();
    let handles: Vec<_> = (0..6)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for (i, h) in (0..6).zip(handles) {
        assert_eq!(h.await.unwrap().unwrap(), i * 10);
    }
    let calls = log.calls();
    assert_eq!(log.batches(), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    assert_eq!(calls[0].at, start);
    assert_eq!(calls[1].at - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn weight_limits_a_batch() {
    let batcher = Batcher::builder("t")
        .max_size(100)
        .max_weight(10)
        .weigh(|x: &u32| *x as usize)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = [4, 5, 3, 2, 30]
        .into_iter()
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // 4+5 = 9, +3 would be 12; 3+2 = 5, +30 too heavy; 30 alone.
    assert_eq!(log.batches(), vec![vec![4, 5], vec![3, 2], vec![30]]);
}

#[tokio::test(start_paused = true)]
async fn wrong_length_fails_every_caller_naming_both_lengths() {
    let batcher = Batcher::builder("embed")
        .max_size(3)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, _log) = Recorder::new(Behaviour {
        short: true,
        ..Behaviour::default()
    });
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = (0..3)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for h in handles {
        let err = h.await.unwrap().unwrap_err();
        let wrong = err.downcast_ref::<WrongLength>().expect("WrongLength");
        assert_eq!((wrong.expected(), wrong.actual()), (3, 2));
        assert!(err.to_string().contains("3 requests with 2 responses"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_fails_its_callers_only_and_shares_the_cause() {
    let batcher = Batcher::builder("t")
        .max_size(2)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    });
    let svc = batcher.layer().layer(inner);
    let (a, b) = tokio::join!(svc.clone().oneshot(1), svc.clone().oneshot(2));
    let (a, b) = (a.unwrap_err(), b.unwrap_err());
    let fa = a.downcast_ref::<BatchFailed>().expect("BatchFailed");
    let fb = b.downcast_ref::<BatchFailed>().expect("BatchFailed");
    assert!(
        std::sync::Arc::ptr_eq(fa.cause(), fb.cause()),
        "one shared cause"
    );
    assert_eq!(fa.batch_len(), 2);
    let source = a.source().expect("source");
    assert!(source.downcast_ref::<InnerError>().is_some());
    // The worker goes on serving.
    let (c, d) = tokio::join!(svc.clone().oneshot(3), svc.clone().oneshot(4));
    assert_eq!((c.unwrap(), d.unwrap()), (30, 40));
    assert_eq!(log.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn bisection_isolates_one_poison_item_among_64() {
    let batcher = Batcher::builder("t")
        .max_size(64)
        .max_wait(ms(5))
        .bisect_on_error(6)
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour {
        poison: Some(37),
        ..Behaviour::default()
    });
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = (0..64)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for (i, h) in (0..64).zip(handles) {
        let res = h.await.unwrap();
        if i == 37 {
            let err = res.unwrap_err();
            let failed = err.downcast_ref::<BatchFailed>().expect("BatchFailed");
            assert_eq!(failed.batch_len(), 1, "isolated");
            assert!(failed.source().unwrap().to_string().contains("poison 37"));
        } else {
            assert_eq!(res.unwrap(), i * 10, "item {i} survives the poison");
        }
    }
    let batches = log.batches();
    assert_eq!(batches[0].len(), 64);
    // log2(64) = 6 levels, two calls each (one half succeeds, the other
    // fails and is split again): exactly 2 * 6 = 12 extra calls, as the
    // README says.
    assert_eq!(batches.len(), 1 + 2 * 6, "{batches:?}");
    let mut sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 64]);
    // Only the batches holding 37 failed: the last is 37 alone.
    assert_eq!(batches.iter().filter(|b| b.contains(&37)).count(), 7);
}

#[tokio::test(start_paused = true)]
async fn without_bisection_the_whole_batch_fails() {
    let batcher = Batcher::builder("t")
        .max_size(4)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour {
        poison: Some(2),
        ..Behaviour::default()
    });
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = (0..4)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for h in handles {
        assert!(h.await.unwrap().is_err());
    }
    assert_eq!(log.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn callers_that_gave_up_are_not_sent() {
    let batcher = Batcher::builder("t")
        .max_size(10)
        .max_wait(ms(10))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let mut svc = batcher.layer().layer(inner);
    let a = svc.ready().await.unwrap().call(1);
    let b = svc.ready().await.unwrap().call(2);
    let c = svc.ready().await.unwrap().call(3);
    tokio::time::sleep(ms(1)).await;
    drop(b);
    let (a, c) = tokio::join!(a, c);
    assert_eq!((a.unwrap(), c.unwrap()), (10, 30));
    assert_eq!(log.batches(), vec![vec![1, 3]]);

    // A batch whose callers all gave up is not sent at all.
    let d = svc.ready().await.unwrap().call(4);
    tokio::time::sleep(ms(1)).await;
    drop(d);
    tokio::time::sleep(ms(50)).await;
    assert_eq!(log.calls().len(), 1);
    assert_eq!(batcher.queued(), 0, "their room in the queue is given back");
}

#[tokio::test(start_paused = true)]
async fn inner_readiness_is_respected() {
    let batcher = Batcher::builder("t").max_size(4).build().unwrap();
    let (inner, mut handle) = tower_test::mock::pair::<Vec<u32>, Vec<u32>>();
    handle.allow(0);
    let svc = batcher.layer().layer(inner);
    let a = tokio::spawn(svc.clone().oneshot(1));
    let b = tokio::spawn(svc.clone().oneshot(2));
    tokio::time::sleep(ms(100)).await;
    assert!(!a.is_finished() && !b.is_finished());
    // Nothing was sent while the inner service was not ready.
    assert!(
        tokio::time::timeout(ms(1), handle.next_request())
            .await
            .is_err()
    );
    handle.allow(1);
    let (req, respond) = handle.next_request().await.unwrap();
    assert_eq!(req, [1, 2], "both waited for readiness and went together");
    respond.send_response(vec![10, 20]);
    assert_eq!(a.await.unwrap().unwrap(), 10);
    assert_eq!(b.await.unwrap().unwrap(), 20);
}

#[tokio::test(start_paused = true)]
async fn at_most_max_in_flight_batches_are_outstanding() {
    let batcher = Batcher::builder("t")
        .max_size(2)
        .max_in_flight(3)
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = batcher.layer().layer(inner);
    let handles: Vec<_> = (0..40)
        .map(|i| tokio::spawn(svc.clone().oneshot(i)))
        .collect();
    for (i, h) in (0..40).zip(handles) {
        assert_eq!(h.await.unwrap().unwrap(), i * 10);
    }
    assert_eq!(log.max_concurrent(), 3);
    assert!(log.batches().iter().all(|b| !b.is_empty() && b.len() <= 2));
}
