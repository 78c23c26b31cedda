//! Any configuration either fails in `build()` with a `ConfigError` or gives
//! a breaker that then serves, trips, recovers and expires without a panic:
//! arbitrary values, including zero, huge, `NaN` and `MAX`. On paused time.

use palisade_breaker::{Backoff, CircuitBreaker, Outcome};
use proptest::prelude::*;
use std::time::Duration;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(9)),
        Just(Duration::from_millis(10)),
        (1u64..5_000).prop_map(Duration::from_millis),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
    ]
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-1.0),
        Just(0.0),
        Just(1e-300),
        Just(1.0),
        Just(1.5),
        (0.01f64..=1.0),
    ]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        (2u64..200),
        Just(10_000),
        Just(10_001),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
    ]
}

fn backoff() -> impl Strategy<Value = Backoff> {
    (duration(), duration(), rate(), any::<bool>()).prop_map(|(a, b, jitter, fixed)| {
        let backoff = if fixed {
            Backoff::fixed(a)
        } else {
            Backoff::exponential(a, b)
        };
        backoff.jitter(jitter)
    })
}

#[derive(Debug, Clone)]
struct Settings {
    failure_rate: Option<f64>,
    count_window: Option<u64>,
    time_window: Option<Duration>,
    minimum_calls: Option<u64>,
    consecutive: Option<u64>,
    slow: Option<(Duration, f64)>,
    backoff: Backoff,
    probes: Option<u64>,
    half_open_timeout: Option<Duration>,
    max_keys: u64,
    idle_expiry: Duration,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        (
            proptest::option::of(rate()),
            proptest::option::of(count()),
            proptest::option::of(duration()),
            proptest::option::of(count()),
            proptest::option::of(count()),
            proptest::option::of((duration(), rate())),
        ),
        (
            backoff(),
            proptest::option::of(count()),
            proptest::option::of(duration()),
            count(),
            duration(),
        ),
    )
        .prop_map(
            |(
                (failure_rate, count_window, time_window, minimum_calls, consecutive, slow),
                (backoff, probes, half_open_timeout, max_keys, idle_expiry),
            )| Settings {
                failure_rate,
                count_window,
                time_window,
                minimum_calls,
                consecutive,
                slow,
                backoff,
                probes,
                half_open_timeout,
                max_keys,
                idle_expiry,
            },
        )
}

fn builder(s: &Settings) -> palisade_breaker::CircuitBreakerBuilder {
    let mut b = CircuitBreaker::builder("prop").open_backoff(s.backoff);
    if let Some(r) = s.failure_rate {
        b = b.failure_rate(r);
    }
    if let Some(n) = s.count_window {
        b = b.count_window(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(d) = s.time_window {
        b = b.time_window(d);
    }
    if let Some(n) = s.minimum_calls {
        b = b.minimum_calls(n);
    }
    if let Some(n) = s.consecutive {
        b = b.consecutive_failures(u32::try_from(n).unwrap_or(u32::MAX));
    }
    if let Some((threshold, rate)) = s.slow {
        b = b.slow_calls(threshold, rate);
    }
    if let Some(n) = s.probes {
        b = b.half_open_probes(u32::try_from(n).unwrap_or(u32::MAX));
    }
    if let Some(d) = s.half_open_timeout {
        b = b.half_open_timeout(d);
    }
    b
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Serves a few hundred calls (failing ones among them, so that it trips),
/// then lets time pass in steps and serves successes so that it recovers.
async fn exercise(breaker: &CircuitBreaker) {
    for i in 0u32..300 {
        if let Ok(permit) = breaker.try_acquire() {
            tokio::time::advance(Duration::from_millis(u64::from(i % 7))).await;
            permit.record(if i % 3 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
    }
    for _ in 0..6 {
        tokio::time::advance(Duration::from_secs(3_600)).await;
        for _ in 0..50 {
            if let Ok(permit) = breaker.try_acquire() {
                permit.success();
            }
        }
        let _ = breaker.snapshot();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_breaker_config_builds_or_errs_and_never_panics(s in settings()) {
        runtime().block_on(async {
            if let Ok(breaker) = builder(&s).build() {
                exercise(&breaker).await;
            }
        });
    }

    #[test]
    fn any_keyed_config_builds_or_errs_and_never_panics(s in settings()) {
        runtime().block_on(async {
            let keyed = builder(&s)
                .key(|k: &u32| *k)
                .max_keys(usize::try_from(s.max_keys).unwrap_or(usize::MAX))
                .idle_expiry(s.idle_expiry)
                .build::<u32, u32>();
            if let Ok(keyed) = keyed {
                for key in 0..3 {
                    exercise(&keyed.breaker(key)).await;
                }
                // Churn and expiry.
                for key in 3..200 {
                    let _ = keyed.breaker(key).try_acquire().map(|p| p.failure());
                }
                tokio::time::advance(Duration::from_secs(86_400)).await;
                let _ = keyed.breaker(1_000).try_acquire().map(|p| p.success());
                let _ = keyed.len();
            }
        });
    }

    #[test]
    fn any_backoff_builds_or_errs_and_never_panics(b in backoff()) {
        runtime().block_on(async {
            let built = CircuitBreaker::builder("backoff")
                .consecutive_failures(1)
                .half_open_probes(1)
                .open_backoff(b)
                .build();
            if let Ok(breaker) = built {
                // Trip and re-open many times: every wait of the backoff.
                for _ in 0..40 {
                    if let Ok(permit) = breaker.try_acquire() {
                        permit.failure();
                    }
                    tokio::time::advance(Duration::from_secs(86_400)).await;
                }
                let _ = breaker.snapshot();
                let _ = b.wait(u32::MAX);
            }
        });
    }
}
