//! `tonic-health` follows readiness: a real tonic server and client.

use std::time::Duration;

use palisade_breaker::CircuitBreaker;
use palisade_health::{Health, Options, components::BreakerComponent};
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test]
async fn the_tonic_client_sees_not_serving_then_serving() {
    let breaker = CircuitBreaker::builder("upstream").build().unwrap();
    breaker.force_open();
    let health = Health::builder()
        .component_with(
            BreakerComponent::new(breaker.clone()),
            Options::new().interval(Duration::from_millis(50)),
        )
        .build()
        .unwrap();

    let (reporter, service) = tonic_health::server::health_reporter();
    let follower = health.serve_grpc(reporter, "shop.Orders");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let request = || HealthCheckRequest {
        service: "shop.Orders".to_owned(),
    };

    // Forced open: out of service, so NOT_SERVING.
    let mut watch = client.watch(request()).await.unwrap().into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.status(), ServingStatus::NotServing);
    let checked = client.check(request()).await.unwrap().into_inner();
    assert_eq!(checked.status(), ServingStatus::NotServing);

    breaker.reset();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("SERVING within 10 s of the breaker closing")
        .unwrap()
        .unwrap();
    assert_eq!(next.status(), ServingStatus::Serving);
    assert!(health.is_ready());

    // The follower ends with the last handle.
    drop(health);
    tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower ends when the Health is dropped")
        .unwrap();
}
