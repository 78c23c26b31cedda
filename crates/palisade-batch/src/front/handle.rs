//! [`Front`]: what a [`Batcher`](crate::Batcher) or
//! [`Loader`](crate::Loader) handle holds, how its layers start a worker,
//! and the accessors both handles share ([`handle_methods!`]).

use std::{fmt, sync::Arc};

use tokio::sync::mpsc;

use super::service::Caller;
use crate::{
    engine::{Engine, Strategy},
    queue::Msg,
    state::BatchState,
};

/// The state a handle shares with its layers, services and workers, and its
/// weigh function.
pub(crate) struct Front<W> {
    pub(crate) state: Arc<BatchState>,
    weigh: Arc<W>,
}

impl<W> Front<W> {
    pub(crate) fn new(state: Arc<BatchState>, weigh: W) -> Self {
        Self {
            state,
            weigh: Arc::new(weigh),
        }
    }

    /// Starts a worker that owns the strategy `make` builds (around one
    /// inner service) and returns the callers' end of it.
    pub(crate) fn spawn<St, T, R>(
        &self,
        make: impl FnOnce(Arc<W>, &BatchState) -> St,
    ) -> Caller<T, R>
    where
        St: Strategy<Msg = Msg<T, R>> + Send + 'static,
        St::Queued: Send,
        St::Job: Send,
        St::Call: Send,
        T: Send,
        R: Send,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let strategy = make(self.weigh.clone(), &self.state);
        Engine::spawn(strategy, self.state.clone(), rx);
        Caller::new(tx, self.state.clone())
    }

    /// The `Debug` output of a handle called `type_name`.
    pub(crate) fn debug(&self, f: &mut fmt::Formatter<'_>, type_name: &str) -> fmt::Result {
        f.debug_struct(type_name)
            .field("name", &self.state.name)
            .field("limits", &self.state.limits)
            .field("queue_capacity", &self.state.queue_capacity)
            .field("reject_when_full", &self.state.reject_when_full)
            .finish_non_exhaustive()
    }
}

impl<W> Clone for Front<W> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            weigh: self.weigh.clone(),
        }
    }
}

/// The accessors [`Batcher`](crate::Batcher) and [`Loader`](crate::Loader)
/// share; each wraps a [`Front`] in a field named `front`.
macro_rules! handle_methods {
    ($what:literal) => {
        #[doc = concat!("The ", $what, "'s name.")]
        pub fn name(&self) -> &str {
            &self.front.state.name
        }

        /// Callers waiting for their item to be sent, over all services.
        pub fn queued(&self) -> usize {
            self.front.state.queued()
        }

        /// Batches outstanding at inner services.
        pub fn in_flight(&self) -> usize {
            self.front.state.in_flight()
        }

        /// Worker tasks running (one per wrapped inner service still in use).
        pub fn workers(&self) -> usize {
            self.front.state.workers()
        }

        /// Batches and items sent so far and why each batch was sent,
        /// over all services (cumulative; see [`BatchStats`](crate::BatchStats)).
        pub fn stats(&self) -> crate::BatchStats {
            self.front.state.stats()
        }
    };
}

pub(crate) use handle_methods;
