//! One circuit breaker per upstream host (`KeyedCircuitBreaker`): an outgoing
//! HTTP client calls three hosts; one of them goes down. Its breaker opens and
//! refuses calls to that host at once, while the healthy hosts keep being
//! called. When the host comes back, a probe closes its breaker again.
//!
//! ```sh
//! cargo run -p palisade-examples --bin per_host_breaker
//! ```

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use http::{Request, Response};
use palisade::prelude::*;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const HOSTS: [&str; 3] = ["a.internal", "b.internal", "c.internal"];

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // `b.internal` is down until we say otherwise.
    let b_down = Arc::new(AtomicBool::new(true));
    let client = {
        let b_down = b_down.clone();
        service_fn(move |req: Request<String>| {
            let down = req.uri().host() == Some("b.internal") && b_down.load(Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if down {
                    return Err(BoxError::from("connection refused"));
                }
                Ok(Response::new(format!("hello from {}", req.uri())))
            }
        })
    };

    // One configuration, one breaker per host, made on first use.
    let per_host = CircuitBreaker::builder("upstreams")
        .consecutive_failures(3)
        .open_wait(Duration::from_millis(300))
        .half_open_probes(1)
        .key(|req: &Request<String>| req.uri().host().unwrap_or_default().to_owned())
        .max_keys(1_000)
        .build()?;
    per_host.on_transition(|t| {
        println!("    {}: {:?} -> {:?}", t.name(), t.from(), t.to());
    });
    let mut svc = ServiceBuilder::new()
        .layer(per_host.layer())
        .service(client);

    println!("b.internal is down: 10 rounds over the three hosts");
    let mut seen = BTreeMap::<String, BTreeMap<&str, u32>>::new();
    for _ in 0..10 {
        for host in HOSTS {
            let req = Request::get(format!("http://{host}/status")).body(String::new())?;
            let outcome = match svc.ready().await?.call(req).await {
                Ok(_) => "ok",
                Err(err) if Rejected::find(&err).is_some() => "refused by its breaker",
                Err(_) => "failed",
            };
            *seen
                .entry(host.to_owned())
                .or_default()
                .entry(outcome)
                .or_default() += 1;
        }
    }
    for (host, outcomes) in &seen {
        println!("  {host}: {outcomes:?}");
    }
    for host in HOSTS {
        let state = per_host.get(&host.to_owned()).map(|b| b.state());
        println!("  breaker {host}: {state:?}");
    }

    println!("\nb.internal is back; after the open wait a probe closes its breaker");
    b_down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let req = Request::get("http://b.internal/status").body(String::new())?;
    let res = svc.ready().await?.call(req).await?;
    println!("  b.internal answered: {}", res.body());
    let b = per_host.get(&"b.internal".to_owned()).map(|b| b.state());
    println!(
        "  breaker b.internal: {b:?}; {} breakers live",
        per_host.len()
    );
    Ok(())
}
