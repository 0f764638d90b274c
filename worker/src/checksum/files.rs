//! The SHA-256 of many files at once, eight per core in the lanes of [`super::lanes`].
//!
//! Each core runs one scheduler with eight lanes. A lane holds one open file and a window of
//! its bytes; every step advances all busy lanes by as many whole blocks as the emptiest one
//! has buffered, a lane whose window runs dry reads the next window, and a lane whose file
//! ends takes the next file from a queue shared by all cores. The queue is ordered largest
//! first, so what is left when it runs dry is small files and no lane hashes a big one alone.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use super::lanes::{padded_tail, LaneStates, BLOCK, LANES};
use super::FileDigest;

/// Bytes read into a lane at a time.
const WINDOW: usize = 256 * 1024;

/// The digests of `files` (paths with their sizes as the caller stat-ed them, which only order
/// the work, largest first), in their order; `None` for a path that is not a readable regular
/// file or that changed size while it was read (whoever reads it next reports why).
///
/// Runs on the current rayon pool, one scheduler per thread.
///
/// # Panics
/// If the CPU lacks AVX2 (see [`super::lanes::available`]).
pub fn hash_files(files: &[(&Path, u64)]) -> Vec<Option<FileDigest>> {
    assert!(super::lanes::available(), "hash_files needs AVX2");
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(files[i].1), i));
    let queue = Queue {
        files,
        order,
        next: AtomicUsize::new(0),
        results: Mutex::new(vec![None; files.len()]),
    };
    rayon::broadcast(|_| Scheduler::new(&queue).run());
    queue
        .results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
}

/// The largest file worth hashing in a lane when `total` bytes are to be hashed: one lane's
/// fair share of them. A lane runs at an eighth of the kernel's speed, a quarter of one
/// OpenSSL stream's, so a bigger file would keep its lane busy long after the others ran dry
/// and is faster hashed on its own as it is read.
pub fn lane_share(total: u64) -> u64 {
    total / (LANES * rayon::current_num_threads()) as u64
}

/// The files still to hash, shared by every scheduler, and where their digests go.
struct Queue<'a> {
    files: &'a [(&'a Path, u64)],
    /// Indices into `files`, largest first.
    order: Vec<usize>,
    next: AtomicUsize,
    results: Mutex<Vec<Option<FileDigest>>>,
}

impl Queue<'_> {
    /// The next file to hash, opened, or `None` once every file is taken. Files that cannot
    /// be opened as regular files are skipped (their result stays `None`).
    fn take(&self) -> Option<OpenFile> {
        loop {
            let slot = self.next.fetch_add(1, Ordering::Relaxed);
            let index = *self.order.get(slot)?;
            let Ok(file) = File::open(self.files[index].0) else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            if meta.is_file() {
                return Some(OpenFile {
                    index,
                    file,
                    size: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
    }

    fn record(&self, index: usize, digest: Option<FileDigest>) {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results[index] = digest;
    }
}

/// A file being hashed in a lane.
struct OpenFile {
    index: usize,
    file: File,
    size: u64,
    modified: Option<SystemTime>,
}

/// One lane's file and the bytes read from it but not yet hashed.
struct Lane {
    open: OpenFile,
    window: Vec<u8>,
    /// `window[start..end]` is read and not yet hashed.
    start: usize,
    end: usize,
    /// Bytes read from the file so far.
    read: u64,
    /// Set once the file is read to its end: its padded final block or two, and how many of
    /// their bytes are left to hash.
    tail: Option<([u8; 2 * BLOCK], usize)>,
}

impl Lane {
    /// Whole blocks ready to hash.
    fn ready_blocks(&self) -> usize {
        match &self.tail {
            Some((_, left)) => left / BLOCK,
            None => (self.end - self.start) / BLOCK,
        }
    }

    /// The bytes to hash next.
    fn pending(&self) -> &[u8] {
        match &self.tail {
            Some((tail, left)) => &tail[2 * BLOCK - left..],
            None => &self.window[self.start..self.end],
        }
    }

    /// Tops up the window once less than a block is buffered; at the end of the file builds
    /// the padded tail. Returns false if the file cannot be read or changed size.
    fn refill(&mut self) -> bool {
        if self.tail.is_some() || self.end - self.start >= BLOCK {
            return true;
        }
        self.window.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let mut ended = false;
        while self.end < self.window.len() {
            match self.open.file.read(&mut self.window[self.end..]) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    self.read += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.read > self.open.size {
            return false;
        }
        if ended && self.end < BLOCK {
            if self.read != self.open.size {
                return false;
            }
            let (padded, used) = padded_tail(&self.window[..self.end], self.read);
            // Keep the padded bytes at the end of the buffer, so `pending` is a suffix.
            let mut tail = [0u8; 2 * BLOCK];
            tail[2 * BLOCK - used..].copy_from_slice(&padded[..used]);
            self.tail = Some((tail, used));
            self.start = self.end;
        }
        true
    }

    /// Marks `blocks` blocks as hashed; true once the whole padded message is.
    fn advance(&mut self, blocks: usize) -> bool {
        match &mut self.tail {
            Some((_, left)) => {
                *left -= blocks * BLOCK;
                *left == 0
            }
            None => {
                self.start += blocks * BLOCK;
                false
            }
        }
    }
}

/// One core's eight lanes.
struct Scheduler<'q, 'a> {
    queue: &'q Queue<'a>,
    states: LaneStates,
    lanes: [Option<Lane>; LANES],
    /// Windows of finished lanes, reused by the next file.
    spare: Vec<Vec<u8>>,
}

impl<'q, 'a> Scheduler<'q, 'a> {
    fn new(queue: &'q Queue<'a>) -> Self {
        Scheduler {
            queue,
            states: LaneStates::new(),
            lanes: Default::default(),
            spare: Vec::new(),
        }
    }

    /// Hashes files from the queue until it is empty and every lane is done.
    fn run(mut self) {
        loop {
            for lane in 0..LANES {
                self.fill(lane);
            }
            let blocks = self.lanes.iter().flatten().map(Lane::ready_blocks).min();
            let Some(blocks) = blocks else { return };
            let inputs: [&[u8]; LANES] = std::array::from_fn(|lane| {
                self.lanes[lane].as_ref().map_or(&[][..], Lane::pending)
            });
            self.states.compress(&inputs, blocks);
            for lane in 0..LANES {
                let finished = self.lanes[lane].as_mut().is_some_and(|l| l.advance(blocks));
                if finished {
                    let done = self.lanes[lane].take().expect("a finished lane is busy");
                    let digest = FileDigest {
                        hex: hex::encode(self.states.digest(lane)),
                        size: done.open.size,
                        modified: done.open.modified,
                    };
                    self.queue.record(done.open.index, Some(digest));
                    self.spare.push(done.window);
                }
            }
        }
    }

    /// Makes sure `lane` has at least a block ready, taking the next file if it is free.
    fn fill(&mut self, lane: usize) {
        loop {
            if let Some(busy) = self.lanes[lane].as_mut() {
                if busy.refill() {
                    return;
                }
                let failed = self.lanes[lane].take().expect("checked busy");
                self.queue.record(failed.open.index, None);
                self.spare.push(failed.window);
            }
            let Some(open) = self.queue.take() else {
                return;
            };
            self.states.reset(lane);
            let window = self.spare.pop().unwrap_or_else(|| vec![0; WINDOW]);
            self.lanes[lane] = Some(Lane {
                open,
                window,
                start: 0,
                end: 0,
                read: 0,
                tail: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_openssl_for_every_file() {
        if !crate::test_fixtures::lanes_available() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("odcs-lanes-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        // Sizes around block and window edges, more files than lanes, and real packages.
        let mut paths = Vec::new();
        for (i, size) in [
            0,
            1,
            55,
            56,
            63,
            64,
            65,
            119,
            120,
            4096,
            WINDOW - 1,
            WINDOW,
            WINDOW + 1,
        ]
        .into_iter()
        .chain((0..20).map(|i| 1000 * i + 7))
        .chain([3 * WINDOW + 100])
        .enumerate()
        {
            let path = dir.join(format!("f{i}"));
            let data: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            std::fs::write(&path, data).expect("write");
            paths.push(path);
        }
        let fixtures = crate::test_fixtures::fixture_repo();
        let rpms = walk_rpms(&fixtures);
        assert!(!rpms.is_empty(), "no fixture packages under {fixtures:?}");
        paths.extend(rpms);
        paths.push(dir.clone()); // a directory: no digest
        paths.push(dir.join("missing"));
        let files: Vec<(&Path, u64)> = paths
            .iter()
            .map(|p| (p.as_path(), std::fs::metadata(p).map_or(0, |m| m.len())))
            .collect();
        let digests = hash_files(&files);
        let (files, not_files) = digests.split_at(digests.len() - 2);
        assert_eq!(not_files, [None, None]);
        for (path, digest) in paths.iter().zip(files) {
            let data = std::fs::read(path).expect("read");
            let digest = digest.as_ref().unwrap_or_else(|| panic!("{path:?} hashed"));
            assert_eq!(
                digest.hex,
                hex::encode(openssl::sha::sha256(&data)),
                "{path:?}"
            );
            assert_eq!(digest.size, data.len() as u64);
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    fn walk_rpms(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk_rpms(&path));
            } else if path.extension().is_some_and(|e| e == "rpm") {
                found.push(path);
            }
        }
        found
    }
}
