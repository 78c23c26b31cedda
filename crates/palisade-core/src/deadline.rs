//! [`Deadline`]: the instant by which a request must be answered, and the
//! ambient deadline of the code running on its behalf.
//!
//! Set by `palisade-shed`'s `Timeout` (and by [`Deadline::scope`]), read by
//! anything below it: the handler, outgoing clients
//! (`palisade-shed`'s `PropagateDeadlineLayer`), and the circuit breaker,
//! which counts a call cut off by its deadline as a failure.

use pin_project_lite::pin_project;
use std::{
    cell::Cell,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::Instant;

thread_local! {
    /// The ambient deadline: set while a scoped future is being polled (and
    /// while an inner `call` runs), restored right after. This is what a
    /// tokio `task_local!` does, minus its `RefCell` bookkeeping: a
    /// `Deadline` is `Copy`, so a `Cell` swap is enough, and it measurably
    /// matters on the per-request path (see the crate's benchmarks).
    static CURRENT: Cell<Option<Deadline>> = const { Cell::new(None) };
}

/// Puts the previous ambient deadline back when dropped (also on unwind).
struct Restore(Option<Deadline>);

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        let previous = self.0;
        let _ = CURRENT.try_with(|current| current.set(previous));
    }
}

/// About thirty years: what "no deadline" is clamped to when a budget would
/// overflow an [`Instant`].
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The instant by which a request must be answered.
///
/// `palisade-shed`'s `Timeout` computes it for every request (the earliest
/// of its own timeout, the request's `grpc-timeout` or configured header, and
/// any deadline already in force) and makes it available two ways:
///
/// - as the **ambient deadline** of the inner service's future:
///   [`Deadline::current()`] returns it anywhere inside the handler,
///   including in the client calls it makes — which is how
///   `palisade-shed`'s `PropagateDeadlineLayer` passes the remaining budget
///   on;
/// - for HTTP requests, in the request's extensions
///   (`req.extensions().get::<Deadline>()`).
///
/// The ambient deadline behaves like a tokio task-local: it follows the
/// request's future, not tasks spawned from it. To carry it into a spawned
/// task, read it first and use [`Deadline::scope`] there. It is also in
/// force while a scoped future is *dropped*, so code that cleans up a call
/// cut off by its deadline (such as the circuit breaker's response future)
/// can tell that the deadline passed.
///
/// `palisade_shed::Deadline` is this type.
///
/// ```
/// use std::time::Duration;
/// use palisade_core::deadline::Deadline;
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
    #[inline]
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
    /// While the response future of a service wrapped by
    /// `palisade-shed`'s `Timeout` runs (or is dropped) (an axum or tonic handler, and every
    /// call it makes) this is the request's deadline; inside
    /// [`Deadline::scope`] it is the scoped deadline (the earliest, when
    /// scopes nest); elsewhere `None`. In the synchronous part of a
    /// service's `call`, read the [`Deadline`] in the HTTP request's
    /// extensions instead.
    #[inline]
    pub fn current() -> Option<Deadline> {
        CURRENT.try_with(Cell::get).ok().flatten()
    }

    /// The instant of the deadline.
    #[inline]
    pub fn instant(self) -> Instant {
        self.at
    }

    /// The time left until the deadline; zero once it has passed.
    pub fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    #[inline]
    pub fn is_expired(self) -> bool {
        self.at <= Instant::now()
    }

    /// Runs `future` with this deadline as its ambient deadline, while it is
    /// polled and while it is dropped.
    ///
    /// A deadline only ever shrinks: where an earlier deadline is in force
    /// around the scoped future, that one stays in force.
    #[inline]
    pub fn scope<F: Future>(self, future: F) -> DeadlineScope<F> {
        DeadlineScope {
            inner: future,
            deadline: self,
            restore: RestoreOnDrop(None),
        }
    }

    /// Runs `f` with `self` as the ambient deadline — or with the ambient
    /// deadline already in force, if that is earlier: a deadline only ever
    /// shrinks.
    #[inline]
    fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _restore = Restore(self.enter());
        f()
    }

    /// Makes `self` the ambient deadline unless an earlier one is in force;
    /// returns the one to put back.
    #[inline]
    fn enter(self) -> Option<Deadline> {
        CURRENT
            .try_with(|current| {
                let previous = current.replace(Some(self));
                if previous.is_some_and(|outer| outer < self) {
                    current.set(previous);
                }
                previous
            })
            .ok()
            .flatten()
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

/// Puts the ambient deadline back after a [`DeadlineScope`]'s inner future
/// was dropped (it is declared after that future, so it drops after it).
struct RestoreOnDrop(Option<Option<Deadline>>);

impl Drop for RestoreOnDrop {
    #[inline]
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            let _ = CURRENT.try_with(|current| current.set(previous));
        }
    }
}

pin_project! {
    /// A future run with an ambient [`Deadline`]; made by [`Deadline::scope`].
    ///
    /// The deadline is the ambient one while the inner future is polled (it
    /// follows the future across threads of a multi-thread runtime, like a
    /// tokio task-local) and while it is dropped.
    pub struct DeadlineScope<F> {
        #[pin]
        inner: F,
        deadline: Deadline,
        // Must stay after `inner`: fields drop in declaration order.
        restore: RestoreOnDrop,
    }

    impl<F> PinnedDrop for DeadlineScope<F> {
        fn drop(this: Pin<&mut Self>) {
            // The inner future drops right after this, with the deadline in
            // force; `restore` then puts the previous one back.
            let this = this.project();
            this.restore.0 = Some(this.deadline.enter());
        }
    }
}

impl<F> DeadlineScope<F> {
    /// The deadline in force inside.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }
}

impl<F: Future> Future for DeadlineScope<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.deadline.sync_scope(|| this.inner.poll(cx))
    }
}

impl<F> fmt::Debug for DeadlineScope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineScope")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
