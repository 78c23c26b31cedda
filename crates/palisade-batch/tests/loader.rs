//! Keyed loading: dedup pending and in flight, missing keys, shared errors.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Behaviour, KeyedRecorder, Recorder};
use palisade_batch::{Loader, error::BatchFailed};
use tower::{Layer, ServiceExt};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn equal_keys_in_a_batch_are_sent_once() {
    let loader = Loader::builder("users")
        .max_size(10)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = loader.layer().layer(KeyedRecorder(inner));
    let handles: Vec<_> = [1, 2, 1, 1, 3]
        .into_iter()
        .map(|k| tokio::spawn(svc.clone().oneshot(k)))
        .collect();
    for (k, h) in [1, 2, 1, 1, 3].into_iter().zip(handles) {
        assert_eq!(h.await.unwrap().unwrap(), Some(k * 10));
    }
    assert_eq!(log.batches(), vec![vec![1, 2, 3]]);
}

#[tokio::test(start_paused = true)]
async fn a_key_in_flight_is_not_sent_again() {
    let loader = Loader::builder("users").max_size(10).build().unwrap();
    let (inner, log) = Recorder::new(Behaviour::default());
    let svc = loader.layer().layer(KeyedRecorder(inner));
    let first = tokio::spawn(svc.clone().oneshot(5));
    tokio::time::sleep(ms(3)).await;
    assert_eq!(log.calls().len(), 1, "5 is in flight");
    let second = tokio::spawn(svc.clone().oneshot(5));
    let other = tokio::spawn(svc.clone().oneshot(6));
    assert_eq!(first.await.unwrap().unwrap(), Some(50));
    assert_eq!(second.await.unwrap().unwrap(), Some(50));
    assert_eq!(other.await.unwrap().unwrap(), Some(60));
    assert_eq!(log.batches(), vec![vec![5], vec![6]]);
}

#[tokio::test(start_paused = true)]
async fn a_missing_key_answers_none() {
    let loader = Loader::builder("users").build().unwrap();
    let (inner, _log) = Recorder::new(Behaviour::default());
    let svc = loader.layer().layer(KeyedRecorder(inner));
    assert_eq!(svc.clone().oneshot(14).await.unwrap(), None);
    assert_eq!(svc.oneshot(15).await.unwrap(), Some(150));
}

#[tokio::test(start_paused = true)]
async fn every_caller_of_a_failed_batch_gets_the_shared_cause() {
    let loader = Loader::builder("users")
        .max_size(10)
        .max_wait(ms(5))
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    });
    let svc = loader.layer().layer(KeyedRecorder(inner));
    let (a, b, c) = tokio::join!(
        svc.clone().oneshot(1),
        svc.clone().oneshot(1),
        svc.clone().oneshot(2)
    );
    let errs: Vec<_> = [a, b, c].into_iter().map(Result::unwrap_err).collect();
    let failed: Vec<&BatchFailed> = errs.iter().map(|e| e.downcast_ref().unwrap()).collect();
    assert!(Arc::ptr_eq(failed[0].cause(), failed[1].cause()));
    assert!(Arc::ptr_eq(failed[0].cause(), failed[2].cause()));
    // And the loader goes on.
    assert_eq!(svc.oneshot(1).await.unwrap(), Some(10));
    assert_eq!(log.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn bisection_isolates_a_poison_key() {
    let loader = Loader::builder("users")
        .max_size(16)
        .max_wait(ms(5))
        .bisect_on_error(4)
        .build()
        .unwrap();
    let (inner, log) = Recorder::new(Behaviour {
        poison: Some(9),
        ..Behaviour::default()
    });
    let svc = loader.layer().layer(KeyedRecorder(inner));
    let handles: Vec<_> = (0..16)
        .map(|k| tokio::spawn(svc.clone().oneshot(k)))
        .collect();
    for (k, h) in (0..16).zip(handles) {
        let res = h.await.unwrap();
        if k == 9 {
            assert!(res.unwrap_err().is::<BatchFailed>());
        } else {
            assert_eq!(res.unwrap(), common::keyed_value(k));
        }
    }
    // log2(16) = 4 levels, two calls each.
    assert_eq!(log.calls().len(), 1 + 2 * 4, "{:?}", log.batches());
    assert_eq!(log.batches().iter().filter(|b| b.contains(&9)).count(), 5);
    assert!(log.duplicates.lock().unwrap().is_empty());
}
