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
    let bytes = Bytes::from(encode(&original));
    assert_eq!(&bytes[..4], b"PLSC");
    assert_eq!(bytes[4], VERSION);
    assert_eq!(decode(&bytes), Ok(original));
}

#[test]
fn vary_marker_round_trip() {
    let original = entry(L2Payload::Vary(vec!["accept".into(), "cookie".into()]));
    assert_eq!(decode(&Bytes::from(encode(&original))), Ok(original));
}

#[test]
fn http_round_trip_keeps_status_headers_body_and_order() {
    let original = http_entry();
    let decoded = decode(&Bytes::from(encode(&original))).unwrap();
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
    let decoded = decode(&Bytes::from(encode(&original))).unwrap();
    let lost = original
        .stored_at
        .duration_since(decoded.stored_at)
        .unwrap();
    assert!(lost < Duration::from_millis(1), "lost {lost:?}");
    assert_eq!(decoded.expires_after(), original.expires_after());
}

#[test]
fn the_body_is_a_slice_of_the_read_buffer() {
    let bytes = Bytes::from(encode(&http_entry()));
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
    let mut future = encode(&http_entry());
    future[4] = VERSION + 1;
    assert_eq!(
        decode(&Bytes::from(future)),
        Err(DecodeError::Version(VERSION + 1))
    );
}

#[test]
fn every_truncation_and_trailing_bytes_are_refused() {
    let full = encode(&http_entry());
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
        tags: vec![],
        payload: WirePayload::Http {
            status: 42,
            headers: vec![],
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
            headers: vec![("bad header", Raw(b"x"))],
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
            headers: vec![("x-ok", Raw(b"line\nbreak"))],
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
        payload: WirePayload::Vary(vec![]),
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
        let mut buf = encode(&http_entry());
        for (at, byte) in flips {
            let i = at.index(buf.len());
            buf[i] = byte;
        }
        if let Ok(decoded) = decode(&Bytes::from(buf)) {
            // Whatever decodes is a well-formed entry that re-encodes.
            let again = encode(&decoded);
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
        prop_assert_eq!(decode(&Bytes::from(encode(&original))), Ok(original));
    }
}
