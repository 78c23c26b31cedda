//! HTTP cache keys: authority + path + query, plus the request headers a
//! response varies on.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, Request, header};

/// The base key of a request (method-independent: HEAD shares GET's
/// entries): `"{authority}{path}?{query}"`. The authority is the URI's, or the
/// `Host` header's; `None` when there is neither.
pub(crate) fn base_key<B>(req: &Request<B>) -> Option<Bytes> {
    let authority = match req.uri().authority() {
        Some(a) => a.as_str(),
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut key = BytesMut::with_capacity(authority.len() + pq.len());
    key.put_slice(authority.as_bytes());
    key.put_slice(pq.as_bytes());
    Some(key.freeze())
}

/// `"\n{name}: {value}[, {value}]"` for each header named by `Vary`, in the
/// (sorted) order of `names`; an absent header has an empty value.
pub(crate) fn variant_suffix(names: &[HeaderName], headers: &HeaderMap) -> Box<str> {
    let mut out = String::new();
    for name in names {
        out.push('\n');
        out.push_str(name.as_str());
        out.push(':');
        let mut first = true;
        for v in headers.get_all(name) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    out.into_boxed_str()
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
}
