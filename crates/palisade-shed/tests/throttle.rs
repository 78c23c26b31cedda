//! The client-side adaptive throttle's behaviour, on tokio's paused clock.

use palisade_core::{BoxError, RejectKind, Rejected};
use palisade_shed::throttle::AdaptiveThrottle;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tower::{Layer, ServiceExt, service_fn};

/// A backend that refuses everything while `down` is set; counts the calls.
fn backend(
    down: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    service_fn(move |n: u32| {
        calls.fetch_add(1, Ordering::Relaxed);
        let down = down.load(Ordering::Relaxed);
        async move {
            if down {
                Err::<u32, BoxError>("503".into())
            } else {
                Ok(n)
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_client_backs_off_a_refusing_backend_and_comes_back() {
    let throttle = AdaptiveThrottle::builder("inventory")
        .window(Duration::from_secs(12))
        .build()
        .unwrap();
    let (down, calls) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let client = throttle
        .layer()
        .layer(backend(Arc::clone(&down), Arc::clone(&calls)));

    // Healthy: nothing is throttled.
    for _ in 0..1000 {
        client.clone().oneshot(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1000);
    assert_eq!(throttle.rejection_probability(), 0.0);

    // The backend refuses everything for 12 s: after the window has filled
    // with refusals, most requests never leave the client.
    down.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(12)).await;
    calls.store(0, Ordering::Relaxed);
    let mut local = 0;
    for _ in 0..12_000 {
        let err = client.clone().oneshot(1).await.unwrap_err();
        if let Some(r) = Rejected::find(&*err) {
            assert_eq!((r.kind(), r.name()), (RejectKind::Overloaded, "inventory"));
            local += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let sent = calls.load(Ordering::Relaxed);
    assert_eq!(sent + local, 12_000);
    assert!(sent < 1_200, "the client still sent {sent} of 12000");
    assert!(sent > 0, "the client must keep probing");

    // The backend recovers. Local rejections count as requests (the SRE
    // definition), so the share of requests sent roughly doubles per
    // window: the probability falls back to 0 within a few windows.
    down.store(false, Ordering::Relaxed);
    let start = throttle.rejection_probability();
    for _ in 0..15_000 {
        let _ = client.clone().oneshot(1).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        start > 0.9,
        "probability when the backend came back: {start}"
    );
    assert_eq!(throttle.rejection_probability(), 0.0);
}

#[test]
fn config_is_validated_with_the_field_named() {
    let b = || AdaptiveThrottle::builder("t");
    assert_eq!(b().k(0.5).build().unwrap_err().field(), "k");
    assert_eq!(b().k(f64::NAN).build().unwrap_err().field(), "k");
    assert_eq!(
        b().window(Duration::ZERO).build().unwrap_err().field(),
        "window"
    );
    assert_eq!(
        b().retry_after(Duration::ZERO).build().unwrap_err().field(),
        "retry_after"
    );
    assert!(b().build().is_ok());
}
