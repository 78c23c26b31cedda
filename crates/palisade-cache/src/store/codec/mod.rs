//! The versioned binary envelope in which [`L2Entry`]s travel through Redis.
//!
//! Layout: the 4-byte magic `PLSC`, one version byte (currently `1`), then a
//! [`postcard`] document holding the freshness (when the entry was stored, in
//! Unix milliseconds; its TTL and stale windows in milliseconds), the entry's
//! tags and its payload: the opaque bytes of a generic value (already
//! `postcard`-encoded by the cache), an HTTP response (status, headers in
//! order, body) or a `Vary` marker.
//!
//! Decoding never panics: anything that is not one complete, well-formed
//! version-1 envelope (foreign data, truncation, trailing bytes, a future
//! version, an invalid status or header, more than [`MAX_HEADERS`] headers,
//! [`MAX_TAGS`] tags or [`MAX_VARY_NAMES`] `Vary` names) is a
//! [`DecodeError`], which the store counts as an undecodable miss. Every
//! count read from the bytes is checked against its bound before anything
//! is allocated for it, and every length against the bytes that remain, so
//! hostile data costs at most a few allocations bounded by its own size.
//! Payload bytes are not copied: a decoded body, value or header value is a
//! slice of the buffer read from Redis.
//!
//! Encoding refuses ([`EncodeError`]) an entry the decoder would refuse, so
//! nothing written is unreadable.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::store::{L2Entry, L2Payload};
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The first bytes of every envelope.
pub(crate) const MAGIC: [u8; 4] = *b"PLSC";
/// The envelope version this build writes and reads.
pub(crate) const VERSION: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 1;

/// The most headers a stored response may have. `http::HeaderMap` holds at
/// most 32,768 entries and panics beyond; real responses have a few dozen.
pub(crate) const MAX_HEADERS: usize = 1024;
/// The most tags one entry may carry.
pub(crate) const MAX_TAGS: usize = 1024;
/// The most header names one `Vary` marker may list.
pub(crate) const MAX_VARY_NAMES: usize = 256;
/// The most elements a bounded sequence reserves room for up front; beyond
/// that it grows with the elements actually read (each takes input bytes).
const PREALLOC: usize = 16;

/// Why bytes read from the L2 could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The bytes do not start with the envelope magic.
    Foreign,
    /// The envelope was written by another (future) version.
    Version(u8),
    /// The envelope is truncated, has trailing bytes or invalid fields.
    Malformed(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Foreign => f.write_str("not a palisade cache envelope"),
            Self::Version(v) => write!(f, "unsupported envelope version {v}"),
            Self::Malformed(what) => write!(f, "malformed envelope: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why an entry was not written to the L2: it has more elements than the
/// decoder accepts (the field is named).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodeError(pub(crate) &'static str);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry not stored in the L2: too many {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// A sequence of at most `MAX` elements. The length prefix read from the
/// input is checked before any allocation, and the vector grows only with
/// the elements actually decoded. Serialized exactly like a `Vec`.
#[derive(Debug)]
struct Bounded<T, const MAX: usize>(Vec<T>);

impl<T: Serialize, const MAX: usize> Serialize for Bounded<T, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Bounded<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seq<T, const MAX: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Seq<T, MAX> {
            type Value = Bounded<T, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a sequence of at most {MAX} elements")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let hint = seq.size_hint().unwrap_or(0);
                if hint > MAX {
                    return Err(A::Error::invalid_length(hint, &self));
                }
                let mut out = Vec::with_capacity(hint.min(PREALLOC));
                while let Some(element) = seq.next_element()? {
                    if out.len() == MAX {
                        return Err(A::Error::invalid_length(MAX + 1, &self));
                    }
                    out.push(element);
                }
                Ok(Bounded(out))
            }
        }

        deserializer.deserialize_seq(Seq(PhantomData))
    }
}

/// Raw bytes, serialized as a byte string (postcard: length + bytes) and
/// borrowed from the input when decoding.
#[derive(Debug, Clone, Copy)]
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(deserializer).map(Raw)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct WireV1<'a> {
    stored_at_ms: u64,
    ttl_ms: u64,
    swr_ms: u64,
    sie_ms: u64,
    #[serde(borrow)]
    tags: Bounded<&'a str, MAX_TAGS>,
    #[serde(borrow)]
    payload: WirePayload<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
enum WirePayload<'a> {
    Value(#[serde(borrow)] Raw<'a>),
    Http {
        status: u16,
        #[serde(borrow)]
        headers: Bounded<(&'a str, Raw<'a>), MAX_HEADERS>,
        #[serde(borrow)]
        body: Raw<'a>,
    },
    Vary(#[serde(borrow)] Bounded<&'a str, MAX_VARY_NAMES>),
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Encodes an entry into a fresh buffer; refuses one with more headers,
/// tags or `Vary` names than [`decode`] accepts.
pub(crate) fn encode(entry: &L2Entry) -> Result<Vec<u8>, EncodeError> {
    if entry.tags.len() > MAX_TAGS {
        return Err(EncodeError("tags"));
    }
    let stored_at_ms = millis(
        entry
            .stored_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let headers;
    let payload = match &entry.payload {
        L2Payload::Value(bytes) => WirePayload::Value(Raw(bytes)),
        L2Payload::Response {
            status,
            headers: map,
            body,
        } => {
            if map.len() > MAX_HEADERS {
                return Err(EncodeError("headers"));
            }
            headers = Bounded(
                map.iter()
                    .map(|(name, value)| (name.as_str(), Raw(value.as_bytes())))
                    .collect(),
            );
            WirePayload::Http {
                status: status.as_u16(),
                headers,
                body: Raw(body),
            }
        }
        L2Payload::Vary(names) => {
            if names.len() > MAX_VARY_NAMES {
                return Err(EncodeError("vary names"));
            }
            WirePayload::Vary(Bounded(names.iter().map(String::as_str).collect()))
        }
    };
    let wire = WireV1 {
        stored_at_ms,
        ttl_ms: millis(entry.ttl),
        swr_ms: millis(entry.stale_while_revalidate),
        sie_ms: millis(entry.stale_if_error),
        tags: Bounded(entry.tags.iter().map(String::as_str).collect()),
        payload,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + 64 + entry.payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    // Serializing into a Vec cannot fail: every field is plainly serializable.
    Ok(postcard::to_extend(&wire, out).unwrap_or_else(|_| unreachable_encoding()))
}

#[cold]
fn unreachable_encoding() -> Vec<u8> {
    // postcard only fails on writer exhaustion (impossible for a Vec) or
    // unsupported serde types (none here). An empty buffer decodes as a
    // miss, so even this path cannot serve anything wrong.
    Vec::new()
}

/// Decodes bytes read from the L2. Never panics, whatever the input.
pub(crate) fn decode(bytes: &Bytes) -> Result<L2Entry, DecodeError> {
    if bytes.len() < HEADER_LEN || bytes[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::Foreign);
    }
    let version = bytes[MAGIC.len()];
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let (wire, rest): (WireV1<'_>, _) = postcard::take_from_bytes(&bytes[HEADER_LEN..])
        .map_err(|_| DecodeError::Malformed("truncated or invalid document"))?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes"));
    }
    let stored_at = UNIX_EPOCH
        .checked_add(Duration::from_millis(wire.stored_at_ms))
        .ok_or(DecodeError::Malformed("stored_at out of range"))?;
    let payload = match wire.payload {
        WirePayload::Value(Raw(value)) => L2Payload::Value(bytes.slice_ref(value)),
        WirePayload::Http {
            status,
            headers: wire_headers,
            body: Raw(body),
        } => {
            let status = StatusCode::from_u16(status)
                .map_err(|_| DecodeError::Malformed("invalid status"))?;
            // At most MAX_HEADERS (checked while decoding), far below the
            // map's own limit: neither call below can reach it.
            let mut headers = HeaderMap::try_with_capacity(wire_headers.0.len())
                .map_err(|_| DecodeError::Malformed("too many headers"))?;
            for (name, Raw(value)) in wire_headers.0 {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| DecodeError::Malformed("invalid header name"))?;
                let value = HeaderValue::from_maybe_shared(bytes.slice_ref(value))
                    .map_err(|_| DecodeError::Malformed("invalid header value"))?;
                headers
                    .try_append(name, value)
                    .map_err(|_| DecodeError::Malformed("too many headers"))?;
            }
            L2Payload::Response {
                status,
                headers,
                body: bytes.slice_ref(body),
            }
        }
        WirePayload::Vary(names) => {
            L2Payload::Vary(names.0.into_iter().map(str::to_owned).collect())
        }
    };
    Ok(L2Entry {
        payload,
        stored_at,
        ttl: Duration::from_millis(wire.ttl_ms),
        stale_while_revalidate: Duration::from_millis(wire.swr_ms),
        stale_if_error: Duration::from_millis(wire.sie_ms),
        tags: wire.tags.0.into_iter().map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests;
