//! Compression of repodata. A document is written in segments (its header, its blocks, its
//! footer) that cached blocks let a later run reuse as they are:
//!
//! - gzip: the document is one gzip member (RFC 1952). Each segment is raw deflate (RFC 1951)
//!   ending on a byte boundary (a sync flush, or the final block for the footer), compressed
//!   with the raw bytes just before it as a preset dictionary, so a block may refer back into
//!   the block before it as if the whole had been compressed at once; the writer adds the
//!   member's header and its trailer (the CRC-32 and length of the whole).
//! - zstd: each segment is a self-contained frame, and concatenated frames are a valid file.
//!
//! Whole small files ([`Compression::pack`]) are one gzip member or zstd frame.

use std::cell::RefCell;
use std::io::Read;

/// The compression of repodata files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// gzip (`.gz`), what every client reads; the default.
    #[default]
    Gzip,
    /// zstd (`.zst`), smaller and much faster; dnf 4.x+/libsolv read it.
    Zstd,
}

/// gzip level of whole files ([`Compression::pack`]): createrepo_c's default.
const GZIP_LEVEL: i32 = 6;
/// The deflate level of document segments (zlib-rs, whose levels are zlib's). Chained blocks at
/// level 5 are 2.9% smaller than the members of 36 packages libdeflate wrote at level 6 (primary
/// and other 5-6% smaller), in the same time in an incremental run and 2-3% more in a fresh
/// one; level 6 took 3-4% longer for 0.9% less (docs/benchmarks.md).
const SEGMENT_LEVEL: u32 = 5;
/// The most of a preset dictionary deflate can refer back to: its window.
pub const DICTIONARY_MAX: usize = 32 * 1024;
/// A gzip member's header (RFC 1952 §2.3): deflate, no flags, no time, no extra flags, Unix;
/// fixed so that the output depends only on the input.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
/// zstd level: the library default.
const ZSTD_LEVEL: i32 = 3;

impl Compression {
    /// The file name suffix, dot included.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    /// A stable name, part of cache keys.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    /// Compresses `raw` into one self-contained member or frame.
    pub fn pack(self, raw: &[u8]) -> Vec<u8> {
        match self {
            Compression::Gzip => gzip_member(raw),
            Compression::Zstd => ZSTD.with(|cell| {
                let mut compressor = cell.borrow_mut();
                match compressor.as_mut() {
                    Some(c) => c.compress(raw),
                    None => zstd::bulk::compress(raw, ZSTD_LEVEL),
                }
                .unwrap_or_default()
            }),
        }
    }

    /// Whether a document's segments are compressed with the segment before them as their
    /// dictionary (gzip), so that a block's compressed form depends on the block before it
    /// too; zstd frames stand alone.
    pub fn chained(self) -> bool {
        match self {
            Compression::Gzip => true,
            Compression::Zstd => false,
        }
    }

    /// Compresses one segment of a document. `dictionary` is what the document holds right
    /// before the segment (only its last [`DICTIONARY_MAX`] bytes count; empty for none), and
    /// `last` says it ends the document. For zstd both are moot: every frame stands alone.
    pub fn pack_segment(self, raw: &[u8], dictionary: &[u8], last: bool) -> Vec<u8> {
        match self {
            Compression::Gzip => deflate_segment(raw, dictionary, last),
            Compression::Zstd => self.pack(raw),
        }
    }

    /// What a document file starts with, before its first segment.
    pub fn file_start(self) -> &'static [u8] {
        match self {
            Compression::Gzip => &GZIP_HEADER,
            Compression::Zstd => &[],
        }
    }

    /// What a document file ends with, after its last segment, given the CRC-32 and length of
    /// everything the segments hold.
    pub fn file_end(self, crc: u32, raw_size: u64) -> Vec<u8> {
        match self {
            Compression::Gzip => {
                let mut trailer = crc.to_le_bytes().to_vec();
                // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
                trailer.extend_from_slice(&(raw_size as u32).to_le_bytes());
                trailer
            }
            Compression::Zstd => Vec::new(),
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gz" | "gzip" => Ok(Compression::Gzip),
            "zst" | "zstd" => Ok(Compression::Zstd),
            other => Err(format!("unknown compression {other:?}; use gz or zst")),
        }
    }
}

thread_local! {
    /// One libdeflate compressor per thread: its state (a few hundred KiB of match finder
    /// tables) costs more to allocate than compressing a small piece.
    static DEFLATE: RefCell<libdeflater::Compressor> = RefCell::new(libdeflater::Compressor::new(
        // Level 6 is within libdeflate's 0..=12, and its default besides.
        libdeflater::CompressionLvl::new(GZIP_LEVEL).unwrap_or_default(),
    ));
    /// One zstd context per thread, for the same reason.
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok());
}

thread_local! {
    /// Where each thread's compressor writes, reused: a buffer of libdeflate's bound (the
    /// input's size and a little) zeroed for every block cost more page faults and memset than
    /// copying out the compressed bytes, a fifth of that.
    static DEFLATED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A complete gzip member (RFC 1952) from libdeflate: its header has no name, mtime 0 and a
/// fixed OS byte, so the output depends only on `raw`. libdeflate compresses a whole buffer
/// at once, about 1.5 times as fast as zlib at the same level and slightly smaller.
fn gzip_member(raw: &[u8]) -> Vec<u8> {
    DEFLATE.with(|cell| {
        DEFLATED.with(|out| {
            let mut compressor = cell.borrow_mut();
            let mut out = out.borrow_mut();
            let bound = compressor.gzip_compress_bound(raw.len());
            if out.len() < bound {
                out.resize(bound, 0);
            }
            // The buffer is at least libdeflate's bound, so compressing cannot run out of room.
            let written = compressor.gzip_compress(raw, &mut out).unwrap_or(0);
            out[..written].to_vec()
        })
    })
}

/// The end of `raw`, as much of it as a dictionary uses: what the segment after it may refer
/// back to.
pub fn window_of(raw: &[u8]) -> &[u8] {
    &raw[raw.len().saturating_sub(DICTIONARY_MAX)..]
}

/// How each package's XML opens, in every document.
const PACKAGE_OPEN: &[u8] = b"<package ";

/// How many packages at the end of a block the block after it is compressed against.
pub const DICTIONARY_PACKAGES: usize = 3;

/// What the block after `raw` is compressed against: the XML of the last
/// [`DICTIONARY_PACKAGES`] packages in `raw`, or its end where that is longer than a dictionary
/// holds. Only those, so that the block after depends on them alone (its cache key names them,
/// [`super::blocks::plan`]) and a change anywhere else in this block leaves the block after as
/// it was.
pub fn dictionary_of(raw: &[u8]) -> &[u8] {
    let window = window_of(raw);
    let mut opens = memchr::memmem::rfind_iter(window, PACKAGE_OPEN);
    match opens.nth(DICTIONARY_PACKAGES - 1) {
        Some(start) => &window[start..],
        None => window,
    }
}

/// Raw deflate of `raw` with `dictionary` as the window it may refer back to, ending on a byte
/// boundary: a sync flush, or the final block when `last`. zlib-rs rather than libdeflate,
/// which has no preset dictionaries. A new stream for each segment (9 µs): a reset one keeps
/// its old window, and hashing a dictionary's last bytes reads one byte past them, so a
/// reused stream's output depended on what it compressed before.
fn deflate_segment(raw: &[u8], dictionary: &[u8], last: bool) -> Vec<u8> {
    let mut stream = flate2::Compress::new(flate2::Compression::new(SEGMENT_LEVEL), false);
    deflate_with(&mut stream, raw, dictionary, last).unwrap_or_else(|| stored_segment(raw, last))
}

/// [`deflate_segment`] through a new `stream`; `None` if zlib-rs refuses (it does not for a
/// stream it was given whole).
fn deflate_with(
    stream: &mut flate2::Compress,
    raw: &[u8],
    dictionary: &[u8],
    last: bool,
) -> Option<Vec<u8>> {
    let window = window_of(dictionary);
    if !window.is_empty() {
        stream.set_dictionary(window).ok()?;
    }
    let flush = if last {
        flate2::FlushCompress::Finish
    } else {
        flate2::FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(raw.len() / 3 + 64);
    let mut input = raw;
    loop {
        let (before, written, room) = (stream.total_in(), out.len(), out.capacity() - out.len());
        let status = stream.compress_vec(input, &mut out, flush).ok()?;
        let consumed = usize::try_from(stream.total_in() - before).ok()?;
        input = input.get(consumed..)?;
        let full = out.len() == out.capacity();
        match status {
            flate2::Status::StreamEnd => return Some(out),
            // A flush is complete once all input is in and the output was not filled.
            _ if !last && input.is_empty() && !full => return Some(out),
            // Given room and no progress, it never will make any.
            _ if consumed == 0 && out.len() == written && room > 0 => return None,
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
}

/// `raw` as stored (uncompressed) deflate blocks: what a segment becomes should the compressor
/// ever refuse it, still a valid part of the stream.
fn stored_segment(raw: &[u8], last: bool) -> Vec<u8> {
    const MAX_STORED: usize = u16::MAX as usize;
    let mut out = Vec::with_capacity(raw.len() + raw.len() / MAX_STORED * 5 + 5);
    let mut chunks = raw.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() && last {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(last && chunks.peek().is_none()));
        let length = chunk.len() as u16;
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&(!length).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Reads a possibly compressed metadata file whole, choosing the decoder by file name; more than
/// `max_bytes` (read or decompressed) is an error, so a decompression bomb or `/dev/zero` costs
/// at most that much memory.
pub fn read_decompressed(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let file = std::fs::File::open(path)?;
    decompress(name, std::io::BufReader::new(file), max_bytes)
}

/// Reads a file whole, refusing one larger than `max_bytes`.
pub fn read_limited(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    limited(file, max_bytes)
}

/// Everything `input` gives, refusing more than `max_bytes`.
fn limited(input: impl Read, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    input
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("more than {max_bytes} bytes (max_metadata_bytes)"),
        ));
    }
    Ok(out)
}

/// The most memory the xz decoder may take (mostly its dictionary): `xz -9` output needs
/// 65 MiB, so real metadata never comes near it.
const XZ_MEMORY_LIMIT: u64 = 256 * 1024 * 1024;

/// Decompresses metadata read from `input`, choosing the decoder by the file `name` (gzip,
/// zstd, xz, bzip2, or none); more than `max_bytes` of output is an error.
pub fn decompress(name: &str, input: impl Read, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    if name.ends_with(".gz") {
        limited(flate2::read::MultiGzDecoder::new(input), max_bytes)
    } else if name.ends_with(".zst") {
        limited(zstd::stream::read::Decoder::new(input)?, max_bytes)
    } else if name.ends_with(".xz") {
        // The .xz format only (not legacy .lzma, whose header may ask for a 4 GiB
        // dictionary), with its dictionary bounded.
        let stream = liblzma::stream::Stream::new_stream_decoder(
            XZ_MEMORY_LIMIT,
            liblzma::stream::CONCATENATED,
        )
        .map_err(std::io::Error::other)?;
        limited(
            liblzma::read::XzDecoder::new_stream(input, stream),
            max_bytes,
        )
    } else if name.ends_with(".bz2") {
        limited(bzip2::read::MultiBzDecoder::new(input), max_bytes)
    } else {
        limited(input, max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_is_the_last_packages_xml_within_a_window() {
        let package = |n: usize| format!("<package pkgid=\"{n}\">\n  <x/>\n</package>\n");
        let packages: Vec<String> = (0..DICTIONARY_PACKAGES + 2).map(package).collect();
        let block = packages.concat();
        let last = packages[2..].concat();
        assert_eq!(dictionary_of(block.as_bytes()), last.as_bytes());
        assert_eq!(
            dictionary_of(packages[0].as_bytes()),
            packages[0].as_bytes()
        );
        assert_eq!(dictionary_of(b""), b"");
        let long = [block.as_bytes(), &vec![b'x'; DICTIONARY_MAX]].concat();
        assert_eq!(
            dictionary_of(&long),
            window_of(&long),
            "longer than a window"
        );
    }

    #[test]
    fn concatenated_members_decode_as_one_stream() {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let mut packed = compression.pack(b"<a>");
            packed.extend(compression.pack(b"hello"));
            packed.extend(compression.pack(b"</a>"));
            let dir = std::env::temp_dir().join(format!("odcs-compress-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("dir");
            let path = dir.join(format!("x.xml{}", compression.suffix()));
            std::fs::write(&path, &packed).expect("write");
            assert_eq!(
                read_decompressed(&path, 1024).expect("read"),
                b"<a>hello</a>"
            );
            let err = read_decompressed(&path, 5).expect_err("over the limit");
            assert!(err.to_string().contains("more than 5 bytes"), "{err}");
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

#[cfg(test)]
mod segment_tests {
    use super::*;

    /// A gzip document from `segments` (raw, dictionary), the last one final.
    fn document(
        segments: &[(&[u8], &[u8])],
        pack: impl Fn(&[u8], &[u8], bool) -> Vec<u8>,
    ) -> Vec<u8> {
        let mut file = Compression::Gzip.file_start().to_vec();
        let mut whole = Vec::new();
        for (at, (raw, dictionary)) in segments.iter().enumerate() {
            file.extend(pack(raw, dictionary, at + 1 == segments.len()));
            whole.extend_from_slice(raw);
        }
        file.extend(Compression::Gzip.file_end(crc32fast::hash(&whole), whole.len() as u64));
        file
    }

    #[test]
    fn segments_with_their_dictionaries_make_one_gzip_member() {
        let first: Vec<u8> = (0..50_000u32)
            .flat_map(|n| format!("<p n=\"{}\"/>", n % 977).into_bytes())
            .collect();
        let second = first[1000..40_000].to_vec();
        let segments: [(&[u8], &[u8]); 4] = [
            (b"<metadata>", b""),
            (&first, b""),
            (&second, &first),
            (b"</metadata>", b""),
        ];
        let file = document(&segments, |raw, dictionary, last| {
            Compression::Gzip.pack_segment(raw, dictionary, last)
        });
        let mut decoder = flate2::read::GzDecoder::new(file.as_slice());
        let mut unpacked = Vec::new();
        decoder
            .read_to_end(&mut unpacked)
            .expect("one valid member, CRC and length checked");
        assert_eq!(
            unpacked,
            [&b"<metadata>"[..], &first, &second, b"</metadata>"].concat()
        );
        let alone = Compression::Gzip.pack_segment(&second, b"", false);
        let chained = Compression::Gzip.pack_segment(&second, &first, false);
        assert!(
            chained.len() < alone.len() / 2,
            "{} against {}",
            chained.len(),
            alone.len()
        );
    }

    /// Found by comparing runs: a reused zlib-rs stream let about one segment in fifty depend on
    /// what the thread compressed before.
    #[test]
    fn a_segment_does_not_depend_on_what_was_compressed_before() {
        let data: Vec<u8> = (0..40_000u32)
            .flat_map(|n| format!("<p n=\"{}\" x=\"{}\"/>", n % 9973, n * 7 % 131).into_bytes())
            .collect();
        for k in 0..100 {
            let dictionary = &data[k * 1000..k * 1000 + DICTIONARY_MAX];
            let raw = &data[k * 1000 + DICTIONARY_MAX..k * 1000 + DICTIONARY_MAX + 7000];
            let pack = || Compression::Gzip.pack_segment(raw, dictionary, false);
            Compression::Gzip.pack_segment(&data[150_000..190_000 + k], b"", false);
            let first = pack();
            let scrambled: Vec<u8> = data[10_000..50_000 + 2 * k]
                .iter()
                .map(|b| b ^ 0x55)
                .collect();
            Compression::Gzip.pack_segment(&scrambled, b"", false);
            assert!(pack() == first, "history changed segment {k}");
        }
    }

    #[test]
    fn stored_segments_are_a_valid_stream_too() {
        let big = vec![b'x'; 150_000];
        for segments in [
            vec![
                (&b"<a>"[..], &b""[..]),
                (&big[..], &b""[..]),
                (&b""[..], &b""[..]),
            ],
            vec![(&b""[..], &b""[..])],
        ] {
            let file = document(&segments, |raw, _, last| stored_segment(raw, last));
            let unpacked = decompress("x.gz", file.as_slice(), 1 << 20).expect("stored blocks");
            let whole: Vec<u8> = segments.iter().flat_map(|(raw, _)| raw.to_vec()).collect();
            assert_eq!(unpacked, whole);
        }
    }
}

#[cfg(test)]
mod bomb_tests {
    use super::*;

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        let bomb = Compression::Zstd.pack(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let err = decompress("x.zst", bomb.as_slice(), 1024 * 1024).expect_err("bomb");
        assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge);
    }

    /// Found by fuzzing (bench/fuzz, repodata): a legacy .lzma header asking for a 4 GiB
    /// dictionary, named .xz, made the decoder allocate 4 GiB.
    #[test]
    fn an_xz_file_cannot_ask_for_a_huge_dictionary() {
        let mut alone = vec![0x5b];
        alone.extend([0xff; 93]);
        let err = decompress("updateinfo.xml.xz", alone.as_slice(), 1024).expect_err("refused");
        assert!(!err.to_string().is_empty());
        let mut xz = Vec::new();
        liblzma::read::XzEncoder::new(&b"<a/>"[..], 6)
            .read_to_end(&mut xz)
            .expect("xz");
        assert_eq!(
            decompress("x.xz", xz.as_slice(), 1024).expect("xz"),
            b"<a/>"
        );
        xz.truncate(xz.len() - 1);
        assert!(decompress("x.xz", xz.as_slice(), 1024).is_err());
    }
}
