//! [`Criticality`] and the ways to read it from a request
//! ([`CriticalityOf`], [`CriticalityHeader`]).

use http::HeaderName;
use std::fmt;

/// How much a request matters when the service is overloaded: the lowest is
/// shed first (Google SRE, "Handling Overload": `CRITICAL_PLUS`,
/// `CRITICAL`, `SHEDDABLE_PLUS`, `SHEDDABLE`, folded here into three).
///
/// Ordered from least to most important:
/// `Sheddable < Normal < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Criticality {
    /// Work that may be dropped first: prefetches, batch jobs, retries of
    /// background work.
    Sheddable,
    /// Ordinary user-facing work (the default).
    #[default]
    Normal,
    /// Work that must get through: it keeps a reserved share of the limit,
    /// is served before any other queued request and is never shed by CoDel.
    Critical,
}

impl Criticality {
    /// The three levels, most important first.
    pub const ALL: [Criticality; 3] = [
        Criticality::Critical,
        Criticality::Normal,
        Criticality::Sheddable,
    ];

    /// Parses a header or metadata value, ASCII case-insensitively:
    /// `critical` and `critical_plus` (SRE's two top levels) → `Critical`;
    /// `normal` and `default` → `Normal`; `sheddable` and `sheddable_plus`
    /// → `Sheddable` (`-` may stand for `_`). Anything else is `None`.
    ///
    /// ```
    /// use palisade_shed::queue::Criticality;
    ///
    /// assert_eq!(Criticality::parse(b"CRITICAL_PLUS"), Some(Criticality::Critical));
    /// assert_eq!(Criticality::parse(b"sheddable"), Some(Criticality::Sheddable));
    /// assert_eq!(Criticality::parse(b"urgent!!"), None);
    /// ```
    pub fn parse(value: &[u8]) -> Option<Self> {
        // The longest accepted value is 14 bytes: never look at more.
        if value.len() > 14 {
            return None;
        }
        let mut buf = [0u8; 14];
        for (d, s) in buf.iter_mut().zip(value) {
            *d = if *s == b'-' {
                b'_'
            } else {
                s.to_ascii_lowercase()
            };
        }
        match &buf[..value.len()] {
            b"critical" | b"critical_plus" => Some(Criticality::Critical),
            b"normal" | b"default" => Some(Criticality::Normal),
            b"sheddable" | b"sheddable_plus" => Some(Criticality::Sheddable),
            _ => None,
        }
    }

    /// The lowercase name (`critical`, `normal`, `sheddable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Critical => "critical",
            Criticality::Normal => "normal",
            Criticality::Sheddable => "sheddable",
        }
    }

    /// Index into per-level tables, most important first.
    pub(crate) fn rank(self) -> usize {
        match self {
            Criticality::Critical => 0,
            Criticality::Normal => 1,
            Criticality::Sheddable => 2,
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a request's [`Criticality`]. Implemented for `()` (every request
/// is `Normal`), for closures `Fn(&Req) -> Criticality`, and for
/// [`CriticalityHeader`].
pub trait CriticalityOf<Req>: Send + Sync + 'static {
    /// The criticality of `req`.
    fn criticality(&self, req: &Req) -> Criticality;
}

impl<Req> CriticalityOf<Req> for () {
    #[inline]
    fn criticality(&self, _: &Req) -> Criticality {
        Criticality::Normal
    }
}

impl<F, Req> CriticalityOf<Req> for F
where
    F: Fn(&Req) -> Criticality + Send + Sync + 'static,
{
    #[inline]
    fn criticality(&self, req: &Req) -> Criticality {
        self(req)
    }
}

/// Reads the criticality of an HTTP request (or a gRPC call: its metadata
/// is headers) from a header, `x-criticality` by default, parsed with
/// [`Criticality::parse`]. A missing or unknown value gives the default
/// (`Normal` unless set): a client cannot make itself critical with a value
/// the server does not know.
///
/// ```
/// use http::Request;
/// use palisade_shed::queue::{Criticality, CriticalityHeader, CriticalityOf};
///
/// let header = CriticalityHeader::default();
/// let req = Request::builder().header("x-criticality", "sheddable").body(()).unwrap();
/// assert_eq!(header.criticality(&req), Criticality::Sheddable);
/// assert_eq!(header.criticality(&Request::new(())), Criticality::Normal);
/// ```
#[derive(Debug, Clone)]
pub struct CriticalityHeader {
    name: HeaderName,
    default: Criticality,
}

impl CriticalityHeader {
    /// Reads the header `name`.
    pub fn new(name: HeaderName) -> Self {
        Self {
            name,
            default: Criticality::Normal,
        }
    }

    /// The criticality of a request without the header or with a value
    /// [`Criticality::parse`] does not know (default `Normal`).
    pub fn or(mut self, default: Criticality) -> Self {
        self.default = default;
        self
    }
}

impl Default for CriticalityHeader {
    /// `x-criticality`, defaulting to `Normal`.
    fn default() -> Self {
        Self::new(HeaderName::from_static("x-criticality"))
    }
}

impl<B> CriticalityOf<http::Request<B>> for CriticalityHeader {
    fn criticality(&self, req: &http::Request<B>) -> Criticality {
        req.headers()
            .get(&self.name)
            .and_then(|v| Criticality::parse(v.as_bytes()))
            .unwrap_or(self.default)
    }
}
