use std::time::UNIX_EPOCH;

use proptest::prelude::*;

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
        default_ttl: None,
        negative_ttl: None,
        stale_while_revalidate: Duration::ZERO,
        stale_if_error: Duration::ZERO,
        max_body_bytes: 1024,
        by_bytes: true,
        key_headers: Vec::new(),
        cookie_requests: false,
    }
}

/// 2026-01-01T00:00:00Z.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn at(t: SystemTime) -> Times {
    Times {
        request: t,
        response: t,
    }
}

fn ttl_of(status: u16, h: &[(&str, &str)], d: &Defaults) -> Option<u64> {
    decide(
        StatusCode::from_u16(status).unwrap(),
        &headers(h),
        false,
        d,
        at(t0()),
    )
    .map(|x| x.lifetime.ttl.as_secs())
}

/// RFC 9111 §4.2.1: s-maxage over max-age over Expires − Date.
#[test]
fn rfc9111_4_2_1_precedence() {
    let d = defaults();
    let now = date(t0());
    let in_100 = date(t0() + Duration::from_secs(100));
    let e = [("date", now.as_str()), ("expires", in_100.as_str())];
    assert_eq!(ttl_of(200, &e, &d), Some(100));
    let mut h = e.to_vec();
    h.push(("cache-control", "max-age=10"));
    assert_eq!(ttl_of(200, &h, &d), Some(10));
    h.push(("cache-control", "s-maxage=20"));
    assert_eq!(ttl_of(200, &h, &d), Some(20));
}

/// RFC 9111 §4.2.1, §5.3: an invalid Expires ("0") is already expired; no
/// validator: not stored at all. An invalid or negative max-age: stale.
#[test]
fn rfc9111_5_3_invalid_expires_and_max_age_are_stale() {
    let d = defaults();
    assert_eq!(ttl_of(200, &[("expires", "0")], &d), None);
    assert_eq!(ttl_of(200, &[("cache-control", "max-age=-1")], &d), None);
    assert_eq!(ttl_of(200, &[("cache-control", "max-age=ten")], &d), None);
    assert_eq!(ttl_of(200, &[("cache-control", "max-age")], &d), None);
    // With a validator it is stored, stale, for validation.
    let h = [("expires", "0"), ("etag", "\"a\"")];
    assert_eq!(ttl_of(200, &h, &d), Some(0));
    // Even an opt-in default TTL never overrides a response marked stale.
    let d = Defaults {
        default_ttl: Some(Duration::from_secs(30)),
        negative_ttl: Some(Duration::from_secs(30)),
        ..defaults()
    };
    assert_eq!(ttl_of(200, &[("expires", "0")], &d), None);
    assert_eq!(ttl_of(404, &[("cache-control", "max-age=0")], &d), None);
    assert_eq!(ttl_of(404, &[], &d), Some(30));
    assert_eq!(ttl_of(200, &[], &d), Some(30));
}

/// RFC 9111 §4.2.2: no explicit freshness → 10% of the time since
/// Last-Modified, capped; nothing without it; only heuristically cacheable
/// statuses (or `public`).
#[test]
fn rfc9111_4_2_2_heuristic_freshness() {
    let d = defaults();
    let now = date(t0());
    let lm = date(t0() - Duration::from_secs(1000));
    let h = [("date", now.as_str()), ("last-modified", lm.as_str())];
    assert_eq!(ttl_of(200, &h, &d), Some(100));
    assert_eq!(ttl_of(404, &h, &d), Some(100));
    assert_eq!(ttl_of(302, &h, &d), None, "not heuristically cacheable");
    let mut p = h.to_vec();
    p.push(("cache-control", "public"));
    assert_eq!(ttl_of(302, &p, &d), Some(100));
    let old = date(t0() - Duration::from_secs(100 * 24 * 3600));
    let h = [("date", now.as_str()), ("last-modified", old.as_str())];
    assert_eq!(ttl_of(200, &h, &d), Some(HEURISTIC_MAX.as_secs()));
    // No freshness at all, no validator: not stored (no default TTL).
    assert_eq!(ttl_of(200, &[], &d), None);
}

/// RFC 9111 §3: any final status with explicit freshness may be stored.
#[test]
fn rfc9111_3_storable_statuses() {
    let d = defaults();
    let cc = [("cache-control", "max-age=60")];
    for s in [200, 301, 302, 307, 308, 404, 410, 500, 503] {
        assert_eq!(ttl_of(s, &cc, &d), Some(60), "{s}");
    }
    assert_eq!(ttl_of(206, &cc, &d), None);
    assert_eq!(ttl_of(304, &cc, &d), None);
    assert_eq!(ttl_of(500, &[], &d), None);
}

/// RFC 9111 §4.2.3: the upstream Age counts against the lifetime.
#[test]
fn rfc9111_4_2_3_age_counts() {
    let d = defaults();
    let h = [("cache-control", "max-age=60"), ("age", "40")];
    let got = decide(StatusCode::OK, &headers(&h), false, &d, at(t0())).unwrap();
    assert_eq!(got.lifetime.ttl.as_secs(), 20);
    assert_eq!(got.initial_age.as_secs(), 40);
    // A Date 30 s in the past and no Age: apparent age 30.
    let then = date(t0() - Duration::from_secs(30));
    let h = [("cache-control", "max-age=60"), ("date", then.as_str())];
    let got = decide(StatusCode::OK, &headers(&h), false, &d, at(t0())).unwrap();
    assert_eq!(got.initial_age.as_secs(), 30);
    // Older than its lifetime and no validator: not stored.
    let h = [("cache-control", "max-age=60"), ("age", "61")];
    assert!(decide(StatusCode::OK, &headers(&h), false, &d, at(t0())).is_none());
}

/// RFC 9111 §3, §3.5, §5.2.2: what a shared cache never stores.
#[test]
fn rfc9111_3_5_what_is_never_stored() {
    let d = defaults();
    for h in [
        ("cache-control", "no-store"),
        ("cache-control", "private, max-age=60"),
        ("set-cookie", "a=b"),
        ("vary", "*"),
    ] {
        let h = [h, ("cache-control", "max-age=60")];
        assert!(
            decide(StatusCode::OK, &headers(&h), false, &d, at(t0())).is_none(),
            "{h:?}"
        );
    }
    // A response to a request with Authorization: only when allowed.
    let ok = |cc: &str| {
        decide(
            StatusCode::OK,
            &headers(&[("cache-control", cc)]),
            true,
            &d,
            at(t0()),
        )
        .is_some()
    };
    assert!(!ok("max-age=60"));
    assert!(ok("public, max-age=60"));
    assert!(ok("s-maxage=60"));
    assert!(ok("max-age=60, must-revalidate"));
}

/// RFC 9111 §5.2.2.4, §5.2.2.2: no-cache is stored, stale at once, and
/// never served stale; must-revalidate never served stale.
#[test]
fn rfc9111_5_2_2_no_cache_and_must_revalidate() {
    let d = Defaults {
        stale_while_revalidate: Duration::from_secs(5),
        stale_if_error: Duration::from_secs(5),
        ..defaults()
    };
    let h = headers(&[("cache-control", "no-cache, max-age=60"), ("etag", "\"x\"")]);
    let l = decide(StatusCode::OK, &h, false, &d, at(t0()))
        .unwrap()
        .lifetime;
    assert_eq!(l.ttl, Duration::ZERO);
    assert_eq!(l.stale_while_revalidate, Duration::ZERO);
    assert_eq!(stale_if_error(&h, &d), Duration::ZERO);
    let h = headers(&[(
        "cache-control",
        "max-age=1, proxy-revalidate, stale-if-error=99",
    )]);
    let l = decide(StatusCode::OK, &h, false, &d, at(t0()))
        .unwrap()
        .lifetime;
    assert_eq!(l.ttl.as_secs(), 1);
    assert!(l.stale_while_revalidate.is_zero() && l.stale_if_error.is_zero());
    let h = headers(&[(
        "cache-control",
        "max-age=1, stale-while-revalidate=9, stale-if-error=99",
    )]);
    let l = decide(StatusCode::OK, &h, false, &d, at(t0()))
        .unwrap()
        .lifetime;
    assert_eq!(
        (
            l.stale_while_revalidate.as_secs(),
            l.stale_if_error.as_secs()
        ),
        (9, 99)
    );
}

#[test]
fn cache_control_parsing() {
    let cc = CacheControl::parse(&headers(&[(
        "cache-control",
        "Public, MAX-AGE=\"30\", no-cache=\"set-cookie, x\", s-maxage=99999999999999999999",
    )]));
    assert!(cc.public && cc.no_cache);
    assert_eq!(cc.max_age, Some(Duration::from_secs(30)));
    assert_eq!(cc.s_maxage, Some(Duration::from_secs(DELTA_SECONDS_MAX)));
    // The first max-age wins.
    let cc = CacheControl::parse(&headers(&[("cache-control", "max-age=5, max-age=50")]));
    assert_eq!(cc.max_age, Some(Duration::from_secs(5)));
}

#[test]
fn request_scan() {
    let d = defaults();
    let scan_of = |m: Method, h: &[(&str, &str)]| scan(&m, &headers(h), &d);
    assert_eq!(scan_of(Method::GET, &[]).mode, RequestMode::Normal);
    assert_eq!(scan_of(Method::HEAD, &[]).mode, RequestMode::Normal);
    assert_eq!(scan_of(Method::POST, &[]).mode, RequestMode::Invalidate);
    assert_eq!(scan_of(Method::DELETE, &[]).mode, RequestMode::Invalidate);
    assert_eq!(scan_of(Method::OPTIONS, &[]).mode, RequestMode::Bypass);
    let m = |h| scan_of(Method::GET, &[h]).mode;
    assert_eq!(m(("cache-control", "no-store")), RequestMode::Bypass);
    assert_eq!(m(("cache-control", "no-cache")), RequestMode::Revalidate);
    assert_eq!(m(("cache-control", "max-age=0")), RequestMode::Revalidate);
    assert_eq!(m(("cookie", "a=1")), RequestMode::Bypass);
    assert_eq!(m(("if-match", "\"a\"")), RequestMode::Bypass);
    assert!(scan_of(Method::GET, &[("authorization", "Bearer x")]).authorized);
    assert!(scan_of(Method::GET, &[("range", "bytes=0-1")]).conditional);
    let d = Defaults {
        key_headers: vec![header::AUTHORIZATION, header::COOKIE],
        ..defaults()
    };
    let s = scan(
        &Method::GET,
        &headers(&[("authorization", "Bearer x"), ("cookie", "a=1")]),
        &d,
    );
    assert_eq!((s.mode, s.authorized), (RequestMode::Normal, false));
}

/// RFC 9110 §13.2.2: If-None-Match before If-Modified-Since; weak
/// comparison; only 2xx.
#[test]
fn rfc9110_13_2_2_conditionals() {
    let lm = date(t0());
    let stored = headers(&[("etag", "W/\"v1\""), ("last-modified", lm.as_str())]);
    let ev = |req: &[(&str, &str)]| evaluate(StatusCode::OK, &stored, 10, &headers(req), false);
    assert_eq!(ev(&[("if-none-match", "\"v1\"")]), Answer::NotModified);
    assert_eq!(
        ev(&[("if-none-match", "\"x\", W/\"v1\"")]),
        Answer::NotModified
    );
    assert_eq!(ev(&[("if-none-match", "*")]), Answer::NotModified);
    assert_eq!(
        ev(&[("if-modified-since", lm.as_str())]),
        Answer::NotModified
    );
    // If-None-Match that fails wins over a matching If-Modified-Since.
    assert_eq!(
        ev(&[
            ("if-none-match", "\"x\""),
            ("if-modified-since", lm.as_str())
        ]),
        Answer::Full
    );
    let before = date(t0() - Duration::from_secs(1));
    assert_eq!(ev(&[("if-modified-since", before.as_str())]), Answer::Full);
    assert_eq!(ev(&[("if-modified-since", "yesterday")]), Answer::Full);
    let nf = evaluate(
        StatusCode::NOT_FOUND,
        &stored,
        10,
        &headers(&[("if-none-match", "*")]),
        false,
    );
    assert_eq!(nf, Answer::Full);
}

/// RFC 9110 §14.1.2, §14.2, §15.5.17: single ranges, suffixes, 416.
#[test]
fn rfc9110_14_ranges() {
    let r = |v: &str, len| range_answer(&HeaderValue::from_str(v).unwrap(), len);
    assert_eq!(r("bytes=0-4", 10), Answer::Range(0, 4));
    assert_eq!(r("bytes=5-", 10), Answer::Range(5, 9));
    assert_eq!(r("bytes=8-100", 10), Answer::Range(8, 9));
    assert_eq!(r("bytes=-3", 10), Answer::Range(7, 9));
    assert_eq!(r("bytes=-30", 10), Answer::Range(0, 9));
    assert_eq!(r("bytes=10-", 10), Answer::Unsatisfiable);
    assert_eq!(r("bytes=-0", 10), Answer::Unsatisfiable);
    assert_eq!(r("bytes=0-1,3-4", 10), Answer::Full);
    assert_eq!(r("bytes=5-2", 10), Answer::Full);
    assert_eq!(r("items=0-1", 10), Answer::Full);
    assert_eq!(r("bytes=0-0", 0), Answer::Unsatisfiable);
    // If-Range with another (or a weak) tag: the full response.
    let stored = headers(&[("etag", "\"v1\"")]);
    let ev = |ir: &str| {
        evaluate(
            StatusCode::OK,
            &stored,
            10,
            &headers(&[("range", "bytes=0-1"), ("if-range", ir)]),
            false,
        )
    };
    assert_eq!(ev("\"v1\""), Answer::Range(0, 1));
    assert_eq!(ev("\"v2\""), Answer::Full);
    assert_eq!(ev("W/\"v1\""), Answer::Full);
}

#[test]
fn rfc9111_3_2_merge_304() {
    let old = headers(&[
        ("etag", "\"v1\""),
        ("content-length", "5"),
        ("cache-control", "max-age=1"),
        ("x-old", "1"),
        ("age", "9"),
    ]);
    let fresh = headers(&[
        ("cache-control", "max-age=60"),
        ("content-length", "0"),
        ("age", "2"),
    ]);
    let m = merge_304(&old, &fresh);
    assert_eq!(m["cache-control"], "max-age=60");
    assert_eq!(m["content-length"], "5");
    assert_eq!(m["x-old"], "1");
    assert_eq!(m["age"], "2");
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

/// Any visible-ASCII header value (and some around it).
fn value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        "[ -~]{0,64}",
        "(max-age|s-maxage|stale-if-error|no-cache|private|public)(=[-\"0-9a-z ,]{0,24})?(, ?[a-z-]{1,12}(=[0-9\"]{0,22})?){0,4}",
        "[0-9]{0,30}",
        "(Mon|Sun|Sunday|Thu), [0-9]{1,2}[ -](Nov|Feb|Xyz)[ -][0-9]{2,5} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
    ]
    .prop_map(|s| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("x")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Cache-Control: never panics; max-age is either absent or a valid
    /// delta-seconds (invalid values parse as zero: stale).
    #[test]
    fn cache_control_never_panics(v in value(), w in value()) {
        let mut h = HeaderMap::new();
        h.append(header::CACHE_CONTROL, v);
        h.append(header::CACHE_CONTROL, w);
        let cc = CacheControl::parse(&h);
        if let Some(a) = cc.max_age {
            prop_assert!(a.as_secs() <= DELTA_SECONDS_MAX);
        }
    }

    /// delta-seconds: digits only; the value or the 2^31 cap.
    #[test]
    fn delta_seconds_rule(s in "[-+ 0-9a]{0,25}") {
        match delta_seconds(&s) {
            Some(d) => {
                prop_assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
                let expect = s.parse::<u64>().map_or(DELTA_SECONDS_MAX, |n| n.min(DELTA_SECONDS_MAX));
                prop_assert_eq!(d.as_secs(), expect);
            }
            None => prop_assert!(s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit())),
        }
    }

    /// HTTP-dates: never panic; a formatted date parses back.
    #[test]
    fn http_date_roundtrip(v in value(), secs in 0u64..253_402_300_799) {
        let _ = http_date(&v);
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        let s = HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap();
        prop_assert_eq!(http_date(&s), Some(t));
    }

    /// Age: first member only, invalid ignored, never panics.
    #[test]
    fn age_never_panics(v in value()) {
        let mut h = HeaderMap::new();
        h.insert(header::AGE, v.clone());
        let got = age_header(&h);
        let first = v.to_str().ok().and_then(|s| s.split(',').next()).map(str::trim);
        prop_assert_eq!(got, first.and_then(delta_seconds));
    }

    /// The whole decision, conditionals and ranges never panic, and a
    /// stored lifetime never exceeds the RFC caps.
    #[test]
    fn decide_and_evaluate_never_panic(
        status in 100u16..600,
        pairs in proptest::collection::vec((0usize..10, value()), 0..6),
        auth in any::<bool>(),
        len in 0usize..100,
    ) {
        const NAMES: [HeaderName; 10] = [
            header::CACHE_CONTROL, header::EXPIRES, header::DATE, header::AGE,
            header::LAST_MODIFIED, header::ETAG, header::VARY, header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE, header::RANGE,
        ];
        let mut h = HeaderMap::new();
        for (i, v) in pairs {
            h.append(NAMES[i].clone(), v);
        }
        let status = StatusCode::from_u16(status).unwrap();
        if let Some(d) = decide(status, &h, auth, &defaults(), at(t0())) {
            prop_assert!(d.lifetime.ttl.as_secs() <= DELTA_SECONDS_MAX);
        }
        let _ = evaluate(status, &h, len, &h, false);
        if let Some(r) = h.get(header::RANGE)
            && let Answer::Range(a, b) = range_answer(r, len as u64)
        {
            prop_assert!(a <= b && b < len as u64);
        }
    }
}

#[test]
fn age_values_are_the_decimal_seconds() {
    let boundaries = [9, 10, 99, 100, 999, 1000, 9_999, 10_000, 86_400, 1 << 40];
    for secs in (0..10_100).chain(boundaries) {
        let v = age_value(Duration::from_secs(secs));
        let want = secs.min(DELTA_SECONDS_MAX).to_string();
        assert_eq!(v.to_str().unwrap(), want, "{secs} s");
    }
    assert_eq!(
        age_value(Duration::from_millis(1_999)).to_str().unwrap(),
        "1"
    );
    assert_eq!(
        age_value(Duration::MAX).to_str().unwrap(),
        DELTA_SECONDS_MAX.to_string()
    );
}
