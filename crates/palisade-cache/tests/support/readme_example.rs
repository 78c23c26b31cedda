use std::{convert::Infallible, time::Duration};

use palisade_cache::Cache;
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
}

struct GetUser {
    id: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cache = Cache::builder("users")
        .max_entries(100_000) // or .max_bytes(64 << 20).weigh(|u: &User| u.name.len())
        .ttl(Duration::from_secs(60)) // required (or .ttl_for(|u: &User| ...))
        .stale_while_revalidate(Duration::from_secs(30))
        .stale_if_error(Duration::from_secs(300))
        .tags(|u: &User| [format!("user:{}", u.id)])
        .build()?;
    // Any tower service; here a stand-in for a database lookup.
    let database = service_fn(|req: GetUser| async move {
        Ok::<_, Infallible>(User { id: req.id, name: format!("user {}", req.id) })
    });
    let svc = ServiceBuilder::new()
        .layer(cache.layer(|req: &GetUser| Some(req.id))) // the key; None = bypass
        .service(database);

    let first = svc.clone().oneshot(GetUser { id: 42 }).await?; // a miss: the database answers
    let again = svc.clone().oneshot(GetUser { id: 42 }).await?; // a hit
    assert_eq!(first, again);
    assert_eq!((cache.stats().misses, cache.stats().hits), (1, 1));

    cache.invalidate(&42).await; // or every value tagged "user:42":
    cache.invalidate_tag("user:42").await;
    println!("{:?}", cache.stats());
    Ok(())
}
