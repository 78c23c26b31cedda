//! Request batching for tower: many concurrent single requests become one
//! bulk call — `WHERE id IN (...)` instead of N round trips — without adding
//! latency when the backend is idle and without losing a request when a batch
//! fails.
//!
//! - [`Batcher`] (positional): wraps a `Service<Vec<Req>, Response = Vec<Res>>`
//!   (one response per request, in order) into a `Service<Req, Response = Res>`.
//! - [`Loader`] (keyed, DataLoader style): wraps a
//!   `Service<Vec<K>, Response = HashMap<K, V>>` into a
//!   `Service<K, Response = Option<V>>`; a missing key answers `None`, equal
//!   keys are sent once, also while in flight, and each caller gets a clone.
//!
//! Where items can fail one by one, make `Res` / `V` a `Result`: each caller
//! gets its own.
//!
//! # Example
//!
//! ```
//! use std::{collections::HashMap, time::Duration};
//! use palisade_batch::Loader;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let loader = Loader::builder("users")
//!     .max_size(100)
//!     .max_wait(Duration::from_millis(1))
//!     .bisect_on_error(7)
//!     .build()?;
//! // A bulk lookup: `SELECT id, name FROM users WHERE id IN (...)`.
//! let bulk_by_id = service_fn(|ids: Vec<u64>| async move {
//!     Ok::<_, std::io::Error>(ids.into_iter().map(|id| (id, format!("user {id}"))).collect::<HashMap<_, _>>())
//! });
//! let users = ServiceBuilder::new()
//!     .concurrency_limit(1024)
//!     .layer(loader.layer())
//!     .service(bulk_by_id);
//!
//! // Concurrent callers share one bulk call.
//! let (a, b) = tokio::join!(users.clone().oneshot(1), users.clone().oneshot(2));
//! assert_eq!(a?, Some("user 1".to_string()));
//! assert_eq!(b?, Some("user 2".to_string()));
//! # Ok(()) }
//! ```
//!
//! # When a batch is sent
//!
//! A batch is sent when it reaches `max_size` (or `max_weight`, with
//! `.weigh(|req| n)`), when `max_wait` has passed since its first item, or —
//! with `max_wait` zero, the default — as soon as a batch slot is free: at
//! most `max_in_flight` batches are outstanding, so an idle backend sees
//! single requests at once and a busy one sees batches grow while earlier
//! ones are out. A batch is sent only once the inner service is ready. A
//! caller that drops its future before its batch is sent is removed from it;
//! a batch left empty is not sent.
//!
//! # Errors
//!
//! - An inner error fails only that batch: every caller in it gets an
//!   [`error::BatchFailed`] carrying the cause (shared, `source()` intact) and
//!   the worker goes on. With `.bisect_on_error(max_depth)` a failed batch is
//!   split in halves and retried, so one poison item does not fail its
//!   neighbours.
//! - A positional response of the wrong length fails every caller of the
//!   batch with [`error::WrongLength`] naming both lengths.
//! - When `queue_capacity` callers are waiting, `poll_ready` waits for room;
//!   with `.reject_when_full()` the call is rejected at once with
//!   [`Rejected`] of kind [`RejectKind::BatchFull`].
//! - If the worker's runtime shuts down, callers get [`Rejected`] of kind
//!   [`RejectKind::Closed`].
//!
//! # The worker task
//!
//! `build()` must run inside a tokio runtime (or be given one with
//! `.runtime(handle)`); otherwise it returns a [`ConfigError`] for the field
//! `runtime`. Each `layer(inner)` spawns one worker task on that runtime,
//! which owns `inner`. It ends when every service made from that call is
//! dropped, after answering every caller still waiting — dropping everything
//! while batches are in flight loses no answer.
//!
//! Per request, the only allocation is the answer channel (a `oneshot`): a
//! caller must wait for a value produced by another task, and that rendezvous
//! needs a shared slot.
//!
//! # Metrics
//!
//! With the `metrics` feature (default): `palisade_batch_size{name}`
//! (histogram, items per inner call), `palisade_batch_queue_wait_seconds{name}`
//! (histogram, time from `call` to the batch being sent),
//! `palisade_batch_flushes_total{name,reason}` (counter; reason `size`,
//! `weight`, `time`, `eager`, `close`, `retry`), `palisade_batch_in_flight{name}`
//! (gauge, inner calls outstanding).
//!
//! Without any feature, each handle counts what it sent:
//! [`Batcher::stats`] / [`Loader::stats`] return a [`BatchStats`] — batches
//! and items sent (so the mean batch size) and the batches by
//! [`FlushReason`] — cumulative since `build()`, over all its services.
//!
//! # Contributor notes
//!
//! The crate follows the workspace layout (one folder per middleware, shared
//! state at the bottom, no import circles):
//!
//! - `batcher/` and `loader/`: one folder per front end, each with `mod.rs`
//!   (module docs, the handle `Batcher` / `Loader`, re-exports), `builder.rs`
//!   (`BatcherBuilder` / `LoaderBuilder`), `layer.rs` (`BatcherLayer` /
//!   `LoaderLayer`), `service.rs` (`BatcherService` / `LoaderService`) and
//!   `strategy.rs` (what the worker does with that mode's items: positional
//!   answers, or deduplicated keys looked up in a map). These are thin: the
//!   public types wrap the generic pieces below and add names, docs and
//!   bounds. The services have no `get_ref`/`into_inner`: the inner service
//!   lives in the worker task.
//! - `front/`: the generic front end both share — the handle's contents and
//!   worker spawning (`handle.rs`), the settings and their validation
//!   (`builder.rs`, with the setter methods both builders get from one
//!   macro), and the callers' end of a worker (`service.rs`).
//! - `engine.rs`: the worker loop (intake, flush decisions, readiness,
//!   outstanding batches, linger timer, bisection), generic over a
//!   `Strategy`; `queue.rs`: what travels to the worker and its pending
//!   items; `bisect.rs`: how failed batches are split.
//! - `future.rs`: `ResponseFuture`, shared by both services;
//!   `error.rs`: every error type; `weigh.rs`: the public `Weigh` trait;
//!   `telemetry.rs`: all metrics and tracing output; `stats.rs`: the public
//!   `BatchStats`, `Flushes` and `FlushReason` and the atomics behind them.
//! - `state.rs` (the bottom, with `stats.rs` and `telemetry.rs` below it):
//!   `BatchState`, the validated limits and counters a handle shares with
//!   its layers, services and workers.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batcher;
mod bisect;
mod engine;
pub mod error;
mod front;
pub mod future;
mod loader;
mod queue;
mod state;
mod stats;
mod telemetry;
mod weigh;

pub use batcher::{Batcher, BatcherBuilder, BatcherLayer, BatcherService};
pub use loader::{Loader, LoaderBuilder, LoaderLayer, LoaderService};
pub use palisade_core::{BoxError, ConfigError, RejectKind, Rejected};
pub use stats::{BatchStats, FlushReason, Flushes};
pub use weigh::Weigh;

/// The README's code, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
