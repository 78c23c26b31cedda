//! HttpCache through a real axum server and a real hyper client.
#![cfg(feature = "http")]

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering::SeqCst},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use palisade_cache::HttpCache;

/// Upstream call counts by path, and a switch that makes it answer 500.
#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<Mutex<HashMap<String, usize>>>,
    failing: Arc<AtomicBool>,
}

impl Upstream {
    fn calls(&self, path: &str) -> usize {
        self.calls.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn count(&self, path: &str) -> usize {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.entry(path.to_owned()).or_default();
        *n += 1;
        *n
    }
}

fn reply(cc: &'static str, body: String) -> Response {
    ([(header::CACHE_CONTROL, cc)], body).into_response()
}

async fn handler(up: Upstream, req: Request<Body>) -> Response {
    let path = req.uri().path().to_owned();
    let n = up.count(&path);
    if up.failing.load(SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    match path.as_str() {
        "/page" => (
            [
                (header::CACHE_CONTROL, "max-age=60"),
                (header::HeaderName::from_static("cache-tag"), "pages"),
            ],
            format!("page {n}"),
        )
            .into_response(),
        "/other" => reply("max-age=60", format!("other {n}")),
        "/vary" => {
            let lang = req
                .headers()
                .get(header::ACCEPT_LANGUAGE)
                .map_or("none", |v| v.to_str().unwrap())
                .to_owned();
            (
                [
                    (header::CACHE_CONTROL, "max-age=60"),
                    (header::VARY, "Accept-Language"),
                ],
                format!("hello in {lang} #{n}"),
            )
                .into_response()
        }
        "/vary-star" => (
            [(header::CACHE_CONTROL, "max-age=60"), (header::VARY, "*")],
            format!("{n}"),
        )
            .into_response(),
        "/no-store" => reply("no-store", format!("{n}")),
        "/private" => reply("private, max-age=60", format!("{n}")),
        "/cookie" => (
            [
                (header::CACHE_CONTROL, "max-age=60"),
                (header::SET_COOKIE, "s=1"),
            ],
            format!("{n}"),
        )
            .into_response(),
        "/swr" => reply("max-age=1, stale-while-revalidate=60", format!("swr {n}")),
        "/sie" => reply("max-age=1, stale-if-error=60", format!("sie {n}")),
        "/must" => reply(
            "max-age=1, must-revalidate, stale-if-error=60",
            format!("must {n}"),
        ),
        "/missing" => (StatusCode::NOT_FOUND, format!("missing {n}")).into_response(),
        "/big" => reply("max-age=60", "x".repeat(64 * 1024)),
        "/big-stream" => {
            let chunks = (0..64).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'y'; 1024])));
            (
                [(header::CACHE_CONTROL, "max-age=60")],
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Harness {
    addr: SocketAddr,
    upstream: Upstream,
    cache: HttpCache,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
}

async fn start() -> Harness {
    let cache = HttpCache::builder("pages")
        .max_bytes(1 << 20)
        .max_body_bytes(8 * 1024)
        .default_ttl(Duration::from_secs(30))
        .negative_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let upstream = Upstream::default();
    let up = upstream.clone();
    let routes = [
        "/page",
        "/other",
        "/vary",
        "/vary-star",
        "/no-store",
        "/private",
        "/cookie",
        "/swr",
        "/sie",
        "/must",
        "/missing",
        "/big",
        "/big-stream",
    ];
    let mut router = Router::new();
    for path in routes {
        let up = up.clone();
        router = router.route(
            path,
            get(move |req: Request<Body>| handler(up.clone(), req)),
        );
    }
    // One cache shared by every route (axum applies the layer per route).
    let router = router.layer(cache.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = Client::builder(TokioExecutor::new()).build_http();
    Harness {
        addr,
        upstream,
        cache,
        client,
    }
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
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Got {
        self.send(Method::GET, path, &[]).await
    }
}

#[tokio::test(start_paused = true)]
async fn miss_then_hit_with_growing_age_across_routes() {
    let h = start().await;
    let first = h.get("/page").await;
    assert_eq!(
        (first.x_cache(), first.body.as_str(), first.age()),
        ("MISS", "page 1", None)
    );
    let second = h.get("/page").await;
    assert_eq!(
        (second.x_cache(), second.body.as_str(), second.age()),
        ("HIT", "page 1", Some(0))
    );
    tokio::time::advance(Duration::from_secs(7)).await;
    let third = h.get("/page").await;
    assert_eq!((third.x_cache(), third.age()), ("HIT", Some(7)));
    assert_eq!(h.upstream.calls("/page"), 1);
    // Another route shares the same cache.
    h.get("/other").await;
    h.get("/other").await;
    assert_eq!(h.upstream.calls("/other"), 1);
    assert_eq!(h.cache.stats().hits, 3);
}

#[tokio::test(start_paused = true)]
async fn vary_keeps_one_variant_per_header_value() {
    let h = start().await;
    let de = [("accept-language", "de")];
    let fr = [("accept-language", "fr")];
    assert_eq!(
        h.send(Method::GET, "/vary", &de).await.body,
        "hello in de #1"
    );
    assert_eq!(
        h.send(Method::GET, "/vary", &fr).await.body,
        "hello in fr #2"
    );
    let de2 = h.send(Method::GET, "/vary", &de).await;
    let fr2 = h.send(Method::GET, "/vary", &fr).await;
    assert_eq!(
        (de2.x_cache(), de2.body.as_str()),
        ("HIT", "hello in de #1")
    );
    assert_eq!(
        (fr2.x_cache(), fr2.body.as_str()),
        ("HIT", "hello in fr #2")
    );
    assert_eq!(h.upstream.calls("/vary"), 2);
    // Vary: * is never stored.
    h.get("/vary-star").await;
    assert_eq!(h.get("/vary-star").await.x_cache(), "MISS");
    assert_eq!(h.upstream.calls("/vary-star"), 2);
}

#[tokio::test(start_paused = true)]
async fn head_is_answered_from_the_get_entry() {
    let h = start().await;
    h.get("/page").await;
    let head = h.send(Method::HEAD, "/page", &[]).await;
    assert_eq!((head.x_cache(), head.body.as_str()), ("HIT", ""));
    assert_eq!(head.headers[header::CONTENT_LENGTH], "6");
    assert_eq!(h.upstream.calls("/page"), 1);
    // A HEAD miss fetches with GET, so the next GET is a hit with the body.
    let head = h.send(Method::HEAD, "/other", &[]).await;
    assert_eq!((head.x_cache(), head.body.as_str()), ("MISS", ""));
    let got = h.get("/other").await;
    assert_eq!((got.x_cache(), got.body.as_str()), ("HIT", "other 1"));
}

#[tokio::test(start_paused = true)]
async fn no_store_both_ways_private_and_set_cookie_are_not_stored() {
    let h = start().await;
    for path in ["/no-store", "/private", "/cookie"] {
        assert_eq!(h.get(path).await.x_cache(), "MISS", "{path}");
        assert_eq!(h.get(path).await.x_cache(), "MISS", "{path}");
        assert_eq!(h.upstream.calls(path), 2, "{path}");
    }
    // A request with no-store goes around the cache, even when it holds the URL.
    h.get("/page").await;
    let got = h
        .send(Method::GET, "/page", &[("cache-control", "no-store")])
        .await;
    assert_eq!((got.x_cache(), got.body.as_str()), ("BYPASS", "page 2"));
    // no-cache fetches a new response and stores it.
    let got = h
        .send(Method::GET, "/page", &[("cache-control", "no-cache")])
        .await;
    assert_eq!((got.x_cache(), got.body.as_str()), ("MISS", "page 3"));
    assert_eq!(h.get("/page").await.body, "page 3");
    // Other methods are not cached.
    let post = h.send(Method::POST, "/page", &[]).await;
    assert_eq!(post.x_cache(), "BYPASS");
}

#[tokio::test(start_paused = true)]
async fn bodies_over_the_limit_stream_through_uncached() {
    let h = start().await;
    for path in ["/big", "/big-stream"] {
        for _ in 0..2 {
            let got = h.get(path).await;
            assert_eq!(got.x_cache(), "MISS", "{path}");
            assert_eq!(got.body.len(), 64 * 1024, "{path}: the whole body arrives");
        }
        assert_eq!(h.upstream.calls(path), 2, "{path}");
    }
    assert_eq!(h.get("/big-stream").await.body, "y".repeat(64 * 1024));
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_and_stale_if_error_directives() {
    let h = start().await;
    assert_eq!(h.get("/swr").await.body, "swr 1");
    tokio::time::advance(Duration::from_secs(2)).await;
    let stale = h.get("/swr").await;
    assert_eq!((stale.x_cache(), stale.body.as_str()), ("STALE", "swr 1"));
    // The one background refresh lands; the next answer is fresh.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = h.get("/swr").await;
        if got.body == "swr 2" {
            assert_eq!(got.x_cache(), "HIT");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "refresh never landed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.upstream.calls("/swr"), 2);

    h.get("/sie").await;
    h.get("/must").await;
    h.upstream.failing.store(true, SeqCst);
    tokio::time::advance(Duration::from_secs(2)).await;
    let sie = h.get("/sie").await;
    assert_eq!(
        (sie.status, sie.x_cache(), sie.body.as_str()),
        (StatusCode::OK, "STALE", "sie 1")
    );
    // must-revalidate: the 500 comes through, never the stale page.
    let must = h.get("/must").await;
    assert_eq!(
        (must.status, must.x_cache()),
        (StatusCode::INTERNAL_SERVER_ERROR, "MISS")
    );
}

#[tokio::test(start_paused = true)]
async fn not_found_is_cached_for_the_negative_ttl() {
    let h = start().await;
    assert_eq!(h.get("/missing").await.status, StatusCode::NOT_FOUND);
    let again = h.get("/missing").await;
    assert_eq!(
        (again.status, again.x_cache()),
        (StatusCode::NOT_FOUND, "HIT")
    );
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(h.get("/missing").await.x_cache(), "MISS");
    assert_eq!(h.upstream.calls("/missing"), 2);
}

#[tokio::test(start_paused = true)]
async fn invalidate_tag_drops_tagged_pages_only() {
    let h = start().await;
    h.get("/page").await;
    h.get("/other").await;
    h.cache.invalidate_tag("pages").await;
    assert_eq!(h.get("/page").await.x_cache(), "MISS");
    assert_eq!(h.get("/other").await.x_cache(), "HIT");
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_make_one_upstream_call() {
    let h = Arc::new(start().await);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let h = Arc::clone(&h);
            tokio::spawn(async move { h.get("/page").await.body })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "page 1");
    }
    assert_eq!(h.upstream.calls("/page"), 1);
}
