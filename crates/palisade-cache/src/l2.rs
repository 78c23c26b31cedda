//! What the cache logic needs of an L2 besides the [`L2Store`] itself: the
//! key and value encodings chosen by a builder, and the checks shared by
//! `Cache` and `HttpCache` on the way in and out.

use std::sync::Arc;

use bytes::Bytes;

use crate::store::{L2Payload, L2Store};

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

