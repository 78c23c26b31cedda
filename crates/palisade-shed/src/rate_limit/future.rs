//! The response future of [`RateLimitService`](super::RateLimitService).

use palisade_core::{BoxError, Rejected};
use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project! {
    /// The response future of [`RateLimitService`](super::RateLimitService):
    /// the inner service's, or a rejection that is ready at once.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
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
        Rejected { rejected: Option<Rejected> },
        Cluster { check: ClusterCheck<F> },
    }
}

#[cfg(not(feature = "redis"))]
pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Inner { #[pin] fut: F },
        Rejected { rejected: Option<Rejected> },
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

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(fut: F) -> Self {
        Self {
            kind: Kind::Inner { fut },
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn cluster(check: ClusterCheck<F>) -> Self {
        Self {
            kind: Kind::Cluster { check },
        }
    }

    pub(crate) fn rejected(rejected: Rejected) -> Self {
        Self {
            kind: Kind::Rejected {
                rejected: Some(rejected),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    // Without `redis` every arm returns: the loop only serves the cluster check.
    #[cfg_attr(not(feature = "redis"), allow(clippy::never_loop))]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut kind = self.as_mut().project().kind;
            match kind.as_mut().project() {
                KindProj::Inner { fut } => {
                    return Poll::Ready(ready!(fut.poll(cx)).map_err(Into::into));
                }
                KindProj::Rejected { rejected } => {
                    return Poll::Ready(Err(rejected.take().map_or_else(
                        || "response future polled after completion".into(),
                        Into::into,
                    )));
                }
                #[cfg(feature = "redis")]
                KindProj::Cluster { check } => match ready!(check.as_mut().poll(cx)) {
                    Ok(fut) => kind.set(Kind::Inner { fut }),
                    Err(rejected) => kind.set(Kind::Rejected {
                        rejected: Some(rejected),
                    }),
                },
            }
        }
    }
}
