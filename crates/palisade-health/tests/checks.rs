//! The background checks: cached results, timeouts, groups, endpoints.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade_health::{Check, CheckFuture, Component, Health, Options, Probe, Status};
use tower::ServiceExt;

async fn get(svc: palisade_health::HealthService) -> (StatusCode, serde_json::Value) {
    let res = svc.oneshot(Request::new(())).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// Lets the background tasks run (paused time: advances only as far as asked).
async fn settle(by: Duration) {
    tokio::time::sleep(by).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_is_cut_off_by_its_timeout() {
    let health = Health::builder()
        .component_with(
            Probe::new("hangs", || {
                std::future::pending::<Result<(), std::io::Error>>()
            }),
            Options::new()
                .interval(Duration::from_secs(10))
                .timeout(Duration::from_millis(300)),
        )
        .build()
        .unwrap();
    settle(Duration::from_millis(299)).await;
    assert_eq!(health.component_status("hangs"), Some(Status::Unknown));
    settle(Duration::from_millis(2)).await;
    assert_eq!(health.component_status("hangs"), Some(Status::Down));
    let (code, json) = get(health.readiness_service()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let c = &json["components"]["hangs"];
    assert_eq!(c["status"], "DOWN");
    assert_eq!(c["timed_out"], true);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("timed out after 300ms"),
        "{c}"
    );
    assert!(c["checked_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(start_paused = true)]
async fn a_probe_flood_runs_no_extra_checks() {
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    let health = Health::builder()
        .component_with(
            Probe::new("db", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, std::io::Error>(()) }
            }),
            Options::new().interval(Duration::from_secs(10)),
        )
        .build()
        .unwrap();
    settle(Duration::from_millis(1)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    for _ in 0..1_000 {
        let (code, json) = get(health.readiness_service()).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(json["status"], "UP");
        let _ = health
            .status_page()
            .oneshot(Request::new(()))
            .await
            .unwrap();
        let _ = get(health.service()).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "probes must not run checks");
    settle(Duration::from_secs(10)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the interval runs the next check"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dead_dependency_makes_the_service_not_ready_but_not_dead() {
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    let health = Health::builder()
        .component_with(
            Probe::new("postgres", move || {
                let up = flag.load(Ordering::SeqCst);
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("connection refused")
                    }
                }
            }),
            Options::new().interval(Duration::from_secs(1)),
        )
        .component_with(
            Probe::new("event-loop", || async { Ok::<_, &str>(()) }),
            Options::new().liveness(true).readiness(false),
        )
        .build()
        .unwrap();
    settle(Duration::from_millis(1)).await;
    let (code, json) = get(health.readiness_service()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json["components"]["postgres"]["detail"],
        "connection refused"
    );
    assert!(json["components"].get("event-loop").is_none());
    let (code, json) = get(health.liveness_service()).await;
    assert_eq!(code, StatusCode::OK);
    assert!(json["components"].get("postgres").is_none());
    assert!(!health.is_ready() && health.is_live());
    assert_eq!(health.status(), Status::Down);

    up.store(true, Ordering::SeqCst);
    settle(Duration::from_secs(1)).await;
    assert!(health.is_ready());
    let (code, json) = get(health.service()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(json["status"], "UP");
    assert_eq!(json["groups"]["readiness"], "UP");
    assert_eq!(json["components"]["postgres"]["checks"], 2);
    assert_eq!(json["components"]["postgres"]["kind"], "check");
}

#[tokio::test(start_paused = true)]
async fn not_ready_until_every_component_was_checked_once() {
    let health = Health::builder()
        .component_with(
            Probe::new("slow", || async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok::<_, &str>(())
            }),
            Options::new().timeout(Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let mut ready = health.watch_readiness();
    assert_eq!(*ready.borrow_and_update(), Status::Unknown);
    let (code, json) = get(health.readiness_service()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json["components"]["slow"]["status"], "UNKNOWN");
    ready.changed().await.unwrap();
    assert_eq!(*ready.borrow(), Status::Up);
}

struct Panics(AtomicU64);

impl Component for Panics {
    fn name(&self) -> &str {
        "panics"
    }
    fn check(&self) -> CheckFuture<'_> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            assert!(n != 0, "first check blows up");
            Check::degraded("second check")
        })
    }
    fn default_options(&self) -> Options {
        Options::new().interval(Duration::from_secs(1))
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_is_down_and_checking_goes_on() {
    let health = Health::builder()
        .component(Panics(AtomicU64::new(0)))
        .build()
        .unwrap();
    settle(Duration::from_millis(1)).await;
    assert_eq!(health.component_status("panics"), Some(Status::Down));
    let json: serde_json::Value = serde_json::from_slice(&health.to_json()).unwrap();
    assert!(
        json["components"]["panics"]["detail"]
            .as_str()
            .unwrap()
            .contains("first check blows up")
    );
    settle(Duration::from_secs(1)).await;
    assert_eq!(health.component_status("panics"), Some(Status::Degraded));
    assert!(health.is_ready(), "degraded is still ready");
}

#[tokio::test(start_paused = true)]
async fn the_tasks_end_with_the_last_handle() {
    let token = Arc::new(());
    let held = token.clone();
    let health = Health::builder()
        .component(Probe::new("x", move || {
            let _ = &held;
            async { Ok::<_, &str>(()) }
        }))
        .build()
        .unwrap();
    let service = health.readiness_service();
    settle(Duration::from_millis(1)).await;
    assert_eq!(Arc::strong_count(&token), 2);
    drop(health);
    settle(Duration::from_secs(6)).await;
    assert_eq!(Arc::strong_count(&token), 2, "a service is a handle too");
    drop(service);
    settle(Duration::from_millis(1)).await;
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the check task ended and dropped its component"
    );
}

#[tokio::test]
async fn bad_configuration_is_an_error_naming_the_field() {
    let ok = || Probe::new("a", || async { Ok::<_, &str>(()) });
    let err = Health::builder()
        .component(ok())
        .component(ok())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "component");
    let err = Health::builder()
        .component_with(ok(), Options::new().interval(Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "interval");
    let err = Health::builder()
        .component_with(ok(), Options::new().timeout(Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "timeout");
    let err = Health::builder().name("").build().unwrap_err();
    assert_eq!(err.field(), "name");
    let err = Health::builder()
        .page_refresh(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "page_refresh");
    let err = Health::builder()
        .component(Probe::new("", || async { Ok::<_, &str>(()) }))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "component");
}

#[test]
fn building_outside_a_runtime_is_an_error() {
    let err = Health::builder().build().unwrap_err();
    assert_eq!(err.field(), "runtime");
}

#[tokio::test(start_paused = true)]
async fn the_status_page_is_self_contained_and_serves_its_json() {
    let health = Health::builder()
        .name("shop")
        .component(Probe::new("db", || async { Ok::<_, &str>(()) }))
        .build()
        .unwrap();
    settle(Duration::from_millis(1)).await;
    let res = health
        .status_page()
        .oneshot(Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let html =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(html.contains("<title>shop"));
    assert!(html.contains(r#""db""#), "the data is embedded");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no CDN"
    );
    for req in [
        Request::get("/status?format=json").body(()).unwrap(),
        Request::get("/status")
            .header("accept", "application/json")
            .body(())
            .unwrap(),
    ] {
        let res = health.status_page().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/json");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["name"], "shop");
        assert_eq!(json["components"]["db"]["status"], "UP");
    }
}
