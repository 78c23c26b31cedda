//! The response future.

#[cfg(feature = "grpc")]
use crate::{
    body::{GrpcBody, watch},
    verdict::AtEndOfStream,
};
use crate::{
    lane::{Lane, Owner},
    machine::Dropped,
    permit::Guard,
    verdict::AtResponse,
};
use palisade_core::{BoxError, Classify, Rejected};
#[cfg(feature = "grpc")]
use palisade_core::{Outcome, grpc::GrpcErrors};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// The response future of [`CircuitBreakerService`](crate::CircuitBreakerService)
    /// (and of the keyed service): the inner future, classified and recorded
    /// when it finishes, or the rejection, ready at once. With
    /// [`AtEndOfStream`](crate::AtEndOfStream) (a gRPC breaker), a status
    /// that is not in the response head is recorded by the body, at its end.
    pub struct ResponseFuture<F, C, V = AtResponse> {
        #[pin]
        kind: Kind<F, C>,
        verdict: PhantomData<fn() -> V>,
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

impl<F, C, V> ResponseFuture<F, C, V> {
    pub(crate) fn called(future: F, guard: Guard<Lane<C>>) -> Self {
        Self {
            kind: Kind::Called { future, guard },
            verdict: PhantomData,
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            kind: Kind::Rejected {
                error: Some(Box::new(rejected)),
            },
            verdict: PhantomData,
        }
    }

    /// Polls the inner future; when it is done, `finish` records the
    /// outcome with the call's guard and gives the response.
    #[inline]
    fn poll_with<T, E, U>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        finish: impl FnOnce(Result<T, E>, &mut Guard<Lane<C>>) -> Result<U, E>,
    ) -> Poll<Result<U, BoxError>>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        match self.project().kind.project() {
            KindProj::Called { future, guard } => {
                // Records a failure if the inner future panics; costs
                // nothing otherwise (disarmed: its drop never runs).
                let on_unwind = OnUnwind(&mut *guard);
                let poll = future.poll(cx);
                let _disarmed = std::mem::ManuallyDrop::new(on_unwind);
                let result = ready!(poll);
                Poll::Ready(finish(result, guard).map_err(Into::into))
            }
            KindProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "response future polled after completion".into()))),
        }
    }
}

impl<F, C, V> fmt::Debug for ResponseFuture<F, C, V> {
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

impl<F, C, T, E> Future for ResponseFuture<F, C, AtResponse>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_with(cx, |result, guard| {
            let outcome = guard.state().classify.classify(result.as_ref());
            guard.finish(outcome);
            result
        })
    }
}

/// A gRPC breaker's future: a status in the response head is recorded at
/// once; otherwise the body is watched for the trailers.
#[cfg(feature = "grpc")]
impl<F, B, E> Future for ResponseFuture<F, GrpcErrors, AtEndOfStream>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body,
{
    type Output = Result<http::Response<GrpcBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_with(cx, |result, guard| match result {
            Ok(response) => Ok(watch(response, guard)),
            Err(err) => {
                guard.finish(Outcome::Failure);
                Err(err)
            }
        })
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
