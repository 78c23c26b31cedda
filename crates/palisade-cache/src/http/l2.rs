//! The L2 step of an HTTP leading miss: look the request up in the shared
//! tier (through the URL's `Vary` marker), and answer from a fresh entry.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use tokio::time::Instant;

use super::{
    CacheBody, HttpValue,
    key::{variant_key, variant_suffix},
    lead::{Ctx, Guard, answer},
    policy::x_cache,
};
use crate::{entry::SharedEntry, l2::L2Lookup};

/// An L2 lookup in progress: the key an entry was found under, and it.
pub(crate) type HttpL2Lookup = L2Lookup<(Bytes, SharedEntry<HttpValue>)>;

/// Looks the request up in the L2 (through the URL's `Vary` marker).
pub(crate) fn l2_lookup(ctx: &Ctx) -> HttpL2Lookup {
    let state = Arc::clone(&ctx.state);
    let base = ctx.base.clone();
    let headers = ctx.req_headers.clone();
    Box::pin(async move {
        let l2 = state.l2.as_ref()?;
        let entry = l2.store.get(&(l2.encode_key)(&base)?).await?;
        let now = Instant::now();
        let entry = state.entry_from_l2(entry, now)?;
        let HttpValue::Vary(names) = &entry.value else {
            return Some((base, entry));
        };
        let key = variant_key(&base, &variant_suffix(names, &headers));
        state.l1.insert(base, entry.clone());
        let found = l2.store.get(&(l2.encode_key)(&key)?).await?;
        let found = state.entry_from_l2(found, now)?;
        Some((key, found))
    })
}

/// Answers from a fresh L2 entry (filling L1 and the waiters), or gives the
/// lead back (with a better stale fallback if the L2 had one).
pub(crate) fn fill_from_l2<B>(
    ctx: &Ctx,
    mut guard: Guard,
    found: Option<(Bytes, SharedEntry<HttpValue>)>,
) -> Result<Response<CacheBody<B>>, Guard> {
    let Some((key, entry)) = found else {
        return Err(guard);
    };
    let HttpValue::Response(stored) = &entry.value else {
        return Err(guard);
    };
    let usable = !ctx.scan.authorized || stored.authorized_ok;
    let now = Instant::now();
    let Some(entry) = guard.l2_found(entry, now, |old, _| old.is_none() && usable) else {
        return Err(guard);
    };
    let HttpValue::Response(stored) = &entry.value else {
        return Err(guard);
    };
    if ctx.scan.authorized && !stored.authorized_ok {
        // Not for this request (RFC 9111 §3.5); L1 keeps it for the others.
        ctx.state.l1.insert(key, entry);
        return Err(guard);
    }
    let pending = ctx.state.l1.insert_now(key, entry.clone());
    ctx.state.record_hit();
    let age = Some(entry.age(now));
    let resp = answer(stored, ctx.head, x_cache::HIT, age, &ctx.req_headers);
    guard.finish_stored(entry.value.clone(), pending.into_iter().collect());
    Ok(resp)
}
