//! HTTP caching rules: Cache-Control parsing, what is stored, for how long.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use crate::{core::Decision, entry::Lifetime};

/// The directives of one or more `Cache-Control` header values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) must_revalidate: bool,
    pub(crate) max_age: Option<Duration>,
    pub(crate) s_maxage: Option<Duration>,
    pub(crate) stale_while_revalidate: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
}

impl CacheControl {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                let secs = || {
                    arg.and_then(|a| a.parse::<u64>().ok())
                        .map(Duration::from_secs)
                };
                match name.to_ascii_lowercase().as_str() {
                    "no-store" => cc.no_store = true,
                    "no-cache" => cc.no_cache = true,
                    "private" => cc.private = true,
                    "must-revalidate" | "proxy-revalidate" => cc.must_revalidate = true,
                    "max-age" => cc.max_age = secs(),
                    "s-maxage" => cc.s_maxage = secs(),
                    "stale-while-revalidate" => cc.stale_while_revalidate = secs(),
                    "stale-if-error" => cc.stale_if_error = secs(),
                    _ => {}
                }
            }
        }
        cc
    }
}

/// What a request asks of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMode {
    /// Answer from the cache when possible.
    Normal,
    /// `no-cache` / `max-age=0`: fetch (and store) a new response.
    Revalidate,
    /// Not GET/HEAD, or `no-store`: go around the cache.
    Bypass,
}

pub(crate) fn request_mode(method: &Method, headers: &HeaderMap) -> RequestMode {
    if method != Method::GET && method != Method::HEAD {
        return RequestMode::Bypass;
    }
    let cc = CacheControl::parse(headers);
    if cc.no_store {
        RequestMode::Bypass
    } else if cc.no_cache || cc.max_age == Some(Duration::ZERO) {
        RequestMode::Revalidate
    } else {
        RequestMode::Normal
    }
}

/// The configured defaults the response's own directives override.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    pub(crate) default_ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) max_body_bytes: usize,
    /// Entries weigh their bytes (`max_bytes`) rather than 1 (`max_entries`).
    pub(crate) by_bytes: bool,
}

/// Statuses this cache stores: the heuristically cacheable ones of RFC 9110
/// §15.1 without partial content and error statuses other than 404/410
/// (those get the negative TTL).
fn cacheable_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 410
    )
}

/// Whether a response with these head fields may be stored, and how. Body
/// size is checked separately.
pub(crate) fn decide(status: StatusCode, headers: &HeaderMap, d: &Defaults) -> Option<Lifetime> {
    if !cacheable_status(status) || headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    vary_names(headers)?; // Vary: * is never stored
    let cc = CacheControl::parse(headers);
    if cc.no_store || cc.private || cc.no_cache {
        return None;
    }
    let negative = matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE);
    let ttl = cc.s_maxage.or(cc.max_age).unwrap_or(if negative {
        d.negative_ttl
    } else {
        d.default_ttl
    });
    if ttl.is_zero() {
        return None;
    }
    let (swr, sie) = if cc.must_revalidate {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (
            cc.stale_while_revalidate
                .unwrap_or(d.stale_while_revalidate),
            cc.stale_if_error.unwrap_or(d.stale_if_error),
        )
    };
    Some(Lifetime {
        ttl,
        stale_while_revalidate: swr,
        stale_if_error: sie,
    })
}

/// The request headers named by `Vary`, lower-cased and sorted; `None` for
/// `Vary: *` (never stored).
pub(crate) fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        let Ok(value) = value.to_str() else { continue };
        for name in value.split(',') {
            let name = name.trim();
            if name == "*" {
                return None;
            }
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                names.push(n);
            }
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    Some(names)
}

/// The tags of a response: `Cache-Tag` and `Surrogate-Key`, split on commas
/// and whitespace.
pub(crate) fn tags(headers: &HeaderMap) -> Box<[Box<str>]> {
    let mut tags = Vec::new();
    for name in ["cache-tag", "surrogate-key"] {
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            tags.extend(
                value
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|t| !t.is_empty())
                    .map(Box::<str>::from),
            );
        }
    }
    tags.into_boxed_slice()
}

/// Bytes an entry weighs: body plus header names and values.
pub(crate) fn weight(headers: &HeaderMap, body_len: usize) -> u32 {
    let h: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    u32::try_from(h + body_len).unwrap_or(u32::MAX).max(1)
}

pub(crate) fn decision(lifetime: Lifetime, headers: &HeaderMap, body_len: usize) -> Decision {
    Decision {
        lifetime,
        tags: tags(headers),
        weight: weight(headers, body_len),
    }
}

/// Headers never stored: hop-by-hop ones and those the cache sets itself.
pub(crate) fn strip_for_storage(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::AGE,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove(X_CACHE);
}

/// The response header telling how the cache answered.
pub const X_CACHE: &str = "x-cache";

/// The values of [`X_CACHE`].
pub(crate) mod x_cache {
    use http::HeaderValue;
    pub(crate) const HIT: HeaderValue = HeaderValue::from_static("HIT");
    pub(crate) const MISS: HeaderValue = HeaderValue::from_static("MISS");
    pub(crate) const STALE: HeaderValue = HeaderValue::from_static("STALE");
    pub(crate) const BYPASS: HeaderValue = HeaderValue::from_static("BYPASS");
}

pub(crate) fn age_value(age: Duration) -> HeaderValue {
    HeaderValue::from(age.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn defaults() -> Defaults {
        Defaults {
            default_ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            stale_while_revalidate: Duration::from_secs(1),
            stale_if_error: Duration::from_secs(2),
            max_body_bytes: 1024,
            by_bytes: true,
        }
    }

    #[test]
    fn s_maxage_over_max_age_over_default() {
        let d = defaults();
        let ok = StatusCode::OK;
        let ttl = |h: &[(&str, &str)]| decide(ok, &headers(h), &d).map(|l| l.ttl.as_secs());
        assert_eq!(ttl(&[]), Some(30));
        assert_eq!(ttl(&[("cache-control", "max-age=10")]), Some(10));
        assert_eq!(
            ttl(&[("cache-control", "max-age=10, s-maxage=20")]),
            Some(20)
        );
        assert_eq!(
            ttl(&[("cache-control", "public"), ("cache-control", "s-maxage=7")]),
            Some(7)
        );
        assert_eq!(ttl(&[("cache-control", "max-age=0")]), None);
        let nf = decide(StatusCode::NOT_FOUND, &headers(&[]), &d).unwrap();
        assert_eq!(nf.ttl.as_secs(), 5);
        assert!(decide(StatusCode::INTERNAL_SERVER_ERROR, &headers(&[]), &d).is_none());
    }

    #[test]
    fn what_is_never_stored() {
        let d = defaults();
        for h in [
            ("cache-control", "no-store"),
            ("cache-control", "private, max-age=60"),
            ("cache-control", "no-cache"),
            ("set-cookie", "a=b"),
            ("vary", "*"),
        ] {
            assert!(
                decide(StatusCode::OK, &headers(&[h]), &d).is_none(),
                "{h:?}"
            );
        }
    }

    #[test]
    fn stale_windows_from_directives_and_must_revalidate() {
        let d = defaults();
        let l = decide(
            StatusCode::OK,
            &headers(&[(
                "cache-control",
                "max-age=1, stale-while-revalidate=9, stale-if-error=99",
            )]),
            &d,
        )
        .unwrap();
        assert_eq!(
            (
                l.stale_while_revalidate.as_secs(),
                l.stale_if_error.as_secs()
            ),
            (9, 99)
        );
        let l = decide(
            StatusCode::OK,
            &headers(&[(
                "cache-control",
                "max-age=1, must-revalidate, stale-if-error=99",
            )]),
            &d,
        )
        .unwrap();
        assert!(l.stale_while_revalidate.is_zero() && l.stale_if_error.is_zero());
    }

    #[test]
    fn request_modes() {
        let get = Method::GET;
        assert_eq!(request_mode(&get, &headers(&[])), RequestMode::Normal);
        assert_eq!(
            request_mode(&Method::HEAD, &headers(&[])),
            RequestMode::Normal
        );
        assert_eq!(
            request_mode(&Method::POST, &headers(&[])),
            RequestMode::Bypass
        );
        assert_eq!(
            request_mode(&get, &headers(&[("cache-control", "no-store")])),
            RequestMode::Bypass
        );
        assert_eq!(
            request_mode(&get, &headers(&[("cache-control", "no-cache")])),
            RequestMode::Revalidate
        );
        assert_eq!(
            request_mode(&get, &headers(&[("cache-control", "max-age=0")])),
            RequestMode::Revalidate
        );
    }

    #[test]
    fn vary_and_tags() {
        let h = headers(&[
            ("vary", "Accept-Language, accept-encoding"),
            ("vary", "Accept-Language"),
        ]);
        let names = vary_names(&h).unwrap();
        assert_eq!(
            names,
            vec![header::ACCEPT_ENCODING, header::ACCEPT_LANGUAGE]
        );
        let t = tags(&headers(&[("cache-tag", "a, b"), ("surrogate-key", "c d")]));
        assert_eq!(
            &*t,
            &["a".into(), "b".into(), "c".into(), "d".into()] as &[Box<str>]
        );
    }
}
