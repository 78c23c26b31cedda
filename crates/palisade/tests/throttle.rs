//! `AdaptiveThrottle` through `ServiceBuilderExt` and the prelude.
#![cfg(feature = "shed")]

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use palisade::prelude::*;
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn adaptive_throttle_backs_off_a_refusing_backend_and_is_shared_by_every_stack() {
    let throttle = AdaptiveThrottle::builder("inventory").build().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let backend = {
        let sent = Arc::clone(&sent);
        service_fn(move |_n: u32| {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, BoxError>("backend sheds".into()) }
        })
    };
    // Two client stacks built from the one throttle share its counts.
    let a = ServiceBuilder::new()
        .adaptive_throttle(&throttle)
        .service(backend.clone());
    let b = ServiceBuilder::new()
        .adaptive_throttle(&throttle)
        .service(backend);

    let mut throttled = 0;
    for n in 0..200 {
        let svc = if n % 2 == 0 { a.clone() } else { b.clone() };
        let err = svc.oneshot(n).await.unwrap_err();
        if let Some(rejected) = Rejected::find(&*err) {
            assert_eq!(rejected.kind(), RejectKind::Overloaded);
            assert_eq!(rejected.name(), "inventory");
            throttled += 1;
        }
    }
    let sent = sent.load(Ordering::SeqCst);
    assert_eq!(sent + throttled, 200, "every request sent or throttled");
    assert!(
        throttled > 150,
        "the client stops hammering a backend that refuses everything: {throttled} throttled, {sent} sent"
    );
    let (requests, accepts) = throttle.counts();
    assert_eq!(
        (requests, accepts),
        (200, 0),
        "both stacks counted in one place"
    );
    assert!(throttle.rejection_probability() > 0.99);
}

#[tokio::test(start_paused = true)]
async fn adaptive_throttle_lets_everything_through_while_the_backend_accepts() {
    let throttle = AdaptiveThrottle::builder("inventory").build().unwrap();
    let svc = ServiceBuilder::new()
        .adaptive_throttle(&throttle)
        .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    for n in 0..100 {
        assert_eq!(svc.clone().oneshot(n).await.unwrap(), n);
    }
    assert_eq!(throttle.counts(), (100, 100));
    assert_eq!(throttle.rejection_probability(), 0.0);
}
