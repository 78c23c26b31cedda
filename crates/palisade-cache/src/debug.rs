//! The `Debug` output shared by the response futures of `Cache` and
//! `HttpCache`: their type name and the state they are in, nothing of the
//! request or the value.

use std::fmt;

/// Writes `name { state: "<state>" }`.
pub(crate) fn state_machine(f: &mut fmt::Formatter<'_>, name: &str, state: &str) -> fmt::Result {
    f.debug_struct(name).field("state", &state).finish()
}
