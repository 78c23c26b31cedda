//! Deadline propagation across two axum services.
//!
//! `edge` calls `inventory` through a hyper-util client with
//! `PropagateDeadlineLayer`; both run a Palisade `Timeout`. Three requests
//! with different budgets show the budget shrinking at each hop and what
//! happens when it runs out. Self-contained: binds 127.0.0.1:0 and exits.
//!
//! ```text
//! cargo run -p palisade-shed --example deadlines
//! ```

use std::{net::SocketAddr, time::Duration};

use axum::{Router, extract::State, http::HeaderMap, routing::get};
use bytes::Bytes;
use http::{HeaderName, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use palisade_core::{BoxError, http::ErrorResponseLayer};
use palisade_shed::{Deadline, Timeout, propagate::PropagateDeadlineService};
use tower::{ServiceBuilder, ServiceExt};

const HEADER: HeaderName = HeaderName::from_static("x-request-timeout-ms");

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Clone)]
struct Edge {
    client: PropagateDeadlineService<HttpClient>,
    inventory: SocketAddr,
}

fn budget() -> String {
    Deadline::current().map_or_else(|| "none".to_owned(), |d| format!("{:.1?}", d.remaining()))
}

/// The downstream service: reports what it received, then works 80 ms.
async fn stock(headers: HeaderMap) -> &'static str {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    println!(
        "    inventory: got grpc-timeout={} x-request-timeout-ms={} -> budget {}",
        header("grpc-timeout"),
        header("x-request-timeout-ms"),
        budget()
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    "42 in stock"
}

/// The edge service: works 100 ms, then asks inventory.
async fn order(State(edge): State<Edge>) -> Result<String, (StatusCode, String)> {
    println!("    edge: budget on arrival {}", budget());
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("    edge: budget before calling inventory {}", budget());
    let req = Request::get(format!("http://{}/stock", edge.inventory))
        .body(Full::new(Bytes::new()))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let res = edge
        .client
        .oneshot(req)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    let status = res.status();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        Ok(format!("ordered: {text}"))
    } else {
        Err((
            StatusCode::BAD_GATEWAY,
            format!("inventory said {status}: {text}"),
        ))
    }
}

async fn serve(app: Router) -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    // inventory: its own limit is 5 s, shortened by whatever the caller sends.
    let inventory_timeout = Timeout::builder("inventory")
        .timeout(Duration::from_secs(5))
        .honor_header(HEADER)
        .build()?;
    let inventory = serve(
        Router::new().route("/stock", get(stock)).layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(inventory_timeout.layer()),
        ),
    )
    .await?;

    // edge: 2 s of its own; passes the remaining budget on to inventory.
    let edge_timeout = Timeout::builder("edge")
        .timeout(Duration::from_secs(2))
        .honor_header(HEADER)
        .build()?;
    let client = ServiceBuilder::new()
        .layer(edge_timeout.propagate_layer())
        .service(http.clone());
    let edge = serve(
        Router::new()
            .route("/order", get(order))
            .with_state(Edge { client, inventory })
            .layer(
                ServiceBuilder::new()
                    .layer(ErrorResponseLayer::new())
                    .layer(edge_timeout.layer()),
            ),
    )
    .await?;

    let cases = [
        ("x-request-timeout-ms", "800", "plenty of budget"),
        ("grpc-timeout", "150m", "runs out inside inventory"),
        (
            "grpc-timeout",
            "50m",
            "runs out before edge calls inventory",
        ),
    ];
    for (name, value, what) in cases {
        println!("client -> edge with {name}: {value} ({what})");
        let req = Request::get(format!("http://{edge}/order"))
            .header(name, value)
            .body(Full::new(Bytes::new()))?;
        let res = http.request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        println!(
            "client <- {status}: {}\n",
            String::from_utf8_lossy(&body).trim()
        );
        // Let a cancelled downstream call finish printing.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
