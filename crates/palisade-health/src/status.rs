//! The five statuses and how they combine.

use std::fmt;

/// The status of a component, or of a group of components.
///
/// The names and meanings follow Spring Boot Actuator, plus `Degraded`
/// for a component that works at reduced quality (a cache whose Redis tier
/// is down still answers from memory).
///
/// A group is *passing* (HTTP 200, gRPC `SERVING`) when its status is `Up`
/// or `Degraded`; `Down`, `OutOfService` and `Unknown` (not checked yet)
/// fail it (HTTP 503, `NOT_SERVING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Working normally.
    Up,
    /// Working, at reduced quality or capacity.
    Degraded,
    /// Not working.
    Down,
    /// Taken out of service on purpose (a breaker forced open).
    OutOfService,
    /// Not checked yet.
    Unknown,
}

impl Status {
    /// The status as written in JSON: `UP`, `DEGRADED`, `DOWN`,
    /// `OUT_OF_SERVICE`, `UNKNOWN`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Degraded => "DEGRADED",
            Status::Down => "DOWN",
            Status::OutOfService => "OUT_OF_SERVICE",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// How bad the status is, from 0 (`Up`) through 1 (`Degraded`),
    /// 2 (`Unknown`), 3 (`OutOfService`) to 4 (`Down`): a group takes the
    /// worst status of its components. Also the value of the
    /// `palisade_health_status` gauge.
    pub const fn severity(self) -> u8 {
        match self {
            Status::Up => 0,
            Status::Degraded => 1,
            Status::Unknown => 2,
            Status::OutOfService => 3,
            Status::Down => 4,
        }
    }

    /// `true` for `Up` and `Degraded`: a group with this status answers
    /// 200 and `SERVING`.
    pub const fn is_passing(self) -> bool {
        matches!(self, Status::Up | Status::Degraded)
    }

    /// The worse of two statuses (see [`severity`](Self::severity)).
    #[must_use]
    pub const fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn worst_and_passing() {
        use Status::*;
        assert_eq!(Up.worst(Degraded), Degraded);
        assert_eq!(Down.worst(Up), Down);
        assert_eq!(Degraded.worst(Unknown), Unknown);
        assert_eq!(OutOfService.worst(Down), Down);
        assert!(Up.is_passing() && Degraded.is_passing());
        assert!(!Down.is_passing() && !OutOfService.is_passing() && !Unknown.is_passing());
    }
}
