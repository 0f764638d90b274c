//! The repodata pipeline: the listing is cut into blocks ([`super::blocks`]); each block is
//! taken whole from the cache, or its packages are taken from the cache or read, rendered and
//! compressed. Batches of blocks are prepared on the pool a few ahead of the writer and
//! written in order as they become ready ([`Pipeline`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use super::block_files::BlockXml;
use super::blocks::{self, PlannedBlock};
use super::compress::dictionary_of;
use super::{
    prehash, render_packages, CacheKey, CacheWrite, CachedBlock, CachedPackage, DocumentWriter,
    Files, PackageInput, RepodataError, RepodataOptions,
};
use crate::checksum::FileDigest;

/// Packages prepared together (whole blocks, at least this many): bounds memory to about this
/// many packages' metadata.
const BATCH_PACKAGES: usize = 128;

/// A batch of blocks ready to write.
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
    /// Assembled but not compressed: the first of its batch, whose dictionary (the end of the
    /// block before, in the batch before) only the writer has. The writer compresses it; then
    /// it is [`Origin::Assembled`].
    Uncompressed(Option<String>),
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
    let pipeline = Pipeline {
        run: &run,
        batches: &batches,
        cache_tx: options.cache.is_some().then_some(cache_tx),
        ready: Mutex::default(),
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        writing: Mutex::new(Writing {
            writers,
            totals: Streamed {
                listed: 0,
                read: 0,
                blocks: plan.len(),
                blocks_cached: 0,
            },
            error: None,
            tails: Default::default(),
        }),
    };
    rayon::scope_fifo(|scope| {
        for index in 0..LOOKAHEAD.min(batches.len()) {
            pipeline.prepare(scope, index);
        }
    });
    let writing = pipeline
        .writing
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match writing.error {
        Some(error) => Err(error),
        None => Ok(writing.totals),
    }
}

/// How many batches may be prepared (or being prepared) ahead of the next to write: enough
/// that neither core waits at the end of a batch for the other to finish its part, few enough
/// to bound memory to a few batches.
const LOOKAHEAD: usize = 4;

/// Batches prepared in parallel and written in order as they become ready. Whichever task
/// finishes preparing the next batch to write writes it (and any ready after it), so no
/// thread blocks waiting for another: the cores stay busy with whatever is ready, where
/// preparing one batch while writing the one before left a core idle at the end of each.
struct Pipeline<'a, 'w> {
    run: &'a Run<'a>,
    batches: &'a [&'a [PlannedBlock]],
    /// Where new cache entries go, with a cache.
    cache_tx: Option<&'a std::sync::mpsc::SyncSender<CacheWrite>>,
    /// Prepared batches not yet written, by index.
    ready: Mutex<BTreeMap<usize, Result<Prepared, RepodataError>>>,
    /// The index of the next batch to write.
    next: AtomicUsize,
    /// Set on the first error: nothing more is prepared or written.
    failed: AtomicBool,
    /// The documents, held by the task writing.
    writing: Mutex<Writing<'w>>,
}

/// The writers and what has been written.
struct Writing<'w> {
    writers: &'w mut [DocumentWriter],
    totals: Streamed,
    error: Option<RepodataError>,
    /// The end of each document of the last block written: the dictionaries of a block
    /// written next that was left [`Origin::Uncompressed`].
    tails: [Vec<u8>; 3],
}

impl<'a, 'w> Pipeline<'a, 'w> {
    /// Prepares batch `index` on the pool, then writes whatever is ready in order.
    fn prepare<'s>(&'s self, scope: &rayon::ScopeFifo<'s>, index: usize)
    where
        'a: 's,
    {
        scope.spawn_fifo(move |scope| {
            if self.failed.load(Ordering::Acquire) {
                return;
            }
            let prepared = self.run.prepare(self.batches[index]);
            self.lock_ready().insert(index, prepared);
            self.write_ready(scope);
        });
    }

    fn lock_ready(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<usize, Result<Prepared, RepodataError>>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the batches ready in order, unless another task is writing (it will find them).
    fn write_ready<'s>(&'s self, scope: &rayon::ScopeFifo<'s>)
    where
        'a: 's,
    {
        loop {
            let Ok(mut writing) = self.writing.try_lock() else {
                return;
            };
            loop {
                let index = self.next.load(Ordering::Acquire);
                let Some(prepared) = self.lock_ready().remove(&index) else {
                    break;
                };
                let written = prepared.and_then(|prepared| self.write(&mut writing, prepared));
                if let Err(error) = written {
                    writing.error = Some(error);
                    self.failed.store(true, Ordering::Release);
                    return;
                }
                self.next.store(index + 1, Ordering::Release);
                if index + LOOKAHEAD < self.batches.len() {
                    self.prepare(scope, index + LOOKAHEAD);
                }
            }
            drop(writing);
            // A batch that became ready after the last look, while this task still held the
            // writers, was left for it: look again.
            let index = self.next.load(Ordering::Acquire);
            if !self.lock_ready().contains_key(&index) {
                return;
            }
        }
    }

    /// Appends one prepared batch to the documents and hands its new entries to the cache.
    fn write(
        &self,
        writing: &mut Writing<'w>,
        mut prepared: Prepared,
    ) -> Result<(), RepodataError> {
        let compression = self.run.options.compression;
        for (block, origin) in &mut prepared.blocks {
            if let (Origin::Uncompressed(key), BlockXml::Memory { raw, packed }) =
                (&*origin, &mut block.xml)
            {
                let dictionaries = writing.tails.each_ref().map(Vec::as_slice);
                *packed = blocks::compress_docs(raw, dictionaries, compression);
                *origin = Origin::Assembled(key.clone());
            }
        }
        write(writing.writers, &prepared)?;
        if let (true, Some((last, _))) = (compression.chained(), prepared.blocks.last()) {
            writing.tails = last.xml.tails().map_err(RepodataError::CacheRead)?;
        }
        let totals = &mut writing.totals;
        totals.read += prepared.read;
        let mut new_blocks = Vec::new();
        for (block, origin) in prepared.blocks {
            totals.listed += block.packages;
            match origin {
                Origin::Assembled(Some(key)) | Origin::Uncompressed(Some(key)) => {
                    new_blocks.push((key, block))
                }
                Origin::Assembled(None) | Origin::Uncompressed(None) => {}
                Origin::Cache => totals.blocks_cached += 1,
            }
        }
        if let Some(cache_tx) = self.cache_tx {
            // A closed channel only means no cache is being written.
            if !prepared.fresh.is_empty() {
                let _ = cache_tx.send(CacheWrite::Packages(prepared.fresh));
            }
            if !new_blocks.is_empty() {
                let _ = cache_tx.send(CacheWrite::Blocks(new_blocks));
            }
        }
        Ok(())
    }
}

/// A block of a batch to compress, with what it is compressed against.
struct Uncompressed<'b> {
    /// Its index in the batch.
    at: usize,
    /// Its three documents' XML.
    raw: &'b [Vec<u8>; 3],
    /// Each document's dictionary: the end of the block before, borrowed when that one is in
    /// memory, read from its file when it came from the cache; empty for a document's first.
    dictionaries: [Cow<'b, [u8]>; 3],
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
        let mut raws: Vec<Option<[Vec<u8>; 3]>> = Vec::with_capacity(batch.len());
        let mut offset = 0;
        for (block, hit) in batch.iter().zip(&hits) {
            raws.push(hit.is_none().then(|| {
                let count = block.packages.len();
                let packages = &rendered[offset..offset + count];
                offset += count;
                blocks::join(packages.iter().map(|r| &r.entry))
            }));
        }
        let compression = self.options.compression;
        // A batch's first block is left to the writer, which has the block before it.
        let mut work: Vec<Uncompressed<'_>> = Vec::new();
        for (at, raw) in raws.iter().enumerate() {
            let Some(raw) = raw else {
                continue;
            };
            let dictionaries = if !compression.chained() || batch[at].packages.start == 0 {
                Default::default()
            } else if let Some(before) = at.checked_sub(1) {
                match (&raws[before], &hits[before]) {
                    (Some(raw), _) => raw.each_ref().map(|doc| Cow::Borrowed(dictionary_of(doc))),
                    (None, Some(hit)) => hit
                        .xml
                        .tails()
                        .map_err(RepodataError::CacheRead)?
                        .map(Cow::Owned),
                    (None, None) => continue,
                }
            } else {
                continue;
            };
            work.push(Uncompressed {
                at,
                raw,
                dictionaries,
            });
        }
        let mut packed: Vec<Option<[Vec<u8>; 3]>> = (0..batch.len()).map(|_| None).collect();
        let compressed: Vec<(usize, [Vec<u8>; 3])> = work
            .par_iter()
            .map(|block| {
                let dictionaries = block.dictionaries.each_ref().map(AsRef::as_ref);
                (
                    block.at,
                    blocks::compress_docs(block.raw, dictionaries, compression),
                )
            })
            .collect();
        for (at, docs) in compressed {
            packed[at] = Some(docs);
        }
        let blocks = batch
            .iter()
            .zip(hits)
            .zip(raws.into_iter().zip(packed))
            .map(|((block, hit), (raw, packed))| match (hit, raw, packed) {
                (Some(found), _, _) => (found, Origin::Cache),
                (None, raw, Some(packed)) => (
                    blocks::assembled(block.packages.len(), raw.unwrap_or_default(), packed),
                    Origin::Assembled(block.key.clone()),
                ),
                (None, raw, None) => (
                    blocks::assembled(
                        block.packages.len(),
                        raw.unwrap_or_default(),
                        Default::default(),
                    ),
                    Origin::Uncompressed(block.key.clone()),
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
