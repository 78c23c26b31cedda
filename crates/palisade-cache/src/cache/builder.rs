//! [`CacheBuilder`]: validated configuration of a generic [`Cache`].

use std::{fmt, hash::Hash, marker::PhantomData, sync::Arc, time::Duration};

use bytes::Bytes;
use palisade_core::ConfigError;
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Cache,
    policy::{GenericPolicy, TagsFn, TtlFn, WeighFn},
};
use crate::{
    entry::Lifetime,
    l2::L2Hook,
    state::CacheState,
    store::{L2Payload, L2Store},
};

/// Entries held when neither `max_entries` nor `max_bytes` is given.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;

/// Builds a [`Cache`]; from [`Cache::builder`].
///
/// **Required**: a TTL, through [`ttl`](Self::ttl) or
/// [`ttl_for`](Self::ttl_for); without either, `build()` fails with
/// `ttl: must be set (with ttl or ttl_for)`.
///
/// Defaults: at most [`DEFAULT_MAX_ENTRIES`] entries, no stale windows, no
/// tags, no L2. What zero means: a zero `ttl` or bound is a [`ConfigError`];
/// zero stale windows (the default) turn stale serving off; a zero from
/// `ttl_for` means "do not store this value".
pub struct CacheBuilder<K, V> {
    name: Arc<str>,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    weigh: Option<WeighFn<V>>,
    ttl: Option<Duration>,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
    ttl_for: Option<TtlFn<V>>,
    tags: Option<TagsFn<V>>,
    l2: Option<L2Hook<K, V>>,
    _key: PhantomData<fn(K)>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("name", &self.name)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("ttl", &self.ttl)
            .field("stale_while_revalidate", &self.stale_while_revalidate)
            .field("stale_if_error", &self.stale_if_error)
            .field("l2", &self.l2)
            .finish_non_exhaustive()
    }
}

impl<K, V> CacheBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            max_entries: None,
            max_bytes: None,
            weigh: None,
            ttl: None,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            ttl_for: None,
            tags: None,
            l2: None,
            _key: PhantomData,
        }
    }

    /// Bounds the cache by number of entries (TinyLFU admission decides
    /// which stay). At least 1. Mutually exclusive with
    /// [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = Some(n);
        self
    }

    /// Bounds the cache by the total weight of its values, as given by
    /// [`weigh`](Self::weigh) (required with this bound). At least 1.
    #[must_use]
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// How many bytes a value weighs, for [`max_bytes`](Self::max_bytes):
    /// a `Fn(&V) -> usize`, the same form as `palisade-batch`'s `weigh`
    /// (so `|v| v.len()` needs no cast). Weights above `u32::MAX` count as
    /// `u32::MAX`, and a weight of 0 as 1. It runs when a value is stored,
    /// never on a hit.
    #[must_use]
    pub fn weigh(mut self, f: impl Fn(&V) -> usize + Send + Sync + 'static) -> Self {
        self.weigh = Some(Arc::new(f));
        self
    }

    /// How long a stored value is fresh (unless [`ttl_for`](Self::ttl_for)
    /// says otherwise). Greater than zero; `Duration::MAX` means "until
    /// evicted or invalidated".
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// After the TTL, how long a stale value is still returned at once while
    /// one background refresh per key runs. Zero (the default): never.
    #[must_use]
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = window;
        self
    }

    /// After the TTL, how long a stale value is returned when the inner
    /// service fails (instead of its error). Zero (the default): never.
    #[must_use]
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Decides per value whether it is stored and for how long: `None` (or
    /// zero) means not stored — the value is still returned, and handed to
    /// the requests that waited for it. Use it for negative caching, e.g. a
    /// short TTL for "not found".
    #[must_use]
    pub fn ttl_for(mut self, f: impl Fn(&V) -> Option<Duration> + Send + Sync + 'static) -> Self {
        self.ttl_for = Some(Arc::new(f));
        self
    }

    /// The tags a value carries, for [`Cache::invalidate_tag`].
    #[must_use]
    pub fn tags<I>(mut self, f: impl Fn(&V) -> I + Send + Sync + 'static) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tags = Some(Arc::new(move |v: &V| {
            f(v).into_iter()
                .map(|t| t.into().into_boxed_str())
                .collect()
        }));
        self
    }

    /// Adds a second tier shared by replicas (see [`crate::store`]). An L1
    /// miss looks there before calling the inner service; stored values are
    /// written there in the background. Keys and values cross the seam as
    /// their `postcard` encoding.
    #[must_use]
    pub fn l2<S: L2Store>(mut self, store: S) -> Self
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        self.l2 = Some(L2Hook {
            store: Arc::new(store),
            encode_key: encode_key::<K>,
            decode_key: decode_key::<K>,
            encode_value: encode_value::<V>,
            decode_value: decode_value::<V>,
        });
        self
    }

    /// Validates the configuration and builds the cache (its state is
    /// created here, once: every layer and service made from it shares it).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field, in the format of every Palisade
    /// builder (`max_entries must be at least 1, got 0`): a zero
    /// `max_entries` or `max_bytes`, both bounds at once, `max_bytes` without
    /// `weigh` (or the reverse), no TTL at all, or a zero `ttl`.
    pub fn build(self) -> Result<Cache<K, V>, ConfigError> {
        let capacity = match (self.max_entries, self.max_bytes) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::custom(
                    "max_bytes",
                    "must not be set together with max_entries",
                ));
            }
            (Some(0), None) => return Err(ConfigError::new("max_entries", "at least 1", 0)),
            (None, Some(0)) => return Err(ConfigError::new("max_bytes", "at least 1", 0)),
            (Some(n), None) | (None, Some(n)) => n,
            (None, None) => DEFAULT_MAX_ENTRIES,
        };
        if self.max_bytes.is_some() != self.weigh.is_some() {
            return Err(ConfigError::custom(
                "weigh",
                "must be set with max_bytes, and only with it",
            ));
        }
        if self.ttl.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::new("ttl", "greater than zero", Duration::ZERO));
        }
        if self.ttl.is_none() && self.ttl_for.is_none() {
            return Err(ConfigError::custom(
                "ttl",
                "must be set (with ttl or ttl_for)",
            ));
        }
        let policy = GenericPolicy {
            default: Lifetime::new(
                self.ttl.unwrap_or(Duration::ZERO),
                self.stale_while_revalidate,
                self.stale_if_error,
            ),
            ttl_for: self.ttl_for,
            tags: self.tags,
            weigh: self.weigh,
        };
        Ok(Cache {
            state: CacheState::new(self.name, capacity, Box::new(policy), self.l2),
        })
    }
}

fn encode_key<K: Serialize>(key: &K) -> Option<Bytes> {
    let mut out = b"v:".to_vec();
    postcard::to_io(key, &mut out).ok()?;
    Some(Bytes::from(out))
}

fn decode_key<K: DeserializeOwned>(bytes: &[u8]) -> Option<K> {
    postcard::from_bytes(bytes.strip_prefix(b"v:")?).ok()
}

fn encode_value<V: Serialize>(value: &V) -> Option<L2Payload> {
    postcard::to_stdvec(value)
        .ok()
        .map(|v| L2Payload::Value(Bytes::from(v)))
}

fn decode_value<V: DeserializeOwned>(payload: L2Payload) -> Option<V> {
    match payload {
        L2Payload::Value(bytes) => postcard::from_bytes(&bytes).ok(),
        _ => None,
    }
}
