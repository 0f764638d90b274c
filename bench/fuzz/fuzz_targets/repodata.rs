//! Repository metadata as sources and lookaside repositories hand it over: repomd.xml,
//! primary.xml, and every compression format, with the decompressed size capped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odcs_worker::gather::metadata::read_primary;
use odcs_worker::repodata::compress::decompress;
use odcs_worker::repodata::repomd::parse_locations;

/// A cap small enough that a bomb is refused quickly.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_locations(text);
    }
    let _ = read_primary(data, |_| {});
    for name in ["primary.xml.gz", "primary.xml.xz", "primary.xml.zst", "primary.xml.bz2"] {
        if let Ok(plain) = decompress(name, data, MAX_BYTES) {
            assert!(plain.len() as u64 <= MAX_BYTES, "{name}: the cap was not kept");
        }
    }
});
