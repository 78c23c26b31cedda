//! The response future of [`RateLimitService`](super::RateLimitService).

use super::answer::{AsError, AsHttp};
use http::{Response, StatusCode};
use palisade_core::{BoxError, Rejected};
use pin_project_lite::pin_project;
use std::{
    future::Future,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// The response future of [`RateLimitService`](super::RateLimitService):
    /// the inner service's, a refusal that is ready at once, or (cluster
    /// mode) the Redis check, then the inner service's. `A` is how a refusal
    /// is answered ([`AsError`] or [`AsHttp`]).
    #[derive(Debug)]
    pub struct ResponseFuture<F, A = AsError> {
        #[pin]
        kind: Kind<F>,
        answer: PhantomData<fn() -> A>,
    }
}

/// A cluster-wide check in flight, then the inner service's future.
#[cfg(feature = "redis")]
pub(crate) type ClusterCheck<F> = Pin<Box<dyn Future<Output = Result<F, Rejected>> + Send>>;

#[cfg(feature = "redis")]
pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] fut: F },
        Rejected { rejected: Option<Box<Rejected>> },
        Cluster { check: ClusterCheck<F> },
    }
}

#[cfg(not(feature = "redis"))]
pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] fut: F },
        Rejected { rejected: Option<Box<Rejected>> },
    }
}

#[cfg(feature = "redis")]
impl<F: std::fmt::Debug> std::fmt::Debug for Kind<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inner { fut } => f.debug_struct("Inner").field("fut", fut).finish(),
            Self::Rejected { rejected } => f
                .debug_struct("Rejected")
                .field("rejected", rejected)
                .finish(),
            Self::Cluster { .. } => f.debug_struct("Cluster").finish_non_exhaustive(),
        }
    }
}

impl<F, A> ResponseFuture<F, A> {
    fn new(kind: Kind<F>) -> Self {
        Self {
            kind,
            answer: PhantomData,
        }
    }

    pub(crate) fn inner(fut: F) -> Self {
        Self::new(Kind::Inner { fut })
    }

    #[cfg(feature = "redis")]
    pub(crate) fn cluster(check: ClusterCheck<F>) -> Self {
        Self::new(Kind::Cluster { check })
    }

    /// A refusal. Boxed: refusals are the rare path, and a small future
    /// is cheaper to move for every admitted request.
    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self::new(Kind::Rejected {
            rejected: Some(Box::new(rejected)),
        })
    }

    /// The inner service's output, or the refusal (`None` once taken:
    /// polled after completion).
    // Without `redis` every arm returns: the loop only serves the cluster check.
    #[cfg_attr(not(feature = "redis"), allow(clippy::never_loop))]
    fn poll_decided(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, Option<Box<Rejected>>>>
    where
        F: Future,
    {
        loop {
            let mut kind = self.as_mut().project().kind;
            match kind.as_mut().project() {
                KindProj::Inner { fut } => return Poll::Ready(Ok(ready!(fut.poll(cx)))),
                KindProj::Rejected { rejected } => return Poll::Ready(Err(rejected.take())),
                #[cfg(feature = "redis")]
                KindProj::Cluster { check } => match ready!(check.as_mut().poll(cx)) {
                    Ok(fut) => kind.set(Kind::Inner { fut }),
                    Err(rejected) => kind.set(Kind::Rejected {
                        rejected: Some(Box::new(rejected)),
                    }),
                },
            }
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F, AsError>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.poll_decided(cx)) {
            Ok(out) => out.map_err(Into::into),
            Err(Some(rejected)) => Err(rejected),
            Err(None) => Err("response future polled after completion".into()),
        })
    }
}

impl<F, B, E> Future for ResponseFuture<F, AsHttp>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<&'static str>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.poll_decided(cx)) {
            Ok(out) => out,
            Err(Some(rejected)) => Ok(palisade_core::http::rejection_response(&rejected, B::from)),
            Err(None) => {
                let mut res = Response::new(B::from("response future polled after completion"));
                *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                Ok(res)
            }
        })
    }
}
