//! A Palisade stack on a tonic server: gRPC status mapping → latency (by gRPC
//! method) → deadline (honouring the client's `grpc-timeout`) → concurrency
//! limit, in front of the standard gRPC health service made slow on purpose.
//!
//! A client then makes three kinds of calls and prints the status codes it
//! got: calls with a generous deadline (OK), calls with a 50 ms budget (sent
//! in `x-request-timeout-ms`) against a 200 ms handler (DEADLINE_EXCEEDED,
//! from Palisade's deadline), and a burst larger than the limit
//! (RESOURCE_EXHAUSTED, with `grpc-retry-pushback-ms`).
//!
//! ```sh
//! cargo run -p palisade-examples --bin grpc_stack
//! ```

use std::{
    collections::BTreeMap,
    task::{Context, Poll},
    time::Duration,
};

use palisade::{latency::RouteFrom, prelude::*};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tower::{Layer, Service, ServiceBuilder};

/// Delays every request by a fixed time before calling the inner service:
/// a stand-in for a handler that does real work.
#[derive(Clone)]
struct Slow<S> {
    inner: S,
    delay: Duration,
}

impl<S, R> Service<R> for Slow<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // tower's readiness contract: call the service that was polled ready,
        // keep a fresh clone in its place.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            ready.call(req).await
        })
    }
}

#[derive(Clone)]
struct SlowLayer(Duration);

impl<S> Layer<S> for SlowLayer {
    type Service = Slow<S>;
    fn layer(&self, inner: S) -> Slow<S> {
        Slow {
            inner,
            delay: self.0,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let tracker = LatencyTracker::builder("grpc")
        .route(RouteFrom::GrpcMethod)
        .build()?;
    let timeout = Timeout::builder("grpc")
        .timeout(Duration::from_secs(1))
        .honor_grpc_timeout(true)
        .honor_header(http::HeaderName::from_static("x-request-timeout-ms"))
        .build()?;
    let limit = ConcurrencyLimit::builder("grpc")
        .max_in_flight(8)
        .retry_after(Duration::from_millis(250))
        .build()?;

    let (_reporter, health) = tonic_health::server::health_reporter();
    let stack = ServiceBuilder::new()
        .grpc_status()
        .track_latency(&tracker)
        .deadline(&timeout)
        .limit_in_flight(&limit)
        .layer(SlowLayer(Duration::from_millis(200)));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(stack)
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    println!("tonic health service with a Palisade stack on http://{addr}\n");

    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let client = HealthClient::new(channel);

    let run = |label: &'static str, n: usize, deadline: Duration| {
        let client = client.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..n {
                let mut client = client.clone();
                calls.spawn(async move {
                    let mut req = tonic::Request::new(HealthCheckRequest {
                        service: String::new(),
                    });
                    // The caller's budget travels in a header only Palisade
                    // reads (tonic itself also enforces `grpc-timeout`, which
                    // Palisade honours too); no client-side timer, so what
                    // comes back is the server's own answer.
                    let millis = deadline.as_millis().to_string();
                    req.metadata_mut()
                        .insert("x-request-timeout-ms", millis.parse().expect("ascii"));
                    match client.check(req).await {
                        Ok(_) => "OK".to_owned(),
                        Err(status) => match status.metadata().get("grpc-retry-pushback-ms") {
                            Some(ms) => format!(
                                "{:?} (retry in {} ms)",
                                status.code(),
                                ms.to_str().unwrap_or("?")
                            ),
                            None => format!("{:?}", status.code()),
                        },
                    }
                });
            }
            let mut seen = BTreeMap::<String, usize>::new();
            while let Some(outcome) = calls.join_next().await {
                *seen
                    .entry(outcome.unwrap_or_else(|e| format!("task failed: {e}")))
                    .or_default() += 1;
            }
            println!("{label:<44} {seen:?}");
        }
    };

    run(
        "4 calls, 2 s deadline, handler takes 200 ms:",
        4,
        Duration::from_secs(2),
    )
    .await;
    run("4 calls, 50 ms deadline:", 4, Duration::from_millis(50)).await;
    run("32 concurrent calls, limit 8:", 32, Duration::from_secs(2)).await;

    let snap = tracker.snapshot();
    println!();
    for s in snap.routes() {
        println!(
            "latency {} {}: n={} errors={} p50={:?} max={:?}",
            s.method,
            s.route,
            s.count,
            s.errors,
            s.quantile(0.5),
            s.max
        );
    }
    Ok(())
}
