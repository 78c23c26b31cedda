//! Any builder input either is refused by `build()` with a `ConfigError`
//! naming its field, or gives a layer that then serves a few hundred
//! requests — expiring the slow ones, shedding the ones over the limit —
//! without a panic (paused time). Request headers carry arbitrary budgets
//! (`grpc-timeout`, a millisecond header), zero and huge ones included.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{HeaderName, Request, Response};
use http_body_util::{BodyExt, Full};
use palisade_core::{BoxError, ConfigError, RejectKind, Rejected};
use palisade_shed::{ConcurrencyLimit, Timeout};
use proptest::prelude::*;
use tower::{Layer, ServiceExt, service_fn};

fn duration_value() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        (1u64..100).prop_map(Duration::from_millis),
        Just(Duration::from_secs(86_400 * 365)),
        Just(Duration::from_secs(86_400 * 365 + 1)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

/// A header value a client may send as a budget.
fn budget_header() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("0".to_string()),
        Just("0m".to_string()),
        Just("99999999H".to_string()),
        Just("18446744073709551615".to_string()),
        (
            0u64..100_000_000,
            prop::sample::select(vec!["H", "M", "S", "m", "u", "n"])
        )
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        any::<u64>().prop_map(|n| n.to_string()),
        "[ -~]{0,12}",
    ])
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

fn check_refusal(err: &ConfigError, fields: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(
        fields.contains(&err.field()),
        "unexpected field {}",
        err.field()
    );
    prop_assert!(
        err.to_string().starts_with(err.field()),
        "{}",
        err.to_string()
    );
    Ok(())
}

/// Answers after `ms` milliseconds (from the request's `x-delay-ms`).
async fn handler(req: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    let ms = req
        .headers()
        .get("x-delay-ms")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn request(delay_ms: u64, grpc: Option<&str>, header: Option<&str>) -> Request<()> {
    let mut b = Request::get("/").header("x-delay-ms", delay_ms.to_string());
    if let Some(v) = grpc.filter(|v| http::HeaderValue::from_str(v).is_ok()) {
        b = b.header("grpc-timeout", v);
    }
    if let Some(v) = header.filter(|v| http::HeaderValue::from_str(v).is_ok()) {
        b = b.header("x-request-timeout-ms", v);
    }
    b.body(()).unwrap()
}

fn rejected_kind(err: &BoxError) -> Option<RejectKind> {
    Rejected::find(&**err).map(Rejected::kind)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn timeout_builder_refuses_or_serves(
        timeout in proptest::option::of(duration_value()),
        include_ready in any::<bool>(),
        honor_grpc in any::<bool>(),
        honor_header in any::<bool>(),
        extensions in any::<bool>(),
        grpc in budget_header(),
        header in budget_header(),
    ) {
        paused_runtime().block_on(async {
            let mut b = Timeout::builder("prop")
                .honor_grpc_timeout(honor_grpc)
                .deadline_in_extensions(extensions);
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            if include_ready {
                b = b.include_ready();
            }
            if honor_header {
                b = b.honor_header(HeaderName::from_static("x-request-timeout-ms"));
            }
            let t = match b.build() {
                Ok(t) => t,
                Err(err) => return check_refusal(&err, &["timeout"]),
            };
            let limit = t.timeout();
            let svc = t.layer().layer(service_fn(handler));
            let handles: Vec<_> = (0..300u64)
                .map(|i| {
                    // Some answer at once, some take longer than the timeout.
                    let delay = (i % 7) * 20;
                    let req = request(delay, grpc.as_deref(), header.as_deref());
                    (delay, tokio::spawn(svc.clone().oneshot(req)))
                })
                .collect();
            for (delay, h) in handles {
                match h.await.expect("no panic") {
                    Ok(res) => {
                        prop_assert!(Duration::from_millis(delay) <= limit);
                        res.into_body().collect().await.expect("body");
                    }
                    Err(err) => prop_assert_eq!(
                        rejected_kind(&err),
                        Some(RejectKind::DeadlineExceeded),
                        "{}",
                        err
                    ),
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn concurrency_limit_builder_refuses_or_serves(
        max in proptest::option::of(prop_oneof![
            Just(0usize), 1usize..50, Just(usize::MAX / 2), Just(usize::MAX / 2 + 1), Just(usize::MAX), any::<usize>()
        ]),
        retry_after in proptest::option::of(duration_value()),
        until_body_end in any::<bool>(),
    ) {
        paused_runtime().block_on(async {
            let mut b = ConcurrencyLimit::builder("prop");
            if let Some(m) = max {
                b = b.max_in_flight(m);
            }
            if let Some(r) = retry_after {
                b = b.retry_after(r);
            }
            let fields = ["max_in_flight", "retry_after"];
            // Spawns 300 requests of 10 ms at once; at most `max` run, the
            // rest are shed with `Overloaded` and the configured retry_after.
            macro_rules! serve {
                ($limit:expr) => {{
                    let limit = $limit;
                    let svc = limit.layer().layer(service_fn(handler));
                    let handles: Vec<_> = (0..300u64)
                        .map(|_| tokio::spawn(svc.clone().oneshot(request(10, None, None))))
                        .collect();
                    let mut served = 0usize;
                    for h in handles {
                        match h.await.expect("no panic") {
                            Ok(res) => {
                                served += 1;
                                res.into_body().collect().await.expect("body");
                            }
                            Err(err) => {
                                let rejected = Rejected::find(&*err).expect("Rejected");
                                prop_assert_eq!(rejected.kind(), RejectKind::Overloaded);
                                prop_assert_eq!(rejected.retry_after(), Some(limit.retry_after()));
                            }
                        }
                    }
                    prop_assert_eq!(served, limit.max_in_flight().min(300));
                    prop_assert_eq!(limit.in_flight(), 0);
                }};
            }
            if until_body_end {
                match b.hold_until_body_end().build() {
                    Ok(limit) => serve!(limit),
                    Err(err) => return check_refusal(&err, &fields),
                }
            } else {
                match b.build() {
                    Ok(limit) => serve!(limit),
                    Err(err) => return check_refusal(&err, &fields),
                }
            }
            Ok(())
        })?;
    }
}
