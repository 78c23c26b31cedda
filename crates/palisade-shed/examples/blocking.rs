//! A bulkhead for blocking work: a pool of 2 running + 2 waiting jobs takes a
//! flood of 8 blocking jobs: 2 run, 2 wait, the rest are refused at once; a waiting job whose
//! deadline passes is dropped unrun, and a panicking job fails only itself.
//!
//! `cargo run -p palisade-shed --example blocking`

use std::time::Duration;

use palisade_core::Rejected;
use palisade_shed::{BlockingPool, Deadline, JobPanicked};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let pool = BlockingPool::builder("work")
        .max_running(2)
        .max_queued(2)
        .build()?;

    let mut jobs = Vec::new();
    for i in 0..8 {
        let run = pool.run(move || {
            std::thread::sleep(Duration::from_millis(100)); // blocking work
            i
        });
        // Job 3 (the second to wait) carries a deadline of 50 ms.
        let deadline = if i >= 6 {
            Duration::from_millis(50)
        } else {
            Duration::from_secs(5)
        };
        jobs.push(tokio::spawn(Deadline::after(deadline).scope(run)));
        tokio::task::yield_now().await;
    }
    for (i, job) in jobs.into_iter().enumerate() {
        match job.await? {
            Ok(v) => println!("job {i}: ran, returned {v}"),
            Err(err) => match Rejected::find(&err) {
                Some(r) => println!("job {i}: refused ({})", r.kind()),
                None => println!("job {i}: failed: {err}"),
            },
        }
    }

    let err = pool
        .run(|| -> u32 { panic!("bad input") })
        .await
        .unwrap_err();
    println!(
        "panicking job: {} (is JobPanicked: {})",
        err,
        err.is::<JobPanicked>()
    );
    println!("pool still works: {}", pool.run(|| 40 + 2).await?);
    Ok(())
}
