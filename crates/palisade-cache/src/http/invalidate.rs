//! Invalidation by unsafe requests (RFC 9111 §4.4).

use std::sync::Arc;

use bytes::Bytes;
use http::Request;

use super::HttpState;

/// What an unsafe request invalidates when it succeeds (RFC 9111 §4.4): its
/// target URI, and the same-origin `Location` and `Content-Location`.
#[derive(Debug)]
pub(crate) struct Target {
    /// The base key of the target URI.
    key: Bytes,
    /// Its authority (the key's prefix), to resolve the response's URIs.
    authority_len: usize,
    /// The target's path, to resolve relative references.
    path: Box<str>,
}

impl Target {
    pub(crate) fn of<B>(req: &Request<B>, key: Bytes) -> Self {
        let pq_len = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
        Self {
            authority_len: key.len().saturating_sub(pq_len),
            key,
            path: req.uri().path().into(),
        }
    }

    /// The keys a successful response to the request invalidates.
    pub(crate) fn keys(&self, headers: &http::HeaderMap) -> Vec<Bytes> {
        let mut keys = vec![self.key.clone()];
        let authority = &self.key[..self.authority_len];
        for name in [http::header::LOCATION, http::header::CONTENT_LOCATION] {
            let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            if let Some(key) = self.resolve(authority, value) {
                keys.push(key);
            }
        }
        keys
    }

    /// The base key of a URI reference, if it is on the same origin.
    fn resolve(&self, authority: &[u8], reference: &str) -> Option<Bytes> {
        let reference = reference.split('#').next()?.trim();
        let uri: http::Uri = reference.parse().ok()?;
        let pq = if let Some(a) = uri.authority() {
            // Absolute: same origin only (the scheme is the request's).
            if !a.as_str().as_bytes().eq_ignore_ascii_case(authority) {
                return None;
            }
            uri.path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned()
        } else if reference.starts_with('/') {
            reference.to_owned()
        } else if reference.is_empty() {
            return None;
        } else {
            // Relative to the target's directory.
            let dir = &self.path[..=self.path.rfind('/').unwrap_or(0)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{dir}{reference}")
        };
        let mut key = Vec::with_capacity(authority.len() + pq.len());
        key.extend_from_slice(authority);
        key.extend_from_slice(pq.as_bytes());
        Some(key.into())
    }
}

/// Drops the stored responses for `keys` here now and, with an L2, in the
/// shared tier and every replica's L1 (the purge path) in the background.
pub(crate) fn invalidate(state: &Arc<HttpState>, keys: Vec<Bytes>) {
    for key in &keys {
        state.l1.remove_now(key);
    }
    if state.l2.is_some()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        let state = Arc::clone(state);
        handle.spawn(async move {
            for key in keys {
                state.invalidate(&key).await;
            }
        });
    }
}
