//! The bounded table of routes: a read-mostly map from route string to an
//! index into a fixed array of [`RouteEntry`]s, each holding the recorders
//! of its route × method × class slots. Known routes are found without a
//! lock or an allocation; once `max_routes` routes are known, every new one
//! is folded into [`OTHER`].

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use arc_swap::ArcSwap;

use crate::{
    histogram::Slot,
    log_limit::LogLimit,
    method::METHODS,
    route::{OTHER, UNMATCHED},
    status_class::StatusClass,
    telemetry::RouteMetrics,
};

/// Index of the `unmatched` route.
pub(crate) const UNMATCHED_IDX: u32 = 0;
/// Index of the `other` route.
pub(crate) const OTHER_IDX: u32 = 1;

/// One route: its per method × class slots, its rate limiters and its
/// cached metric handles.
pub(crate) struct RouteEntry {
    pub(crate) name: Arc<str>,
    slots: [[OnceLock<Box<Slot>>; StatusClass::ALL.len()]; METHODS.len()],
    pub(crate) slow_log: LogLimit,
    pub(crate) blocking_log: LogLimit,
    pub(crate) metrics: RouteMetrics,
}

impl RouteEntry {
    fn new(name: Arc<str>, tracker: &str) -> Self {
        let metrics = RouteMetrics::new(tracker, &name);
        Self {
            name,
            slots: Default::default(),
            slow_log: LogLimit::default(),
            blocking_log: LogLimit::default(),
            metrics,
        }
    }

    /// The slot of `method` × `class`, created on first use.
    #[inline]
    pub(crate) fn slot(
        &self,
        method: usize,
        class: StatusClass,
        shards: usize,
        tracker: &str,
    ) -> &Slot {
        self.slots[method][class.index()].get_or_init(|| {
            Box::new(Slot::new(
                shards,
                tracker,
                &self.name,
                METHODS[method],
                class,
            ))
        })
    }

    /// The slots created so far, with their method and class.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (&'static str, StatusClass, &Slot)> {
        self.slots.iter().enumerate().flat_map(|(m, row)| {
            row.iter()
                .zip(StatusClass::ALL)
                .filter_map(move |(cell, class)| cell.get().map(|s| (METHODS[m], class, &**s)))
        })
    }
}

type RouteMap = HashMap<Arc<str>, u32, foldhash::fast::RandomState>;

/// The bounded table of routes: a read-mostly map from route string to an
/// index into a fixed array of entries. Known routes are found without a
/// lock or an allocation.
pub(crate) struct Routes {
    map: ArcSwap<RouteMap>,
    entries: Box<[OnceLock<Box<RouteEntry>>]>,
    insert: Mutex<()>,
    full: AtomicBool,
    tracker: Arc<str>,
}

impl Routes {
    pub(crate) fn new(max_routes: usize, tracker: Arc<str>) -> Self {
        let entries: Box<[OnceLock<Box<RouteEntry>>]> =
            (0..max_routes + 2).map(|_| OnceLock::new()).collect();
        let _ = entries[UNMATCHED_IDX as usize]
            .set(Box::new(RouteEntry::new(Arc::from(UNMATCHED), &tracker)));
        let _ =
            entries[OTHER_IDX as usize].set(Box::new(RouteEntry::new(Arc::from(OTHER), &tracker)));
        Self {
            map: ArcSwap::from_pointee(RouteMap::default()),
            entries,
            insert: Mutex::new(()),
            full: AtomicBool::new(max_routes == 0),
            tracker,
        }
    }

    /// The index of `route`, registering it if there is room.
    #[inline]
    pub(crate) fn resolve(&self, route: Option<&str>) -> u32 {
        let Some(route) = route else {
            return UNMATCHED_IDX;
        };
        if let Some(&idx) = self.map.load().get(route) {
            return idx;
        }
        self.insert_slow(route)
    }

    /// The index of a client-chosen `route` if it is known already;
    /// otherwise `UNMATCHED` and a copy of the name, registered by
    /// [`resolve`](Self::resolve) once a response shows the server serves it.
    #[inline]
    pub(crate) fn claim(&self, route: &str) -> (u32, Option<Box<str>>) {
        match self.map.load().get(route) {
            Some(&idx) => (idx, None),
            None => (UNMATCHED_IDX, Some(Box::from(route))),
        }
    }

    #[cold]
    fn insert_slow(&self, route: &str) -> u32 {
        if route == UNMATCHED {
            return UNMATCHED_IDX;
        }
        if route == OTHER || self.full.load(Ordering::Relaxed) {
            return OTHER_IDX;
        }
        let _guard = self.insert.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.map.load_full();
        if let Some(&idx) = current.get(route) {
            return idx;
        }
        let idx = current.len() + 2;
        let Some(cell) = self.entries.get(idx) else {
            self.full.store(true, Ordering::Relaxed);
            return OTHER_IDX;
        };
        let name: Arc<str> = Arc::from(route);
        let _ = cell.set(Box::new(RouteEntry::new(name.clone(), &self.tracker)));
        let mut next = RouteMap::clone(&current);
        #[allow(clippy::cast_possible_truncation)] // bounded by max_routes (u32 checked at build)
        next.insert(name, idx as u32);
        self.map.store(Arc::new(next));
        if idx + 1 == self.entries.len() {
            self.full.store(true, Ordering::Relaxed);
        }
        #[allow(clippy::cast_possible_truncation)]
        let idx = idx as u32;
        idx
    }

    #[inline]
    pub(crate) fn entry(&self, idx: u32) -> &RouteEntry {
        // Every index handed out by `resolve` was set before it was published.
        self.entries[idx as usize]
            .get()
            .or_else(|| self.entries[UNMATCHED_IDX as usize].get())
            .map(|b| &**b)
            .unwrap_or_else(|| unreachable!("the unmatched entry is set at construction"))
    }

    /// Every route created so far.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &RouteEntry> {
        self.entries.iter().filter_map(|e| e.get().map(|b| &**b))
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("known", &self.map.load().len())
            .field("max_routes", &(self.entries.len() - 2))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_bounded() {
        let routes = Routes::new(2, Arc::from("t"));
        let a = routes.resolve(Some("/a"));
        let b = routes.resolve(Some("/b"));
        assert_eq!(routes.resolve(Some("/a")), a);
        assert_ne!(a, b);
        assert_eq!(routes.resolve(Some("/c")), OTHER_IDX);
        assert_eq!(routes.resolve(None), UNMATCHED_IDX);
        assert_eq!(routes.resolve(Some(UNMATCHED)), UNMATCHED_IDX);
        assert_eq!(&*routes.entry(a).name, "/a");
        assert_eq!(routes.iter().count(), 4);
    }
}
