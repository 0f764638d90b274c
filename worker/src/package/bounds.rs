//! Checks an RPM file's header sizes before the `rpm` crate reads them. The crate allocates what
//! a header claims (index entries, data, and each entry's count of values) before reading it,
//! so a crafted count asks for gigabytes and the allocation failure aborts the whole process,
//! which no panic guard can catch. A header that claims more than rpm itself allows, more
//! bytes than the file has, or an entry with more values than its data can hold is refused.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// The lead before the signature header.
const LEAD_BYTES: u64 = 96;
/// A header's intro: magic, version, reserved bytes, index count, data size.
const INTRO_BYTES: u64 = 16;
/// Each index entry: tag, type, offset, count.
const ENTRY_BYTES: u64 = 16;
/// rpm's own limits on a header (`HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
const MAX_TAGS: u64 = 0xffff;
const MAX_DATA_BYTES: u64 = 0x0fff_ffff;
const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];

/// Checks that the signature header and the header of the `size`-byte file `file` claim sizes
/// rpm allows and that fit in the file. Leaves the file's position anywhere.
pub fn check_header_sizes(file: &mut File, size: u64) -> Result<(), String> {
    let signature_end = check_one(file, size, LEAD_BYTES, "signature header")?;
    // The signature header is padded to a multiple of 8 bytes.
    let header_start = signature_end.div_ceil(8) * 8;
    check_one(file, size, header_start, "header")?;
    Ok(())
}

/// Checks the header whose intro starts at `start`; returns where it ends.
fn check_one(file: &mut File, size: u64, start: u64, what: &str) -> Result<u64, String> {
    if start + INTRO_BYTES > size {
        return Err(format!(
            "the file ends at byte {size}, before its {what} at byte {start}"
        ));
    }
    let mut intro = [0u8; INTRO_BYTES as usize];
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_exact(&mut intro))
        .map_err(|e| format!("cannot read its {what}: {e}"))?;
    if intro[..4] != MAGIC {
        return Err(format!("no {what} at byte {start}"));
    }
    let tags = u64::from(u32::from_be_bytes([
        intro[8], intro[9], intro[10], intro[11],
    ]));
    let data = u64::from(u32::from_be_bytes([
        intro[12], intro[13], intro[14], intro[15],
    ]));
    if tags > MAX_TAGS || data > MAX_DATA_BYTES {
        return Err(format!(
            "its {what} claims {tags} tags and {data} bytes of data, more than rpm allows"
        ));
    }
    let end = start + INTRO_BYTES + tags * ENTRY_BYTES + data;
    if end > size {
        return Err(format!(
            "its {what} claims to end at byte {end}, but the file has {size} bytes"
        ));
    }
    let mut index = vec![0u8; (tags * ENTRY_BYTES) as usize];
    file.read_exact(&mut index)
        .map_err(|e| format!("cannot read its {what}: {e}"))?;
    for entry in index.chunks_exact(ENTRY_BYTES as usize) {
        let field = |at: usize| {
            u64::from(u32::from_be_bytes([
                entry[at],
                entry[at + 1],
                entry[at + 2],
                entry[at + 3],
            ]))
        };
        let (tag, kind, offset, count) = (field(0), field(4), field(8), field(12));
        let room = data.saturating_sub(offset);
        if offset > data || count.saturating_mul(min_value_bytes(kind)) > room {
            return Err(format!(
                "its {what} has tag {tag} claiming {count} values at byte {offset} of {data}"
            ));
        }
    }
    Ok(end)
}

/// The fewest bytes one value of header data type `kind` takes: the fixed size of numbers,
/// one byte for characters, binary data and (NUL-terminated) strings.
fn min_value_bytes(kind: u64) -> u64 {
    match kind {
        0 => 0,
        3 => 2,
        4 => 4,
        5 => 8,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An open file holding `bytes` (unlinked at once: the handle keeps it).
    fn file_with(name: &str, bytes: &[u8]) -> (File, u64) {
        let path = std::env::temp_dir().join(format!("odcs-bounds-{}-{name}", std::process::id()));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("write");
        let file = File::open(&path).expect("open");
        let _ = std::fs::remove_file(&path);
        (file, bytes.len() as u64)
    }

    fn intro(tags: u32, data: u32) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([0; 4]);
        v.extend(tags.to_be_bytes());
        v.extend(data.to_be_bytes());
        v
    }

    #[test]
    fn a_huge_index_count_is_refused_without_allocating() {
        let mut bytes = vec![0u8; 96];
        bytes.extend(intro(0x3fff_fff0, 4));
        let (mut file, size) = file_with("huge", &bytes);
        let err = check_header_sizes(&mut file, size).expect_err("refused");
        assert!(err.contains("more than rpm allows"), "{err}");
    }

    #[test]
    fn a_header_longer_than_the_file_is_refused() {
        let mut bytes = vec![0u8; 96];
        bytes.extend(intro(1, 4));
        bytes.extend([0u8; 20]);
        bytes.extend([0u8; 4]); // padding to 8
        bytes.extend(intro(2, 1000));
        let (mut file, size) = file_with("long", &bytes);
        let err = check_header_sizes(&mut file, size).expect_err("refused");
        assert!(err.contains("its header claims to end at byte"), "{err}");
    }

    /// Found by fuzzing (bench/fuzz, rpm_header): an INT32 entry claiming four billion values.
    #[test]
    fn an_entry_with_more_values_than_its_data_is_refused() {
        let mut bytes = vec![0u8; 96];
        bytes.extend(intro(1, 8));
        bytes.extend(1080u32.to_be_bytes());
        bytes.extend(4u32.to_be_bytes());
        bytes.extend(0u32.to_be_bytes());
        bytes.extend(4_294_967_105u32.to_be_bytes());
        bytes.extend([0u8; 8]);
        bytes.extend(intro(0, 0));
        let (mut file, size) = file_with("count", &bytes);
        let err = check_header_sizes(&mut file, size).expect_err("refused");
        assert!(err.contains("tag 1080 claiming 4294967105 values"), "{err}");
    }

    #[test]
    fn sizes_that_fit_pass() {
        let mut bytes = vec![0u8; 96];
        bytes.extend(intro(1, 4));
        bytes.extend([0u8; 20]);
        bytes.extend([0u8; 4]); // padding to 8
        bytes.extend(intro(1, 3));
        bytes.extend([0u8; 19]);
        let (mut file, size) = file_with("fits", &bytes);
        check_header_sizes(&mut file, size).expect("fits");
    }
}
