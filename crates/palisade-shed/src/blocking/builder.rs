use super::{BlockingPool, state::State};
use palisade_core::ConfigError;
use std::sync::Arc;

/// Builds a [`BlockingPool`]; from [`BlockingPool::builder`].
#[derive(Debug)]
#[must_use]
pub struct BlockingPoolBuilder {
    name: Arc<str>,
    max_running: Option<usize>,
    max_queued: usize,
}

/// The most jobs a pool may run at once (`Semaphore::MAX_PERMITS` of tokio).
pub const MAX_RUNNING_LIMIT: usize = tokio::sync::Semaphore::MAX_PERMITS;

impl BlockingPoolBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            max_running: None,
            max_queued: 0,
        }
    }

    /// Jobs run at once on tokio's blocking threads (required, at least 1).
    /// Keep it below the runtime's `max_blocking_threads` (512 by default),
    /// shared with every other `spawn_blocking` of the process.
    pub fn max_running(mut self, jobs: usize) -> Self {
        self.max_running = Some(jobs);
        self
    }

    /// Jobs that may wait for a running slot (default 0: refuse at once
    /// when every slot is taken). Further jobs are refused with `Overloaded`.
    pub fn max_queued(mut self, jobs: usize) -> Self {
        self.max_queued = jobs;
        self
    }

    /// Validates the settings and builds the pool.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `max_running` missing, 0 or above
    /// [`MAX_RUNNING_LIMIT`].
    pub fn build(self) -> Result<BlockingPool, ConfigError> {
        let max_running = match self.max_running {
            None => {
                return Err(ConfigError::custom(
                    "max_running",
                    "is required (jobs run at once)",
                ));
            }
            Some(n) if n == 0 || n > MAX_RUNNING_LIMIT => {
                return Err(ConfigError::new(
                    "max_running",
                    format_args!("1..={MAX_RUNNING_LIMIT}"),
                    n,
                ));
            }
            Some(n) => n,
        };
        Ok(BlockingPool::from_state(Arc::new(State::new(
            self.name,
            max_running,
            self.max_queued,
        ))))
    }
}
