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

use super::page::{REPORT_SCRIPT, render, wants_json};
use crate::LatencyTracker;

/// Serves a tracker's [`Snapshot`](crate::Snapshot); made by
/// [`LatencyTracker::report`].
///
/// A request whose `Accept` header names `application/json`, or whose query
/// has `format=json`, gets the snapshot as JSON; any other gets a
/// self-contained HTML page (inline CSS and script, no CDN, works offline) —
/// the same page and renderer as `palisade-health`'s status page, showing
/// only the latency section: a table of routes with requests, rates, errors,
/// p50 / p90 / p95 / p99 / p99.9, max, and a latency distribution per route.
/// The page embeds the JSON and fetches it again from its own URL every 2 s.
/// Mount it on a route of its own, e.g.
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

impl<B> Service<Request<B>> for ReportService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let json = self.tracker.snapshot().to_json().to_string();
        let (body, content_type) = if wants_json(&req) {
            (json, "application/json")
        } else {
            let name = self.tracker.name();
            let page = render(
                &format!("latency \u{b7} {name}"),
                &format!("Latency \u{b7} {name}"),
                "palisade-latency report",
                json.as_bytes(),
                REPORT_SCRIPT,
            );
            (page, "text/html; charset=utf-8")
        };
        let mut res = Response::new(Full::new(Bytes::from(body)));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(res))
    }
}
