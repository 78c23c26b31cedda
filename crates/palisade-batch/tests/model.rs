//! Property tests: random callers, keys, arrival times and cancellations.
//!
//! Every caller that did not cancel gets exactly its own answer; the inner
//! service never sees a key twice in flight; no batch exceeds its limits; no
//! batch is empty; no more than `max_in_flight` batches are outstanding.

mod common;

use std::{collections::HashSet, time::Duration};

use common::{Behaviour, KeyedRecorder, Recorder, keyed_value};
use palisade_batch::{Batcher, Loader};
use proptest::prelude::*;
use tower::{Layer, ServiceExt};

#[derive(Debug, Clone)]
struct Caller {
    arrival_ms: u64,
    key: u32,
    /// Gives up after this long, if set.
    cancel_after_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Setup {
    max_size: usize,
    max_wait_ms: u64,
    max_in_flight: usize,
    delay_ms: u64,
    callers: Vec<Caller>,
}

fn setup() -> impl Strategy<Value = Setup> {
    let caller = (0u64..40, 0u32..12, proptest::option::of(0u64..25)).prop_map(
        |(arrival_ms, key, cancel_after_ms)| Caller {
            arrival_ms,
            key,
            cancel_after_ms,
        },
    );
    (
        1usize..6,
        0u64..5,
        1usize..4,
        1u64..8,
        proptest::collection::vec(caller, 1..40),
    )
        .prop_map(
            |(max_size, max_wait_ms, max_in_flight, delay_ms, callers)| Setup {
                max_size,
                max_wait_ms,
                max_in_flight,
                delay_ms,
                callers,
            },
        )
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Runs every caller; returns, per caller, `None` if it gave up, else its answer.
async fn run_callers<S, R>(
    svc: S,
    callers: &[Caller],
    item: impl Fn(usize, &Caller) -> u32,
) -> Vec<Option<R>>
where
    S: tower::Service<u32, Response = R, Error = palisade_batch::BoxError> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    let handles: Vec<_> = callers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let svc = svc.clone();
            let (arrival, cancel, item) = (c.arrival_ms, c.cancel_after_ms, item(i, c));
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(arrival)).await;
                let call = svc.oneshot(item);
                match cancel {
                    Some(after) => tokio::time::timeout(Duration::from_millis(after), call)
                        .await
                        .ok()
                        .map(|r| r.expect("no error")),
                    None => Some(call.await.expect("no error")),
                }
            })
        })
        .collect();
    drop(svc);
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn keyed_callers_get_their_own_value(setup in setup()) {
        paused_runtime().block_on(async {
            let loader = Loader::builder("model")
                .max_size(setup.max_size)
                .max_wait(Duration::from_millis(setup.max_wait_ms))
                .max_in_flight(setup.max_in_flight)
                .build()
                .unwrap();
            let (inner, log) = Recorder::new(Behaviour {
                delay: Duration::from_millis(setup.delay_ms),
                ..Behaviour::default()
            });
            let svc = loader.layer().layer(KeyedRecorder(inner));
            let answers = tokio::time::timeout(
                Duration::from_secs(60),
                run_callers(svc, &setup.callers, |_, c| c.key),
            )
            .await
            .expect("every caller is answered");
            for (caller, answer) in setup.callers.iter().zip(&answers) {
                if let Some(answer) = answer {
                    prop_assert_eq!(*answer, keyed_value(caller.key));
                } else {
                    prop_assert!(caller.cancel_after_ms.is_some());
                }
            }
            prop_assert!(log.duplicates.lock().unwrap().is_empty(), "a key twice in flight");
            for batch in log.batches() {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() <= setup.max_size);
                let distinct: HashSet<_> = batch.iter().collect();
                prop_assert_eq!(distinct.len(), batch.len(), "a key twice in one batch");
            }
            prop_assert!(log.max_concurrent() <= setup.max_in_flight);
            Ok(())
        })?;
    }

    #[test]
    fn positional_callers_get_their_own_answer(setup in setup(), max_weight in 4usize..20) {
        paused_runtime().block_on(async {
            let batcher = Batcher::builder("model")
                .max_size(setup.max_size)
                .max_weight(max_weight)
                .weigh(|item: &u32| (*item % 100) as usize + 1)
                .max_wait(Duration::from_millis(setup.max_wait_ms))
                .max_in_flight(setup.max_in_flight)
                .build()
                .unwrap();
            let (inner, log) = Recorder::new(Behaviour {
                delay: Duration::from_millis(setup.delay_ms),
                ..Behaviour::default()
            });
            let svc = batcher.layer().layer(inner);
            // Item = caller index * 100 + key: unique per caller, weight key + 1.
            let item = |i: usize, c: &Caller| i as u32 * 100 + c.key;
            let answers = tokio::time::timeout(
                Duration::from_secs(60),
                run_callers(svc, &setup.callers, item),
            )
            .await
            .expect("every caller is answered");
            for (i, (caller, answer)) in setup.callers.iter().zip(&answers).enumerate() {
                if let Some(answer) = answer {
                    prop_assert_eq!(*answer, item(i, caller) * 10);
                } else {
                    prop_assert!(caller.cancel_after_ms.is_some());
                }
            }
            prop_assert!(log.duplicates.lock().unwrap().is_empty());
            let mut seen = HashSet::new();
            for batch in log.batches() {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() <= setup.max_size);
                let weight: usize = batch.iter().map(|x| (*x % 100) as usize + 1).sum();
                prop_assert!(batch.len() == 1 || weight <= max_weight, "weight {} > {}", weight, max_weight);
                for x in batch {
                    prop_assert!(seen.insert(x), "item {} sent twice", x);
                }
            }
            prop_assert!(log.max_concurrent() <= setup.max_in_flight);
            Ok(())
        })?;
    }
}
