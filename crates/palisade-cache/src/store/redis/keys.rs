//! Where a namespace's data lives in Redis, and the purge messages.
//!
//! For namespace `ns`: entries under `palisade:ns:e:<key bytes>`, one set per
//! tag under `palisade:ns:t:<tag>` (members: the full entry keys), purges on
//! the channel `palisade:ns:purge`. Nothing outside these prefixes is ever
//! read, written or deleted.

use bytes::Bytes;

use crate::store::Purge;

#[derive(Debug)]
pub(crate) struct Keys {
    entry: Vec<u8>,
    tag: Vec<u8>,
    channel: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            entry: format!("palisade:{namespace}:e:").into_bytes(),
            tag: format!("palisade:{namespace}:t:").into_bytes(),
            channel: format!("palisade:{namespace}:purge"),
        }
    }

    pub(crate) fn entry(&self, key: &[u8]) -> Vec<u8> {
        join(&self.entry, key)
    }

    pub(crate) fn tag(&self, tag: &str) -> Vec<u8> {
        join(&self.tag, tag.as_bytes())
    }

    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }
}

fn join(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + rest.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(rest);
    out
}

const KEY: u8 = b'k';
const TAG: u8 = b't';

/// A purge announcement: the sending store's id (so a store ignores its own
/// echo), a kind byte and the key or tag.
pub(crate) fn encode_purge(origin: u64, purge: &Purge) -> Option<Vec<u8>> {
    let (kind, body) = match purge {
        Purge::Key(key) => (KEY, &key[..]),
        Purge::Tag(tag) => (TAG, tag.as_bytes()),
        // "Everything" is never announced: each store decides it for itself.
        Purge::All => return None,
    };
    let mut out = Vec::with_capacity(9 + body.len());
    out.extend_from_slice(&origin.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    Some(out)
}

/// Reads an announcement; `None` for anything malformed.
pub(crate) fn decode_purge(message: &[u8]) -> Option<(u64, Purge)> {
    let (origin, rest) = message.split_first_chunk::<8>()?;
    let (&kind, body) = rest.split_first()?;
    let purge = match kind {
        KEY => Purge::Key(Bytes::copy_from_slice(body)),
        TAG => Purge::Tag(std::str::from_utf8(body).ok()?.to_owned()),
        _ => return None,
    };
    Some((u64::from_be_bytes(*origin), purge))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_namespaced() {
        let keys = Keys::new("users");
        assert_eq!(keys.entry(b"v:\x01"), b"palisade:users:e:v:\x01");
        assert_eq!(keys.tag("user:42"), b"palisade:users:t:user:42");
        assert_eq!(keys.channel(), "palisade:users:purge");
    }

    #[test]
    fn purge_messages_round_trip_and_garbage_is_ignored() {
        let key = Purge::Key(Bytes::from_static(b"h:example.com/a"));
        let tag = Purge::Tag("user:42".into());
        for purge in [key, tag] {
            let msg = encode_purge(7, &purge).unwrap();
            assert_eq!(decode_purge(&msg), Some((7, purge)));
        }
        assert_eq!(encode_purge(7, &Purge::All), None);
        assert_eq!(decode_purge(b""), None);
        assert_eq!(decode_purge(b"12345678"), None);
        assert_eq!(decode_purge(b"12345678x"), None);
        assert_eq!(decode_purge(b"12345678t\xff"), None);
    }
}
