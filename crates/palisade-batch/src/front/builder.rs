//! What both builders collect and how `build()` validates it, plus the
//! setter methods they share ([`builder_methods!`]).

use std::{
    sync::{Arc, atomic::AtomicUsize},
    time::Duration,
};

use palisade_core::ConfigError;
use tokio::{runtime::Handle, sync::Semaphore};

use super::handle::Front;
use crate::{
    state::{BatchState, Limits},
    stats::FlushCounters,
    telemetry::Telemetry,
};

/// Upper bound of [`bisect_on_error`](crate::BatcherBuilder::bisect_on_error):
/// 2^16 halves is far beyond any useful batch size.
const MAX_BISECT_DEPTH: u32 = 16;

/// What a builder collects before `build()` validates it.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) name: Arc<str>,
    pub(crate) max_size: usize,
    pub(crate) max_weight: Option<usize>,
    pub(crate) max_wait: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) reject_when_full: bool,
    pub(crate) bisect_depth: Option<u32>,
    pub(crate) runtime: Option<Handle>,
}

impl Settings {
    fn new(name: Arc<str>) -> Self {
        Self {
            name,
            max_size: 64,
            max_weight: None,
            max_wait: Duration::ZERO,
            max_in_flight: 4,
            queue_capacity: 1024,
            reject_when_full: false,
            bisect_depth: None,
            runtime: None,
        }
    }

    /// Validates the settings and creates the state every service shares.
    fn build(self) -> Result<BatchState, ConfigError> {
        if self.max_size == 0 {
            return Err(ConfigError::new("max_size", "at least 1", self.max_size));
        }
        if let Some(w) = self.max_weight
            && w == 0
        {
            return Err(ConfigError::new("max_weight", "at least 1", w));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::new(
                "max_in_flight",
                "at least 1",
                self.max_in_flight,
            ));
        }
        if self.queue_capacity < self.max_size || self.queue_capacity > Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(
                "queue_capacity",
                format_args!(
                    "at least max_size ({}) and at most {}",
                    self.max_size,
                    Semaphore::MAX_PERMITS
                ),
                self.queue_capacity,
            ));
        }
        if let Some(depth) = self.bisect_depth
            && !(1..=MAX_BISECT_DEPTH).contains(&depth)
        {
            return Err(ConfigError::new(
                "bisect_on_error",
                format_args!("in 1..={MAX_BISECT_DEPTH}"),
                depth,
            ));
        }
        let runtime = match self.runtime {
            Some(handle) => handle,
            None => Handle::try_current().map_err(|_| {
                ConfigError::custom(
                    "runtime",
                    "no tokio runtime: call build() inside a tokio runtime \
                     or pass one with .runtime(handle)",
                )
            })?,
        };
        Ok(BatchState {
            telemetry: Telemetry::new(&self.name),
            limits: Limits {
                max_size: self.max_size,
                max_weight: self.max_weight.unwrap_or(usize::MAX),
                max_wait: self.max_wait,
                max_in_flight: self.max_in_flight,
                bisect_depth: self.bisect_depth.unwrap_or(0),
            },
            semaphore: Arc::new(Semaphore::new(self.queue_capacity)),
            queue_capacity: self.queue_capacity,
            reject_when_full: self.reject_when_full,
            runtime,
            workers: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            flushes: FlushCounters::default(),
            name: self.name,
        })
    }
}

/// The builder both front ends wrap: the settings and the weigh function.
pub(crate) struct FrontBuilder<W> {
    pub(crate) settings: Settings,
    weigh: W,
}

impl FrontBuilder<()> {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            settings: Settings::new(name),
            weigh: (),
        }
    }
}

impl<W> FrontBuilder<W> {
    /// The same settings with another weigh function.
    pub(crate) fn weigh<F>(self, weigh: F) -> FrontBuilder<F> {
        FrontBuilder {
            settings: self.settings,
            weigh,
        }
    }

    /// Validates the settings.
    pub(crate) fn build(self) -> Result<Front<W>, ConfigError> {
        Ok(Front::new(Arc::new(self.settings.build()?), self.weigh))
    }
}

/// The setter methods [`BatcherBuilder`](crate::BatcherBuilder) and
/// [`LoaderBuilder`](crate::LoaderBuilder) share; each wraps a
/// [`FrontBuilder`] in a field named `front`.
macro_rules! builder_methods {
    ($what:literal) => {
        #[doc = concat!("Most items per batch (default 64). A full ", $what, " is sent at once.")]
        #[must_use]
        pub fn max_size(mut self, max_size: usize) -> Self {
            self.front.settings.max_size = max_size;
            self
        }

        /// Most total weight per batch (unlimited by default); items weigh 1
        /// unless [`weigh`](Self::weigh) says otherwise. A batch that reaches
        /// it is sent at once; an item heavier than it is sent alone.
        #[must_use]
        pub fn max_weight(mut self, max_weight: usize) -> Self {
            self.front.settings.max_weight = Some(max_weight);
            self
        }

        /// How long a batch may linger after its first item arrived, waiting
        /// to fill up. Zero (the default) flushes eagerly: a batch is sent as
        /// soon as a batch slot ([`max_in_flight`](Self::max_in_flight)) is
        /// free, so an idle backend sees single requests at once and a busy
        /// one sees batches grow while earlier ones are outstanding.
        #[must_use]
        pub fn max_wait(mut self, max_wait: std::time::Duration) -> Self {
            self.front.settings.max_wait = max_wait;
            self
        }

        /// Most batches outstanding at the inner service at once (default 4).
        #[must_use]
        pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
            self.front.settings.max_in_flight = max_in_flight;
            self
        }

        /// Most callers waiting for their batch to be sent (default 1024;
        /// at least `max_size`). When it is reached, `poll_ready` waits for
        /// room, or rejects with [`reject_when_full`](Self::reject_when_full).
        /// Shared by every service made from this handle.
        #[must_use]
        pub fn queue_capacity(mut self, queue_capacity: usize) -> Self {
            self.front.settings.queue_capacity = queue_capacity;
            self
        }

        /// When the queue is full, reject a call at once with
        /// [`Rejected`](palisade_core::Rejected) of kind
        /// [`BatchFull`](palisade_core::RejectKind::BatchFull) instead of
        /// waiting in `poll_ready`.
        #[must_use]
        pub fn reject_when_full(mut self) -> Self {
            self.front.settings.reject_when_full = true;
            self
        }

        /// When the inner service fails a batch, split it in halves and retry
        /// each, down to `max_depth` splits (1..=16), so the items that make a
        /// batch fail are isolated and their neighbours still succeed. One
        /// poison item among 64 costs `2 * 6` extra inner calls with
        /// `max_depth` 6. Off by default: a failed batch fails all its callers.
        #[must_use]
        pub fn bisect_on_error(mut self, max_depth: u32) -> Self {
            self.front.settings.bisect_depth = Some(max_depth);
            self
        }

        /// The tokio runtime the worker tasks are spawned on. By default,
        /// `build()` takes the runtime it is called in, and fails if there is
        /// none.
        #[must_use]
        pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
            self.front.settings.runtime = Some(handle);
            self
        }
    };
}

pub(crate) use builder_methods;
