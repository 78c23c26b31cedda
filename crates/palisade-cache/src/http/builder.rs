//! [`HttpCacheBuilder`].

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use http::HeaderName;
use palisade_core::ConfigError;

use super::{
    HttpCache, HttpValue, Stored,
    policy::{self, DELTA_SECONDS_MAX, Defaults},
};
use crate::{
    entry::Lifetime,
    l2::L2Hook,
    policy::{Decision, Policy},
    state::CacheState,
    store::{L2Payload, L2Store},
};

/// Builds an [`HttpCache`]; from [`HttpCache::builder`].
///
/// Nothing is required. Defaults: at most 64 MiB of responses
/// (`max_bytes`), bodies up to 1 MiB (`max_body_bytes`), freshness as RFC
/// 9111 gives it (no default TTL: a response that says nothing about its
/// freshness is fresh only by the `Last-Modified` heuristic), no stale
/// windows unless the response asks for them, requests with `Cookie`
/// passed, no key headers, no L2.
pub struct HttpCacheBuilder {
    name: Arc<str>,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    defaults: Defaults,
    l2: Option<Arc<dyn L2Store>>,
}

impl fmt::Debug for HttpCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCacheBuilder")
            .field("name", &self.name)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("defaults", &self.defaults)
            .field("l2", &self.l2)
            .finish()
    }
}

/// `max_bytes` when no bound is given.
const DEFAULT_MAX_BYTES: u64 = 64 << 20;

impl HttpCacheBuilder {
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            max_entries: None,
            max_bytes: None,
            defaults: Defaults {
                default_ttl: None,
                negative_ttl: None,
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
                max_body_bytes: 1 << 20,
                by_bytes: true,
                key_headers: Vec::new(),
                cookie_requests: false,
            },
            l2: None,
        }
    }

    /// Bounds the cache by the bytes of the stored bodies and headers.
    #[must_use]
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// Bounds the cache by number of responses instead of bytes.
    #[must_use]
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = Some(n);
        self
    }

    /// The largest body stored; a larger one streams through uncached.
    #[must_use]
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.defaults.max_body_bytes = n;
        self
    }

    /// Opt-in, outside RFC 9111: the freshness of a response that has no
    /// explicit freshness (`s-maxage`, `max-age`, `Expires`), instead of the
    /// RFC's heuristic. It applies to the statuses a cache may store without
    /// explicit freshness (200, 203, 204, 300, 301, 308, 405, 414, 501) and to
    /// `public` responses; never to a response marked stale (`max-age=0`, an
    /// `Expires` in the past or invalid). Must be more than zero (leave it
    /// unset for the RFC's rules) and at most 2^31 s.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.defaults.default_ttl = Some(ttl);
        self
    }

    /// Opt-in negative caching, outside RFC 9111: as
    /// [`default_ttl`](Self::default_ttl), for 404 and 410. A 404 that
    /// carries explicit freshness (even zero) keeps its own. Must be more
    /// than zero and at most 2^31 s.
    #[must_use]
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.defaults.negative_ttl = Some(ttl);
        self
    }

    /// Opt-in per-user (or per-anything) entries: the value of the request
    /// header `name` becomes part of every key, as if each response said
    /// `Vary: name`. With [`AUTHORIZATION`](http::header::AUTHORIZATION)
    /// a request with a token is answered only from responses to the same
    /// token, so the RFC 9111 §3.5 rule (responses to requests with
    /// `Authorization` are shared only when `public`, `s-maxage` or
    /// `must-revalidate`) no longer applies; with
    /// [`COOKIE`](http::header::COOKIE), requests with cookies use the
    /// cache, one entry per cookie value. The header's value is part of the
    /// key in L1 and in the L2's keys: use an L2 you would trust with it.
    #[must_use]
    pub fn key_header(mut self, name: HeaderName) -> Self {
        if !self.defaults.key_headers.contains(&name) {
            self.defaults.key_headers.push(name);
        }
        self
    }

    /// Opt-in: requests with `Cookie` use the cache like any other. By
    /// default they are passed to the service and their responses are not
    /// stored (as Varnish's built-in policy does), because a handler that
    /// reads a session cookie often forgets `Vary: Cookie` or `private`.
    /// Turn this on when cookies never change what a URL answers (for
    /// example, only analytics cookies); responses with `Set-Cookie` are
    /// never stored either way.
    #[must_use]
    pub fn cache_cookie_requests(mut self, yes: bool) -> Self {
        self.defaults.cookie_requests = yes;
        self
    }

    /// Stale-while-revalidate window for responses without the directive.
    #[must_use]
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.defaults.stale_while_revalidate = window;
        self
    }

    /// Stale-if-error window for responses without the directive.
    #[must_use]
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.defaults.stale_if_error = window;
        self
    }

    /// Adds a second tier shared by replicas (see [`crate::store`]).
    #[must_use]
    pub fn l2<S: L2Store>(mut self, store: S) -> Self {
        self.l2 = Some(Arc::new(store));
        self
    }

    /// Validates the configuration and builds the cache.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: a zero `max_bytes`,
    /// `max_entries`, `max_body_bytes`, `default_ttl` or `negative_ttl`, both
    /// bounds at once, a `max_body_bytes` above `max_bytes`, or a duration
    /// above 2^31 s (the largest age RFC 9111 keeps).
    pub fn build(self) -> Result<HttpCache, ConfigError> {
        let max_delta = Duration::from_secs(DELTA_SECONDS_MAX);
        for (field, ttl) in [
            ("default_ttl", self.defaults.default_ttl),
            ("negative_ttl", self.defaults.negative_ttl),
        ] {
            if ttl.is_some_and(|t| t.is_zero()) {
                return Err(ConfigError::new(
                    field,
                    "more than zero (leave it unset for RFC freshness)",
                    Duration::ZERO,
                ));
            }
        }
        for (field, d) in [
            ("default_ttl", self.defaults.default_ttl.unwrap_or_default()),
            (
                "negative_ttl",
                self.defaults.negative_ttl.unwrap_or_default(),
            ),
            (
                "stale_while_revalidate",
                self.defaults.stale_while_revalidate,
            ),
            ("stale_if_error", self.defaults.stale_if_error),
        ] {
            if d > max_delta {
                return Err(ConfigError::new(field, "at most 2147483648s", d));
            }
        }
        let max_body = self.defaults.max_body_bytes as u64;
        if max_body == 0 {
            return Err(ConfigError::new("max_body_bytes", "at least 1", 0));
        }
        let (capacity, by_bytes) = match (self.max_entries, self.max_bytes) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::custom(
                    "max_bytes",
                    "give either max_entries or max_bytes, not both",
                ));
            }
            (Some(0), None) => return Err(ConfigError::new("max_entries", "at least 1", 0)),
            (None, Some(0)) => return Err(ConfigError::new("max_bytes", "at least 1", 0)),
            (Some(n), None) => (n, false),
            (None, Some(n)) => (n, true),
            (None, None) => (DEFAULT_MAX_BYTES, true),
        };
        if by_bytes && max_body > capacity {
            return Err(ConfigError::new(
                "max_body_bytes",
                format_args!("at most max_bytes ({capacity})"),
                max_body,
            ));
        }
        let l2 = self.l2.map(|store| L2Hook {
            store,
            encode_key,
            decode_key,
            encode_value,
            decode_value,
        });
        let state = CacheState::new(self.name, capacity, Box::new(HttpPolicy { by_bytes }), l2);
        let mut defaults = self.defaults;
        defaults.by_bytes = by_bytes;
        Ok(HttpCache {
            state,
            defaults: Arc::new(defaults),
        })
    }
}

/// Weighs entries read back from the L2 (everything else is decided from
/// the response head in `lead.rs`).
struct HttpPolicy {
    by_bytes: bool,
}

impl Policy<HttpValue> for HttpPolicy {
    fn decide(&self, value: &HttpValue) -> Option<Decision> {
        let weight = match value {
            HttpValue::Response(s) if self.by_bytes => policy::weight(&s.headers, s.body.len()),
            _ => 1,
        };
        Some(Decision {
            lifetime: Lifetime {
                ttl: Duration::ZERO,
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
            },
            tags: Box::new([]),
            weight,
        })
    }
}

fn encode_key(key: &Bytes) -> Option<Bytes> {
    let mut out = Vec::with_capacity(key.len() + 2);
    out.extend_from_slice(b"h:");
    out.extend_from_slice(key);
    Some(out.into())
}

fn decode_key(bytes: &[u8]) -> Option<Bytes> {
    bytes.strip_prefix(b"h:").map(Bytes::copy_from_slice)
}

fn encode_value(value: &HttpValue) -> Option<L2Payload> {
    Some(match value {
        HttpValue::Response(s) => L2Payload::Response {
            status: s.status,
            headers: s.headers.clone(),
            body: s.body.clone(),
        },
        HttpValue::Vary(names) => {
            L2Payload::Vary(names.iter().map(|n| n.as_str().to_owned()).collect())
        }
    })
}

fn decode_value(payload: L2Payload) -> Option<HttpValue> {
    match payload {
        L2Payload::Response {
            status,
            headers,
            body,
        } => {
            let names = policy::vary_names(&headers)?;
            // The variant this response answered is only known from its key;
            // a variant read from the L2 is not handed to coalesced waiters
            // whose headers differ (they see an empty variant and call).
            // Key headers make every stored response a variant.
            let variant = if names.is_empty() { "" } else { "\u{0}" };
            let initial_age = policy::age_header(&headers).unwrap_or_default();
            Some(HttpValue::Response(Arc::new(Stored::new(
                status,
                headers,
                body,
                variant.into(),
                initial_age,
            ))))
        }
        L2Payload::Vary(names) => {
            let names: Result<Vec<HeaderName>, _> = names
                .iter()
                .map(|n| HeaderName::from_bytes(n.as_bytes()))
                .collect();
            Some(HttpValue::Vary(names.ok()?.into()))
        }
        L2Payload::Value(_) => None,
    }
}
