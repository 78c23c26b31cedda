//! The `grpc-timeout` header: parser and encoder.
//!
//! The gRPC wire format ([PROTOCOL-HTTP2]) is 1 to 8 ASCII digits followed
//! by one unit: `H` (hours), `M` (minutes), `S` (seconds), `m`
//! (milliseconds), `u` (microseconds) or `n` (nanoseconds). Anything else —
//! a ninth digit, a sign, a space, an unknown unit, an empty value — is
//! invalid, and [`parse`] returns `None` for it: a Palisade [`Timeout`]
//! then ignores the header and applies its configured timeout.
//!
//! ```
//! use std::time::Duration;
//! use palisade_shed::timeout::grpc_timeout;
//!
//! assert_eq!(grpc_timeout::parse(b"250m"), Some(Duration::from_millis(250)));
//! assert_eq!(grpc_timeout::parse(b"2H"), Some(Duration::from_secs(7200)));
//! assert_eq!(grpc_timeout::parse(b"123456789S"), None); // nine digits
//! assert_eq!(grpc_timeout::encode(Duration::from_millis(1500)), "1500000u");
//! ```
//!
//! [PROTOCOL-HTTP2]: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
//! [`Timeout`]: super::Timeout

use http::HeaderValue;
use std::time::Duration;

/// The name of the header, `grpc-timeout`.
pub const GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");

/// The most digits the value may have.
pub const MAX_DIGITS: usize = 8;

const MAX_VALUE: u128 = 99_999_999;

/// The units, finest first, with their length in nanoseconds.
const UNITS: [(u8, u128); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// Parses a `grpc-timeout` value; `None` if it is not in the gRPC wire format.
///
/// Never panics and never overflows: eight digits of hours is about 11,400
/// years, well inside a [`Duration`].
pub fn parse(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0_u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3_600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Encodes a budget as a `grpc-timeout` value.
///
/// Uses the finest unit whose value fits in eight digits, rounding up as
/// gRPC implementations do, so a non-zero budget never encodes as zero and
/// is never shortened; it is lengthened by less than one part in 100,000
/// (budgets under 0.1 s are exact to the nanosecond). A zero budget is `"0n"`;
/// budgets beyond `99999999H` are clamped to it.
pub fn encode(budget: Duration) -> HeaderValue {
    let nanos = budget.as_nanos();
    let (unit, value) = UNITS
        .iter()
        .map(|&(unit, len)| (unit, nanos.div_ceil(len)))
        .find(|&(_, value)| value <= MAX_VALUE)
        .unwrap_or((b'H', MAX_VALUE));
    // At most eight digits and a unit: format on the stack.
    let mut buf = [0_u8; MAX_DIGITS + 1];
    let mut len = 0;
    let mut rest = value;
    loop {
        buf[len] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf[..len].reverse();
    buf[len] = unit;
    HeaderValue::from_bytes(&buf[..=len]).unwrap_or_else(|_| HeaderValue::from_static("0n"))
}

/// Parses a whole number of milliseconds (the format of a header such as
/// `x-request-timeout-ms`); `None` for anything else.
pub(crate) fn parse_millis(value: &[u8]) -> Option<Duration> {
    if value.is_empty() || value.len() > 20 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value
        .iter()
        .try_fold(0_u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .map(Duration::from_millis)
}

/// Encodes a budget as whole milliseconds, rounded up like [`encode`].
pub(crate) fn encode_millis(budget: Duration) -> HeaderValue {
    let ms = budget.as_nanos().div_ceil(1_000_000);
    HeaderValue::from(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis() {
        assert_eq!(parse_millis(b"250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_millis(b"0"), Some(Duration::ZERO));
        assert_eq!(parse_millis(b""), None);
        assert_eq!(parse_millis(b"+5"), None);
        assert_eq!(parse_millis(b"5 "), None);
        assert_eq!(parse_millis(b"-1"), None);
        assert_eq!(parse_millis(b"18446744073709551616"), None); // u64::MAX + 1
        assert_eq!(
            parse_millis(b"18446744073709551615"),
            Some(Duration::from_millis(u64::MAX))
        );
        assert_eq!(encode_millis(Duration::from_micros(1)), "1");
        assert_eq!(encode_millis(Duration::from_millis(1500)), "1500");
        assert_eq!(encode_millis(Duration::ZERO), "0");
    }
}
