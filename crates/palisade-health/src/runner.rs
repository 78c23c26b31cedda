//! The background task of one component: check on the interval, under the
//! timeout, and store the result. Ends when the shared state is dropped.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Weak},
    time::SystemTime,
};

use futures_util::FutureExt;
use tokio::time::{Instant, sleep_until, timeout};

use crate::{
    Check, Component,
    state::{Record, State},
};

/// Starts the checks of slot `index` on `runtime`.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    state: &Arc<State>,
    index: usize,
    component: Box<dyn Component>,
) {
    let weak: Weak<State> = Arc::downgrade(state);
    let mut shutdown = state.shutdown();
    let options = state.slots[index].options;
    runtime.spawn(async move {
        let mut next = Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                () = sleep_until(next) => {}
            }
            let started = Instant::now();
            let checked_at = SystemTime::now();
            let run = AssertUnwindSafe(component.check()).catch_unwind();
            let outcome = tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                outcome = timeout(options.timeout, run) => outcome,
            };
            let took = started.elapsed();
            let (check, timed_out) = match outcome {
                Ok(Ok(check)) => (check, false),
                Ok(Err(panic)) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".to_owned());
                    (Check::down(format!("check panicked: {message}")), false)
                }
                Err(_) => (
                    Check::down(format!("check timed out after {:?}", options.timeout)),
                    true,
                ),
            };
            let Some(state) = weak.upgrade() else { return };
            state.record(
                index,
                Record {
                    check,
                    checked_at,
                    took,
                    timed_out,
                },
            );
            drop(state);
            next = started + options.interval;
        }
    });
}
