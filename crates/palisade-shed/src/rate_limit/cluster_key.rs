//! [`ClusterKey`]: how a key is written into its Redis key in cluster mode.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// A rate-limit key that can name a bucket in Redis (cluster mode, see
/// [`RateLimitBuilder::redis`](super::RateLimitBuilder::redis)).
///
/// The bytes must be the same on every replica for the same key, so they
/// are written from the value itself (never from its `Hash`, which may
/// differ between builds). Implemented for `()`, strings, byte vectors,
/// integers, IP and socket addresses, `http::HeaderValue` and `Option`s of
/// them; implement it for a key type of your own by writing a stable,
/// unambiguous encoding.
pub trait ClusterKey {
    /// Appends this key's bytes to `out`.
    fn write_cluster_key(&self, out: &mut Vec<u8>);
}

impl ClusterKey for () {
    #[inline]
    fn write_cluster_key(&self, _out: &mut Vec<u8>) {}
}

impl ClusterKey for str {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl ClusterKey for [u8] {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<T: ClusterKey + ?Sized> ClusterKey for &T {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        (**self).write_cluster_key(out);
    }
}

impl<T: ClusterKey + ?Sized> ClusterKey for Box<T> {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        (**self).write_cluster_key(out);
    }
}

impl<T: ClusterKey + ?Sized> ClusterKey for Arc<T> {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        (**self).write_cluster_key(out);
    }
}

impl ClusterKey for String {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl ClusterKey for Vec<u8> {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl ClusterKey for http::HeaderValue {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

/// `None` is `-`; `Some(v)` is `+` followed by `v`, so the two never meet.
impl<T: ClusterKey> ClusterKey for Option<T> {
    #[inline]
    fn write_cluster_key(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(b'-'),
            Some(v) => {
                out.push(b'+');
                v.write_cluster_key(out);
            }
        }
    }
}

macro_rules! display_keys {
    ($($t:ty),*) => {$(
        impl ClusterKey for $t {
            #[inline]
            fn write_cluster_key(&self, out: &mut Vec<u8>) {
                use std::io::Write as _;
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

display_keys!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, IpAddr, Ipv4Addr, Ipv6Addr,
    SocketAddr
);
