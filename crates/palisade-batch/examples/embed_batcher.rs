//! A [`Batcher`] in front of a simulated embedding model: each caller sends
//! one text and gets its vector back, while the model sees batches — at most
//! 32 texts and 4 KiB of text each, the model's own limits. The model costs
//! 5 ms per call plus 20 µs per KiB of text, and one text makes it fail
//! ("poison"): with `bisect_on_error` only that text's caller gets the error.
//!
//! ```text
//! cargo run -p palisade-batch --example embed_batcher
//! ```

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use palisade_batch::{Batcher, error::BatchFailed};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// What the model saw.
#[derive(Default)]
struct ModelStats {
    calls: AtomicUsize,
    sizes: Mutex<BTreeMap<usize, usize>>,
}

/// A toy embedding: three numbers per text.
fn embed(text: &str) -> [f32; 3] {
    let len = text.len() as f32;
    let vowels = text.chars().filter(|c| "aeiou".contains(*c)).count() as f32;
    [len, vowels, vowels / len.max(1.0)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stats = Arc::new(ModelStats::default());
    let model = {
        let stats = stats.clone();
        service_fn(move |texts: Vec<String>| {
            let stats = stats.clone();
            async move {
                stats.calls.fetch_add(1, Ordering::Relaxed);
                *stats.sizes.lock().unwrap().entry(texts.len()).or_default() += 1;
                let kib = texts.iter().map(String::len).sum::<usize>() / 1024;
                tokio::time::sleep(
                    Duration::from_millis(5) + Duration::from_micros(20 * kib as u64),
                )
                .await;
                if texts.iter().any(|t| t.contains("poison")) {
                    return Err(std::io::Error::other("model rejected the batch"));
                }
                Ok(texts.iter().map(|t| embed(t)).collect::<Vec<_>>())
            }
        })
    };

    let batcher = Batcher::builder("embed")
        .max_size(32) // texts per model call
        .max_weight(4 * 1024) // bytes of text per model call
        .weigh(|text: &String| text.len())
        .max_wait(Duration::from_millis(2)) // linger for a fuller batch
        .max_in_flight(4) // model calls at once
        .queue_capacity(1024) // callers waiting; then poll_ready waits
        .bisect_on_error(6) // isolate the text that fails a batch
        .build()?;
    let embedder = ServiceBuilder::new().layer(batcher.layer()).service(model);

    let started = Instant::now();
    let callers: Vec<_> = (0..500)
        .map(|i| {
            let text = if i == 250 {
                "poison".to_string()
            } else {
                format!("text number {i} {}", "lorem ipsum ".repeat(i % 20))
            };
            tokio::spawn(embedder.clone().oneshot(text))
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for caller in callers {
        match caller.await? {
            Ok(_vector) => ok += 1,
            Err(err) => {
                let batch = err.downcast_ref::<BatchFailed>().expect("a failed batch");
                println!(
                    "one caller failed: {batch} (batch of {})",
                    batch.batch_len()
                );
                failed += 1;
            }
        }
    }
    println!(
        "{} texts ({ok} embedded, {failed} failed) in {} model calls, {:?}",
        ok + failed,
        stats.calls.load(Ordering::Relaxed),
        started.elapsed()
    );
    println!("texts per model call: {:?}", stats.sizes.lock().unwrap());
    Ok(())
}
