//! One allocation for a stored response's header values and small body.
//!
//! A hit clones every header value and the body as `Bytes`. Values made by
//! a handler (`HeaderValue::from_str`, hyper's parser) each own a separate
//! allocation with its own reference count, so a hit on an entry that has
//! gone cold in the CPU caches takes a cache miss per value on top of the
//! entry's own. Copied once into one buffer when stored, they share one
//! reference count and sit next to each other and to the body: a hit then
//! touches one cold line for the count instead of one per value.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};

/// Bodies up to this size share the headers' buffer; a larger body keeps its
/// own allocation (copying it would cost more than the misses it saves).
pub(crate) const PACKED_BODY_MAX: usize = 4 * 1024;

/// `headers` and `body` with their bytes in one buffer (see the module
/// docs). Names, values, order and sensitivity are unchanged.
pub(crate) fn pack(headers: HeaderMap, body: Bytes) -> (HeaderMap, Bytes) {
    let values: usize = headers.values().map(HeaderValue::len).sum();
    let with_body = body.len() <= PACKED_BODY_MAX;
    let len = values + if with_body { body.len() } else { 0 };
    if len == 0 {
        return (headers, body);
    }
    let mut buf = BytesMut::with_capacity(len);
    if with_body {
        buf.put_slice(&body);
    }
    for value in headers.values() {
        buf.put_slice(value.as_bytes());
    }
    let buf = buf.freeze();
    let mut at = 0;
    let body = if with_body {
        at = body.len();
        buf.slice(..at)
    } else {
        body
    };
    let mut packed = HeaderMap::with_capacity(headers.len());
    let mut name = None;
    for (key, value) in headers {
        // `into_iter` gives a name with its first value only.
        if let Some(key) = key {
            name = Some(key);
        }
        let Some(name) = &name else { continue };
        let end = at + value.len();
        let mut copy =
            HeaderValue::from_maybe_shared(buf.slice(at..end)).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        at = end;
        packed.append(name.clone(), copy);
    }
    (packed, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    fn pairs(m: &HeaderMap) -> Vec<(String, Vec<u8>, bool)> {
        m.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec(), v.is_sensitive()))
            .collect()
    }

    #[test]
    fn keeps_every_name_value_order_and_sensitivity() {
        let mut h = map(&[
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
            ("cache-control", "public, max-age=60"),
            ("set-cookie", "b=2"),
            ("etag", "\"v1\""),
        ]);
        h.get_mut(header::ETAG).unwrap().set_sensitive(true);
        let body = Bytes::from_static(b"{\"id\":1}");
        let (packed, packed_body) = pack(h.clone(), body.clone());
        assert_eq!(pairs(&packed), pairs(&h));
        assert_eq!(packed_body, body);
        let all: Vec<_> = packed.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(all, ["a=1", "b=2"]);
    }

    #[test]
    fn values_and_small_body_share_one_buffer() {
        let h = map(&[("content-type", "text/plain"), ("etag", "\"x\"")]);
        let body = Bytes::from(vec![b'x'; 10]);
        let (packed, body) = pack(h, body);
        // Adjacent in memory: the body, then each value in order.
        let base = body.as_ptr() as usize;
        let ct = packed[header::CONTENT_TYPE].as_bytes().as_ptr() as usize;
        let etag = packed[header::ETAG].as_bytes().as_ptr() as usize;
        assert_eq!(ct, base + 10);
        assert_eq!(etag, ct + "text/plain".len());
    }

    #[test]
    fn a_large_body_keeps_its_allocation() {
        let h = map(&[("content-type", "text/plain")]);
        let body = Bytes::from(vec![0_u8; PACKED_BODY_MAX + 1]);
        let ptr = body.as_ptr();
        let (packed, body) = pack(h, body);
        assert_eq!(body.as_ptr(), ptr);
        assert_eq!(packed[header::CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn empty_headers_and_body_pass_through() {
        let (h, b) = pack(HeaderMap::new(), Bytes::new());
        assert!(h.is_empty() && b.is_empty());
    }
}
