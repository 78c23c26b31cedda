//! [`Codel`]: the queue-time state machine of folly's and Wangle's `Codel`.

use std::time::Duration;
use tokio::time::Instant;

/// CoDel ("controlled delay", Nichols and Jacobson) as folly's `Codel`
/// applies it to request queues: it decides, for each request taken off
/// the queue, whether the queue is overloaded and the request should be
/// shed.
///
/// The queue is *overloaded* when the smallest queueing delay seen during
/// the last `interval` exceeded `target`: a queue that never drained below
/// `target` in a whole interval is a standing queue, not a burst. While
/// overloaded, a request whose own delay exceeds `2 · target` (the
/// *slough timeout*) is shed. Unlike CoDel for packets, the drop rate does
/// not ramp up: folly found that shedding everything over the slough
/// timeout works better for servers.
///
/// Defaults (folly, Wangle): target 5 ms, interval 100 ms.
///
/// ```
/// use std::time::Duration;
/// use palisade_shed::queue::Codel;
/// use tokio::time::Instant;
///
/// let ms = Duration::from_millis;
/// let t0 = Instant::now();
/// let mut codel = Codel::new(ms(5), ms(100), t0);
/// // A whole interval in which no request waited less than 20 ms...
/// assert!(!codel.observe(ms(20), t0 + ms(1)));
/// assert!(!codel.observe(ms(20), t0 + ms(50)));
/// // ...makes the next interval overloaded: delays over 10 ms are shed.
/// assert!(!codel.observe(ms(20), t0 + ms(102)));
/// assert!(codel.is_overloaded());
/// assert!(codel.observe(ms(11), t0 + ms(103)));
/// assert!(!codel.observe(ms(9), t0 + ms(104)));
/// ```
#[derive(Debug, Clone)]
pub struct Codel {
    target: Duration,
    interval: Duration,
    /// The smallest delay seen since the current interval began.
    min_delay: Duration,
    /// When the current interval ends.
    interval_end: Instant,
    /// The next observation starts a new minimum.
    reset_delay: bool,
    overloaded: bool,
}

impl Codel {
    /// A state machine with the given `target` delay and `interval`, its
    /// first interval beginning at `now`.
    ///
    /// (folly ends the first interval at construction, so its second
    /// observation may already find the queue overloaded; here the first
    /// interval is a whole one like every other.)
    pub fn new(target: Duration, interval: Duration, now: Instant) -> Self {
        Self {
            target,
            interval,
            min_delay: Duration::ZERO,
            interval_end: now + interval,
            reset_delay: true,
            overloaded: false,
        }
    }

    /// Records the queueing `delay` of a request taken off the queue at
    /// `now`; returns whether it should be shed.
    ///
    /// When the current interval has ended, a new one begins, and the queue
    /// is overloaded for it if the minimum delay of the interval before
    /// exceeded the target. The first observation of an interval only
    /// starts its minimum and never sheds (more than one request must come
    /// in during an interval before CoDel sheds). After that, a request is
    /// shed while overloaded if its delay exceeds the slough timeout
    /// (`2 · target`).
    pub fn observe(&mut self, delay: Duration, now: Instant) -> bool {
        if now > self.interval_end && !self.reset_delay {
            self.reset_delay = true;
            self.interval_end = now + self.interval;
            self.overloaded = self.min_delay > self.target;
        }
        if self.reset_delay {
            self.reset_delay = false;
            self.min_delay = delay;
            return false;
        }
        if delay < self.min_delay {
            self.min_delay = delay;
        }
        self.overloaded && delay > self.slough_timeout()
    }

    /// Whether the queue was overloaded (a standing queue) in the last
    /// complete interval.
    pub fn is_overloaded(&self) -> bool {
        self.overloaded
    }

    /// The delay over which an overloaded queue sheds a request: twice the
    /// target.
    pub fn slough_timeout(&self) -> Duration {
        self.target.saturating_mul(2)
    }

    /// The target queueing delay.
    pub fn target(&self) -> Duration {
        self.target
    }

    /// The interval over which the minimum delay is taken.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}
