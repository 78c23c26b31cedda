//! HTTP caching rules for a shared cache (RFC 9111, RFC 9110 §13–§14,
//! RFC 5861): `Cache-Control` parsing, dates and `Age`, what is stored and for
//! how long, what a request asks of the cache, conditional and range answers.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use crate::entry::Lifetime;

/// The largest delta-seconds value kept (RFC 9111 §1.2.2): a larger one, or
/// one that overflows, means this many seconds.
pub(crate) const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// The cap of heuristic freshness (RFC 9111 §4.2.2): 10% of the time since
/// `Last-Modified`, at most this long.
pub(crate) const HEURISTIC_MAX: Duration = Duration::from_secs(24 * 3600);

/// How long a stale response with a validator (`ETag`, `Last-Modified`) is
/// kept after its freshness (and stale windows) ran out, so that it can be
/// revalidated with a conditional request instead of fetched again.
pub(crate) const VALIDATION_WINDOW: Duration = Duration::from_secs(3600);

/// Parses delta-seconds (RFC 9111 §1.2.2): one or more digits; a value too
/// large for the cache becomes [`DELTA_SECONDS_MAX`]. Anything else: `None`.
pub(crate) fn delta_seconds(s: &str) -> Option<Duration> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = s
        .parse::<u64>()
        .map_or(DELTA_SECONDS_MAX, |n| n.min(DELTA_SECONDS_MAX));
    Some(Duration::from_secs(secs))
}

/// The directives of one or more `Cache-Control` header values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) public: bool,
    /// `must-revalidate` or `proxy-revalidate` (the same to a shared cache).
    pub(crate) must_revalidate: bool,
    /// An invalid or negative value is `Some(ZERO)`: stale (RFC 9111 §4.2.1).
    pub(crate) max_age: Option<Duration>,
    /// As `max_age`.
    pub(crate) s_maxage: Option<Duration>,
    /// An invalid value is ignored.
    pub(crate) stale_while_revalidate: Option<Duration>,
    /// An invalid value is ignored.
    pub(crate) stale_if_error: Option<Duration>,
}

/// Calls `f` with each directive of a `Cache-Control` value: its name and
/// argument (quotes removed). Commas inside quoted strings do not split.
fn for_each_directive(value: &str, mut f: impl FnMut(&str, Option<&str>)) {
    let mut one = |d: &str| {
        let d = d.trim();
        if d.is_empty() {
            return;
        }
        match d.split_once('=') {
            Some((n, a)) => {
                let a = a.trim();
                let a = a
                    .strip_prefix('"')
                    .and_then(|a| a.strip_suffix('"'))
                    .unwrap_or(a);
                f(n.trim(), Some(a));
            }
            None => f(d, None),
        }
    };
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in value.bytes().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
            continue;
        }
        match b {
            b'"' => quoted = true,
            b',' => {
                one(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    one(&value[start..]);
}

impl CacheControl {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            cc.add(value);
        }
        cc
    }

    /// Adds the directives of one header value. The first occurrence of a
    /// directive with an argument wins (RFC 9111 §4.2.1).
    pub(crate) fn add(&mut self, value: &HeaderValue) {
        let Ok(value) = value.to_str() else { return };
        for_each_directive(value, |name, arg| {
            let age = || arg.and_then(delta_seconds).unwrap_or(Duration::ZERO);
            let window = || arg.and_then(delta_seconds);
            if name.eq_ignore_ascii_case("no-store") {
                self.no_store = true;
            } else if name.eq_ignore_ascii_case("no-cache") {
                self.no_cache = true;
            } else if name.eq_ignore_ascii_case("private") {
                self.private = true;
            } else if name.eq_ignore_ascii_case("public") {
                self.public = true;
            } else if name.eq_ignore_ascii_case("must-revalidate")
                || name.eq_ignore_ascii_case("proxy-revalidate")
            {
                self.must_revalidate = true;
            } else if name.eq_ignore_ascii_case("max-age") {
                self.max_age = self.max_age.or_else(|| Some(age()));
            } else if name.eq_ignore_ascii_case("s-maxage") {
                self.s_maxage = self.s_maxage.or_else(|| Some(age()));
            } else if name.eq_ignore_ascii_case("stale-while-revalidate") {
                self.stale_while_revalidate = self.stale_while_revalidate.or_else(window);
            } else if name.eq_ignore_ascii_case("stale-if-error") {
                self.stale_if_error = self.stale_if_error.or_else(window);
            }
        });
    }

    /// The response may be served stale (RFC 9111 §4.2.4): neither
    /// `no-cache` nor `must-revalidate` / `proxy-revalidate`.
    pub(crate) fn may_serve_stale(&self) -> bool {
        !self.no_cache && !self.must_revalidate
    }

    /// The response may answer a request with `Authorization` other than
    /// its own (RFC 9111 §3.5).
    pub(crate) fn allows_authorized(&self) -> bool {
        self.public || self.s_maxage.is_some() || self.must_revalidate
    }
}

/// An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, RFC 850 or asctime form);
/// `None` when invalid.
pub(crate) fn http_date(value: &HeaderValue) -> Option<SystemTime> {
    let s = value.to_str().ok()?.trim();
    httpdate::parse_http_date(s).ok()
}

/// The `Age` of a response (RFC 9111 §5.1): the first member of the first
/// value, as delta-seconds; `None` when absent or invalid (then ignored).
pub(crate) fn age_header(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::AGE)?.to_str().ok()?;
    delta_seconds(value.split(',').next()?.trim())
}

/// What a request asks of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMode {
    /// Answer from the cache when possible.
    Normal,
    /// `no-cache` / `max-age=0`: validate (or fetch) with the origin, store.
    Revalidate,
    /// Safe but not cached (`no-store`, other methods, `Cookie` by default,
    /// `If-Match`): go around the cache.
    Bypass,
    /// An unsafe method: go around the cache, and on success invalidate
    /// the target URI (RFC 9111 §4.4).
    Invalidate,
}

/// What the cache reads from a request, in one pass over its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) mode: RequestMode,
    /// It carries `Authorization` (and the key does not include it): only
    /// responses that allow it may answer (RFC 9111 §3.5).
    pub(crate) authorized: bool,
    /// It carries `If-None-Match`, `If-Modified-Since` or `Range`.
    pub(crate) conditional: bool,
}

pub(crate) fn scan(method: &Method, headers: &HeaderMap, d: &Defaults) -> Scan {
    let mut out = Scan {
        mode: RequestMode::Normal,
        authorized: false,
        conditional: false,
    };
    if method != Method::GET && method != Method::HEAD {
        out.mode = if method == Method::OPTIONS || method == Method::TRACE {
            RequestMode::Bypass
        } else {
            RequestMode::Invalidate
        };
        return out;
    }
    let (mut cookie, mut preconditions) = (false, false);
    let mut cc: Option<CacheControl> = None;
    // Standard names compare as small integers (no string compare).
    for (name, value) in headers {
        if *name == header::CACHE_CONTROL {
            cc.get_or_insert_with(Default::default).add(value);
        } else if *name == header::AUTHORIZATION {
            out.authorized = true;
        } else if *name == header::IF_NONE_MATCH
            || *name == header::IF_MODIFIED_SINCE
            || *name == header::RANGE
        {
            out.conditional = true;
        } else if *name == header::COOKIE {
            cookie = true;
        } else if *name == header::IF_MATCH || *name == header::IF_UNMODIFIED_SINCE {
            preconditions = true;
        }
    }
    if out.authorized && d.keyed_on(&header::AUTHORIZATION) {
        out.authorized = false;
    }
    if preconditions || (cookie && !d.cookie_requests && !d.keyed_on(&header::COOKIE)) {
        out.mode = RequestMode::Bypass;
    } else if let Some(cc) = cc {
        if cc.no_store {
            out.mode = RequestMode::Bypass;
        } else if cc.no_cache || cc.max_age == Some(Duration::ZERO) {
            out.mode = RequestMode::Revalidate;
        }
    }
    out
}

/// The configured defaults the response's own directives override.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    /// Opt-in: freshness of a response without explicit freshness.
    pub(crate) default_ttl: Option<Duration>,
    /// Opt-in: as `default_ttl`, for 404 and 410.
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) max_body_bytes: usize,
    /// Entries weigh their bytes (`max_bytes`) rather than 1 (`max_entries`).
    pub(crate) by_bytes: bool,
    /// Request headers added to every key (per-user entries, opt-in).
    pub(crate) key_headers: Vec<HeaderName>,
    /// Requests with `Cookie` use the cache (opt-in; passed by default).
    pub(crate) cookie_requests: bool,
}

impl Defaults {
    pub(crate) fn keyed_on(&self, name: &HeaderName) -> bool {
        self.key_headers.iter().any(|k| k == name)
    }
}

/// Statuses a cache may give heuristic freshness (RFC 9110 §15.1).
pub(crate) fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Whether a response to a request with `Authorization` may be stored and
/// shared (RFC 9111 §3.5).
pub(crate) fn authorized_ok(headers: &HeaderMap) -> bool {
    CacheControl::parse(headers).allows_authorized()
}

/// How a stored response was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decided {
    /// Relative to the moment of storing: the TTL is the freshness left.
    pub(crate) lifetime: Lifetime,
    /// The response's age when it arrived (RFC 9111 §4.2.3).
    pub(crate) initial_age: Duration,
}

/// The time a response was requested and received (wall clock, as the
/// origin's `Date` is).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub(crate) request: SystemTime,
    pub(crate) response: SystemTime,
}

/// The corrected initial age of a response (RFC 9111 §4.2.3): the larger of
/// its apparent age (from `Date`, in whole seconds as `Date` has) and its
/// `Age` plus the time the request took.
pub(crate) fn initial_age(headers: &HeaderMap, t: Times) -> Duration {
    let apparent = headers
        .get(header::DATE)
        .and_then(http_date)
        .and_then(|date| t.response.duration_since(date).ok())
        .map_or(Duration::ZERO, |d| Duration::from_secs(d.as_secs()));
    let delay = t
        .response
        .duration_since(t.request)
        .unwrap_or(Duration::ZERO);
    let corrected = age_header(headers)
        .unwrap_or(Duration::ZERO)
        .saturating_add(delay);
    apparent.max(corrected)
}

/// The freshness lifetime of a response to a shared cache (RFC 9111
/// §4.2.1–§4.2.2): `s-maxage`, else `max-age`, else `Expires` − `Date` (an
/// invalid `Expires`: zero), else the configured TTL (opt-in), else the
/// heuristic. `None`: nothing says the response is fresh.
fn freshness_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    cc: &CacheControl,
    d: &Defaults,
    received: SystemTime,
) -> Option<Duration> {
    if let Some(ttl) = cc.s_maxage.or(cc.max_age) {
        return Some(ttl);
    }
    if let Some(expires) = headers.get(header::EXPIRES) {
        let Some(expires) = http_date(expires) else {
            return Some(Duration::ZERO);
        };
        let date = headers
            .get(header::DATE)
            .and_then(http_date)
            .unwrap_or(received);
        return Some(expires.duration_since(date).unwrap_or(Duration::ZERO));
    }
    let cacheable = heuristically_cacheable(status) || cc.public;
    let configured = if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        d.negative_ttl
    } else if cacheable {
        d.default_ttl
    } else {
        None
    };
    if configured.is_some() {
        return configured;
    }
    if !cacheable {
        return None;
    }
    let last_modified = headers.get(header::LAST_MODIFIED).and_then(http_date)?;
    let date = headers
        .get(header::DATE)
        .and_then(http_date)
        .unwrap_or(received);
    let since = date.duration_since(last_modified).ok()?;
    Some((since / 10).min(HEURISTIC_MAX))
}

/// Whether a stored response carries a validator (`ETag`, `Last-Modified`).
pub(crate) fn has_validator(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED)
}

/// Whether a response with these head fields may be stored (RFC 9111 §3),
/// and how. `authorized`: the request carried `Authorization` (not part of
/// the key). Body size is checked separately.
pub(crate) fn decide(
    status: StatusCode,
    headers: &HeaderMap,
    authorized: bool,
    d: &Defaults,
    t: Times,
) -> Option<Decided> {
    let code = status.as_u16();
    // Final statuses this cache understands; partial content and 304 are
    // never stored as such.
    if code < 200 || code == 206 || code == 304 || headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    vary_names(headers)?; // Vary: * is never stored
    let cc = CacheControl::parse(headers);
    if cc.no_store || cc.private || (authorized && !cc.allows_authorized()) {
        return None;
    }
    let explicit = cc.s_maxage.is_some() || cc.max_age.is_some();
    let explicit = explicit || headers.contains_key(header::EXPIRES);
    if !explicit && !cc.public && !heuristically_cacheable(status) {
        return None;
    }
    let lifetime = freshness_lifetime(status, headers, &cc, d, t.response);
    let initial_age = initial_age(headers, t);
    let mut ttl = lifetime.unwrap_or_default().saturating_sub(initial_age);
    if cc.no_cache {
        ttl = Duration::ZERO; // stored, validated before every use
    }
    let (swr, sie) = if cc.may_serve_stale() {
        (
            cc.stale_while_revalidate
                .unwrap_or(d.stale_while_revalidate),
            cc.stale_if_error.unwrap_or(d.stale_if_error),
        )
    } else {
        (Duration::ZERO, Duration::ZERO)
    };
    let keep = if has_validator(headers) {
        VALIDATION_WINDOW
    } else {
        Duration::ZERO
    };
    let lifetime = Lifetime {
        ttl,
        stale_while_revalidate: swr,
        stale_if_error: sie.max(keep),
    };
    if lifetime.total().is_zero() {
        return None;
    }
    Some(Decided {
        lifetime,
        initial_age,
    })
}

/// The stale-if-error window the response itself allows (the stored
/// lifetime may keep it longer, for validation only).
pub(crate) fn stale_if_error(headers: &HeaderMap, d: &Defaults) -> Duration {
    let cc = CacheControl::parse(headers);
    if cc.may_serve_stale() {
        cc.stale_if_error.unwrap_or(d.stale_if_error)
    } else {
        Duration::ZERO
    }
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

/// The request headers a stored response's key is made of: its `Vary`
/// names and the configured key headers, sorted.
pub(crate) fn key_names(headers: &HeaderMap, d: &Defaults) -> Option<Vec<HeaderName>> {
    let mut names = vary_names(headers)?;
    if !d.key_headers.is_empty() {
        names.extend(d.key_headers.iter().cloned());
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names.dedup();
    }
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

pub(crate) fn decision(
    lifetime: Lifetime,
    headers: &HeaderMap,
    body_len: usize,
) -> crate::policy::Decision {
    crate::policy::Decision {
        lifetime,
        tags: tags(headers),
        weight: weight(headers, body_len),
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and those the cache sets itself.
const NOT_STORED: [HeaderName; 7] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::AGE,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    header::PROXY_AUTHENTICATE,
];

/// Headers never stored: hop-by-hop ones and those the cache sets itself.
pub(crate) fn strip_for_storage(headers: &mut HeaderMap) {
    for name in NOT_STORED {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove(X_CACHE_NAME);
}

/// The stored headers updated with those of a 304 (RFC 9111 §3.2): each
/// header of the 304 replaces the stored one, except `Content-Length` and
/// the hop-by-hop headers; `Age` is the 304's (or none).
pub(crate) fn merge_304(stored: &HeaderMap, fresh: &HeaderMap) -> HeaderMap {
    let mut out = stored.clone();
    // The age is the 304's: the stored one was the old response's.
    out.remove(header::AGE);
    for name in fresh.keys() {
        if name == header::CONTENT_LENGTH || (name != header::AGE && NOT_STORED.contains(name)) {
            continue;
        }
        out.remove(name);
        for v in fresh.get_all(name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// The response header telling how the cache answered.
pub const X_CACHE: &str = "x-cache";

/// [`X_CACHE`] as a header name (parsed once, at compile time).
pub(crate) const X_CACHE_NAME: HeaderName = HeaderName::from_static(X_CACHE);

/// The values of [`X_CACHE`].
pub(crate) mod x_cache {
    use http::HeaderValue;
    pub(crate) const HIT: HeaderValue = HeaderValue::from_static("HIT");
    pub(crate) const MISS: HeaderValue = HeaderValue::from_static("MISS");
    pub(crate) const STALE: HeaderValue = HeaderValue::from_static("STALE");
    pub(crate) const REVALIDATED: HeaderValue = HeaderValue::from_static("REVALIDATED");
    pub(crate) const BYPASS: HeaderValue = HeaderValue::from_static("BYPASS");
}

/// Ages (in seconds) below this are slices of [`AGE_DIGITS`].
const STATIC_AGES: u64 = 10_000;

/// The decimal digits of 0, 1, ..., 9999 back to back, built at compile
/// time (38,890 bytes), so that the `Age` of most responses from the cache
/// is a slice of a static: no formatting, no allocation.
static AGE_DIGITS: [u8; 10 + 90 * 2 + 900 * 3 + 9000 * 4] = age_digits();

/// [`AGE_DIGITS`] as text, checked once at compile time (all ASCII digits),
/// so that a hit slices it without validating UTF-8.
static AGE_TEXT: &str = match std::str::from_utf8(&AGE_DIGITS) {
    Ok(text) => text,
    Err(_) => panic!("AGE_DIGITS holds ASCII digits only"),
};

/// Digits of `n < STATIC_AGES`.
const fn digit_count(n: u64) -> usize {
    if n < 10 {
        1
    } else if n < 100 {
        2
    } else if n < 1000 {
        3
    } else {
        4
    }
}

const fn age_digits() -> [u8; 10 + 90 * 2 + 900 * 3 + 9000 * 4] {
    let mut out = [0; 10 + 90 * 2 + 900 * 3 + 9000 * 4];
    let (mut n, mut at) = (0, 0);
    while n < STATIC_AGES {
        let len = digit_count(n);
        let (mut i, mut v) = (len, n);
        while i > 0 {
            i -= 1;
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        at += len;
        n += 1;
    }
    out
}

/// The `Age` value for `age` (whole seconds, capped at
/// [`DELTA_SECONDS_MAX`]): a static slice below [`STATIC_AGES`] seconds;
/// above, `http`'s own integer conversion (itoa into a small buffer).
pub(crate) fn age_value(age: Duration) -> HeaderValue {
    let secs = age.as_secs().min(DELTA_SECONDS_MAX);
    if secs < STATIC_AGES {
        // `secs < 10_000`: the casts are exact.
        #[allow(clippy::cast_possible_truncation)]
        let n = secs as usize;
        let start = match digit_count(secs) {
            1 => n,
            2 => 10 + (n - 10) * 2,
            3 => 190 + (n - 100) * 3,
            _ => 2890 + (n - 1000) * 4,
        };
        if let Some(text) = AGE_TEXT.get(start..start + digit_count(secs)) {
            return HeaderValue::from_static(text);
        }
    }
    HeaderValue::from(secs)
}

/// How the cache answers a request from a stored response (RFC 9110 §13.2.2
/// and §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Full,
    NotModified,
    /// One range: first and last byte, inclusive.
    Range(u64, u64),
    Unsatisfiable,
}

/// Weak comparison of entity tags (RFC 9110 §8.8.3.2).
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// Splits an `If-None-Match` list into entity tags (commas inside the
/// quotes of an entity tag do not split).
fn entity_tags(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return None;
        }
        let weak = usize::from(rest.starts_with("W/")) * 2;
        let end = if rest[weak..].starts_with('"') {
            rest[weak + 1..]
                .find('"')
                .map_or(rest.len(), |i| weak + i + 2)
        } else {
            rest.find(',').unwrap_or(rest.len())
        };
        let (tag, tail) = rest.split_at(end);
        rest = tail;
        Some(tag.trim())
    })
}

/// Evaluates a request's `If-None-Match` / `If-Modified-Since` (RFC 9110
/// §13.2.2: `If-Modified-Since` only without `If-None-Match`) and `Range` /
/// `If-Range` against a stored response.
pub(crate) fn evaluate(
    status: StatusCode,
    stored: &HeaderMap,
    body_len: usize,
    req: &HeaderMap,
    head: bool,
) -> Answer {
    if !status.is_success() {
        return Answer::Full; // preconditions only apply to 2xx (§13.2.1)
    }
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else {
            return Answer::Full;
        };
        let etag = stored.get(header::ETAG).and_then(|v| v.to_str().ok());
        let matched = inm.trim() == "*"
            || etag.is_some_and(|etag| entity_tags(inm).any(|t| weak_eq(t, etag.trim())));
        if matched {
            return Answer::NotModified;
        }
    } else if let Some(ims) = req.get(header::IF_MODIFIED_SINCE).and_then(http_date)
        && let Some(lm) = stored.get(header::LAST_MODIFIED).and_then(http_date)
        && lm <= ims
    {
        return Answer::NotModified;
    }
    if head || status != StatusCode::OK {
        return Answer::Full;
    }
    let Some(range) = req.get(header::RANGE) else {
        return Answer::Full;
    };
    if let Some(if_range) = req.get(header::IF_RANGE) {
        let Ok(v) = if_range.to_str() else {
            return Answer::Full;
        };
        let v = v.trim();
        let same = if v.starts_with('"') {
            // Strong comparison: a weak stored tag never matches.
            stored
                .get(header::ETAG)
                .and_then(|e| e.to_str().ok())
                .is_some_and(|e| e.trim() == v)
        } else {
            stored
                .get(header::LAST_MODIFIED)
                .and_then(http_date)
                .zip(http_date(if_range))
                .is_some_and(|(a, b)| a == b)
        };
        if !same {
            return Answer::Full;
        }
    }
    range_answer(range, body_len as u64)
}

/// One `bytes` range of a `Range` header against a body of `len` bytes
/// (RFC 9110 §14.1.2). Several ranges or an invalid header: the full
/// response (a server may ignore `Range`).
pub(crate) fn range_answer(range: &HeaderValue, len: u64) -> Answer {
    let Some(spec) = range.to_str().ok().and_then(|r| {
        let r = r.trim();
        let unit = r.get(..6)?;
        unit.eq_ignore_ascii_case("bytes=").then(|| r[6..].trim())
    }) else {
        return Answer::Full;
    };
    if spec.contains(',') {
        return Answer::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Answer::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            Some(s.parse::<u64>().unwrap_or(u64::MAX))
        }
    };
    if first.is_empty() {
        // A suffix: the last n bytes.
        let Some(n) = num(last) else {
            return Answer::Full;
        };
        if n == 0 || len == 0 {
            return Answer::Unsatisfiable;
        }
        return Answer::Range(len.saturating_sub(n), len - 1);
    }
    let Some(first) = num(first) else {
        return Answer::Full;
    };
    let last = if last.is_empty() {
        u64::MAX
    } else {
        match num(last) {
            Some(l) if l >= first => l,
            _ => return Answer::Full, // invalid: ignored
        }
    };
    if first >= len {
        return Answer::Unsatisfiable;
    }
    Answer::Range(first, last.min(len - 1))
}

#[cfg(test)]
mod tests;
