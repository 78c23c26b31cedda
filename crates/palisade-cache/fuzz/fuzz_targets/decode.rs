//! Feeds arbitrary bytes to the decoder of L2 envelopes (what a `RedisStore`
//! reads back). It must return an error or an entry, never panic, and
//! whatever decodes must encode and decode to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    palisade_cache::fuzzing::decode_envelope(data);
});
