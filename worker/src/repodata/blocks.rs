//! Content-defined blocks: how repodata documents are cut for compression.
//!
//! Packages are listed in a fixed order, and a block ends after every package whose checksum
//! matches a pattern (about one in [`AVERAGE_PACKAGES`]), or when a block grows past
//! [`MAX_BLOCK_BYTES`]. Each block is compressed as one gzip member (zstd frame); the members
//! of a document concatenate into a valid file. Because cut points follow package content,
//! replacing a few packages changes only the blocks around them: every other block has the
//! same bytes as before, and its compressed form comes from the cache by its SHA-256. Blocks
//! of several packages compress nearly as well as a whole file.

use crate::checksum::Sha256;
use rayon::prelude::*;

use super::cache::PackageCache;
use super::compress::Compression;

/// About how many packages share a block.
pub const AVERAGE_PACKAGES: u8 = 32;

/// No block grows larger than this (uncompressed, per document), so compression work stays
/// parallel even for runs of packages without a cut point.
pub const MAX_BLOCK_BYTES: usize = 512 * 1024;

/// Whether a block ends after the package with this (hex) checksum.
pub fn cut_after(checksum: &str) -> bool {
    u8::from_str_radix(checksum.get(..2).unwrap_or("00"), 16)
        .is_ok_and(|b| b % AVERAGE_PACKAGES == 0)
}

/// One block of each of the three documents, and its identity for the cache.
#[derive(Default)]
pub struct Block {
    /// primary, filelists and other XML of the block's packages.
    pub raw: [Vec<u8>; 3],
    /// Hash of the block's packages' cache keys; `None` if one of them has no key.
    key: Option<Sha256>,
    count: usize,
}

/// Collects packages' XML into blocks.
#[derive(Default)]
pub struct BlockBuilder {
    open: Block,
}

impl BlockBuilder {
    /// Adds a package (with its cache key, if it has one); returns the finished block if this
    /// package ends one.
    pub fn push(&mut self, xml: &[Vec<u8>; 3], checksum: &str, key: Option<&str>) -> Option<Block> {
        let block = &mut self.open;
        for (raw, piece) in block.raw.iter_mut().zip(xml) {
            raw.extend_from_slice(piece);
        }
        if block.count == 0 {
            block.key = Some(Sha256::new());
        }
        block.count += 1;
        match (key, block.key.as_mut()) {
            (Some(key), Some(hash)) => {
                hash.update(key.as_bytes());
                hash.update(b"\n");
            }
            _ => block.key = None,
        }
        let full = block.raw.iter().any(|b| b.len() >= MAX_BLOCK_BYTES);
        (cut_after(checksum) || full).then(|| std::mem::take(&mut self.open))
    }

    /// The last, unfinished block, if it has anything.
    pub fn finish(self) -> Option<Block> {
        (self.open.count > 0).then_some(self.open)
    }
}

/// Compressed blocks, and those newly compressed (with their cache keys) for the cache.
pub type Compressed = (Vec<[Vec<u8>; 3]>, Vec<(String, Vec<u8>)>);

/// The blocks, compressed: from the cache where they were compressed before, else compressed
/// now (in parallel); the newly compressed ones are returned for the caller to cache.
pub fn compress_blocks(
    blocks: &[Block],
    compression: Compression,
    cache: Option<&PackageCache>,
) -> Compressed {
    let keys: Vec<Option<[String; 3]>> = blocks
        .iter()
        .map(|block| {
            let digest = block.key.clone()?.hex();
            Some(
                ["primary", "filelists", "other"]
                    .map(|doc| format!("{digest}:{doc}:{}", compression.name())),
            )
        })
        .collect();
    let mut cached: std::collections::HashMap<String, Vec<u8>> = match cache {
        Some(cache) => {
            let wanted: Vec<String> = keys.iter().flatten().flatten().cloned().collect();
            cache
                .get_blocks(&wanted)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "block cache lookup failed; compressing");
                    Vec::new()
                })
                .into_iter()
                .collect()
        }
        None => Default::default(),
    };
    let hits: Vec<[Option<Vec<u8>>; 3]> = keys
        .iter()
        .map(|k| match k {
            Some(k) => k.each_ref().map(|key| cached.remove(key)),
            None => [None, None, None],
        })
        .collect();
    let packed: Vec<([Vec<u8>; 3], [bool; 3])> = blocks
        .par_iter()
        .zip(hits.into_par_iter())
        .map(|(block, hit)| {
            let mut fresh = [false; 3];
            let mut out: [Vec<u8>; 3] = Default::default();
            for (i, found) in hit.into_iter().enumerate() {
                out[i] = match found {
                    Some(bytes) => bytes,
                    None => {
                        fresh[i] = true;
                        compression.pack(&block.raw[i])
                    }
                };
            }
            (out, fresh)
        })
        .collect();
    let new: Vec<(String, Vec<u8>)> = packed
        .iter()
        .zip(&keys)
        .filter_map(|((bytes, fresh), keys)| Some((bytes, fresh, keys.as_ref()?)))
        .flat_map(|(bytes, fresh, keys)| {
            (0..3)
                .filter(|i| fresh[*i])
                .map(|i| (keys[i].clone(), bytes[i].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    (packed.into_iter().map(|(bytes, _)| bytes).collect(), new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_follow_checksums_and_size() {
        assert!(cut_after("40ab"));
        assert!(!cut_after("41ab"));
        let mut builder = BlockBuilder::default();
        let xml = [b"<a/>".to_vec(), b"<b/>".to_vec(), b"<c/>".to_vec()];
        assert!(builder.push(&xml, "01", Some("k1")).is_none());
        let block = builder
            .push(&xml, "20", Some("k2"))
            .expect("cut after 0x20");
        assert_eq!(block.raw[0], b"<a/><a/>");
        assert!(block.key.is_some());
        assert!(builder.finish().is_none());
        let mut builder = BlockBuilder::default();
        let big = [vec![b'x'; MAX_BLOCK_BYTES], Vec::new(), Vec::new()];
        let block = builder.push(&big, "01", None).expect("size cut");
        assert!(
            block.key.is_none(),
            "a package without a key leaves the block uncached"
        );
    }
}
