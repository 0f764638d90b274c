//! The repodata pipeline: the listing is cut into blocks ([`super::blocks`]); each block is
//! taken whole from the cache, or its packages are taken from the cache or read, rendered and
//! compressed; blocks are written in order while the next batch is prepared.

use rayon::prelude::*;

use super::blocks::{self, PlannedBlock};
use super::{
    prehash, render_packages, CacheKey, CacheWrite, CachedBlock, CachedPackage, DocumentWriter,
    Files, PackageInput, RepodataError, RepodataOptions,
};
use crate::checksum::FileDigest;

/// Packages prepared together (whole blocks, at least this many): bounds memory to about this
/// many packages' metadata.
const BATCH_PACKAGES: usize = 128;

/// A batch of blocks ready to write.
#[derive(Default)]
struct Prepared {
    /// The blocks in listing order, and where each came from.
    blocks: Vec<(CachedBlock, Origin)>,
    /// Packages read in this batch, for the cache.
    fresh: Vec<(CacheKey, CachedPackage)>,
    /// How many packages were read.
    read: usize,
}

/// Where a prepared block came from.
enum Origin {
    /// Taken whole from the cache.
    Cache,
    /// Assembled from its packages; the key it is cached under, if it can be.
    Assembled(Option<String>),
}

/// What a run streamed.
pub(super) struct Streamed {
    /// How many packages are listed.
    pub listed: usize,
    /// How many packages were read.
    pub read: usize,
    /// How many blocks were written.
    pub blocks: usize,
    /// How many of them came whole from the cache.
    pub blocks_cached: usize,
}

/// What every batch of one run shares.
struct Run<'a> {
    inputs: &'a [PackageInput],
    files: Files,
    hashed: Vec<Option<FileDigest>>,
    options: &'a RepodataOptions<'a>,
}

/// Takes from the cache, or reads, renders and compresses, every package, and writes the
/// blocks in order. New cache entries go to `cache_tx`.
pub(super) fn stream_packages(
    inputs: &[PackageInput],
    writers: &mut [DocumentWriter],
    options: &RepodataOptions<'_>,
    cache_tx: &std::sync::mpsc::SyncSender<CacheWrite>,
) -> Result<Streamed, RepodataError> {
    let files = Files::stat(inputs, options);
    let plan = blocks::plan(
        inputs
            .iter()
            .map(|input| input.href.as_str())
            .zip(files.keys.iter().map(Option::as_ref)),
        options.compression,
    );
    let hashed = prehash(
        inputs,
        &files,
        || unknown_blocks_packages(&plan, options),
        options,
    );
    let run = Run {
        inputs,
        files,
        hashed,
        options,
    };
    let batches = batches(&plan);
    let mut listed = 0;
    let mut read = 0;
    let mut blocks_cached = 0;
    let mut pending = match batches.first() {
        Some(first) => Some(run.prepare(first)?),
        None => None,
    };
    for index in 0..batches.len() {
        let current = pending.take().unwrap_or_default();
        let next = batches.get(index + 1);
        let (written, prepared_next) = rayon::join(
            || write(writers, &current),
            || next.map(|batch| run.prepare(batch)),
        );
        written?;
        read += current.read;
        let mut new_blocks = Vec::new();
        for (block, origin) in current.blocks {
            listed += block.packages;
            match origin {
                Origin::Assembled(Some(key)) => new_blocks.push((key, block)),
                Origin::Assembled(None) => {}
                Origin::Cache => blocks_cached += 1,
            }
        }
        if options.cache.is_some() {
            // A closed channel only means no cache is being written.
            if !current.fresh.is_empty() {
                let _ = cache_tx.send(CacheWrite::Packages(current.fresh));
            }
            if !new_blocks.is_empty() {
                let _ = cache_tx.send(CacheWrite::Blocks(new_blocks));
            }
        }
        pending = prepared_next.transpose()?;
    }
    Ok(Streamed {
        listed,
        read,
        blocks: plan.len(),
        blocks_cached,
    })
}

/// Consecutive blocks grouped into batches of at least [`BATCH_PACKAGES`] packages.
fn batches(plan: &[PlannedBlock]) -> Vec<&[PlannedBlock]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut packages = 0;
    for (index, block) in plan.iter().enumerate() {
        packages += block.packages.len();
        if packages >= BATCH_PACKAGES || index + 1 == plan.len() {
            batches.push(&plan[start..=index]);
            start = index + 1;
            packages = 0;
        }
    }
    batches
}

/// The packages of blocks the cache does not hold: those a run may have to read.
fn unknown_blocks_packages(plan: &[PlannedBlock], options: &RepodataOptions<'_>) -> Vec<usize> {
    let known = match options.cache {
        Some(cache) => {
            let keys: Vec<&str> = plan.iter().filter_map(|b| b.key.as_deref()).collect();
            cache.contains_blocks(&keys).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "block cache lookup failed; hashing packages");
                Default::default()
            })
        }
        None => Default::default(),
    };
    plan.iter()
        .filter(|block| !block.key.as_ref().is_some_and(|k| known.contains(k)))
        .flat_map(|block| block.packages.clone())
        .collect()
}

impl Run<'_> {
    /// The blocks of `batch`: from the cache where it has them, else assembled from their
    /// packages (from the cache or read) and compressed, in parallel.
    fn prepare(&self, batch: &[PlannedBlock]) -> Result<Prepared, RepodataError> {
        let mut cached: std::collections::HashMap<String, CachedBlock> = match self.options.cache {
            Some(cache) => {
                let keys: Vec<&str> = batch.iter().filter_map(|b| b.key.as_deref()).collect();
                cache
                    .get_blocks(&keys)
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "block cache lookup failed; assembling blocks");
                        Vec::new()
                    })
                    .into_iter()
                    .collect()
            }
            None => Default::default(),
        };
        let hits: Vec<Option<CachedBlock>> = batch
            .iter()
            .map(|block| block.key.as_ref().and_then(|k| cached.remove(k)))
            .collect();
        let wanted: Vec<usize> = batch
            .iter()
            .zip(&hits)
            .filter(|(_, hit)| hit.is_none())
            .flat_map(|(block, _)| block.packages.clone())
            .collect();
        let rendered = render_packages(
            self.inputs,
            &wanted,
            &self.files,
            &self.hashed,
            self.options,
        )?;
        let mut missing = Vec::new();
        let mut offset = 0;
        for (block, hit) in batch.iter().zip(&hits) {
            if hit.is_none() {
                let count = block.packages.len();
                missing.push(&rendered[offset..offset + count]);
                offset += count;
            }
        }
        let compression = self.options.compression;
        let mut assembled = missing
            .par_iter()
            .map(|packages| blocks::assemble(packages.iter().map(|r| &r.entry), compression))
            .collect::<Vec<_>>()
            .into_iter();
        let blocks = batch
            .iter()
            .zip(hits)
            .map(|(block, hit)| match hit {
                Some(found) => (found, Origin::Cache),
                None => (
                    assembled.next().unwrap_or_default(),
                    Origin::Assembled(block.key.clone()),
                ),
            })
            .collect();
        let read = rendered.iter().filter(|r| r.fresh).count();
        let fresh = rendered
            .into_iter()
            .filter(|r| r.fresh)
            .filter_map(|r| Some((r.key?, r.entry)))
            .collect();
        Ok(Prepared {
            blocks,
            fresh,
            read,
        })
    }
}

/// Appends a batch's blocks to the documents. The three are independent streams, hashed and
/// written in parallel: filelists, usually as big as the other two together, on a thread of
/// its own, so neither thread waits for the other.
fn write(writers: &mut [DocumentWriter], prepared: &Prepared) -> Result<(), RepodataError> {
    let append = |writer: &mut DocumentWriter, doc: usize| {
        prepared
            .blocks
            .iter()
            .try_for_each(|(block, _)| writer.push_block(&block.xml, doc))
    };
    match writers {
        [primary, filelists, other] => {
            let (filelists, rest) = rayon::join(
                || append(filelists, 1),
                || append(primary, 0).and_then(|()| append(other, 2)),
            );
            filelists.and(rest)
        }
        _ => writers
            .iter_mut()
            .enumerate()
            .try_for_each(|(doc, writer)| append(writer, doc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_whole_blocks_and_cover_the_plan() {
        let plan: Vec<PlannedBlock> = [0..50, 50..100, 100..300, 300..310, 310..320]
            .into_iter()
            .map(|packages| PlannedBlock {
                packages,
                key: None,
            })
            .collect();
        let batches = batches(&plan);
        let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [3, 2]);
        assert!(super::batches(&[]).is_empty());
    }
}
