//! HTTP cache keys: authority + path + query, plus the request headers a
//! response varies on.
//!
//! A hit builds its key in a [`KeyBuf`] on the stack and looks L1 up with
//! the bytes (`Bytes: Borrow<[u8]>`): no allocation unless the key is
//! longer than [`KeyBuf`]'s inline capacity. Only a request that goes on to
//! call (a miss, a refresh) copies it into a `Bytes`.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, Request, header};

/// Bytes of key kept on the stack before [`KeyBuf`] moves to the heap.
const INLINE: usize = 256;

/// A key being built: inline while it fits, on the heap beyond.
pub(crate) struct KeyBuf {
    inline: [u8; INLINE],
    len: usize,
    heap: Option<Vec<u8>>,
}

impl KeyBuf {
    pub(crate) fn new() -> Self {
        Self {
            inline: [0; INLINE],
            len: 0,
            heap: None,
        }
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        let mut key = Self::new();
        key.push(bytes);
        key
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if let Some(heap) = &mut self.heap {
            heap.extend_from_slice(bytes);
            return;
        }
        let end = self.len + bytes.len();
        if let Some(dst) = self.inline.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        } else {
            let mut heap = Vec::with_capacity(end.max(2 * INLINE));
            heap.extend_from_slice(&self.inline[..self.len]);
            heap.extend_from_slice(bytes);
            self.heap = Some(heap);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.as_ref().map_or(self.len, Vec::len)
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(heap) => heap,
            None => &self.inline[..self.len],
        }
    }

    /// The key as a shared `Bytes` (one copy).
    pub(crate) fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_slice())
    }
}

/// Writes the base key of a request into `out` (method-independent: HEAD
/// shares GET's entries): `"{authority}{path}?{query}"`. The authority is
/// the URI's, or the `Host` header's; `false` when there is neither.
pub(crate) fn write_base_key<B>(req: &Request<B>, out: &mut KeyBuf) -> bool {
    let authority = match req.uri().authority() {
        Some(a) => a.as_str(),
        None => match req.headers().get(header::HOST).map(|h| h.to_str()) {
            Some(Ok(host)) => host,
            _ => return false,
        },
    };
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    out.push(authority.as_bytes());
    out.push(pq.as_bytes());
    true
}

/// The base key of a request as `Bytes` (see [`write_base_key`]).
#[cfg(test)]
pub(crate) fn base_key<B>(req: &Request<B>) -> Option<Bytes> {
    let mut key = KeyBuf::new();
    write_base_key(req, &mut key).then(|| key.to_bytes())
}

/// Writes `"\n{name}:{value}[,{value}]"` for each header named by `Vary`,
/// in the (sorted) order of `names`; an absent header has an empty value, a
/// value that is not UTF-8 is written lossily (U+FFFD).
fn write_suffix(names: &[HeaderName], headers: &HeaderMap, mut put: impl FnMut(&[u8])) {
    for name in names {
        put(b"\n");
        put(name.as_str().as_bytes());
        put(b":");
        let mut first = true;
        for v in headers.get_all(name) {
            if !first {
                put(b",");
            }
            first = false;
            match std::str::from_utf8(v.as_bytes()) {
                Ok(s) => put(s.as_bytes()),
                Err(_) => put(String::from_utf8_lossy(v.as_bytes()).as_bytes()),
            }
        }
    }
}

/// The variant suffix of a request (see [`write_suffix`]).
pub(crate) fn variant_suffix(names: &[HeaderName], headers: &HeaderMap) -> Box<str> {
    let mut out = Vec::new();
    write_suffix(names, headers, |b| out.extend_from_slice(b));
    // Only UTF-8 was written.
    String::from_utf8(out).unwrap_or_default().into_boxed_str()
}

/// Appends the variant suffix of a request to the key in `out`.
pub(crate) fn push_variant_suffix(out: &mut KeyBuf, names: &[HeaderName], headers: &HeaderMap) {
    write_suffix(names, headers, |b| out.push(b));
}

/// The key of one variant.
pub(crate) fn variant_key(base: &Bytes, suffix: &str) -> Bytes {
    if suffix.is_empty() {
        return base.clone();
    }
    let mut key = BytesMut::with_capacity(base.len() + suffix.len());
    key.put_slice(base);
    key.put_slice(suffix.as_bytes());
    key.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let req = Request::get("http://example.com/a?b=1").body(()).unwrap();
        assert_eq!(base_key(&req).unwrap(), "example.com/a?b=1");
        let req = Request::get("/x")
            .header("host", "h:8080")
            .body(())
            .unwrap();
        assert_eq!(base_key(&req).unwrap(), "h:8080/x");
        assert!(base_key(&Request::get("/x").body(()).unwrap()).is_none());
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "de".parse().unwrap());
        let s = variant_suffix(&[header::ACCEPT_ENCODING, header::ACCEPT_LANGUAGE], &h);
        assert_eq!(&*s, "\naccept-encoding:\naccept-language:de");
        assert_eq!(
            variant_key(&Bytes::from_static(b"k"), &s),
            "k\naccept-encoding:\naccept-language:de"
        );
    }

    #[test]
    fn key_buf_moves_to_the_heap_and_back_keeps_bytes() {
        let long = "p".repeat(INLINE);
        let req = Request::get(format!("http://example.com/{long}?q"))
            .header(header::ACCEPT_LANGUAGE, "de")
            .body(())
            .unwrap();
        let mut key = KeyBuf::new();
        assert!(write_base_key(&req, &mut key));
        let base_len = key.len();
        assert_eq!(key.as_slice(), format!("example.com/{long}?q").as_bytes());
        push_variant_suffix(&mut key, &[header::ACCEPT_LANGUAGE], req.headers());
        let suffix = variant_suffix(&[header::ACCEPT_LANGUAGE], req.headers());
        let base = Bytes::copy_from_slice(&key.as_slice()[..base_len]);
        assert_eq!(key.to_bytes(), variant_key(&base, &suffix));
        assert_eq!(KeyBuf::from_slice(&base).to_bytes(), base);

        let mut short = KeyBuf::new();
        short.push(b"ab");
        short.push(b"\n\xff");
        assert_eq!(short.as_slice(), b"ab\n\xff");
    }

    #[test]
    fn suffix_of_non_utf8_values_is_lossy_in_both_forms() {
        let mut h = HeaderMap::new();
        h.append(
            header::ACCEPT,
            http::HeaderValue::from_bytes(b"a\xffb").unwrap(),
        );
        h.append(header::ACCEPT, "c".parse().unwrap());
        let s = variant_suffix(&[header::ACCEPT], &h);
        assert_eq!(&*s, "\naccept:a\u{fffd}b,c");
        let mut key = KeyBuf::new();
        push_variant_suffix(&mut key, &[header::ACCEPT], &h);
        assert_eq!(key.as_slice(), s.as_bytes());
    }
}
