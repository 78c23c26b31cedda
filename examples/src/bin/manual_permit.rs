//! A circuit breaker without tower: `CircuitBreaker::try_acquire` and
//! `Permit::record` guard any call, here a flaky "database" that a function
//! calls directly. The permit reports what happened (success, failure, or a
//! result that should not count); while the breaker is open, `try_acquire`
//! refuses at once and says when to try again, so the caller can fall back.
//!
//! ```sh
//! cargo run -p palisade-examples --bin manual_permit
//! ```

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use palisade::prelude::*;

/// A database that fails every call from the 4th to the 9th.
struct FlakyDb {
    calls: AtomicU32,
}

#[derive(Debug)]
enum DbError {
    /// The database is unreachable: a failure of the dependency.
    Unavailable,
    /// The row does not exist: the caller's problem, not the dependency's.
    NotFound,
}

impl FlakyDb {
    async fn price(&self, sku: u32) -> Result<u64, DbError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
        match (n, sku) {
            (4..=9, _) => Err(DbError::Unavailable),
            (_, 0) => Err(DbError::NotFound),
            _ => Ok(u64::from(sku) * 100),
        }
    }
}

/// Looks a price up through the breaker; falls back to `None` while it is open.
async fn price(db: &FlakyDb, breaker: &CircuitBreaker, sku: u32) -> Option<u64> {
    let permit = match breaker.try_acquire() {
        Ok(permit) => permit,
        Err(rejected) => {
            // `rejected.retry_after()` says when a probe will be let through.
            println!("  sku {sku}: {rejected} -> fallback");
            return None;
        }
    };
    match db.price(sku).await {
        Ok(cents) => {
            permit.success();
            println!("  sku {sku}: {cents} cents");
            Some(cents)
        }
        Err(DbError::NotFound) => {
            // A missing row says nothing about the database's health.
            permit.record(Outcome::Ignored);
            println!("  sku {sku}: not found (not counted)");
            None
        }
        Err(DbError::Unavailable) => {
            permit.failure();
            println!("  sku {sku}: database unavailable (failure)");
            None
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let db = FlakyDb {
        calls: AtomicU32::new(0),
    };
    let breaker = CircuitBreaker::builder("prices")
        .consecutive_failures(3)
        .open_wait(Duration::from_millis(200))
        .build()?;
    breaker.on_transition(|t| {
        println!(
            "    breaker: {:?} -> {:?} ({:?})",
            t.from(),
            t.to(),
            t.reason()
        );
    });

    for sku in [1, 0, 2, 3, 4, 5, 6, 7] {
        price(&db, &breaker, sku).await;
    }
    println!("the database stays down for three more calls; probes follow the open wait");
    let mut sku = 8;
    while breaker.state() != palisade::breaker::State::Closed && sku < 60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        price(&db, &breaker, sku).await;
        sku += 1;
    }
    let snap = breaker.snapshot();
    println!(
        "breaker {:?}: opened {} times, {} database calls in all",
        snap.state,
        snap.times_opened,
        db.calls.load(Ordering::SeqCst)
    );
    Ok(())
}
