//! [`Deadline`]: the instant by which a request must be answered, and the
//! ambient (task-local) deadline of the code running on its behalf.

use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{task::futures::TaskLocalFuture, time::Instant};

tokio::task_local! {
    static CURRENT: Deadline;
}

/// About thirty years: what "no deadline" is clamped to when a budget would
/// overflow an [`Instant`].
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The instant by which a request must be answered.
///
/// A [`Timeout`](super::Timeout) computes it for every request (the earliest
/// of its own timeout, the request's `grpc-timeout` or configured header, and
/// any deadline already in force) and makes it available two ways:
///
/// - as the **ambient deadline** of the inner service's future:
///   [`Deadline::current()`] returns it anywhere inside the handler,
///   including in the client calls it makes — which is how
///   [`PropagateDeadlineLayer`](super::PropagateDeadlineLayer) passes the
///   remaining budget on;
/// - for HTTP requests, in the request's extensions
///   (`req.extensions().get::<Deadline>()`).
///
/// The ambient deadline is a tokio task-local: it follows the request's
/// future, not tasks spawned from it. To carry it into a spawned task, read it
/// first and use [`Deadline::scope`] there.
///
/// ```
/// use std::time::Duration;
/// use palisade_shed::Deadline;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(Deadline::current(), None); // no deadline outside a scope
///
/// let deadline = Deadline::after(Duration::from_millis(300));
/// deadline
///     .scope(async {
///         tokio::time::sleep(Duration::from_millis(100)).await;
///         let current = Deadline::current().unwrap();
///         assert_eq!(current.remaining(), Duration::from_millis(200));
///     })
///     .await;
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Self { at: instant }
    }

    /// A deadline `budget` from now (clamped to about thirty years).
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Self::at(now.checked_add(budget.min(FAR_FUTURE)).unwrap_or(now))
    }

    /// The ambient deadline of the running request, if any.
    ///
    /// Inside a service wrapped by a [`Timeout`](super::Timeout) (in its
    /// `call` and while its future runs) this is the request's deadline;
    /// inside [`Deadline::scope`] it is the scoped deadline; elsewhere, and
    /// outside a tokio task, `None`.
    pub fn current() -> Option<Deadline> {
        CURRENT.try_with(|d| *d).ok()
    }

    /// The instant of the deadline.
    pub fn instant(self) -> Instant {
        self.at
    }

    /// The time left until the deadline; zero once it has passed.
    pub fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_expired(self) -> bool {
        self.at <= Instant::now()
    }

    /// Runs `future` with this deadline as its ambient deadline.
    ///
    /// A deadline only ever shrinks: if an earlier deadline is already in
    /// force where `scope` is called, that one stays in force.
    pub fn scope<F: Future>(self, future: F) -> DeadlineScope<F> {
        let deadline = match Deadline::current() {
            Some(outer) => self.min(outer),
            None => self,
        };
        DeadlineScope {
            inner: deadline.scoped(future),
        }
    }

    /// Makes `self` the ambient deadline of `future`, exactly.
    pub(crate) fn scoped<F: Future>(self, future: F) -> TaskLocalFuture<Deadline, F> {
        CURRENT.scope(self, future)
    }

    /// Runs `f` with `self` as the ambient deadline (for the inner `call`).
    pub(crate) fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("at", &self.at)
            .field("remaining", &self.remaining())
            .finish()
    }
}

pin_project! {
    /// A future run with an ambient [`Deadline`]; made by [`Deadline::scope`].
    pub struct DeadlineScope<F> {
        #[pin]
        inner: TaskLocalFuture<Deadline, F>,
    }
}

impl<F: Future> Future for DeadlineScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for DeadlineScope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineScope").finish_non_exhaustive()
    }
}
