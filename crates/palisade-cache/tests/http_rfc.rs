//! HttpCache against RFC 9111 / RFC 9110 §13–§14 as a shared cache, through
//! a real axum (hyper) server and a real hyper client. Each test names the
//! section it checks.
#![cfg(feature = "http")]

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_cache::{HttpCache, HttpCacheBuilder, store::MemoryStore};
use tower::ServiceExt;

/// The origin: counts calls per path and keeps the last request's headers.
#[derive(Clone, Default)]
struct Origin {
    calls: Arc<Mutex<HashMap<String, usize>>>,
    seen: Arc<Mutex<HashMap<String, HeaderMap>>>,
}

impl Origin {
    fn calls(&self, path: &str) -> usize {
        self.calls.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    fn seen(&self, path: &str) -> HeaderMap {
        self.seen
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

fn date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn respond(status: StatusCode, headers: &[(&str, String)], body: String) -> Response {
    let mut resp = (status, body).into_response();
    for (n, v) in headers {
        resp.headers_mut().append(
            header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    resp
}

async fn origin(o: Origin, req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    let n = {
        let mut calls = o.calls.lock().unwrap();
        let n = calls.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    o.seen
        .lock()
        .unwrap()
        .insert(path.clone(), req.headers().clone());
    let inm = req.headers().get(header::IF_NONE_MATCH).cloned();
    let now = SystemTime::now();
    let ok = StatusCode::OK;
    let s = |v: &str| v.to_owned();
    if req.method() != Method::GET {
        return match path.as_str() {
            "/items" => respond(
                StatusCode::CREATED,
                &[
                    ("location", s("/items/7")),
                    ("content-location", s("http://elsewhere.test/items/8")),
                ],
                s("created"),
            ),
            "/fail" => respond(StatusCode::INTERNAL_SERVER_ERROR, &[], s("no")),
            _ => respond(StatusCode::NO_CONTENT, &[], String::new()),
        };
    }
    match path.as_str() {
        "/plain" | "/items/7" | "/items/8" | "/fail" => respond(
            ok,
            &[("cache-control", s("max-age=60"))],
            format!("{path} {n}"),
        ),
        "/public" => respond(
            ok,
            &[("cache-control", s("public, max-age=60"))],
            format!("public {n}"),
        ),
        "/me" => {
            let who = req
                .headers()
                .get(header::AUTHORIZATION)
                .map_or("nobody", |v| v.to_str().unwrap())
                .to_owned();
            respond(
                ok,
                &[("cache-control", s("max-age=60"))],
                format!("{who} {n}"),
            )
        }
        "/no-freshness" => respond(ok, &[], format!("{n}")),
        "/heuristic" => respond(
            ok,
            &[
                ("date", date(now)),
                ("last-modified", date(now - Duration::from_secs(1000))),
            ],
            format!("{n}"),
        ),
        "/expires" => respond(
            ok,
            &[
                ("date", date(now)),
                ("expires", date(now + Duration::from_secs(30))),
            ],
            format!("{n}"),
        ),
        "/expires-invalid" => respond(ok, &[("expires", s("0"))], format!("{n}")),
        "/aged" => respond(
            ok,
            &[("cache-control", s("max-age=60")), ("age", s("40"))],
            format!("{n}"),
        ),
        "/etag" | "/no-cache" => {
            let cc = if path == "/etag" {
                "max-age=1"
            } else {
                "no-cache"
            };
            let mut h = vec![("cache-control", s(cc)), ("etag", s("\"v1\""))];
            h.push(("x-version", n.to_string()));
            if inm.is_some_and(|v| v == "\"v1\"") {
                respond(StatusCode::NOT_MODIFIED, &h, String::new())
            } else {
                respond(ok, &h, format!("body {n}"))
            }
        }
        "/validators" => respond(
            ok,
            &[
                ("cache-control", s("max-age=60")),
                ("etag", s("\"a\"")),
                ("last-modified", s("Wed, 01 Jan 2025 00:00:00 GMT")),
            ],
            s("0123456789"),
        ),
        "/moved" => respond(
            StatusCode::FOUND,
            &[
                ("cache-control", s("max-age=60")),
                ("location", s("/plain")),
            ],
            format!("{n}"),
        ),
        "/gone-stale" => respond(
            StatusCode::NOT_FOUND,
            &[("cache-control", s("max-age=0"))],
            format!("{n}"),
        ),
        "/broken" => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"half")),
                Err(std::io::Error::other("origin went away")),
            ];
            let body = Body::from_stream(futures_util::stream::iter(chunks));
            ([(header::CACHE_CONTROL, "max-age=60")], body).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Harness {
    addr: SocketAddr,
    origin: Origin,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
}

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Got {
    fn x_cache(&self) -> &str {
        self.headers
            .get("x-cache")
            .map_or("", |v| v.to_str().unwrap())
    }
    fn age(&self) -> Option<u64> {
        self.headers
            .get(header::AGE)
            .map(|v| v.to_str().unwrap().parse().unwrap())
    }
}

fn cache(f: impl FnOnce(HttpCacheBuilder) -> HttpCacheBuilder) -> HttpCache {
    f(HttpCache::builder("rfc").max_bytes(1 << 20))
        .build()
        .unwrap()
}

/// The origin behind `cache`, served by axum: the layer sits directly on
/// the router (an infallible router stays infallible: issue 12).
async fn start(cache: &HttpCache) -> Harness {
    let o = Origin::default();
    let up = o.clone();
    let app: Router = Router::new()
        .fallback(any(move |req: Request<Body>| origin(up.clone(), req)))
        .layer(cache.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        addr,
        origin: o,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Harness {
    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Got {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let resp = self
            .client
            .request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Got {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Got {
        self.send(Method::GET, path, headers).await
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// RFC 9111 §3.5: a response to a request with `Authorization` is not
/// shared unless `public` / `s-maxage` / `must-revalidate`; a response
/// stored for anonymous requests does not answer one with `Authorization`.
#[tokio::test(start_paused = true)]
async fn rfc9111_3_5_authorization_is_never_shared_by_default() {
    let h = start(&cache(|b| b)).await;
    let alice = [("authorization", "Bearer alice")];
    let got = h.get("/me", &alice).await;
    assert_eq!(
        (got.x_cache(), got.body.as_str()),
        ("MISS", "Bearer alice 1")
    );
    let anon = h.get("/me", &[]).await;
    assert_eq!(anon.body, "nobody 2", "alice's page leaked");
    let bob = h.get("/me", &[("authorization", "Bearer bob")]).await;
    assert_eq!(bob.body, "Bearer bob 3", "the anonymous page answered bob");
    // The anonymous page is stored, for anonymous requests only.
    assert_eq!(h.get("/me", &[]).await.x_cache(), "HIT");
    // public: stored from an authorized request and shared.
    h.get("/public", &alice).await;
    let anon = h.get("/public", &[]).await;
    assert_eq!((anon.x_cache(), anon.body.as_str()), ("HIT", "public 1"));
    assert_eq!(
        h.get("/public", &[("authorization", "x")]).await.x_cache(),
        "HIT"
    );
}

/// RFC 9111 §3.5 with validation and with the L2: a stale anonymous entry is
/// never validated for (nor shared with) an authorized request, and an
/// entry another replica put in the shared L2 is not either.
#[tokio::test(start_paused = true)]
async fn rfc9111_3_5_authorization_holds_through_the_l2() {
    let l2 = MemoryStore::new(1_000);
    let a = cache(|b| b.l2(l2.clone()));
    let b = cache(|b| b.l2(l2.clone()));
    let ha = start(&a).await;
    let hb = start(&b).await;
    // Same Host for both replicas: one shared key.
    let host = ha.host();
    let anon = [("host", host.as_str())];
    assert_eq!(ha.get("/me", &anon).await.body, "nobody 1");
    let alice = [("host", host.as_str()), ("authorization", "Bearer alice")];
    let got = hb.get("/me", &alice).await;
    assert_eq!(
        got.body, "Bearer alice 1",
        "replica b served the shared entry"
    );
    assert_eq!(hb.origin.calls("/me"), 1);
    // The anonymous request on replica b gets the shared entry.
    let got = hb.get("/me", &anon).await;
    assert_eq!((got.x_cache(), got.body.as_str()), ("HIT", "nobody 1"));
}

/// Opt-in per-user entries: `key_header(AUTHORIZATION)`.
#[tokio::test(start_paused = true)]
async fn rfc9111_3_5_key_header_gives_per_user_entries() {
    let h = start(&cache(|b| b.key_header(header::AUTHORIZATION))).await;
    let alice = [("authorization", "Bearer alice")];
    let bob = [("authorization", "Bearer bob")];
    assert_eq!(h.get("/me", &alice).await.body, "Bearer alice 1");
    let again = h.get("/me", &alice).await;
    assert_eq!(
        (again.x_cache(), again.body.as_str()),
        ("HIT", "Bearer alice 1")
    );
    assert_eq!(h.get("/me", &bob).await.body, "Bearer bob 2");
    assert_eq!(h.get("/me", &[]).await.body, "nobody 3");
    assert_eq!(h.get("/me", &bob).await.body, "Bearer bob 2");
    assert_eq!(h.origin.calls("/me"), 3);
}

/// Requests with `Cookie` are passed by default (as Varnish does); opt in
/// with `cache_cookie_requests(true)`.
#[tokio::test(start_paused = true)]
async fn cookie_requests_are_passed_unless_opted_in() {
    let h = start(&cache(|b| b)).await;
    let cookie = [("cookie", "session=alice")];
    assert_eq!(h.get("/plain", &cookie).await.x_cache(), "BYPASS");
    assert_eq!(h.get("/plain", &[]).await.x_cache(), "MISS");
    assert_eq!(h.get("/plain", &cookie).await.x_cache(), "BYPASS");
    assert_eq!(h.origin.calls("/plain"), 3);
    let h = start(&cache(|b| b.cache_cookie_requests(true))).await;
    h.get("/plain", &cookie).await;
    assert_eq!(h.get("/plain", &cookie).await.x_cache(), "HIT");
}

/// RFC 9111 §4.2: a response without explicit freshness and without
/// `Last-Modified` is not reused (no default TTL).
#[tokio::test(start_paused = true)]
async fn rfc9111_4_2_no_freshness_no_reuse() {
    let h = start(&cache(|b| b)).await;
    h.get("/no-freshness", &[]).await;
    assert_eq!(h.get("/no-freshness", &[]).await.body, "2");
}

/// RFC 9111 §4.2.2: heuristic freshness, 10% of the time since
/// `Last-Modified` (here 100 s).
#[tokio::test(start_paused = true)]
async fn rfc9111_4_2_2_heuristic_freshness() {
    let h = start(&cache(|b| b)).await;
    h.get("/heuristic", &[]).await;
    tokio::time::advance(Duration::from_secs(95)).await;
    assert_eq!(h.get("/heuristic", &[]).await.x_cache(), "HIT");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(h.get("/heuristic", &[]).await.body, "2");
}

/// RFC 9111 §5.3: `Expires` − `Date`; an invalid `Expires` is expired.
#[tokio::test(start_paused = true)]
async fn rfc9111_5_3_expires() {
    let h = start(&cache(|b| b)).await;
    h.get("/expires", &[]).await;
    tokio::time::advance(Duration::from_secs(25)).await;
    assert_eq!(h.get("/expires", &[]).await.x_cache(), "HIT");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(h.get("/expires", &[]).await.x_cache(), "MISS");
    h.get("/expires-invalid", &[]).await;
    assert_eq!(h.get("/expires-invalid", &[]).await.body, "2");
    // Even with an opt-in default TTL.
    let h = start(&cache(|b| b.default_ttl(Duration::from_secs(60)))).await;
    h.get("/expires-invalid", &[]).await;
    assert_eq!(h.get("/expires-invalid", &[]).await.body, "2");
}

/// RFC 9111 §4.2.3: the upstream `Age` counts, and the `Age` sent on is
/// the sum.
#[tokio::test(start_paused = true)]
async fn rfc9111_4_2_3_upstream_age_counts() {
    let h = start(&cache(|b| b)).await;
    let first = h.get("/aged", &[]).await;
    assert_eq!((first.x_cache(), first.age()), ("MISS", Some(40)));
    tokio::time::advance(Duration::from_secs(19)).await;
    let hit = h.get("/aged", &[]).await;
    assert_eq!((hit.x_cache(), hit.age()), ("HIT", Some(59)));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(h.get("/aged", &[]).await.body, "2");
}

/// RFC 9111 §3, §4.2.1: a 302 with explicit freshness is stored; negative
/// caching never overrides a 404 marked stale.
#[tokio::test(start_paused = true)]
async fn rfc9111_3_statuses_and_negative_caching() {
    let h = start(&cache(|b| b.negative_ttl(Duration::from_secs(60)))).await;
    h.get("/moved", &[]).await;
    let again = h.get("/moved", &[]).await;
    assert_eq!((again.status, again.x_cache()), (StatusCode::FOUND, "HIT"));
    h.get("/gone-stale", &[]).await;
    let again = h.get("/gone-stale", &[]).await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (StatusCode::NOT_FOUND, "2")
    );
    // An unknown path: a plain 404, cached for the opt-in negative TTL.
    h.get("/nothing", &[]).await;
    assert_eq!(h.get("/nothing", &[]).await.x_cache(), "HIT");
}

/// RFC 9111 §4.3.1–§4.3.4, §3.2: a stale entry with an `ETag` is validated
/// with `If-None-Match`; the 304 freshens it and updates its headers; the
/// client gets the stored body; concurrent requests make one validation.
#[tokio::test(start_paused = true)]
async fn rfc9111_4_3_validation_with_304() {
    let h = Arc::new(start(&cache(|b| b)).await);
    let first = h.get("/etag", &[]).await;
    assert_eq!(first.body, "body 1");
    tokio::time::advance(Duration::from_secs(2)).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let h = Arc::clone(&h);
            tokio::spawn(async move { h.get("/etag", &[]).await })
        })
        .collect();
    for t in tasks {
        let got = t.await.unwrap();
        assert_eq!((got.status, got.body.as_str()), (StatusCode::OK, "body 1"));
        assert_eq!(got.headers["x-version"], "2", "the 304's headers");
    }
    assert_eq!(h.origin.calls("/etag"), 2, "one validation for 20 requests");
    assert_eq!(h.origin.seen("/etag")[header::IF_NONE_MATCH], "\"v1\"");
    let hit = h.get("/etag", &[]).await;
    assert_eq!((hit.x_cache(), hit.body.as_str()), ("HIT", "body 1"));
}

/// RFC 9111 §5.2.2.4: `no-cache` is stored and validated before every use.
#[tokio::test(start_paused = true)]
async fn rfc9111_5_2_2_4_no_cache_is_validated_every_time() {
    let h = start(&cache(|b| b)).await;
    assert_eq!(h.get("/no-cache", &[]).await.body, "body 1");
    for n in 2..5 {
        let got = h.get("/no-cache", &[]).await;
        assert_eq!(
            (got.x_cache(), got.body.as_str()),
            ("REVALIDATED", "body 1")
        );
        assert_eq!(h.origin.calls("/no-cache"), n);
        assert_eq!(h.origin.seen("/no-cache")[header::IF_NONE_MATCH], "\"v1\"");
    }
}

/// RFC 9110 §13.2.2: a client's conditional request on a fresh hit gets a
/// 304 from the cache; `If-None-Match` takes precedence.
#[tokio::test(start_paused = true)]
async fn rfc9110_13_2_2_client_conditionals_on_a_hit() {
    let h = start(&cache(|b| b)).await;
    h.get("/validators", &[]).await;
    let got = h.get("/validators", &[("if-none-match", "\"a\"")]).await;
    assert_eq!(
        (got.status, got.x_cache()),
        (StatusCode::NOT_MODIFIED, "HIT")
    );
    assert_eq!(got.headers[header::ETAG], "\"a\"");
    let lm = "Wed, 01 Jan 2025 00:00:00 GMT";
    let got = h.get("/validators", &[("if-modified-since", lm)]).await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    let got = h
        .get(
            "/validators",
            &[("if-none-match", "\"b\""), ("if-modified-since", lm)],
        )
        .await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (StatusCode::OK, "0123456789")
    );
    assert_eq!(h.origin.calls("/validators"), 1);
    // A conditional miss: the origin gets no conditional, the client its 304.
    let got = h.get("/etag", &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    assert!(!h.origin.seen("/etag").contains_key(header::IF_NONE_MATCH));
}

/// RFC 9111 §4.4: a successful unsafe request invalidates its target URI and
/// the same-origin `Location` / `Content-Location`; a failed one does not.
#[tokio::test(start_paused = true)]
async fn rfc9111_4_4_unsafe_methods_invalidate() {
    let h = start(&cache(|b| b)).await;
    h.get("/plain", &[]).await;
    h.get("/items/7", &[]).await;
    h.get("/items/8", &[]).await;
    h.get("/fail", &[]).await;
    assert_eq!(
        h.send(Method::DELETE, "/plain", &[]).await.x_cache(),
        "BYPASS"
    );
    assert_eq!(h.get("/plain", &[]).await.x_cache(), "MISS");
    h.send(Method::POST, "/items", &[]).await;
    assert_eq!(h.get("/items/7", &[]).await.x_cache(), "MISS", "Location");
    assert_eq!(
        h.get("/items/8", &[]).await.x_cache(),
        "HIT",
        "other origin"
    );
    h.send(Method::POST, "/fail", &[]).await;
    assert_eq!(
        h.get("/fail", &[]).await.x_cache(),
        "HIT",
        "a 500 invalidates nothing"
    );
}

/// RFC 9110 §14: a single range of a stored response is served by the cache
/// (206), an unsatisfiable one gets 416; a range request that misses fetches
/// the whole response.
#[tokio::test(start_paused = true)]
async fn rfc9110_14_ranges_from_the_cache() {
    let h = start(&cache(|b| b)).await;
    let got = h.get("/validators", &[("range", "bytes=2-5")]).await;
    assert_eq!(
        (got.status, got.body.as_str()),
        (StatusCode::PARTIAL_CONTENT, "2345")
    );
    assert_eq!(got.headers[header::CONTENT_RANGE], "bytes 2-5/10");
    assert!(!h.origin.seen("/validators").contains_key(header::RANGE));
    let got = h.get("/validators", &[("range", "bytes=-3")]).await;
    assert_eq!((got.x_cache(), got.body.as_str()), ("HIT", "789"));
    let got = h.get("/validators", &[("range", "bytes=10-")]).await;
    assert_eq!(got.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(got.headers[header::CONTENT_RANGE], "bytes */10");
    let got = h
        .get(
            "/validators",
            &[("range", "bytes=0-1"), ("if-range", "\"old\"")],
        )
        .await;
    assert_eq!((got.status, got.body.len()), (StatusCode::OK, 10));
    assert_eq!(h.origin.calls("/validators"), 1);
}

/// Issue 12: the layer keeps an infallible router infallible; a body that
/// fails while the cache buffers it is answered with a 502.
#[tokio::test(start_paused = true)]
async fn axum_router_layer_stays_infallible_and_body_errors_are_502() {
    let c = cache(|b| b);
    let app: Router = Router::new()
        .route("/x", axum::routing::get(|| async { "x" }))
        .layer(c.layer());
    let resp = app
        .oneshot(Request::get("http://h/x").body(Body::empty()).unwrap())
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    assert_eq!(resp.status(), StatusCode::OK);
    let h = start(&c).await;
    let got = h.get("/broken", &[]).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
}
