//! Metrics and tracing, behind the `metrics` and `tracing` features.
//!
//! Everything the breaker reports goes through here; with a feature off the
//! corresponding calls compile to nothing.

#[cfg(any(feature = "metrics", feature = "tracing"))]
use crate::status::State;
use crate::status::Transition;
use palisade_core::lane::Padded;
use std::{
    cell::Cell,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

/// What happened to one call, as counted in `palisade_breaker_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Success,
    Failure,
    Ignored,
    Slow,
    Rejected,
    /// Cut off by its deadline (also counted as a failure).
    Timeout,
    /// Panicked (also counted as a failure).
    Panic,
}

impl Call {
    #[cfg(feature = "metrics")]
    const ALL: [Call; 7] = [
        Call::Success,
        Call::Failure,
        Call::Ignored,
        Call::Slow,
        Call::Rejected,
        Call::Timeout,
        Call::Panic,
    ];

    #[cfg(feature = "metrics")]
    const fn label(self) -> &'static str {
        match self {
            Call::Success => "success",
            Call::Failure => "failure",
            Call::Ignored => "ignored",
            Call::Slow => "slow",
            Call::Rejected => "rejected",
            Call::Timeout => "timeout",
            Call::Panic => "panic",
        }
    }
}

/// Calls counted since the breaker was built, for
/// [`Snapshot::calls_total`](crate::Snapshot::calls_total) and
/// `rejected_total`.
///
/// Finished calls are counted on a few cache lines of their own (a power of
/// two, one per group of threads, as many as the breaker has lanes), each
/// thread adding to its own: counting a call writes no line that other
/// threads write, so a healthy breaker still shares no written line. The
/// total is their sum. Rejections (the open path) share one counter.
struct Totals {
    calls: Box<[Padded<AtomicU64>]>,
    rejected: AtomicU64,
}

impl Totals {
    fn new(stripes: usize) -> Self {
        let stripes = stripes.max(1).next_power_of_two();
        Self {
            calls: (0..stripes).map(|_| Padded(AtomicU64::new(0))).collect(),
            rejected: AtomicU64::new(0),
        }
    }

    #[inline]
    fn call(&self) {
        let stripe = stripe_index() & (self.calls.len() - 1);
        self.calls[stripe].fetch_add(1, Ordering::Relaxed);
    }

    fn calls(&self) -> u64 {
        self.calls
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A small number of the calling thread, stable for its life: which stripe
/// of [`Totals`] it adds to. (Any stripe is correct; distinct ones avoid
/// sharing a written line.)
#[inline]
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX
        .try_with(|index| {
            let mut i = index.get();
            if i == usize::MAX {
                i = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
                index.set(i);
            }
            i
        })
        // During thread teardown: any stripe will do.
        .unwrap_or(0)
}

/// Cached metric handles and call totals of one breaker.
pub(crate) struct Telemetry {
    totals: Totals,
    #[cfg(feature = "metrics")]
    calls: [metrics::Counter; 7],
    #[cfg(feature = "metrics")]
    state: metrics::Gauge,
    #[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
    name: Arc<str>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// `stripes`: how many groups of threads count calls apart (the
    /// breaker's lanes).
    pub(crate) fn new(name: &Arc<str>, stripes: usize) -> Self {
        let totals = Totals::new(stripes);
        #[cfg(feature = "metrics")]
        {
            let label = name.to_string();
            let calls = Call::ALL.map(|c| {
                metrics::counter!(
                    "palisade_breaker_calls_total",
                    "name" => label.clone(),
                    "outcome" => c.label()
                )
            });
            let state = metrics::gauge!("palisade_breaker_state", "name" => label);
            state.set(State::Closed.as_gauge());
            Self {
                totals,
                calls,
                state,
                name: name.clone(),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            Self {
                totals,
                name: name.clone(),
            }
        }
    }

    #[inline]
    pub(crate) fn call(&self, call: Call) {
        // Each finished call reports exactly one of these three.
        match call {
            Call::Success | Call::Failure | Call::Ignored => self.totals.call(),
            Call::Rejected => {
                self.totals.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Call::Slow | Call::Timeout | Call::Panic => {}
        }
        #[cfg(feature = "metrics")]
        {
            let idx = match call {
                Call::Success => 0,
                Call::Failure => 1,
                Call::Ignored => 2,
                Call::Slow => 3,
                Call::Rejected => 4,
                Call::Timeout => 5,
                Call::Panic => 6,
            };
            self.calls[idx].increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = call;
    }

    /// Calls finished since the breaker was built.
    pub(crate) fn calls_total(&self) -> u64 {
        self.totals.calls()
    }

    /// Calls rejected since the breaker was built.
    pub(crate) fn rejected_total(&self) -> u64 {
        self.totals.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn transition(&self, t: &Transition) {
        #[cfg(feature = "metrics")]
        {
            self.state.set(t.to.as_gauge());
            metrics::counter!(
                "palisade_breaker_transitions_total",
                "name" => self.name.to_string(),
                "from" => t.from.as_str(),
                "to" => t.to.as_str()
            )
            .increment(1);
        }
        #[cfg(feature = "tracing")]
        {
            let level_warn = matches!(t.to, State::Open | State::ForcedOpen);
            if level_warn {
                tracing::warn!(
                    breaker = %self.name,
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    reason = t.reason.as_str(),
                    "circuit breaker transition"
                );
            } else {
                tracing::info!(
                    breaker = %self.name,
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    reason = t.reason.as_str(),
                    "circuit breaker transition"
                );
            }
        }
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = t;
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn callback_panicked(&self) {
        tracing::error!(breaker = %self.name, "circuit breaker transition callback panicked");
    }

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn callback_panicked(&self) {}
}
