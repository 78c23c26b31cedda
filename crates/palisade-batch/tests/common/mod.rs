//! Inner services that record what they are sent.
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;
use tower::Service;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// One inner call as the inner service saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub items: Vec<u32>,
    pub at: Instant,
}

/// What the recording services share with the test.
#[derive(Debug, Default)]
pub struct Log {
    pub calls: Mutex<Vec<Call>>,
    /// Items currently at the inner service.
    pub in_flight: Mutex<HashSet<u32>>,
    pub max_concurrent: Mutex<(usize, usize)>,
    /// Violations seen: a key sent twice while in flight.
    pub duplicates: Mutex<Vec<u32>>,
}

impl Log {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn batches(&self) -> Vec<Vec<u32>> {
        self.calls().into_iter().map(|c| c.items).collect()
    }

    fn start(&self, items: &[u32]) {
        self.calls.lock().unwrap().push(Call {
            items: items.to_vec(),
            at: Instant::now(),
        });
        let mut in_flight = self.in_flight.lock().unwrap();
        for item in items {
            if !in_flight.insert(*item) {
                self.duplicates.lock().unwrap().push(*item);
            }
        }
        let mut c = self.max_concurrent.lock().unwrap();
        c.0 += 1;
        c.1 = c.1.max(c.0);
    }

    fn end(&self, items: &[u32]) {
        let mut in_flight = self.in_flight.lock().unwrap();
        for item in items {
            in_flight.remove(item);
        }
        self.max_concurrent.lock().unwrap().0 -= 1;
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.lock().unwrap().1
    }
}

/// How a recording service answers.
#[derive(Clone)]
pub struct Behaviour {
    /// Fixed latency per call.
    pub delay: Duration,
    /// A batch containing this item fails.
    pub poison: Option<u32>,
    /// The first `n` calls fail.
    pub fail_first: usize,
    /// Answer one response too few (positional).
    pub short: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            poison: None,
            fail_first: 0,
            short: false,
        }
    }
}

/// The test's marker of an inner failure.
#[derive(Debug)]
pub struct InnerError(pub String);

impl std::fmt::Display for InnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InnerError {}

/// A bulk service: item `x` answers `x * 10` (positional) or, keyed, `x * 10`
/// for keys not divisible by 7 (those are missing).
#[derive(Clone)]
pub struct Recorder {
    pub log: Arc<Log>,
    pub behaviour: Behaviour,
    pub calls_so_far: Arc<Mutex<usize>>,
    /// Dropped with the service: lets a test see that the worker dropped it.
    pub token: Arc<()>,
}

impl Recorder {
    pub fn new(behaviour: Behaviour) -> (Self, Arc<Log>) {
        let log = Arc::new(Log::default());
        (
            Self {
                log: log.clone(),
                behaviour,
                calls_so_far: Arc::default(),
                token: Arc::new(()),
            },
            log,
        )
    }

    fn run<T: Send + 'static>(
        &mut self,
        items: Vec<u32>,
        answer: impl FnOnce(&[u32]) -> T + Send + 'static,
    ) -> BoxFut<T> {
        self.log.start(&items);
        let n = {
            let mut c = self.calls_so_far.lock().unwrap();
            *c += 1;
            *c
        };
        let log = self.log.clone();
        let b = self.behaviour.clone();
        Box::pin(async move {
            tokio::time::sleep(b.delay).await;
            log.end(&items);
            if n <= b.fail_first {
                return Err(InnerError(format!("call {n} failed")).into());
            }
            if let Some(p) = b.poison
                && items.contains(&p)
            {
                return Err(InnerError(format!("poison {p}")).into());
            }
            Ok(answer(&items))
        })
    }
}

impl Service<Vec<u32>> for Recorder {
    type Response = Vec<u32>;
    type Error = BoxError;
    type Future = BoxFut<Vec<u32>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, items: Vec<u32>) -> Self::Future {
        let short = self.behaviour.short;
        self.run(items, move |items| {
            let mut out: Vec<u32> = items.iter().map(|x| x * 10).collect();
            if short {
                out.pop();
            }
            out
        })
    }
}

/// The keyed flavour of [`Recorder`].
#[derive(Clone)]
pub struct KeyedRecorder(pub Recorder);

impl Service<Vec<u32>> for KeyedRecorder {
    type Response = HashMap<u32, u32>;
    type Error = BoxError;
    type Future = BoxFut<HashMap<u32, u32>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, keys: Vec<u32>) -> Self::Future {
        self.0.run(keys, |keys| {
            keys.iter()
                .filter(|k| !k.is_multiple_of(7))
                .map(|k| (*k, k * 10))
                .collect()
        })
    }
}

/// The value a keyed recorder answers for `key`.
pub fn keyed_value(key: u32) -> Option<u32> {
    (!key.is_multiple_of(7)).then_some(key * 10)
}
