//! What the cache logic needs of an L2 besides the [`L2Store`] itself: the
//! key and value encodings chosen by a builder, and the checks shared by
//! `Cache` and `HttpCache` on the way in and out.

use std::sync::Arc;

use bytes::Bytes;

use crate::{
    entry::SharedEntry,
    store::{L2Payload, L2Store},
};

/// How values become L2 payloads and keys become L2 keys (chosen where the
/// bounds are known: `.l2()` on a builder).
pub(crate) struct L2Hook<K, V> {
    pub(crate) store: Arc<dyn L2Store>,
    pub(crate) encode_key: fn(&K) -> Option<Bytes>,
    pub(crate) decode_key: fn(&[u8]) -> Option<K>,
    pub(crate) encode_value: fn(&V) -> Option<L2Payload>,
    pub(crate) decode_value: fn(L2Payload) -> Option<V>,
}

impl<K, V> std::fmt::Debug for L2Hook<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2Hook")
            .field("store", &self.store)
            .finish()
    }
}

/// An L2 operation the cache is about to make.
#[derive(Debug, Clone, Copy)]
pub(crate) enum L2Op {
    Get,
    Put,
}

/// An L2 lookup in progress (boxed: it is behind a network round trip).
pub(crate) type L2Lookup<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<T>> + Send>>;

/// A generic cache's L2 lookup: the entry found.
pub(crate) type EntryLookup<V> = L2Lookup<SharedEntry<V>>;
