//! Any builder input either is refused by `build()` with a `ConfigError`
//! naming its field, or gives a layer that then answers a few hundred
//! requests — flushing by size, weight, time and on close, bisecting failed
//! batches — without a panic (paused time).

use std::{collections::HashMap, time::Duration};

use palisade_batch::{
    Batcher, BoxError, ConfigError, Loader, RejectKind, Rejected, error::BatchFailed,
};
use proptest::prelude::*;
use tower::{Layer, ServiceExt, service_fn};

/// Every field a batch builder can refuse.
const FIELDS: [&str; 5] = [
    "max_size",
    "max_weight",
    "max_in_flight",
    "queue_capacity",
    "bisect_on_error",
];

#[derive(Debug, Clone)]
struct Config {
    max_size: Option<usize>,
    max_weight: Option<usize>,
    max_wait: Option<Duration>,
    max_in_flight: Option<usize>,
    queue_capacity: Option<usize>,
    bisect: Option<u32>,
    reject_when_full: bool,
    /// 0: every item weighs 1; 1: `x % 5` (some weigh 0); 2: `usize::MAX`.
    weigh: u8,
}

fn usize_value() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        2usize..200,
        Just(usize::MAX),
        Just(usize::MAX >> 3),
        any::<usize>(),
    ]
}

fn duration_value() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        (1u64..50).prop_map(Duration::from_millis),
        Just(Duration::from_secs(86_400 * 365)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        proptest::option::of(usize_value()),
        proptest::option::of(usize_value()),
        proptest::option::of(duration_value()),
        proptest::option::of(usize_value()),
        proptest::option::of(usize_value()),
        proptest::option::of(prop_oneof![Just(0u32), 1u32..=16, Just(17), Just(u32::MAX)]),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(
            |(
                max_size,
                max_weight,
                max_wait,
                max_in_flight,
                queue_capacity,
                bisect,
                reject_when_full,
                weigh,
            )| Config {
                max_size,
                max_weight,
                max_wait,
                max_in_flight,
                queue_capacity,
                bisect,
                reject_when_full,
                weigh,
            },
        )
}

fn weigh_fn(mode: u8) -> impl Fn(&u32) -> usize + Send + Sync + 'static {
    move |x: &u32| match mode {
        0 => 1,
        1 => (*x % 5) as usize,
        _ => usize::MAX,
    }
}

/// Applies every set value to a builder (both builders share the methods).
macro_rules! configure {
    ($builder:expr, $c:expr) => {{
        let c = $c;
        let mut b = $builder;
        if let Some(v) = c.max_size {
            b = b.max_size(v);
        }
        if let Some(v) = c.max_weight {
            b = b.max_weight(v);
        }
        if let Some(v) = c.max_wait {
            b = b.max_wait(v);
        }
        if let Some(v) = c.max_in_flight {
            b = b.max_in_flight(v);
        }
        if let Some(v) = c.queue_capacity {
            b = b.queue_capacity(v);
        }
        if let Some(v) = c.bisect {
            b = b.bisect_on_error(v);
        }
        if c.reject_when_full {
            b = b.reject_when_full();
        }
        b.weigh(weigh_fn(c.weigh))
    }};
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

fn check_refusal(err: &ConfigError) -> Result<(), TestCaseError> {
    prop_assert!(
        FIELDS.contains(&err.field()),
        "unexpected field {}",
        err.field()
    );
    let message = err.to_string();
    let prefix = format!("{} must be ", err.field());
    prop_assert!(message.starts_with(&prefix), "{}", message);
    Ok(())
}

/// What a caller may get: its value, its batch's failure (a batch holding
/// the poison item 13), or `BatchFull` when rejecting is on.
fn check_answer<T: PartialEq + std::fmt::Debug>(
    item: u32,
    got: Result<T, BoxError>,
    want: T,
    reject_when_full: bool,
) -> Result<(), TestCaseError> {
    match got {
        Ok(v) => {
            prop_assert!(item != 13, "the poison item succeeded");
            prop_assert_eq!(v, want);
        }
        Err(err) => {
            let full = Rejected::find(&*err).is_some_and(|r| r.kind() == RejectKind::BatchFull);
            prop_assert!(
                err.is::<BatchFailed>() || (reject_when_full && full),
                "item {}: {}",
                item,
                err
            );
        }
    }
    Ok(())
}

/// The bulk service: fails a batch holding 13.
async fn bulk(items: Vec<u32>) -> Result<Vec<u32>, BoxError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if items.contains(&13) {
        return Err("poison 13".into());
    }
    Ok(items.iter().map(|x| x * 10).collect())
}

async fn keyed_bulk(keys: Vec<u32>) -> Result<HashMap<u32, u32>, BoxError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if keys.contains(&13) {
        return Err("poison 13".into());
    }
    Ok(keys.iter().map(|k| (*k, k * 10)).collect())
}

/// Every caller must be answered within this much paused time (the longest
/// finite linger tried is a year; on close everything left is sent).
const ALL_ANSWERED_WITHIN: Duration = Duration::from_secs(86_400 * 400);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn batcher_builder_refuses_or_serves(c in config()) {
        paused_runtime().block_on(async {
            let batcher = match configure!(Batcher::builder("prop"), c.clone()).build() {
                Ok(b) => b,
                Err(err) => return check_refusal(&err),
            };
            let svc = batcher.layer().layer(service_fn(bulk));
            let handles: Vec<_> = (0..300u32)
                .map(|i| (i, tokio::spawn(svc.clone().oneshot(i))))
                .collect();
            drop(svc);
            let all = async {
                let mut out = Vec::new();
                for (i, h) in handles {
                    out.push((i, h.await.expect("no panic")));
                }
                out
            };
            let answers = tokio::time::timeout(ALL_ANSWERED_WITHIN, all)
                .await
                .map_err(|_| TestCaseError::fail("callers left unanswered"))?;
            for (i, got) in answers {
                check_answer(i, got, i * 10, c.reject_when_full)?;
            }
            prop_assert_eq!(batcher.queued(), 0);
            Ok(())
        })?;
    }

    #[test]
    fn loader_builder_refuses_or_serves(c in config()) {
        paused_runtime().block_on(async {
            let loader = match configure!(Loader::builder("prop"), c.clone()).build() {
                Ok(l) => l,
                Err(err) => return check_refusal(&err),
            };
            let svc = loader.layer().layer(service_fn(keyed_bulk));
            // Every key twice: dedup in the queue and in flight.
            let handles: Vec<_> = (0..300u32)
                .map(|i| (i % 150, tokio::spawn(svc.clone().oneshot(i % 150))))
                .collect();
            drop(svc);
            let all = async {
                let mut out = Vec::new();
                for (k, h) in handles {
                    out.push((k, h.await.expect("no panic")));
                }
                out
            };
            let answers = tokio::time::timeout(ALL_ANSWERED_WITHIN, all)
                .await
                .map_err(|_| TestCaseError::fail("callers left unanswered"))?;
            for (k, got) in answers {
                check_answer(k, got, Some(k * 10), c.reject_when_full)?;
            }
            prop_assert_eq!(loader.queued(), 0);
            Ok(())
        })?;
    }
}
