//! The shared state of a `Health`: the components' last results and the
//! JSON documents rendered from them. Imports none of the modules above it.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::{
    Check, Options, Status,
    telemetry::{self, GroupTelemetry, SlotTelemetry},
};

/// A group of components, each answered by its own JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// Every component, with their figures (the status page's data).
    All,
    /// The components in readiness.
    Readiness,
    /// The components in liveness.
    Liveness,
}

/// One registered component (its check runs in its own background task).
pub(crate) struct Slot {
    pub(crate) name: Arc<str>,
    pub(crate) kind: &'static str,
    pub(crate) options: Options,
    telemetry: SlotTelemetry,
}

impl Slot {
    pub(crate) fn new(health: &str, name: &str, kind: &'static str, options: Options) -> Self {
        Self {
            name: name.into(),
            kind,
            options,
            telemetry: SlotTelemetry::new(health, name),
        }
    }
}

/// The result of one finished check.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) check: Check,
    pub(crate) checked_at: SystemTime,
    pub(crate) took: Duration,
    pub(crate) timed_out: bool,
}

#[derive(Default)]
struct Records {
    last: Vec<Option<Record>>,
    checks: Vec<u64>,
}

/// What probes read: rendered once per finished check, so a probe is an
/// atomic load and a reference-count increment.
pub(crate) struct Docs {
    pub(crate) all: Bytes,
    pub(crate) readiness: Bytes,
    pub(crate) liveness: Bytes,
    pub(crate) status: Status,
    pub(crate) ready: Status,
    pub(crate) live: Status,
    /// Per slot, in registration order.
    pub(crate) components: Vec<Status>,
}

impl Docs {
    pub(crate) fn group(&self, group: Group) -> (&Bytes, Status) {
        match group {
            Group::All => (&self.all, self.status),
            Group::Readiness => (&self.readiness, self.ready),
            Group::Liveness => (&self.liveness, self.live),
        }
    }
}

pub(crate) struct State {
    pub(crate) name: Arc<str>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) refresh: Duration,
    records: Mutex<Records>,
    docs: ArcSwap<Docs>,
    ready: watch::Sender<Status>,
    /// Never sent on: dropped with the state, which ends the background tasks.
    shutdown: watch::Sender<()>,
    groups: GroupTelemetry,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let docs = self.docs.load();
        f.debug_struct("Health")
            .field("name", &self.name)
            .field("status", &docs.status)
            .field("readiness", &docs.ready)
            .field("liveness", &docs.live)
            .field(
                "components",
                &self.slots.iter().map(|s| &*s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl State {
    pub(crate) fn new(name: Arc<str>, slots: Vec<Slot>, refresh: Duration) -> Self {
        let records = Records {
            last: vec![None; slots.len()],
            checks: vec![0; slots.len()],
        };
        let groups = GroupTelemetry::new(&name);
        let mut state = Self {
            name,
            slots,
            refresh,
            records: Mutex::new(Records::default()),
            docs: ArcSwap::from_pointee(Docs {
                all: Bytes::new(),
                readiness: Bytes::new(),
                liveness: Bytes::new(),
                status: Status::Unknown,
                ready: Status::Unknown,
                live: Status::Unknown,
                components: Vec::new(),
            }),
            ready: watch::channel(Status::Unknown).0,
            shutdown: watch::channel(()).0,
            groups,
        };
        let docs = state.render(&records);
        state.ready.send_replace(docs.ready);
        state.groups.set(docs.ready, docs.live);
        state.docs = ArcSwap::from_pointee(docs);
        state.records = Mutex::new(records);
        state
    }

    /// The documents as of the last finished check.
    pub(crate) fn docs(&self) -> arc_swap::Guard<Arc<Docs>> {
        self.docs.load()
    }

    /// Follows readiness.
    pub(crate) fn watch_ready(&self) -> watch::Receiver<Status> {
        self.ready.subscribe()
    }

    /// Ends with an error when the state is dropped.
    pub(crate) fn shutdown(&self) -> watch::Receiver<()> {
        self.shutdown.subscribe()
    }

    /// Stores the result of a check of slot `index` and renders the documents.
    pub(crate) fn record(&self, index: usize, record: Record) {
        let slot = &self.slots[index];
        let status = record.check.status();
        slot.telemetry.check(status, record.timed_out, record.took);

        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let before = records.last[index]
            .as_ref()
            .map_or(Status::Unknown, |r| r.check.status());
        if before != status {
            telemetry::component_changed(
                &self.name,
                &slot.name,
                before,
                status,
                record.check.detail(),
            );
        }
        records.last[index] = Some(record);
        records.checks[index] += 1;
        let docs = Arc::new(self.render(&records));
        let old = self.docs.swap(Arc::clone(&docs));
        // Still under the lock, so two checks finishing together cannot
        // announce their groups out of order.
        if old.ready != docs.ready {
            telemetry::group_changed(&self.name, "readiness", old.ready, docs.ready);
            self.ready.send_replace(docs.ready);
        }
        if old.live != docs.live {
            telemetry::group_changed(&self.name, "liveness", old.live, docs.live);
        }
        self.groups.set(docs.ready, docs.live);
        drop(records);
    }

    fn render(&self, records: &Records) -> Docs {
        let mut status = Status::Up;
        let mut ready = Status::Up;
        let mut live = Status::Up;
        let mut all = Map::new();
        let mut readiness = Map::new();
        let mut liveness = Map::new();
        let mut components = Vec::with_capacity(self.slots.len());
        for (i, slot) in self.slots.iter().enumerate() {
            let record = records.last[i].as_ref();
            let s = record.map_or(Status::Unknown, |r| r.check.status());
            components.push(s);
            status = status.worst(s);
            let summary = summary(slot, record, records.checks[i]);
            if slot.options.readiness {
                ready = ready.worst(s);
                readiness.insert(slot.name.to_string(), summary.clone());
            }
            if slot.options.liveness {
                live = live.worst(s);
                liveness.insert(slot.name.to_string(), summary.clone());
            }
            let mut full = summary;
            if let Value::Object(map) = &mut full {
                map.insert("kind".into(), slot.kind.into());
                map.insert("interval_ms".into(), millis(slot.options.interval).into());
                map.insert("timeout_ms".into(), millis(slot.options.timeout).into());
                let mut groups = Vec::new();
                if slot.options.readiness {
                    groups.push("readiness");
                }
                if slot.options.liveness {
                    groups.push("liveness");
                }
                map.insert("groups".into(), groups.into());
                map.insert(
                    "data".into(),
                    record.map_or(Value::Null, |r| r.check.data().clone()),
                );
            }
            all.insert(slot.name.to_string(), full);
        }
        let now = SystemTime::now();
        let doc_all = json!({
            "name": &*self.name,
            "status": status.as_str(),
            "groups": { "readiness": ready.as_str(), "liveness": live.as_str() },
            "generated_at": rfc3339(now),
            "refresh_ms": millis(self.refresh),
            "components": all,
        });
        let doc = |group: &str, status: Status, components: Map<String, Value>| {
            Bytes::from(
                json!({
                    "name": &*self.name,
                    "group": group,
                    "status": status.as_str(),
                    "components": components,
                })
                .to_string(),
            )
        };
        Docs {
            all: Bytes::from(doc_all.to_string()),
            readiness: doc("readiness", ready, readiness),
            liveness: doc("liveness", live, liveness),
            status,
            ready,
            live,
            components,
        }
    }
}

/// Status, detail and time of the last check of one component.
fn summary(slot: &Slot, record: Option<&Record>, checks: u64) -> Value {
    let _ = slot;
    match record {
        None => json!({
            "status": Status::Unknown.as_str(),
            "detail": "not checked yet",
            "checked_at": null,
            "duration_ms": null,
            "timed_out": false,
            "checks": checks,
        }),
        Some(r) => json!({
            "status": r.check.status().as_str(),
            "detail": r.check.detail(),
            "checked_at": rfc3339(r.checked_at),
            "duration_ms": r.took.as_secs_f64() * 1000.0,
            "timed_out": r.timed_out,
            "checks": checks,
        }),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `2026-12-02T06:10:00.123Z` (UTC, millisecond precision).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::rfc3339;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_169_599)),
            "2026-12-01T23:59:59.000Z"
        );
    }
}
