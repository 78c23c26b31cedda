//! Palisade handles as components.

use std::time::Duration;

use http::{Request, StatusCode};
use palisade_batch::Batcher;
use palisade_breaker::CircuitBreaker;
use palisade_cache::Cache;
use palisade_health::{
    Component, Health, Status,
    components::{BreakerComponent, LimitComponent},
};
use palisade_latency::LatencyTracker;
use palisade_shed::ConcurrencyLimit;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

async fn settle(by: Duration) {
    tokio::time::sleep(by).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn json(health: &Health) -> serde_json::Value {
    serde_json::from_slice(&health.to_json()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_makes_the_service_not_ready() {
    let breaker = CircuitBreaker::builder("payments")
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(30))
        .half_open_probes(1)
        .build()
        .unwrap();
    let health = Health::builder()
        .component(breaker.clone())
        .build()
        .unwrap();
    settle(Duration::from_millis(1)).await;
    assert!(health.is_ready());
    assert_eq!(
        json(&health)["components"]["payments"]["data"]["state"],
        "closed"
    );

    for _ in 0..3 {
        breaker.try_acquire().unwrap().failure();
    }
    settle(Duration::from_secs(1)).await;
    assert!(!health.is_ready());
    let res = health
        .readiness_service()
        .oneshot(Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let j = json(&health);
    let c = &j["components"]["payments"];
    assert_eq!(c["status"], "DOWN");
    assert_eq!(c["kind"], "breaker");
    assert_eq!(c["data"]["state"], "open");
    assert_eq!(c["data"]["times_opened"], 1);
    let next = c["data"]["next_probe_in_ms"].as_f64().unwrap();
    assert!(next > 28_000.0 && next <= 30_000.0, "{next}");

    // Once a probe is due the breaker needs a call: the service is ready
    // again (degraded) so that load balancing sends it one.
    settle(Duration::from_secs(30)).await;
    assert_eq!(health.readiness(), Status::Degraded);
    breaker.try_acquire().unwrap().success();
    settle(Duration::from_secs(1)).await;
    assert_eq!(health.readiness(), Status::Up);

    breaker.force_open();
    settle(Duration::from_secs(1)).await;
    assert_eq!(
        health.component_status("payments"),
        Some(Status::OutOfService)
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_can_count_as_degraded() {
    let breaker = CircuitBreaker::builder("search")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let health = Health::builder()
        .component(BreakerComponent::new(breaker.clone()).when_open(Status::Degraded))
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    settle(Duration::from_millis(1)).await;
    assert_eq!(health.component_status("search"), Some(Status::Degraded));
    assert!(health.is_ready());
}

#[tokio::test(start_paused = true)]
async fn breaker_calls_per_sec_come_from_the_change_between_checks() {
    let breaker = CircuitBreaker::builder("orders")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let health = Health::builder()
        .component(breaker.clone())
        .build()
        .unwrap();
    settle(Duration::from_millis(1)).await;
    let data = |h: &Health| json(h)["components"]["orders"]["data"].clone();
    // One check so far: no rate yet.
    let first = data(&health);
    assert!(first["calls_per_sec"].is_null(), "{first}");
    assert!(first["rejected_per_sec"].is_null(), "{first}");
    assert_eq!(first["calls_total"], 0);

    for _ in 0..10 {
        breaker.try_acquire().unwrap().success();
    }
    settle(Duration::from_secs(1)).await; // the next check, a second later
    let second = data(&health);
    assert_eq!(second["calls_total"], 10);
    assert_eq!(second["calls_per_sec"], 10.0, "{second}");
    assert_eq!(second["rejected_per_sec"], 0.0, "{second}");

    // Two failures open it; then three calls are refused.
    for _ in 0..2 {
        breaker.try_acquire().unwrap().failure();
    }
    for _ in 0..3 {
        breaker.try_acquire().unwrap_err();
    }
    settle(Duration::from_secs(1)).await;
    let third = data(&health);
    assert_eq!(third["state"], "open");
    assert_eq!(
        (
            third["calls_total"].clone(),
            third["rejected_total"].clone()
        ),
        (12.into(), 3.into())
    );
    assert_eq!(third["calls_per_sec"], 2.0, "{third}");
    assert_eq!(third["rejected_per_sec"], 3.0, "{third}");

    // Nothing happens: the rate falls to zero.
    settle(Duration::from_secs(1)).await;
    assert_eq!(data(&health)["calls_per_sec"], 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_limit_saturated_for_long_is_degraded() {
    let limit = ConcurrencyLimit::builder("api")
        .max_in_flight(2)
        .build()
        .unwrap();
    let health = Health::builder()
        .component(LimitComponent::new(limit.clone()).saturated_for(Duration::from_secs(5)))
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(());
    let mut svc = ServiceBuilder::new()
        .layer(limit.layer())
        .service(service_fn(move |()| {
            let mut rx = rx.clone();
            async move {
                let _ = rx.changed().await;
                Ok::<_, std::convert::Infallible>(())
            }
        }));
    let mut calls = Vec::new();
    for _ in 0..2 {
        svc.ready().await.unwrap();
        calls.push(tokio::spawn(svc.call(())));
    }
    settle(Duration::from_secs(3)).await;
    assert_eq!(limit.in_flight(), 2);
    assert_eq!(
        health.component_status("api"),
        Some(Status::Up),
        "briefly full is fine"
    );
    assert_eq!(json(&health)["components"]["api"]["data"]["in_flight"], 2);
    settle(Duration::from_secs(3)).await;
    assert_eq!(health.component_status("api"), Some(Status::Degraded));
    tx.send(()).unwrap();
    for c in calls {
        let _ = c.await;
    }
    settle(Duration::from_secs(1)).await;
    assert_eq!(health.component_status("api"), Some(Status::Up));
    assert_eq!(json(&health)["components"]["api"]["data"]["in_flight"], 0);
}

#[tokio::test(start_paused = true)]
async fn a_limit_reports_rejections_per_second_between_two_checks() {
    let limit = ConcurrencyLimit::builder("api")
        .max_in_flight(1)
        .build()
        .unwrap();
    let component = LimitComponent::new(limit.clone());
    let first = component.check().await;
    assert!(
        first.data()["rejections_per_sec"].is_null(),
        "no rate before a second sample: {}",
        first.data()
    );

    let (tx, rx) = tokio::sync::watch::channel(());
    let svc = ServiceBuilder::new()
        .layer(limit.layer())
        .service(service_fn(move |()| {
            let mut rx = rx.clone();
            async move {
                let _ = rx.changed().await;
                Ok::<_, std::convert::Infallible>(())
            }
        }));
    let mut holder = svc.clone();
    holder.ready().await.unwrap();
    let held = tokio::spawn(holder.call(()));
    for _ in 0..10 {
        assert!(svc.clone().oneshot(()).await.is_err(), "full: rejected");
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    let second = component.check().await;
    assert_eq!(second.data()["rejected_total"], 10);
    assert_eq!(second.data()["rejections_per_sec"], 5.0, "10 in 2 s");

    tokio::time::advance(Duration::from_secs(4)).await;
    let third = component.check().await;
    assert_eq!(third.data()["rejections_per_sec"], 0.0, "none since");
    tx.send(()).unwrap();
    held.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_batcher_without_worker_is_down() {
    let batcher = Batcher::builder("embed")
        .max_wait(Duration::from_millis(1))
        .build()
        .unwrap();
    let health = Health::builder()
        .component(batcher.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(batcher.layer())
        .service(service_fn(|xs: Vec<u32>| async move {
            Ok::<_, std::io::Error>(xs)
        }));
    settle(Duration::from_secs(1)).await;
    assert_eq!(health.component_status("embed"), Some(Status::Up));
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    drop(svc);
    settle(Duration::from_secs(1)).await;
    settle(Duration::from_secs(1)).await;
    assert_eq!(batcher.workers(), 0);
    assert_eq!(health.component_status("embed"), Some(Status::Down));
    assert_eq!(
        json(&health)["components"]["embed"]["detail"],
        "no worker running"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batcher_shows_its_batch_size_and_flushes_by_reason() {
    let batcher = Batcher::builder("pairs")
        .max_size(2)
        .max_wait(Duration::from_millis(5))
        .build()
        .unwrap();
    let health = Health::builder()
        .component(batcher.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(batcher.layer())
        .service(service_fn(|xs: Vec<u32>| async move {
            Ok::<_, std::io::Error>(xs)
        }));
    settle(Duration::from_millis(1)).await;
    let data = |health: &Health| json(health)["components"]["pairs"]["data"].clone();
    assert_eq!(data(&health)["batch_size"], serde_json::Value::Null);
    assert_eq!(data(&health)["flushes"], serde_json::json!({}));

    // A full pair (size) and a lone item sent after max_wait (time).
    let (a, b, c) = tokio::join!(svc.clone().oneshot(1), svc.clone().oneshot(2), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        svc.clone().oneshot(3).await
    });
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 2, 3));
    settle(Duration::from_secs(1)).await;
    let d = data(&health);
    assert_eq!(d["batch_size"], 1.5);
    assert_eq!(
        (d["batches"].clone(), d["items"].clone()),
        (2.into(), 3.into())
    );
    assert_eq!(d["flushes"], serde_json::json!({"size": 1, "time": 1}));

    // Nothing sent since the previous check: no current batch size, the
    // totals stay.
    settle(Duration::from_secs(1)).await;
    let d = data(&health);
    assert_eq!(d["batch_size"], serde_json::Value::Null);
    assert_eq!(d["flushes"], serde_json::json!({"size": 1, "time": 1}));

    // The next check shows only the batches since the previous one.
    let (a, b) = tokio::join!(svc.clone().oneshot(4), svc.clone().oneshot(5));
    assert_eq!((a.unwrap(), b.unwrap()), (4, 5));
    settle(Duration::from_secs(1)).await;
    let d = data(&health);
    assert_eq!(d["batch_size"], 2.0);
    assert_eq!(d["flushes"], serde_json::json!({"size": 2, "time": 1}));
}

#[tokio::test(start_paused = true)]
async fn a_cache_shows_its_hit_ratio() {
    let cache: Cache<u32, u32> = Cache::builder("squares")
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let health = Health::builder().component(cache.clone()).build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(cache.layer(|k: &u32| Some(*k)))
        .service(service_fn(|k: u32| async move {
            Ok::<_, std::io::Error>(k * k)
        }));
    for k in [1, 1, 1, 2] {
        svc.clone().oneshot(k).await.unwrap();
    }
    settle(Duration::from_secs(1)).await;
    let j = json(&health);
    let d = &j["components"]["squares"]["data"];
    assert_eq!(d["hits"], 2);
    assert_eq!(d["misses"], 2);
    assert_eq!(d["hit_ratio"], 0.5);
}

#[tokio::test]
async fn a_latency_tracker_shows_p50_p95_p99_per_route() {
    let tracker = LatencyTracker::builder("http").build().unwrap();
    let health = Health::builder()
        .component(tracker.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(tracker.layer())
        .service(service_fn(|req: Request<()>| async move {
            let ms = req.uri().query().unwrap().parse::<u64>().unwrap();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let calls = (1..=20).map(|i| {
        let svc = svc.clone();
        async move {
            svc.oneshot(Request::get(format!("/work?{}", i * 5)).body(()).unwrap())
                .await
                .unwrap()
        }
    });
    for c in calls {
        c.await;
    }
    // The component is checked every second; wait for a check after the calls.
    let mut ready = health.watch_readiness();
    let _ = ready.borrow_and_update();
    let mut routes = serde_json::Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let j = json(&health);
        routes = j["components"]["http"]["data"]["routes"].clone();
        if routes.as_array().is_some_and(|r| !r.is_empty()) && routes[0]["count"] == 20 {
            break;
        }
    }
    let r = &routes[0];
    assert_eq!(r["count"], 20, "{routes}");
    let (p50, p95, p99) = (
        r["p50_ms"].as_f64().unwrap(),
        r["p95_ms"].as_f64().unwrap(),
        r["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 >= 45.0 && p50 <= p95 && p95 <= p99, "{r}");
    assert!(p95 >= 90.0, "{r}");
    assert!(!r["history_p99_ms"].as_array().unwrap().is_empty());
}
