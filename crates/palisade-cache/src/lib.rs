//! A tower response cache: a lock-free `moka` L1 bounded by entries or weighed
//! bytes, request coalescing, stale-while-revalidate and stale-if-error, HTTP
//! semantics, and a seam ([`store::L2Store`]) for a second tier shared by
//! replicas.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod store;
