//! Cost of `ErrorResponseLayer` (palisade-core) on a successful HTTP call,
//! against the bare service in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use palisade_benches::now;
use palisade_core::http::ErrorResponseLayer;
use tower::{Layer, Service, service_fn};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_error_mapping");
    let inner = service_fn(|req: Request<&'static str>| async move {
        Ok::<_, std::convert::Infallible>(Response::new(req.into_body().len()))
    });

    let mut bare = inner;
    group.bench_function("bare", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| bare.poll_ready(cx)));
            black_box(now(bare.call(Request::new("ok"))).unwrap());
        });
    });

    let mut mapped = ErrorResponseLayer::new().layer(inner);
    group.bench_function("error_response_layer", |b| {
        b.iter(|| {
            let _ = now(std::future::poll_fn(|cx| mapped.poll_ready(cx)));
            black_box(now(mapped.call(Request::new("ok"))).unwrap());
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
