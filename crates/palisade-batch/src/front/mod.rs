//! The front end [`Batcher`](crate::Batcher) and [`Loader`](crate::Loader)
//! share, generic over the [`Strategy`](crate::engine::Strategy) that tells
//! them apart (plain items answered by position, or keys deduplicated and
//! looked up in a map):
//!
//! - [`handle`]: what a handle holds ([`Front`]) and how a layer starts a
//!   worker for its inner service;
//! - [`builder`]: the settings both builders collect and their validation;
//! - [`service`]: the callers' end of a worker ([`Caller`]), which both
//!   services wrap.
//!
//! The public types in `batcher/` and `loader/` are thin wrappers that give
//! each mode its names, docs and bounds.

mod builder;
mod handle;
mod service;

pub(crate) use builder::{FrontBuilder, builder_methods};
pub(crate) use handle::{Front, handle_methods};
pub(crate) use service::Caller;
