//! A bulkhead for blocking and CPU-heavy work: a bounded pool on tokio's
//! blocking threads.
//!
//! Blocking in an async handler stalls every other request on that executor
//! thread. [`BlockingPool`] moves such work to tokio's blocking threads
//! (`spawn_blocking`) and bounds it: at most `max_running` jobs run at once,
//! at most `max_queued` wait for a slot, and any further job is refused at
//! once with a [`Rejected`](palisade_core::Rejected) of kind `Overloaded`
//! (HTTP 503, gRPC `RESOURCE_EXHAUSTED`). A waiting job whose ambient
//! [`Deadline`](crate::Deadline) passes is dropped with `DeadlineExceeded`
//! and never runs; a job whose deadline has passed before it is admitted is
//! not run either. A job that panics fails its own call with [`JobPanicked`];
//! the pool carries on.
//!
//! Use it as a plain call, [`BlockingPool::run`], or as a tower
//! [`Service`](tower_service::Service) that runs a function per request,
//! [`BlockingPool::service`], so it stacks under other layers. Every call and
//! every service made from one pool (and its clones) share its slots.
//!
//! ```
//! use palisade_shed::BlockingPool;
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let pool = BlockingPool::builder("hashing").max_running(4).max_queued(64).build()?;
//!
//! // A plain call.
//! let digest = pool.run(|| (0..1_000u64).fold(0, |h, x| h ^ x.wrapping_mul(0x9e37))).await?;
//! assert_eq!(digest, (0..1_000u64).fold(0, |h, x| h ^ x.wrapping_mul(0x9e37)));
//!
//! // A service: one job per request.
//! let mut svc = pool.service(|password: String| password.len());
//! assert_eq!(svc.ready().await?.call("hunter2".to_owned()).await?, 7);
//! # Ok(()) }
//! ```

mod builder;
pub mod future;
mod service;
mod state;
mod telemetry;

pub use builder::{BlockingPoolBuilder, MAX_RUNNING_LIMIT};
pub use future::{Apply, Call, Job, RunFuture};
pub use service::BlockingService;

use state::State;
use std::{error::Error, fmt, sync::Arc};

/// A bounded pool for blocking work; see the [module docs](self).
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct BlockingPool {
    state: Arc<State>,
}

impl BlockingPool {
    /// Starts building a pool called `name` (the `name` label of its metrics).
    pub fn builder(name: impl Into<Arc<str>>) -> BlockingPoolBuilder {
        BlockingPoolBuilder::new(name.into())
    }

    pub(crate) fn from_state(state: Arc<State>) -> Self {
        Self { state }
    }

    /// Runs `job` on a blocking thread within the pool's bounds.
    ///
    /// # Errors
    ///
    /// The future fails with a [`Rejected`](palisade_core::Rejected)
    /// (`Overloaded`: every slot and queue place taken; `DeadlineExceeded`:
    /// the ambient deadline passed before the job could start, so it never
    /// ran; `Closed`: the runtime is shutting down) or [`JobPanicked`].
    pub fn run<F, R>(&self, job: F) -> RunFuture<Call<F>, R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        RunFuture::new(Arc::clone(&self.state), Call(job))
    }

    /// A tower service that runs `f(request)` on the pool for each request.
    pub fn service<F>(&self, f: F) -> BlockingService<F> {
        BlockingService::new(Arc::clone(&self.state), f)
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.state.running()
    }

    /// Jobs waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.state.queued()
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("name", &self.state.name)
            .field("max_running", &self.state.max_running)
            .field("max_queued", &self.state.max_queued)
            .field("running", &self.running())
            .field("queued", &self.queued())
            .finish()
    }
}

/// A job of a [`BlockingPool`] panicked. The panic fails that call only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPanicked {
    pool: Arc<str>,
}

impl JobPanicked {
    pub(crate) fn new(pool: Arc<str>) -> Self {
        Self { pool }
    }

    /// The name of the pool the job ran on.
    pub fn pool(&self) -> &str {
        &self.pool
    }
}

impl fmt::Display for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocking job panicked ({})", self.pool)
    }
}

impl Error for JobPanicked {}
