//! Uncontended per-request cost of an adaptive concurrency limit: Palisade's
//! `AdaptiveLimit` (Vegas) beside its fixed `ConcurrencyLimit`,
//! tower-resilience 0.13's `AdaptiveLimiterLayer` (Vegas) and the bare
//! service, in the same run. One request at a time, `ready().await` +
//! `call().await` on a current-thread runtime, every limit far above 1 so
//! nothing is refused.

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_benches::Echo;
use palisade_shed::{AdaptiveLimit, ConcurrencyLimit, adaptive::Vegas};
use std::{hint::black_box, time::Instant};
use tower::{Layer, Service, ServiceExt};

async fn one<S: Service<u64>>(svc: &mut S, req: u64) -> bool {
    match svc.ready().await {
        Ok(svc) => svc.call(req).await.is_ok(),
        Err(_) => false,
    }
}

fn run<S>(b: &mut criterion::Bencher<'_>, rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<u64> + Clone,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = svc.clone();
        async move {
            let start = Instant::now();
            for i in 0..iters {
                black_box(one(&mut svc, black_box(i)).await);
            }
            start.elapsed()
        }
    });
}

fn peers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut g = c.benchmark_group("adaptive_peers");
    g.bench_function("bare", |b| run(b, &rt, &Echo));
    let fixed = ConcurrencyLimit::builder("bench")
        .max_in_flight(256)
        .build()
        .expect("limit");
    g.bench_function("palisade_fixed", |b| {
        run(b, &rt, &fixed.layer().layer(Echo));
    });
    let adaptive = AdaptiveLimit::builder("bench")
        .algorithm(Vegas::default().initial_limit(256))
        .build()
        .expect("adaptive limit");
    g.bench_function("palisade_adaptive", |b| {
        run(b, &rt, &adaptive.layer().layer(Echo));
    });
    let theirs = tower_resilience::adaptive::AdaptiveLimiterLayer::new(
        tower_resilience::adaptive::Vegas::builder()
            .initial_limit(256)
            .build()
            .expect("vegas"),
    );
    g.bench_function("tower_resilience_adaptive", |b| {
        run(b, &rt, &theirs.layer(Echo));
    });
    g.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
