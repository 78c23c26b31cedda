//! `tonic-health`: a gRPC serving status that follows readiness.

use tokio::task::JoinHandle;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::Health;

impl Health {
    /// Starts a task that keeps `service`'s status in `reporter` in step
    /// with readiness: `SERVING` while it passes (`Up` or `Degraded`),
    /// `NOT_SERVING` otherwise (including before the first checks). Use
    /// `""` for the whole server, or a service's full name.
    ///
    /// The task follows the cached readiness (it runs no check) and ends when
    /// the last clone of this `Health` is dropped.
    ///
    /// ```no_run
    /// # async fn run(health: palisade_health::Health) -> Result<(), Box<dyn std::error::Error>> {
    /// let (reporter, health_service) = tonic_health::server::health_reporter();
    /// health.serve_grpc(reporter, "");
    /// tonic::transport::Server::builder()
    ///     .add_service(health_service)
    ///     // .add_service(your_service)
    ///     .serve("127.0.0.1:50051".parse()?)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn serve_grpc(
        &self,
        reporter: HealthReporter,
        service: impl Into<String>,
    ) -> JoinHandle<()> {
        let service = service.into();
        let mut ready = self.watch_readiness();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let serving = ready.borrow_and_update().is_passing();
                // Watchers see a change only (Unknown → Down is no news to them).
                if last != Some(serving) {
                    let status = if serving {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    reporter.set_service_status(&service, status).await;
                    last = Some(serving);
                }
                if ready.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
