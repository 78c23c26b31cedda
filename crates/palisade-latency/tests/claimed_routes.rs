//! Routes the client names (the gRPC method is the request path) get a row
//! of their own only once the server shows it serves them: junk paths
//! answered `UNIMPLEMENTED` or 404 never use up `max_routes`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use palisade_latency::{LatencyTracker, OTHER, RouteFrom, UNMATCHED};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

/// A gRPC server with one method: any other path is answered the way tonic
/// answers it (a trailers-only `UNIMPLEMENTED`), or 404 under `/http/`.
async fn server(req: Request<()>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let path = req.uri().path();
    let mut res = Response::builder().header("content-type", "application/grpc");
    if path.starts_with("/http/") {
        res = res.status(StatusCode::NOT_FOUND);
    } else if path == SAY_HELLO {
        res = res.header("grpc-status", "0");
    } else {
        res = res.header("grpc-status", "12");
    }
    Ok(res.body(Empty::new()).unwrap())
}

async fn send<S>(svc: &mut S, path: &str)
where
    S: Service<Request<()>, Response = Response<palisade_latency::LatencyBody<Empty<Bytes>>>>,
    S::Error: std::fmt::Debug,
{
    let req = Request::post(path)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    res.into_body().collect().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_junk_methods_leave_room_for_real_ones() {
    let tracker = LatencyTracker::builder("grpc")
        .route(RouteFrom::GrpcMethod)
        .max_routes(16)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(server));
    for i in 0..5_000 {
        send(&mut svc, &format!("/junk.Svc{i}/Method")).await;
        send(&mut svc, &format!("/http/m{i}")).await;
    }
    // A real method that gets traffic only now has its own row.
    for _ in 0..3 {
        send(&mut svc, SAY_HELLO).await;
    }
    let snap = tracker.snapshot();
    assert_eq!(snap.route("POST", SAY_HELLO).unwrap().count, 3);
    assert_eq!(snap.route("POST", UNMATCHED).unwrap().count, 10_000);
    assert!(snap.route("POST", OTHER).is_none());
    assert_eq!(snap.routes().len(), 2, "{:?}", snap.routes());
}

#[tokio::test(start_paused = true)]
async fn a_served_method_keeps_its_row_and_the_table_stays_bounded() {
    let tracker = LatencyTracker::builder("grpc")
        .route(RouteFrom::GrpcMethod)
        .max_routes(1)
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(|req: Request<()>| async move {
            // Every method is served here (any other status than 12).
            let _ = req;
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "5")
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
        }));
    send(&mut svc, "/a.A/One").await;
    send(&mut svc, "/a.A/One").await;
    send(&mut svc, "/a.A/Two").await;
    let snap = tracker.snapshot();
    assert_eq!(snap.route("POST", "/a.A/One").unwrap().count, 2);
    assert_eq!(snap.route("POST", OTHER).unwrap().count, 1);
    assert!(snap.route("POST", "/a.A/Two").is_none());
}
