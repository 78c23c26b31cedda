//! A cached value with its freshness, judged on tokio's clock.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

/// How long an entry stays usable, decided when it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetime {
    pub(crate) ttl: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
}

impl Lifetime {
    /// Fresh for `ttl`, then stale-while-revalidate and stale-if-error
    /// windows (each counted from the end of the TTL).
    pub(crate) const fn new(
        ttl: Duration,
        stale_while_revalidate: Duration,
        stale_if_error: Duration,
    ) -> Self {
        Self {
            ttl,
            stale_while_revalidate,
            stale_if_error,
        }
    }

    /// TTL plus the longer stale window: after that the entry is gone.
    pub(crate) fn total(&self) -> Duration {
        self.ttl
            .saturating_add(self.stale_while_revalidate.max(self.stale_if_error))
    }
}

/// One L1 entry: the value (shared, so a hit does not copy it), when it was
/// stored, its lifetime, tags and weight.
#[derive(Debug)]
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    pub(crate) stored_at: Instant,
    pub(crate) lifetime: Lifetime,
    pub(crate) tags: Box<[Box<str>]>,
    pub(crate) weight: u32,
}

/// What an entry is good for at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Within the TTL: serve it.
    Fresh,
    /// Past the TTL, within stale-while-revalidate: serve it, refresh once in
    /// the background.
    StaleRevalidate,
    /// Past the TTL and stale-while-revalidate, within stale-if-error: fetch,
    /// and serve it only if the fetch fails.
    StaleIfError,
    /// Past every window.
    Expired,
}

impl<V> Entry<V> {
    pub(crate) fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.stored_at)
    }

    pub(crate) fn freshness(&self, now: Instant) -> Freshness {
        let age = self.age(now);
        let l = &self.lifetime;
        if age < l.ttl {
            Freshness::Fresh
        } else if age < l.ttl.saturating_add(l.stale_while_revalidate) {
            Freshness::StaleRevalidate
        } else if age < l.ttl.saturating_add(l.stale_if_error) {
            Freshness::StaleIfError
        } else {
            Freshness::Expired
        }
    }

    /// Whether the entry may still answer a failed fetch at `now`.
    pub(crate) fn usable_on_error(&self, now: Instant) -> bool {
        self.age(now)
            < self
                .lifetime
                .ttl
                .saturating_add(self.lifetime.stale_if_error)
    }

    pub(crate) fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| &**t == tag)
    }
}

/// The shared form kept in moka.
pub(crate) type SharedEntry<V> = Arc<Entry<V>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ttl: u64, swr: u64, sie: u64) -> Entry<()> {
        Entry {
            value: (),
            stored_at: Instant::now(),
            lifetime: Lifetime {
                ttl: Duration::from_secs(ttl),
                stale_while_revalidate: Duration::from_secs(swr),
                stale_if_error: Duration::from_secs(sie),
            },
            tags: Box::new([]),
            weight: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn windows_follow_each_other() {
        let e = entry(10, 5, 20);
        let t0 = e.stored_at;
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(e.freshness(at(0)), Freshness::Fresh);
        assert_eq!(e.freshness(at(9)), Freshness::Fresh);
        assert_eq!(e.freshness(at(10)), Freshness::StaleRevalidate);
        assert_eq!(e.freshness(at(14)), Freshness::StaleRevalidate);
        assert_eq!(e.freshness(at(15)), Freshness::StaleIfError);
        assert_eq!(e.freshness(at(29)), Freshness::StaleIfError);
        assert_eq!(e.freshness(at(30)), Freshness::Expired);
        assert!(e.usable_on_error(at(29)));
        assert!(!e.usable_on_error(at(30)));
        assert_eq!(e.lifetime.total(), Duration::from_secs(30));
    }
}

#[cfg(test)]
mod model {
    use proptest::prelude::*;

    use super::*;

    /// The rules of the issue, written plainly: fresh for the TTL; then
    /// stale-while-revalidate; then only a fallback on error within
    /// stale-if-error; then gone.
    fn model(ttl: u64, swr: u64, sie: u64, age: u64) -> (Freshness, bool) {
        let state = if age < ttl {
            Freshness::Fresh
        } else if age - ttl < swr {
            Freshness::StaleRevalidate
        } else if age - ttl < sie {
            Freshness::StaleIfError
        } else {
            Freshness::Expired
        };
        (state, age < ttl + sie)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn freshness_matches_the_model(ttl in 1u64..100, swr in 0u64..100, sie in 0u64..100, age in 0u64..400) {
            let now = Instant::now();
            let e = Entry {
                value: (),
                stored_at: now,
                lifetime: Lifetime {
                    ttl: Duration::from_millis(ttl),
                    stale_while_revalidate: Duration::from_millis(swr),
                    stale_if_error: Duration::from_millis(sie),
                },
                tags: Box::new([]),
                weight: 1,
            };
            let at = now + Duration::from_millis(age);
            prop_assert_eq!((e.freshness(at), e.usable_on_error(at)), model(ttl, swr, sie, age));
        }
    }
}
