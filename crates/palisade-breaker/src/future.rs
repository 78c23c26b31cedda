//! The response future.

use crate::{
    lane::{Lane, Owner},
    machine::Dropped,
    permit::Guard,
};
use palisade_core::{BoxError, Classify, Rejected};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// The response future of [`CircuitBreakerService`](crate::CircuitBreakerService)
    /// (and of the keyed service): the inner future, classified and recorded
    /// when it finishes, or the rejection, ready at once.
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            future: F,
            guard: Guard<Lane<C>>,
        },
        Rejected {
            // Boxed when made: a pointer to move around, not a struct.
            error: Option<BoxError>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, guard: Guard<Lane<C>>) -> Self {
        Self {
            kind: Kind::Called { future, guard },
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            kind: Kind::Rejected {
                error: Some(Box::new(rejected)),
            },
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { future, guard } => {
                // Records a failure if the inner future panics; costs
                // nothing otherwise (disarmed: its drop never runs).
                let on_unwind = OnUnwind(&mut *guard);
                let poll = future.poll(cx);
                let _disarmed = std::mem::ManuallyDrop::new(on_unwind);
                let result = ready!(poll);
                let outcome = guard.state().classify.classify(result.as_ref());
                guard.finish(outcome);
                Poll::Ready(result.map_err(Into::into))
            }
            KindProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "response future polled after completion".into()))),
        }
    }
}

/// Records a panic of the inner future as a failure: dropped only while the
/// panic unwinds out of `poll` (disarmed on every normal return), because
/// a runtime that catches the panic drops the future itself afterwards,
/// when the unwinding is over and can no longer be seen.
struct OnUnwind<'a, P: Owner>(&'a mut Guard<P>);

impl<P: Owner> Drop for OnUnwind<'_, P> {
    #[cold]
    fn drop(&mut self) {
        self.0.finish_dropped(Dropped::Panicked);
    }
}
