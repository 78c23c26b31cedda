//! Every invalid configuration value is a `ConfigError` naming its field.

use palisade_breaker::{Backoff, CircuitBreaker};
use std::time::Duration;

fn field<T>(result: Result<T, palisade_core::ConfigError>) -> &'static str {
    match result {
        Ok(_) => panic!("an invalid configuration was accepted"),
        Err(e) => e.field(),
    }
}

#[test]
fn each_invalid_field_is_named() {
    let b = || CircuitBreaker::builder("v");
    assert_eq!(field(CircuitBreaker::builder("").build()), "name");
    assert_eq!(field(b().failure_rate(0.0).build()), "failure_rate");
    assert_eq!(field(b().failure_rate(1.5).build()), "failure_rate");
    assert_eq!(field(b().failure_rate(f64::NAN).build()), "failure_rate");
    assert_eq!(field(b().count_window(0).build()), "count_window");
    assert_eq!(field(b().count_window(10_001).build()), "count_window");
    assert_eq!(
        field(b().time_window(Duration::from_millis(5)).build()),
        "time_window"
    );
    assert_eq!(field(b().minimum_calls(0).build()), "minimum_calls");
    assert_eq!(
        field(b().count_window(10).minimum_calls(11).build()),
        "minimum_calls"
    );
    assert_eq!(
        field(b().consecutive_failures(0).build()),
        "consecutive_failures"
    );
    assert_eq!(
        field(b().slow_calls(Duration::ZERO, 0.5).build()),
        "slow_calls"
    );
    assert_eq!(
        field(b().slow_calls(Duration::from_secs(1), 1.01).build()),
        "slow_calls"
    );
    assert_eq!(field(b().open_wait(Duration::ZERO).build()), "open_wait");
    assert_eq!(
        field(
            b().open_backoff(Backoff::exponential(
                Duration::from_secs(10),
                Duration::from_secs(1)
            ))
            .build()
        ),
        "open_backoff"
    );
    assert_eq!(
        field(
            b().open_backoff(Backoff::fixed(Duration::from_secs(1)).jitter(-0.1))
                .build()
        ),
        "open_backoff"
    );
    assert_eq!(field(b().half_open_probes(0).build()), "half_open_probes");
    assert_eq!(
        field(b().half_open_probes(10_001).build()),
        "half_open_probes"
    );
    assert_eq!(
        field(b().half_open_timeout(Duration::ZERO).build()),
        "half_open_timeout"
    );
    assert_eq!(
        field(b().key(|k: &u32| *k).max_keys(0).build::<u32, u32>()),
        "max_keys"
    );
    assert_eq!(
        field(
            b().key(|k: &u32| *k)
                .idle_expiry(Duration::ZERO)
                .build::<u32, u32>()
        ),
        "idle_expiry"
    );
    // A time window has no upper bound on minimum_calls; a good config builds.
    assert!(
        b().time_window(Duration::from_secs(30))
            .minimum_calls(1_000)
            .build()
            .is_ok()
    );
    let e = b().failure_rate(1.5).build().unwrap_err();
    assert_eq!(e.to_string(), "failure_rate must be in (0, 1], got 1.5");
}
