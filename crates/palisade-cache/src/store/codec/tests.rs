use std::time::SystemTime;

use super::*;
use proptest::prelude::*;

fn entry(payload: L2Payload) -> L2Entry {
    L2Entry {
        payload,
        stored_at: UNIX_EPOCH + Duration::from_millis(1_764_000_000_123),
        ttl: Duration::from_secs(60),
        stale_while_revalidate: Duration::from_secs(30),
        stale_if_error: Duration::from_secs(300),
        tags: vec!["user:42".into(), "pages".into()],
    }
}

fn http_entry() -> L2Entry {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    headers.append("vary", HeaderValue::from_static("accept"));
    headers.append("vary", HeaderValue::from_static("accept-encoding"));
    headers.insert("x-binary", HeaderValue::from_bytes(&[0x80, 0xff]).unwrap());
    entry(L2Payload::Response {
        status: StatusCode::NOT_FOUND,
        headers,
        body: Bytes::from_static(b"no such page"),
    })
}

fn with_header(wire: &WireV1<'_>) -> Bytes {
    let mut buf = MAGIC.to_vec();
    buf.push(VERSION);
    Bytes::from(postcard::to_extend(wire, buf).unwrap())
}

#[test]
fn value_round_trip() {
    let value = Bytes::from(postcard::to_allocvec(&("alice", 42_u32)).unwrap());
    let original = entry(L2Payload::Value(value));
    let bytes = Bytes::from(encode(&original).unwrap());
    assert_eq!(&bytes[..4], b"PLSC");
    assert_eq!(bytes[4], VERSION);
    assert_eq!(decode(&bytes), Ok(original));
}

#[test]
fn vary_marker_round_trip() {
    let original = entry(L2Payload::Vary(vec!["accept".into(), "cookie".into()]));
    assert_eq!(
        decode(&Bytes::from(encode(&original).unwrap())),
        Ok(original)
    );
}

#[test]
fn http_round_trip_keeps_status_headers_body_and_order() {
    let original = http_entry();
    let decoded = decode(&Bytes::from(encode(&original).unwrap())).unwrap();
    assert_eq!(decoded, original);
    let L2Payload::Response { headers, .. } = decoded.payload else {
        panic!("expected a response payload");
    };
    let vary: Vec<_> = headers.get_all("vary").iter().collect();
    assert_eq!(vary, ["accept", "accept-encoding"]);
}

#[test]
fn freshness_survives_to_the_millisecond() {
    let mut original = http_entry();
    original.stored_at = SystemTime::now();
    let decoded = decode(&Bytes::from(encode(&original).unwrap())).unwrap();
    let lost = original
        .stored_at
        .duration_since(decoded.stored_at)
        .unwrap();
    assert!(lost < Duration::from_millis(1), "lost {lost:?}");
    assert_eq!(decoded.expires_after(), original.expires_after());
}

#[test]
fn the_body_is_a_slice_of_the_read_buffer() {
    let bytes = Bytes::from(encode(&http_entry()).unwrap());
    let L2Payload::Response { body, .. } = decode(&bytes).unwrap().payload else {
        panic!("expected a response payload");
    };
    let start = bytes.as_ptr() as usize;
    let at = body.as_ptr() as usize;
    assert!(at >= start && at + body.len() <= start + bytes.len());
}

#[test]
fn foreign_and_future_bytes_are_refused() {
    assert_eq!(decode(&Bytes::new()), Err(DecodeError::Foreign));
    assert_eq!(
        decode(&Bytes::from_static(b"{\"json\": true}")),
        Err(DecodeError::Foreign)
    );
    let mut future = encode(&http_entry()).unwrap();
    future[4] = VERSION + 1;
    assert_eq!(
        decode(&Bytes::from(future)),
        Err(DecodeError::Version(VERSION + 1))
    );
}

#[test]
fn every_truncation_and_trailing_bytes_are_refused() {
    let full = encode(&http_entry()).unwrap();
    for len in 0..full.len() {
        let cut = Bytes::copy_from_slice(&full[..len]);
        assert!(decode(&cut).is_err(), "a {len}-byte prefix decoded");
    }
    let mut longer = full.clone();
    longer.push(0);
    assert_eq!(
        decode(&Bytes::from(longer)),
        Err(DecodeError::Malformed("trailing bytes"))
    );
}

#[test]
fn invalid_status_header_and_time_are_refused() {
    let wire = WireV1 {
        stored_at_ms: 0,
        ttl_ms: 1,
        swr_ms: 0,
        sie_ms: 0,
        tags: Bounded(vec![]),
        payload: WirePayload::Http {
            status: 42,
            headers: Bounded(vec![]),
            body: Raw(b""),
        },
    };
    assert_eq!(
        decode(&with_header(&wire)),
        Err(DecodeError::Malformed("invalid status"))
    );
    let wire = WireV1 {
        payload: WirePayload::Http {
            status: 200,
            headers: Bounded(vec![("bad header", Raw(b"x"))]),
            body: Raw(b""),
        },
        ..wire
    };
    assert_eq!(
        decode(&with_header(&wire)),
        Err(DecodeError::Malformed("invalid header name"))
    );
    let wire = WireV1 {
        payload: WirePayload::Http {
            status: 200,
            headers: Bounded(vec![("x-ok", Raw(b"line\nbreak"))]),
            body: Raw(b""),
        },
        ..wire
    };
    assert_eq!(
        decode(&with_header(&wire)),
        Err(DecodeError::Malformed("invalid header value"))
    );
    let wire = WireV1 {
        stored_at_ms: u64::MAX,
        payload: WirePayload::Vary(Bounded(vec![])),
        ..wire
    };
    // Either refused or decoded, never a panic (platform time range differs).
    let _ = decode(&with_header(&wire));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&Bytes::from(data));
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut buf = MAGIC.to_vec();
        buf.push(VERSION);
        buf.extend_from_slice(&data);
        let _ = decode(&Bytes::from(buf));
    }

    #[test]
    fn corrupted_envelopes_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut buf = encode(&http_entry()).unwrap();
        for (at, byte) in flips {
            let i = at.index(buf.len());
            buf[i] = byte;
        }
        if let Ok(decoded) = decode(&Bytes::from(buf)) {
            // Whatever decodes is a well-formed entry that re-encodes.
            let again = encode(&decoded).unwrap();
            prop_assert_eq!(decode(&Bytes::from(again)), Ok(decoded));
        }
    }

    #[test]
    fn any_entry_round_trips(
        stored_at_ms in 0_u64..=4_102_444_800_000,
        ttl_ms in any::<u32>(),
        tags in proptest::collection::vec("[a-z:0-9]{0,12}", 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        status in 100_u16..=999,
    ) {
        let original = L2Entry {
            payload: L2Payload::Response {
                status: StatusCode::from_u16(status).unwrap(),
                headers: HeaderMap::new(),
                body: Bytes::from(body),
            },
            stored_at: UNIX_EPOCH + Duration::from_millis(stored_at_ms),
            ttl: Duration::from_millis(u64::from(ttl_ms)),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::from_millis(7),
            tags,
        };
        prop_assert_eq!(decode(&Bytes::from(encode(&original).unwrap())), Ok(original));
    }
}

/// postcard's unsigned varint (LEB128).
fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn envelope_start() -> Vec<u8> {
    let mut buf = MAGIC.to_vec();
    buf.push(VERSION);
    for field in [1_764_000_000_123, 60_000, 0, 0] {
        varint(&mut buf, field);
    }
    buf
}

#[test]
fn thirty_thousand_empty_headers_are_refused_not_a_panic() {
    // The envelope of the report: 60 KB, 30,000 headers with empty names
    // and values. `HeaderMap::with_capacity(30_000)` used to panic.
    let headers = vec![("", Raw(b"")); 30_000];
    let wire = WireV1 {
        stored_at_ms: 0,
        ttl_ms: 60_000,
        swr_ms: 0,
        sie_ms: 0,
        tags: Bounded(vec![]),
        payload: WirePayload::Http {
            status: 200,
            headers: Bounded(headers),
            body: Raw(b""),
        },
    };
    let bytes = with_header(&wire);
    assert!(bytes.len() > 60_000);
    assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))));
}

#[test]
fn the_most_headers_allowed_decode_and_one_more_is_refused() {
    let names: Vec<String> = (0..=MAX_HEADERS).map(|i| format!("x-h{i}")).collect();
    let mut headers: Vec<(&str, Raw<'_>)> = names.iter().map(|n| (n.as_str(), Raw(b"v"))).collect();
    let over = headers.pop().map(|h| vec![h]).unwrap_or_default();
    let mut wire = WireV1 {
        stored_at_ms: 0,
        ttl_ms: 60_000,
        swr_ms: 0,
        sie_ms: 0,
        tags: Bounded(vec![]),
        payload: WirePayload::Http {
            status: 200,
            headers: Bounded(headers.clone()),
            body: Raw(b""),
        },
    };
    let decoded = decode(&with_header(&wire)).unwrap();
    let L2Payload::Response { headers: map, .. } = &decoded.payload else {
        panic!("expected a response payload");
    };
    assert_eq!(map.len(), MAX_HEADERS);
    // The same entry encodes again; one header more neither encodes nor decodes.
    assert!(encode(&decoded).is_ok());
    headers.extend(over);
    wire.payload = WirePayload::Http {
        status: 200,
        headers: Bounded(headers),
        body: Raw(b""),
    };
    assert!(decode(&with_header(&wire)).is_err());
    let mut too_many = HeaderMap::new();
    for name in &names {
        too_many.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static("v"),
        );
    }
    let entry = entry(L2Payload::Response {
        status: StatusCode::OK,
        headers: too_many,
        body: Bytes::new(),
    });
    assert_eq!(encode(&entry), Err(EncodeError("headers")));
}

#[test]
fn too_many_tags_or_vary_names_neither_encode_nor_decode() {
    let mut many_tags = entry(L2Payload::Value(Bytes::new()));
    many_tags.tags = vec![String::new(); MAX_TAGS + 1];
    assert_eq!(encode(&many_tags), Err(EncodeError("tags")));
    many_tags.tags.pop();
    let ok = encode(&many_tags).unwrap();
    assert_eq!(decode(&Bytes::from(ok)), Ok(many_tags.clone()));
    let wire = WireV1 {
        stored_at_ms: 0,
        ttl_ms: 1,
        swr_ms: 0,
        sie_ms: 0,
        tags: Bounded(vec![""; MAX_TAGS + 1]),
        payload: WirePayload::Vary(Bounded(vec![])),
    };
    assert!(decode(&with_header(&wire)).is_err());
    let vary = entry(L2Payload::Vary(vec!["a".into(); MAX_VARY_NAMES + 1]));
    assert_eq!(encode(&vary), Err(EncodeError("vary names")));
    let wire = WireV1 {
        tags: Bounded(vec![]),
        payload: WirePayload::Vary(Bounded(vec!["a"; MAX_VARY_NAMES + 1])),
        ..wire
    };
    assert!(decode(&with_header(&wire)).is_err());
}

#[test]
fn hostile_counts_and_lengths_are_refused() {
    for count in [
        u64::from(u32::MAX),
        u64::MAX,
        (MAX_HEADERS + 1) as u64,
        1 << 20,
    ] {
        // Tags.
        let mut buf = envelope_start();
        varint(&mut buf, count);
        assert!(decode(&Bytes::from(buf)).is_err(), "{count} tags");
        // Headers.
        let mut buf = envelope_start();
        varint(&mut buf, 0); // tags
        varint(&mut buf, 1); // WirePayload::Http
        varint(&mut buf, 200);
        varint(&mut buf, count);
        buf.extend_from_slice(&[0; 64]);
        assert!(decode(&Bytes::from(buf)).is_err(), "{count} headers");
        // Vary names.
        let mut buf = envelope_start();
        varint(&mut buf, 0);
        varint(&mut buf, 2); // WirePayload::Vary
        varint(&mut buf, count);
        assert!(decode(&Bytes::from(buf)).is_err(), "{count} vary names");
        // A body, a value and a tag longer than what is left.
        for prefix in [&[0_u8, 1, 200, 1, 0][..], &[0, 0], &[1]] {
            let mut buf = envelope_start();
            buf.extend_from_slice(prefix);
            varint(&mut buf, count);
            buf.extend_from_slice(b"short");
            assert!(
                decode(&Bytes::from(buf)).is_err(),
                "{count} bytes after {prefix:?}"
            );
        }
    }
}

/// One field of a structure-aware hostile envelope.
#[derive(Debug, Clone)]
enum Piece {
    /// A count or length as a varint (any value).
    Count(u64),
    /// A length-prefixed string, the prefix possibly lying.
    Str {
        claimed: Option<u64>,
        bytes: Vec<u8>,
    },
    /// Raw bytes.
    Raw(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let count = prop_oneof![
        0_u64..4,
        Just(MAX_HEADERS as u64),
        Just(MAX_HEADERS as u64 + 1),
        Just(30_000),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        any::<u64>(),
    ];
    prop_oneof![
        count.clone().prop_map(Piece::Count),
        (
            proptest::option::of(count),
            proptest::collection::vec(
                prop_oneof![Just(b'x'), Just(b'-'), Just(b' '), Just(0xff), any::<u8>()],
                0..24
            )
        )
            .prop_map(|(claimed, bytes)| Piece::Str { claimed, bytes }),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Piece::Raw),
    ]
}

fn assemble(payload_kind: u8, pieces: &[Piece]) -> Bytes {
    let mut buf = envelope_start();
    varint(&mut buf, 0); // no tags
    buf.push(payload_kind);
    for p in pieces {
        match p {
            Piece::Count(n) => varint(&mut buf, *n),
            Piece::Str { claimed, bytes } => {
                varint(&mut buf, claimed.unwrap_or(bytes.len() as u64));
                buf.extend_from_slice(bytes);
            }
            Piece::Raw(bytes) => buf.extend_from_slice(bytes),
        }
    }
    Bytes::from(buf)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn arbitrary_inputs_up_to_a_mebibyte_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..=(1 << 20)),
        keep_header in any::<bool>(),
    ) {
        let mut data = data;
        if keep_header && data.len() >= HEADER_LEN {
            data[..MAGIC.len()].copy_from_slice(&MAGIC);
            data[MAGIC.len()] = VERSION;
        }
        let _ = decode(&Bytes::from(data));
    }

    #[test]
    fn valid_envelopes_of_many_headers_up_to_a_mebibyte_never_panic(
        count in 0_usize..40_000,
        name_len in 0_usize..24,
        value_len in 0_usize..24,
    ) {
        let name = "h".repeat(name_len);
        let value = vec![b'v'; value_len];
        let wire = WireV1 {
            stored_at_ms: 0,
            ttl_ms: 60_000,
            swr_ms: 0,
            sie_ms: 0,
            tags: Bounded(vec![]),
            payload: WirePayload::Http {
                status: 200,
                headers: Bounded(vec![(name.as_str(), Raw(&value)); count]),
                body: Raw(b""),
            },
        };
        let bytes = with_header(&wire);
        prop_assert!(bytes.len() <= 2 << 20);
        let decoded = decode(&bytes);
        if count > MAX_HEADERS || (count > 0 && name_len == 0) {
            prop_assert!(decoded.is_err());
        } else {
            prop_assert!(decoded.is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hostile_structured_envelopes_never_panic(
        kind in 0_u8..4,
        pieces in proptest::collection::vec(piece(), 0..48),
    ) {
        if let Ok(decoded) = decode(&assemble(kind, &pieces)) {
            // Whatever decodes is a well-formed entry that re-encodes.
            let again = encode(&decoded).unwrap();
            prop_assert_eq!(decode(&Bytes::from(again)), Ok(decoded));
        }
    }
}
