//! [`ReportService`]: serves a tracker's snapshot as JSON or as a page.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use tower_service::Service;

use super::html::render as render_html;
use crate::LatencyTracker;

/// Serves a tracker's [`Snapshot`](crate::Snapshot); made by
/// [`LatencyTracker::report`].
///
/// A request whose `Accept` header names `application/json` gets the
/// snapshot as JSON; any other gets a self-contained HTML page (inline CSS
/// and SVG, no scripts): a table of routes with their percentiles and a
/// latency distribution per route. Mount it on a route of its own, e.g.
/// `Router::new().route_service("/latency", tracker.report())`.
#[derive(Debug, Clone)]
pub struct ReportService {
    tracker: LatencyTracker,
}

impl ReportService {
    pub(crate) fn new(tracker: LatencyTracker) -> Self {
        Self { tracker }
    }
}

fn wants_json(accept: Option<&HeaderValue>) -> bool {
    accept.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .any(|part| part.trim().starts_with("application/json"))
    })
}

impl<B> Service<Request<B>> for ReportService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let snap = self.tracker.snapshot();
        let (body, content_type) = if wants_json(req.headers().get(header::ACCEPT)) {
            (snap.to_json().to_string(), "application/json")
        } else {
            (render_html(&snap), "text/html; charset=utf-8")
        };
        let mut res = Response::new(Full::new(Bytes::from(body)));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_parsing() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(wants_json(Some(&v("application/json"))));
        assert!(wants_json(Some(&v("text/plain, application/json;q=0.9"))));
        assert!(!wants_json(Some(&v("text/html,application/xhtml+xml"))));
        assert!(!wants_json(None));
    }
}
