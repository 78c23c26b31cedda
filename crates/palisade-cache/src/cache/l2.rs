//! The L2 step of a generic [`Cache`](super::Cache)'s leading miss: look in
//! the shared tier (and, when moka was busy, in L1 again) before calling.

use std::{hash::Hash, sync::Arc};

use tokio::time::Instant;

use crate::{
    entry::{Freshness, SharedEntry},
    l1::poll_now,
    l2::{EntryLookup, L2Op},
    leader::LeadGuard,
    state::CacheState,
};

/// What the L2 said at once.
pub(super) enum L2First<V> {
    Hit(SharedEntry<V>),
    Miss,
    Pending(EntryLookup<V>),
}

/// Looks in the L2, answering at once when the store does (a hit in
/// memory). A store that reports itself unavailable is not asked. With
/// `recheck` (L1 was busy), looks in L1 again first, waiting for it.
pub(super) fn look_in_l2<K, V>(
    state: &Arc<CacheState<K, V>>,
    guard: &mut LeadGuard<K, V>,
    now: Instant,
    recheck: bool,
) -> L2First<V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let state = Arc::clone(state);
    let l2 = state
        .l2_if_available(L2Op::Get)
        .and_then(|l2| Some((Arc::clone(&l2.store), (l2.encode_key)(&guard.key)?)));
    if l2.is_none() && !recheck {
        return L2First::Miss;
    }
    let key = recheck.then(|| guard.key.clone());
    let core2 = Arc::clone(&state);
    let mut lookup: EntryLookup<V> = Box::pin(async move {
        let mut in_l1 = None;
        if let Some(key) = key
            && let Some(entry) = core2.l1.get(&key).await
        {
            if entry.freshness(Instant::now()) == Freshness::Fresh {
                return Some(entry);
            }
            in_l1 = Some(entry);
        }
        let Some((store, key)) = l2 else {
            return in_l1;
        };
        let found = match store.get(&key).await {
            Some(entry) => core2.entry_from_l2(entry, Instant::now()),
            None => None,
        };
        found.or(in_l1)
    });
    match poll_now(lookup.as_mut()) {
        None => L2First::Pending(lookup),
        Some(found) => match classify_l2(found, now, guard) {
            Some(entry) => L2First::Hit(entry),
            None => L2First::Miss,
        },
    }
}

/// A fresh L2 entry is a hit; a stale one only replaces an older stale
/// fallback, and only while it may answer an error.
pub(super) fn classify_l2<K, V>(
    found: Option<SharedEntry<V>>,
    now: Instant,
    guard: &mut LeadGuard<K, V>,
) -> Option<SharedEntry<V>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    guard.l2_found(found?, now, |old, new| {
        old.is_none_or(|s| s.stored_at < new.stored_at) && new.usable_on_error(now)
    })
}
