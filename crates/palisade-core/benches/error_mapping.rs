//! Cost of `ErrorResponseLayer` on a successful HTTP call, against the bare
//! service in the same run (`cargo bench -p palisade-core --features http`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use palisade_core::http::ErrorResponseLayer;
use tower::{Layer, Service, service_fn};

/// Drives a future that is ready on its first poll, without a runtime.
fn now<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the benchmarked future was not ready at once"),
    }
}

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
