//! Table tests of the `grpc-timeout` parser and encoder.

use palisade_shed::timeout::grpc_timeout::{encode, parse};
use proptest::prelude::*;
use std::time::Duration;

#[test]
fn every_unit() {
    let table: &[(&str, Duration)] = &[
        ("1H", Duration::from_secs(3_600)),
        ("2M", Duration::from_secs(120)),
        ("3S", Duration::from_secs(3)),
        ("4m", Duration::from_millis(4)),
        ("5u", Duration::from_micros(5)),
        ("6n", Duration::from_nanos(6)),
        ("0n", Duration::ZERO),
        ("0H", Duration::ZERO),
        ("00000007S", Duration::from_secs(7)),
    ];
    for &(value, want) in table {
        assert_eq!(parse(value.as_bytes()), Some(want), "{value}");
    }
}

#[test]
fn one_to_eight_digits() {
    let mut digits = String::new();
    let mut n: u64 = 0;
    for d in 1..=8_u64 {
        digits.push(char::from(b'0' + u8::try_from(d).unwrap()));
        n = n * 10 + d;
        for (unit, nanos) in [
            ("H", 3_600_000_000_000_u128),
            ("M", 60_000_000_000),
            ("S", 1_000_000_000),
            ("m", 1_000_000),
            ("u", 1_000),
            ("n", 1),
        ] {
            let value = format!("{digits}{unit}");
            let got = parse(value.as_bytes()).unwrap_or_else(|| panic!("{value} rejected"));
            assert_eq!(got.as_nanos(), u128::from(n) * nanos, "{value}");
        }
    }
}

#[test]
fn largest_values_do_not_overflow() {
    assert_eq!(
        parse(b"99999999H"),
        Some(Duration::from_secs(99_999_999 * 3_600))
    );
    assert_eq!(parse(b"99999999n"), Some(Duration::from_nanos(99_999_999)));
}

#[test]
fn overflow_and_garbage_are_rejected() {
    let invalid: &[&[u8]] = &[
        b"",              // empty
        b"S",             // no digits
        b"5",             // no unit
        b"123456789S",    // nine digits
        b"999999999999H", // far too many digits
        b"5s",            // unknown unit (seconds are upper case)
        b"5h",
        b"5x",
        b"-5S",    // sign
        b"+5S",    // sign
        b" 5S",    // whitespace
        b"5 S",    // whitespace
        b"5S ",    // trailing whitespace
        b"5.5S",   // fraction
        b"1e3m",   // exponent
        b"5SS",    // two units
        b"\xff5S", // not ASCII
        b"5\xffS", // not ASCII
        b"five S",
        b"0x10m",
    ];
    for value in invalid {
        assert_eq!(parse(value), None, "{:?}", String::from_utf8_lossy(value));
    }
}

#[test]
fn encode_picks_the_finest_unit_that_fits() {
    let table: &[(Duration, &str)] = &[
        (Duration::ZERO, "0n"),
        (Duration::from_nanos(1), "1n"),
        (Duration::from_nanos(99_999_999), "99999999n"),
        (Duration::from_nanos(100_000_000), "100000u"),
        (Duration::from_millis(250), "250000u"),
        (Duration::from_millis(1_500), "1500000u"),
        (Duration::from_secs(100), "100000m"),
        (Duration::from_secs(100_000), "100000S"),
        (Duration::from_secs(200_000_000), "3333334M"),
        (Duration::from_secs(99_999_999 * 3_600), "99999999H"),
        (Duration::MAX, "99999999H"),
        // Rounded up, never down to zero.
        (Duration::from_nanos(100_000_001), "100001u"),
    ];
    for &(budget, want) in table {
        assert_eq!(encode(budget), want, "{budget:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Encoding then parsing never shortens a budget, and lengthens it by
    /// less than one part in 100,000 (one unit of a value of at least 10^5).
    #[test]
    fn encode_parse_round_trip(nanos in 0_u64..=u64::MAX) {
        let budget = Duration::from_nanos(nanos);
        let back = parse(encode(budget).as_bytes()).expect("encoder output parses");
        prop_assert!(back >= budget);
        prop_assert!((back - budget).as_nanos() * 100_000 <= budget.as_nanos());
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
        let _ = parse(&bytes);
    }
}
