//! How long the breaker stays open.

use palisade_core::ConfigError;
use std::time::Duration;

/// How long an open breaker waits before it admits probes.
///
/// A fixed wait ([`Backoff::fixed`], what
/// [`open_wait`](crate::CircuitBreakerBuilder::open_wait) sets) or an exponential one that
/// doubles on every consecutive re-open (a failed half-open probe), up to a
/// cap, optionally with random jitter. Closing the breaker resets it.
///
/// ```
/// use std::time::Duration;
/// use palisade_breaker::Backoff;
///
/// // 5 s, 10 s, 20 s, ... capped at 300 s, each ±20% at random.
/// let backoff = Backoff::exponential(Duration::from_secs(5), Duration::from_secs(300)).jitter(0.2);
/// let first = backoff.wait(0);
/// assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6));
/// assert_eq!(Backoff::fixed(Duration::from_secs(5)).wait(7), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: u32,
    jitter: f64,
}

impl Backoff {
    /// Always wait `wait`.
    pub fn fixed(wait: Duration) -> Self {
        Self {
            initial: wait,
            max: wait,
            factor: 1,
            jitter: 0.0,
        }
    }

    /// Wait `initial` after the first trip, then twice as long after each
    /// consecutive re-open, never more than `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            factor: 2,
            jitter: 0.0,
        }
    }

    /// Spreads each wait uniformly over `wait * (1 ± fraction)` (still capped
    /// at the maximum), so many breakers that opened together do not probe
    /// together. `fraction` must be in `[0, 1]`.
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// The wait after `reopens` consecutive re-opens (0 for the first trip).
    pub fn wait(&self, reopens: u32) -> Duration {
        let base = if self.factor == 1 {
            self.initial
        } else {
            let mult = self.factor.checked_pow(reopens.min(31)).unwrap_or(u32::MAX);
            self.initial
                .checked_mul(mult)
                .unwrap_or(self.max)
                .min(self.max)
        };
        if self.jitter > 0.0 {
            let spread = 1.0 + self.jitter * (fastrand::f64() * 2.0 - 1.0);
            jittered(base, spread).min(self.max)
        } else {
            base
        }
    }

    pub(crate) fn validate(&self, field: &'static str) -> Result<(), ConfigError> {
        if self.initial.is_zero() {
            return Err(ConfigError::new(field, "greater than zero", self.initial));
        }
        if self.max < self.initial {
            return Err(ConfigError::new(
                field,
                format!(
                    "a maximum wait at least the initial wait ({:?})",
                    self.initial
                ),
                self.max,
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::new(field, "a jitter in [0, 1]", self.jitter));
        }
        Ok(())
    }
}

/// `base * spread`, saturating: `Duration::mul_f64` panics when the
/// product overflows (a huge wait with jitter), is negative or not a number.
fn jittered(base: Duration, spread: f64) -> Duration {
    Duration::try_from_secs_f64(base.as_secs_f64() * spread.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_and_caps() {
        let b = Backoff::exponential(Duration::from_secs(5), Duration::from_secs(30));
        assert_eq!(b.wait(0), Duration::from_secs(5));
        assert_eq!(b.wait(1), Duration::from_secs(10));
        assert_eq!(b.wait(2), Duration::from_secs(20));
        assert_eq!(b.wait(3), Duration::from_secs(30));
        assert_eq!(b.wait(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_in_range_and_under_cap() {
        let b = Backoff::exponential(Duration::from_secs(10), Duration::from_secs(12)).jitter(0.5);
        for _ in 0..200 {
            let w = b.wait(0);
            assert!(
                w >= Duration::from_secs(5) && w <= Duration::from_secs(12),
                "{w:?}"
            );
        }
    }

    #[test]
    fn huge_waits_with_jitter_saturate() {
        // `Duration::mul_f64` panicked here.
        let b = Backoff::fixed(Duration::MAX).jitter(0.5);
        for _ in 0..200 {
            assert!(b.wait(0) >= Duration::MAX / 4);
        }
        let b = Backoff::exponential(Duration::from_secs(1), Duration::MAX).jitter(1.0);
        for reopens in [0, 1, 31, 64, u32::MAX] {
            let _ = b.wait(reopens);
        }
        assert_eq!(jittered(Duration::MAX, 2.0), Duration::MAX);
        assert_eq!(jittered(Duration::from_secs(1), -1.0), Duration::ZERO);
    }

    #[test]
    fn validation() {
        assert!(
            Backoff::fixed(Duration::ZERO)
                .validate("open_wait")
                .is_err()
        );
        let e = Backoff::exponential(Duration::from_secs(5), Duration::from_secs(1))
            .validate("open_backoff")
            .unwrap_err();
        assert_eq!(e.field(), "open_backoff");
        let e = Backoff::fixed(Duration::from_secs(1))
            .jitter(1.5)
            .validate("open_backoff")
            .unwrap_err();
        assert_eq!(e.field(), "open_backoff");
    }
}
