//! [`CacheBody`]: the response body of [`HttpCacheService`](super::HttpCacheService).

use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use palisade_core::BoxError;
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response that passed through an
    /// [`HttpCache`](super::HttpCache): a cached body (shared `Bytes`, not
    /// copied), the inner body as it streams, or — for a body that turned out
    /// larger than `max_body_bytes` — the part already read followed by the
    /// rest of the stream.
    pub struct CacheBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Full { data: Option<Bytes> },
        Inner { #[pin] body: B },
        // Boxed (rare: a body above `max_body_bytes`), so that the common
        // kinds stay small to move.
        Prefixed { prefixed: Box<Prefixed<B>> },
    }
}

/// The part of a body already read, then the rest of its stream.
struct Prefixed<B> {
    prefix: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Pin<Box<B>>,
    rest_done: bool,
}

impl<B> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full { .. } => "cached",
            Kind::Inner { .. } => "streaming",
            Kind::Prefixed { .. } => "prefixed",
        };
        f.debug_struct("CacheBody").field("kind", &kind).finish()
    }
}

impl<B> CacheBody<B> {
    /// A body of these bytes (empty bytes: an empty body).
    pub(crate) fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    pub(crate) fn empty() -> Self {
        Self::full(Bytes::new())
    }

    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// The part already read, then the rest of the stream.
    pub(crate) fn prefixed(
        prefix: Vec<Bytes>,
        trailers: Option<HeaderMap>,
        rest: Pin<Box<B>>,
        rest_done: bool,
    ) -> Self {
        Self {
            kind: Kind::Prefixed {
                prefixed: Box::new(Prefixed {
                    prefix: prefix.into(),
                    trailers,
                    rest,
                    rest_done,
                }),
            },
        }
    }
}

impl<B> Body for CacheBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Prefixed { prefixed } => {
                let Prefixed {
                    prefix,
                    trailers,
                    rest,
                    rest_done,
                } = &mut **prefixed;
                if let Some(chunk) = prefix.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                if let Some(t) = trailers.take() {
                    return Poll::Ready(Some(Ok(Frame::trailers(t))));
                }
                if *rest_done {
                    return Poll::Ready(None);
                }
                rest.as_mut().poll_frame(cx).map_err(Into::into)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Prefixed { prefixed } => {
                let Prefixed {
                    prefix,
                    trailers,
                    rest,
                    rest_done,
                } = &**prefixed;
                prefix.is_empty() && trailers.is_none() && (*rest_done || rest.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
            Kind::Prefixed { prefixed } => {
                let Prefixed {
                    prefix,
                    rest,
                    rest_done,
                    ..
                } = &**prefixed;
                let read: u64 = prefix.iter().map(|c| c.len() as u64).sum();
                if *rest_done {
                    return SizeHint::with_exact(read);
                }
                let r = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(r.lower() + read);
                if let Some(u) = r.upper() {
                    hint.set_upper(u + read);
                }
                hint
            }
        }
    }
}
