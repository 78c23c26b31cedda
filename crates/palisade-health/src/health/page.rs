//! [`StatusPage`]: the live status page and its JSON.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use tower_service::Service;

use palisade_latency::page::wants_json;

use crate::{render, state::State};

use super::{future::ResponseFuture, service::json_response};

/// The status page: one self-contained HTML page (inline CSS and script,
/// no CDN, works offline) showing every registered component live, and the
/// JSON it refreshes itself from. Made by [`Health::status_page`](super::Health::status_page).
///
/// A request whose `Accept` header names `application/json`, or whose
/// query has `format=json`, gets the data as JSON (always `200 OK`: the
/// data is the answer, whatever the status); any other gets the page,
/// which embeds the same data and fetches it again from its own URL every
/// [`page_refresh`](crate::HealthBuilder::page_refresh).
///
/// Like the health endpoints it never runs a check.
#[derive(Debug, Clone)]
pub struct StatusPage {
    state: Arc<State>,
}

impl StatusPage {
    pub(super) fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

impl<B> Service<Request<B>> for StatusPage {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let docs = self.state.docs();
        if wants_json(&req) {
            return ResponseFuture::new(json_response(docs.all.clone(), StatusCode::OK));
        }
        let html = render::page(&self.state.name, &docs.all);
        let mut response = Response::new(Full::new(Bytes::from(html)));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ResponseFuture::new(response)
    }
}
