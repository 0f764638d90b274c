//! Content-defined blocks: how repodata documents are cut for compression and caching.
//!
//! Packages are listed in a fixed order. A block of at least [`MIN_PACKAGES`] ends after a
//! package whose location hashes to a pattern (about one in [`CUT_ODDS`]), or after
//! [`MAX_PACKAGES`] packages: about 36 packages on average. Each block is compressed as one
//! gzip member (zstd frame); the members of a document concatenate into a valid file. Because
//! cut points follow the packages' locations, replacing a few packages changes only the blocks
//! around them, and blocks of several packages compress nearly as well as a whole file.
//!
//! Cut points and a block's cache key ([`plan`]) come from what a `stat` tells (the packages'
//! locations and cache keys), not from their content, so an incremental run knows which
//! blocks it has seen before without loading anything of their packages.

use std::ops::Range;

use crate::checksum::{sha256, Sha256};

use super::block_files::BlockXml;
use super::cache::{CacheKey, CachedBlock, CachedPackage};
use super::compress::Compression;

/// No block but a listing's last holds fewer packages. Sizes vary less than with cut points
/// alone, and the blocks a changed package falls in, which an incremental run compresses
/// again, are less often the long ones: over random sets of 20 replaced packages in the
/// 2,000-package benchmark corpus, 23% fewer packages to recompress than with cut points
/// alone at the same average size. A cut point that comes or goes with a changed location
/// moves the cuts after it until both agree again, usually at the next one.
pub const MIN_PACKAGES: usize = 22;

/// Past [`MIN_PACKAGES`], a block ends after a package whose location hashes to a pattern
/// found about once in this many.
pub const CUT_ODDS: u8 = 16;

/// No block holds more packages than this, so compression work stays parallel even for runs
/// of packages without a cut point.
pub const MAX_PACKAGES: usize = 128;

/// Whether the package listed at `href` is a cut point: a block past [`MIN_PACKAGES`] ends
/// after it.
pub fn cut_after(href: &str) -> bool {
    sha256(href.as_bytes())[0] % CUT_ODDS == 0
}

/// One block of a listing: its packages and, when every one of them has a cache key, its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBlock {
    /// Indices of the block's packages in the listing.
    pub packages: Range<usize>,
    /// The block's cache key: its packages' keys (so their files and locations) hashed, with
    /// the compression.
    pub key: Option<String>,
}

/// Cuts a listing into blocks, given each package's location and cache key.
pub fn plan<'a>(
    packages: impl ExactSizeIterator<Item = (&'a str, Option<&'a CacheKey>)>,
    compression: Compression,
) -> Vec<PlannedBlock> {
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut key = Some(Sha256::new());
    let count = packages.len();
    for (index, (href, package_key)) in packages.enumerate() {
        match (package_key, key.as_mut()) {
            (Some(package_key), Some(hash)) => {
                hash.update(package_key.as_str().as_bytes());
                hash.update(b"\n");
            }
            _ => key = None,
        }
        let end = index + 1;
        let length = end - start;
        if (length >= MIN_PACKAGES && cut_after(href)) || length == MAX_PACKAGES || end == count {
            blocks.push(PlannedBlock {
                packages: start..end,
                key: key
                    .replace(Sha256::new())
                    .map(|hash| format!("{}:{}", hash.hex(), compression.name())),
            });
            start = end;
        }
    }
    blocks
}

/// Joins packages' XML into one block and compresses its three documents (in
/// parallel).
pub fn assemble<'a>(
    packages: impl Iterator<Item = &'a CachedPackage> + Clone,
    compression: Compression,
) -> CachedBlock {
    // Sized first: growing by doubling copied each document about twice over.
    let mut sizes = [0; 3];
    for package in packages.clone() {
        for (size, piece) in sizes.iter_mut().zip(&package.xml) {
            *size += piece.len();
        }
    }
    let mut raw = sizes.map(Vec::with_capacity);
    let mut count = 0;
    for package in packages {
        for (doc, piece) in raw.iter_mut().zip(&package.xml) {
            doc.extend_from_slice(piece);
        }
        count += 1;
    }
    let [primary, filelists, other] = &raw;
    let (filelists, (primary, other)) = rayon::join(
        || compression.pack(filelists),
        || rayon::join(|| compression.pack(primary), || compression.pack(other)),
    );
    CachedBlock {
        packages: count,
        xml: BlockXml::Memory {
            raw,
            packed: [primary, filelists, other],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::PackageSummary;
    use crate::repodata::block_files::Form;

    fn key(name: &str) -> CacheKey {
        CacheKey::from_text(name)
    }

    #[test]
    fn cuts_follow_locations_and_count() {
        let hrefs: Vec<String> = (0..1000).map(|n| format!("Packages/p/p-{n}.rpm")).collect();
        let keys: Vec<CacheKey> = hrefs.iter().map(|h| key(h)).collect();
        let blocks = plan(
            hrefs.iter().map(String::as_str).zip(keys.iter().map(Some)),
            Compression::Gzip,
        );
        assert_eq!(blocks.first().map(|b| b.packages.start), Some(0));
        assert_eq!(blocks.last().map(|b| b.packages.end), Some(1000));
        for pair in blocks.windows(2) {
            assert_eq!(pair[0].packages.end, pair[1].packages.start);
        }
        for block in &blocks {
            let last = &hrefs[block.packages.end - 1];
            assert!(
                (cut_after(last) && block.packages.len() >= MIN_PACKAGES)
                    || block.packages.len() == MAX_PACKAGES
                    || block.packages.end == 1000,
                "{block:?}"
            );
            assert!(
                block.packages.len() >= MIN_PACKAGES || block.packages.end == 1000,
                "{block:?}"
            );
            assert!(block.packages.len() <= MAX_PACKAGES);
            assert!(block.key.as_deref().is_some_and(|k| k.ends_with(":gz")));
        }
        let average = 1000 / blocks.len();
        assert!((8..=128).contains(&average), "{} blocks", blocks.len());
    }

    #[test]
    fn a_replaced_package_changes_only_its_blocks_key() {
        let hrefs: Vec<String> = (0..300).map(|n| format!("Packages/q/q-{n}.rpm")).collect();
        let keys: Vec<CacheKey> = hrefs.iter().map(|h| key(h)).collect();
        let before = plan(
            hrefs.iter().map(String::as_str).zip(keys.iter().map(Some)),
            Compression::Gzip,
        );
        let mut changed = keys.clone();
        // A rebuilt file at the same location (new inode and time).
        changed[150] = key("rebuilt");
        let after = plan(
            hrefs
                .iter()
                .map(String::as_str)
                .zip(changed.iter().map(Some)),
            Compression::Gzip,
        );
        assert_eq!(before.len(), after.len());
        let differing: Vec<_> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a.key != b.key)
            .collect();
        assert_eq!(differing.len(), 1);
        assert!(differing[0].1.packages.contains(&150));
        let zstd = plan(
            hrefs.iter().map(String::as_str).zip(keys.iter().map(Some)),
            Compression::Zstd,
        );
        assert_ne!(
            before[0].key, zstd[0].key,
            "the compression is part of the key"
        );
    }

    #[test]
    fn a_package_without_a_key_leaves_its_block_uncached() {
        let hrefs: Vec<String> = (0..200).map(|n| format!("Packages/r/r-{n}.rpm")).collect();
        let keys: Vec<Option<CacheKey>> = hrefs
            .iter()
            .enumerate()
            .map(|(n, h)| (n != 100).then(|| key(h)))
            .collect();
        let blocks = plan(
            hrefs
                .iter()
                .map(String::as_str)
                .zip(keys.iter().map(Option::as_ref)),
            Compression::Gzip,
        );
        for block in blocks {
            assert_eq!(
                block.key.is_none(),
                block.packages.contains(&100),
                "{block:?}"
            );
        }
    }

    #[test]
    fn an_assembled_block_decompresses_to_its_packages_xml() {
        let package = |name: &str| CachedPackage {
            summary: PackageSummary {
                name: name.into(),
                ..PackageSummary::default()
            },
            xml: [
                format!("<p>{name}</p>").into_bytes(),
                format!("<f>{name}</f>").into_bytes(),
                format!("<o>{name}</o>").into_bytes(),
            ],
        };
        let packages = [package("a"), package("b")];
        let block = assemble(packages.iter(), Compression::Gzip);
        let part = |form, doc| {
            let mut out = Vec::new();
            block
                .xml
                .each_piece(form, doc, |piece| {
                    out.extend_from_slice(piece);
                    Ok(())
                })
                .expect("in memory");
            out
        };
        assert_eq!(part(Form::Raw, 0), b"<p>a</p><p>b</p>");
        assert_eq!(block.packages, 2);
        let unpacked =
            super::super::compress::decompress("x.gz", part(Form::Packed, 1).as_slice(), 1024)
                .expect("gzip");
        assert_eq!(unpacked, b"<f>a</f><f>b</f>");
    }
}
