//! Content-defined blocks: how repodata documents are cut for compression and caching.
//!
//! Packages are listed in a fixed order. A block of at least [`BlockRule::min_packages`] ends
//! after a package whose location hashes to a pattern (about one in [`BlockRule::cut_odds`]),
//! or after [`BlockRule::max_packages`] packages. Because cut points follow the packages'
//! locations, replacing a few packages changes only the blocks around them.
//!
//! gzip documents chain their blocks ([`Compression::chained`]): each is compressed with the
//! last few packages of the block before it as its dictionary ([`DICTIONARY_PACKAGES`]), so
//! small blocks compress almost as well as one whole file, and an incremental run recompresses
//! a changed block (and the one after it only when the change is among those last packages),
//! not a large block. zstd frames stand alone, so their blocks are larger to compress well.
//!
//! Cut points and a block's cache key ([`plan`]) come from what a `stat` tells (the packages'
//! locations and cache keys), not from their content, so an incremental run knows which
//! blocks it has seen before without loading anything of their packages.

use std::ops::Range;

use crate::checksum::{sha256, Sha256};

use super::block_files::BlockXml;
use super::cache::{CacheKey, CachedBlock, CachedPackage};
use super::compress::{Compression, DICTIONARY_PACKAGES};

/// Where a listing is cut into blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRule {
    /// No block but a listing's last holds fewer packages. Sizes vary less than with cut
    /// points alone, and the blocks a changed package falls in, which an incremental run
    /// compresses again, are less often the long ones. A cut point that comes or goes with a
    /// changed location moves the cuts after it until both agree again, usually at the next.
    pub min_packages: usize,
    /// Past the minimum, a block ends after a package whose location hashes to a pattern
    /// found about once in this many.
    pub cut_odds: u8,
    /// No block holds more packages than this, so compression work stays parallel even for
    /// runs of packages without a cut point.
    pub max_packages: usize,
}

impl BlockRule {
    /// The rule for documents compressed with `compression`. Chained blocks of about 9
    /// packages: over random sets of 20 replaced packages in the 2,000-package benchmark
    /// corpus an incremental run recompresses 375 packages (a changed block and the one after
    /// it), against 702 with the unchained 36 that zstd keeps, whose frames lose the context
    /// that smaller ones would (docs/benchmarks.md).
    pub fn of(compression: Compression) -> BlockRule {
        if compression.chained() {
            BlockRule {
                min_packages: 6,
                cut_odds: 4,
                max_packages: 48,
            }
        } else {
            BlockRule {
                min_packages: 22,
                cut_odds: 16,
                max_packages: 128,
            }
        }
    }

    /// Whether the package listed at `href` is a cut point: a block past the minimum ends
    /// after it.
    pub fn cut_after(&self, href: &str) -> bool {
        sha256(href.as_bytes())[0] % self.cut_odds == 0
    }
}

/// One block of a listing: its packages and, when every one of them has a cache key, its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBlock {
    /// Indices of the block's packages in the listing.
    pub packages: Range<usize>,
    /// The block's cache key: its packages' keys (so their files and locations) hashed, with
    /// the compression, and for chained compression the last [`DICTIONARY_PACKAGES`] of the
    /// block before it (whose XML is its dictionary, [`super::compress::dictionary_of`]).
    pub key: Option<String>,
}

/// Cuts a listing into blocks, given each package's location and cache key.
pub fn plan<'a>(
    packages: impl ExactSizeIterator<Item = (&'a str, Option<&'a CacheKey>)>,
    compression: Compression,
) -> Vec<PlannedBlock> {
    let rule = BlockRule::of(compression);
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut own = Some(Sha256::new());
    // The keys of the block before's last packages (its dictionary); none before the first.
    let mut before = Some(String::new());
    let mut last_keys: Vec<Option<&CacheKey>> = Vec::with_capacity(rule.max_packages);
    let count = packages.len();
    for (index, (href, package_key)) in packages.enumerate() {
        last_keys.push(package_key);
        match (package_key, own.as_mut()) {
            (Some(package_key), Some(hash)) => {
                hash.update(package_key.as_str().as_bytes());
                hash.update(b"\n");
            }
            _ => own = None,
        }
        let end = index + 1;
        let length = end - start;
        if (length >= rule.min_packages && rule.cut_after(href))
            || length == rule.max_packages
            || end == count
        {
            let packages_hash = own.replace(Sha256::new()).map(|hash| hash.hex());
            let key = match (&packages_hash, &before) {
                (Some(packages), _) if !compression.chained() => Some(packages.clone()),
                (Some(packages), Some(before)) => {
                    let mut chained = Sha256::new();
                    chained.update(packages.as_bytes());
                    chained.update(b" after ");
                    chained.update(before.as_bytes());
                    Some(chained.hex())
                }
                _ => None,
            };
            blocks.push(PlannedBlock {
                packages: start..end,
                key: key.map(|key| format!("{key}:{}", compression.name())),
            });
            before = last_keys[last_keys.len().saturating_sub(DICTIONARY_PACKAGES)..]
                .iter()
                .map(|key| key.map(CacheKey::as_str))
                .collect::<Option<Vec<&str>>>()
                .map(|keys| keys.join("\n"));
            last_keys.clear();
            start = end;
        }
    }
    blocks
}

/// Joins packages' XML into a block's three documents.
pub fn join<'a>(packages: impl Iterator<Item = &'a CachedPackage> + Clone) -> [Vec<u8>; 3] {
    // Sized first: growing by doubling copied each document about twice over.
    let mut sizes = [0; 3];
    for package in packages.clone() {
        for (size, piece) in sizes.iter_mut().zip(&package.xml) {
            *size += piece.len();
        }
    }
    let mut raw = sizes.map(Vec::with_capacity);
    for package in packages {
        for (doc, piece) in raw.iter_mut().zip(&package.xml) {
            doc.extend_from_slice(piece);
        }
    }
    raw
}

/// Compresses a block's three documents (in parallel), each with its dictionary: the end of
/// the same document in the block before (empty for none, and unused by unchained
/// compression).
pub fn compress_docs(
    raw: &[Vec<u8>; 3],
    dictionaries: [&[u8]; 3],
    compression: Compression,
) -> [Vec<u8>; 3] {
    let pack = |doc: usize| compression.pack_segment(&raw[doc], dictionaries[doc], false);
    let (filelists, (primary, other)) =
        rayon::join(|| pack(1), || rayon::join(|| pack(0), || pack(2)));
    [primary, filelists, other]
}

/// A block of `packages` whose documents `raw` ([`join`]) are compressed as `packed`.
pub fn assembled(packages: usize, raw: [Vec<u8>; 3], packed: [Vec<u8>; 3]) -> CachedBlock {
    CachedBlock {
        packages,
        xml: BlockXml::Memory { raw, packed },
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

    fn plan_of(keys: &[Option<CacheKey>], compression: Compression) -> Vec<PlannedBlock> {
        let hrefs: Vec<String> = (0..keys.len())
            .map(|n| format!("Packages/q/q-{n}.rpm"))
            .collect();
        plan(
            hrefs
                .iter()
                .map(String::as_str)
                .zip(keys.iter().map(Option::as_ref)),
            compression,
        )
    }

    #[test]
    fn cuts_follow_locations_and_count() {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let rule = BlockRule::of(compression);
            let hrefs: Vec<String> = (0..1000).map(|n| format!("Packages/p/p-{n}.rpm")).collect();
            let keys: Vec<CacheKey> = hrefs.iter().map(|h| key(h)).collect();
            let blocks = plan(
                hrefs.iter().map(String::as_str).zip(keys.iter().map(Some)),
                compression,
            );
            assert_eq!(blocks.first().map(|b| b.packages.start), Some(0));
            assert_eq!(blocks.last().map(|b| b.packages.end), Some(1000));
            for pair in blocks.windows(2) {
                assert_eq!(pair[0].packages.end, pair[1].packages.start);
            }
            for block in &blocks {
                let last = &hrefs[block.packages.end - 1];
                let length = block.packages.len();
                assert!(
                    (rule.cut_after(last) && length >= rule.min_packages)
                        || length == rule.max_packages
                        || block.packages.end == 1000,
                    "{block:?}"
                );
                assert!(
                    length >= rule.min_packages || block.packages.end == 1000,
                    "{block:?}"
                );
                assert!(length <= rule.max_packages);
                let suffix = format!(":{}", compression.name());
                assert!(block.key.as_deref().is_some_and(|k| k.ends_with(&suffix)));
            }
            let average = 1000 / blocks.len();
            let expected = rule.min_packages..=rule.min_packages + 2 * usize::from(rule.cut_odds);
            assert!(expected.contains(&average), "{} blocks", blocks.len());
        }
    }

    /// The blocks whose keys differ when package `at` of 300 is rebuilt (a new file at the
    /// same location: new inode and time).
    fn rebuilt(at: usize, compression: Compression) -> Vec<usize> {
        let keys: Vec<Option<CacheKey>> = (0..300).map(|n| Some(key(&n.to_string()))).collect();
        let mut changed = keys.clone();
        changed[at] = Some(key("rebuilt"));
        let before = plan_of(&keys, compression);
        let after = plan_of(&changed, compression);
        assert_eq!(before.len(), after.len());
        (0..before.len())
            .filter(|block| before[*block].key != after[*block].key)
            .collect()
    }

    /// The index of the block that holds package `at`.
    fn holding(blocks: &[PlannedBlock], at: usize) -> usize {
        blocks
            .iter()
            .position(|block| block.packages.contains(&at))
            .expect("a block holds it")
    }

    #[test]
    fn a_rebuilt_package_changes_its_blocks_key_and_a_chained_next_one_only_if_near_its_end() {
        for compression in [Compression::Zstd, Compression::Gzip] {
            let blocks = plan_of(&vec![None; 300], compression);
            let holding = holding(&blocks, 150);
            let Range { start, end } = blocks[holding].packages;
            let dictionary = end - DICTIONARY_PACKAGES..end;
            assert!(!dictionary.contains(&start), "{:?}", blocks[holding]);
            let differing = rebuilt(start, compression);
            assert_eq!(differing, [holding], "{compression:?}: only its own block");
            for at in dictionary {
                let expected = if compression.chained() {
                    vec![holding, holding + 1]
                } else {
                    vec![holding]
                };
                assert_eq!(
                    rebuilt(at, compression),
                    expected,
                    "{compression:?}: a chained block's dictionary is the block before's end"
                );
            }
        }
        assert_ne!(
            plan_of(&[Some(key("a"))], Compression::Gzip)[0].key,
            plan_of(&[Some(key("a"))], Compression::Zstd)[0].key,
            "the compression is part of the key"
        );
    }

    #[test]
    fn a_package_without_a_key_leaves_its_block_uncached() {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let plan = plan_of(&vec![None; 200], compression);
            let holding = holding(&plan, 100);
            let last = plan[holding].packages.end - 1;
            assert!(last - 100 >= DICTIONARY_PACKAGES, "{:?}", plan[holding]);
            for keyless in [100, last] {
                let keys: Vec<Option<CacheKey>> = (0..200)
                    .map(|n| (n != keyless).then(|| key(&n.to_string())))
                    .collect();
                for (at, block) in plan_of(&keys, compression).iter().enumerate() {
                    // A chained block's dictionary holds the keyless package before it.
                    let unknown = at == holding
                        || (compression.chained() && keyless == last && at == holding + 1);
                    assert_eq!(block.key.is_none(), unknown, "{compression:?} {block:?}");
                }
            }
        }
    }

    #[test]
    fn chained_blocks_decompress_to_their_packages_xml_in_one_stream() {
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
        let first = [package("a"), package("b")];
        let second = [package("a"), package("c")];
        let compression = Compression::Gzip;
        let raw = join(first.iter());
        let block = assembled(2, raw.clone(), compress_docs(&raw, [&[]; 3], compression));
        let tails = block.xml.tails().expect("in memory");
        let raw_next = join(second.iter());
        let dictionaries = tails.each_ref().map(Vec::as_slice);
        let next = assembled(
            2,
            raw_next.clone(),
            compress_docs(&raw_next, dictionaries, compression),
        );
        let part = |block: &CachedBlock, form, doc| {
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
        assert_eq!(part(&block, Form::Raw, 0), b"<p>a</p><p>b</p>");
        assert_eq!(tails[1], b"<f>a</f><f>b</f>");
        let mut file = compression.file_start().to_vec();
        file.extend(part(&block, Form::Packed, 1));
        file.extend(part(&next, Form::Packed, 1));
        file.extend(compression.pack_segment(b"<end/>", &[], true));
        let whole = b"<f>a</f><f>b</f><f>a</f><f>c</f><end/>";
        file.extend(compression.file_end(crc32fast::hash(whole), whole.len() as u64));
        let unpacked =
            super::super::compress::decompress("x.gz", file.as_slice(), 1024).expect("gzip");
        assert_eq!(unpacked, whole);
        let alone = compress_docs(&raw_next, [&[]; 3], compression);
        assert!(
            part(&next, Form::Packed, 1).len() < alone[1].len(),
            "the second block refers back into the first"
        );
    }
}
