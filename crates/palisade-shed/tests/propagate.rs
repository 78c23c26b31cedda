//! Deadline propagation: in process with paused time, and across real hyper
//! servers on 127.0.0.1:0.
//!
//! The network tests run on real time: with paused time tokio advances the
//! clock to the next timer whenever the runtime waits on a socket, which
//! would expire deadlines at random. They assert budgets relative to each
//! other, never a wall-clock duration.

mod common;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use palisade_core::{BoxError, RejectKind, Rejected, http::ErrorResponseLayer};
use palisade_shed::{Deadline, PropagateDeadlineLayer, Timeout, timeout::grpc_timeout};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

const HEADER: HeaderName = HeaderName::from_static("x-request-timeout-ms");

/// A downstream that answers with the deadline headers it received.
fn echo_headers() -> impl tower::Service<
    Request<()>,
    Response = (Option<HeaderValue>, Option<HeaderValue>),
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|req: Request<()>| async move {
        Ok::<_, Infallible>((
            req.headers().get("grpc-timeout").cloned(),
            req.headers().get(HEADER).cloned(),
        ))
    })
}

#[tokio::test(start_paused = true)]
async fn writes_the_remaining_budget() {
    let client = ServiceBuilder::new()
        .layer(PropagateDeadlineLayer::new().header(HEADER))
        .service(echo_headers());
    let deadline = Deadline::after(Duration::from_millis(800));
    let (grpc, ms) = deadline
        .scope(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client.clone().oneshot(Request::new(())).await
        })
        .await
        .unwrap();
    assert_eq!(grpc.unwrap(), "500000u");
    assert_eq!(ms.unwrap(), "500");

    // A smaller budget already on the request is kept; a larger one is cut.
    let req = Request::builder()
        .header("grpc-timeout", "100m")
        .header(HEADER, "60000")
        .body(())
        .unwrap();
    let (grpc, ms) = Deadline::after(Duration::from_secs(1))
        .scope(client.clone().oneshot(req))
        .await
        .unwrap();
    assert_eq!(grpc.unwrap(), "100m");
    assert_eq!(ms.unwrap(), "1000");

    // A deadline in the outgoing request's extensions counts too.
    let mut req = Request::new(());
    req.extensions_mut()
        .insert(Deadline::after(Duration::from_millis(20)));
    let (grpc, _) = client.clone().oneshot(req).await.unwrap();
    assert_eq!(grpc.unwrap(), "20000000n");

    // No deadline: the request passes unchanged.
    let (grpc, ms) = client.oneshot(Request::new(())).await.unwrap();
    assert_eq!((grpc, ms), (None, None));
}

#[tokio::test(start_paused = true)]
async fn fails_at_once_when_nothing_remains() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let client = ServiceBuilder::new()
        .layer(PropagateDeadlineLayer::new())
        .service(service_fn(move |_req: Request<()>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(()) }
        }));
    let deadline = Deadline::after(Duration::from_millis(50));
    let err = deadline
        .scope(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            client.oneshot(Request::new(())).await
        })
        .await
        .unwrap_err();
    let rejected = Rejected::find(&*err).unwrap();
    assert_eq!(rejected.kind(), RejectKind::DeadlineExceeded);
    assert_eq!(rejected.name(), "propagate_deadline");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_handler_behind_a_timeout_passes_on_a_smaller_budget() {
    let timeout = Timeout::builder("edge")
        .timeout(Duration::from_secs(10))
        .honor_header(HEADER)
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(timeout.propagate_layer())
        .service(echo_headers());
    let edge = ServiceBuilder::new()
        .layer(timeout.layer())
        .service(service_fn(move |_req: Request<()>| {
            let client = client.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                client.oneshot(Request::new(())).await
            }
        }));
    let req = Request::builder()
        .header("grpc-timeout", "2S")
        .body(())
        .unwrap();
    let (grpc, ms) = edge.oneshot(req).await.unwrap();
    assert_eq!(grpc.unwrap(), "1750000u");
    assert_eq!(ms.unwrap(), "1750");
}

/// The two hops over real sockets: the test client calls `edge` with a
/// budget; edge's handler works a little, then calls `downstream` through a
/// hyper-util client with `PropagateDeadlineLayer`; downstream reports the
/// headers it received and the budget its own `Timeout` gave it.
#[tokio::test]
async fn nested_call_over_hyper_carries_a_smaller_grpc_timeout() {
    let downstream_timeout = Timeout::builder("downstream")
        .timeout(Duration::from_secs(60))
        .honor_header(HEADER)
        .build()
        .unwrap();
    let downstream = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .layer(downstream_timeout.layer())
        .service(service_fn(
            |req: Request<hyper::body::Incoming>| async move {
                let grpc = req.headers().get("grpc-timeout").cloned();
                let ms = req.headers().get(HEADER).cloned();
                let budget = Deadline::current().unwrap().remaining();
                let text = format!(
                    "{};{};{}",
                    grpc.as_ref().map_or("-", |v| v.to_str().unwrap()),
                    ms.as_ref().map_or("-", |v| v.to_str().unwrap()),
                    budget.as_nanos()
                );
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
            },
        ));
    let downstream_addr = common::serve(downstream).await;

    let edge_timeout = Timeout::builder("edge")
        .timeout(Duration::from_secs(60))
        .honor_header(HEADER)
        .build()
        .unwrap();
    let http = common::client();
    let client = ServiceBuilder::new()
        .layer(edge_timeout.propagate_layer())
        .service(http.clone());
    let edge = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .layer(edge_timeout.layer())
        .service(service_fn(move |_req: Request<hyper::body::Incoming>| {
            let client = client.clone();
            async move {
                let before = Deadline::current().unwrap().remaining();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let req = Request::get(format!("http://{downstream_addr}/"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let res = client.oneshot(req).await?;
                let text = common::body_string(res.into_body()).await;
                Ok::<_, BoxError>(Response::new(Full::new(Bytes::from(format!(
                    "{};{text}",
                    before.as_nanos()
                )))))
            }
        }));
    let edge_addr = common::serve(edge).await;

    let req = Request::get(format!("http://{edge_addr}/"))
        .header("grpc-timeout", "5S")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = http.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = common::body_string(res.into_body()).await;
    let parts: Vec<&str> = text.split(';').collect();
    let [edge_budget, grpc, ms, downstream_budget] = parts[..] else {
        panic!("unexpected answer {text:?}");
    };
    let nanos = |s: &str| Duration::from_nanos(s.parse().unwrap());
    let edge_budget = nanos(edge_budget);
    let sent = grpc_timeout::parse(grpc.as_bytes()).expect("a grpc-timeout was sent");
    let sent_ms = Duration::from_millis(ms.parse().unwrap());
    let downstream_budget = nanos(downstream_budget);

    // The caller's 5 s shortened edge's 60 s timeout...
    assert!(edge_budget <= Duration::from_secs(5));
    // ...and what edge passed on is smaller by at least the 20 ms it worked.
    assert!(
        sent <= edge_budget - Duration::from_millis(20),
        "{sent:?} vs {edge_budget:?}"
    );
    assert!(sent_ms <= Duration::from_millis(4_980), "{sent_ms:?}");
    assert!(sent > Duration::ZERO);
    // Downstream's own 60 s timeout was shortened to what it was sent.
    assert!(downstream_budget <= sent);
    assert!(downstream_budget > Duration::ZERO);
}

#[tokio::test]
async fn an_expired_budget_is_a_504_over_hyper() {
    let timeout = Timeout::builder("edge")
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let edge = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .layer(timeout.layer())
        .service(service_fn(move |_req: Request<hyper::body::Incoming>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
        }));
    let addr = common::serve(edge).await;
    let req = Request::get(format!("http://{addr}/"))
        .header("grpc-timeout", "0n")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = common::client().request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn never_waits_on_a_pending_client_past_the_deadline() {
    use tower::{Layer, Service};
    let (inner, mut handle) = tower_test::mock::pair::<Request<()>, ()>();
    handle.allow(0);
    let mut client = PropagateDeadlineLayer::new().layer(inner);
    let err = Deadline::after(Duration::from_millis(50))
        .scope(async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            // The client is not ready and the deadline has passed: ready at
            // once, and the call is refused without reaching the client.
            client.ready().await?;
            client.call(Request::new(())).await
        })
        .await
        .unwrap_err();
    assert_eq!(
        Rejected::find(&*err).unwrap().kind(),
        RejectKind::DeadlineExceeded
    );
    assert!(handle.poll_request().is_pending());
}
