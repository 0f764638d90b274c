//! Compression of repodata: each piece (document header, one package, footer) becomes one
//! gzip member or zstd frame. Concatenated members are a valid gzip file (RFC 1952 §2.2) and
//! concatenated frames a valid zstd file, which lets cached pieces be reused as they are.

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

/// gzip level: createrepo_c's default compression level for gzip output.
const GZIP_LEVEL: i32 = 6;
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
