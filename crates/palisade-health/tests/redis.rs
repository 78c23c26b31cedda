//! The Redis tier through a private `redis-server` the test starts on a
//! free port, kills and restarts: degraded while it is gone, up again after.

use std::{process::Stdio, time::Duration};

use palisade_cache::RedisStore;
use palisade_health::{Health, Options, Status, components::RedisComponent};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_redis(port: u16) -> Option<Child> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server did not start on port {port}");
}

async fn wait_for(health: &Health, name: &str, want: Status) {
    for _ in 0..300 {
        if health.component_status(name) == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{name} did not become {want} within 15 s: {}",
        String::from_utf8_lossy(&health.to_json())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_is_degraded_and_restarted_is_up() {
    let port = free_port();
    let Some(mut redis) = start_redis(port).await else {
        if std::env::var("PALISADE_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("redis-server is not installed and PALISADE_REQUIRE_REDIS=1");
        }
        eprintln!("skipping: redis-server is not installed");
        return;
    };
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .namespace(format!("health-test-{}", std::process::id()))
        .timeout(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let health = Health::builder()
        .component_with(
            RedisComponent::new(store.clone()).named("l2"),
            Options::new().interval(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    wait_for(&health, "l2", Status::Up).await;
    assert!(health.is_ready());

    redis.kill().await.unwrap();
    wait_for(&health, "l2", Status::Degraded).await;
    assert!(
        health.is_ready(),
        "a degraded cache still answers: still ready"
    );
    let json: serde_json::Value = serde_json::from_slice(&health.to_json()).unwrap();
    assert_eq!(json["components"]["l2"]["data"]["l2"], "down");

    let _redis = start_redis(port).await.unwrap();
    wait_for(&health, "l2", Status::Up).await;
    let json: serde_json::Value = serde_json::from_slice(&health.to_json()).unwrap();
    assert_eq!(json["components"]["l2"]["data"]["l2"], "up");
}
