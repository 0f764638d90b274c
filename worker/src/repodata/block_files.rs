//! The XML of cached blocks (as it is and compressed), kept in files beside the cache
//! database: an incremental run reads each unchanged block once, straight from the page cache
//! into a reused buffer, to hash it for the documents' checksums and open-checksums and copy
//! its compressed form out, where loading it out of SQLite cost two copies into fresh memory
//! (its overflow pages assembled, then handed over). The database row keeps the sizes; a file
//! whose size does not match is not used.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::compress::{dictionary_of, DICTIONARY_MAX};

/// How much of a block file is read at a time.
const PIECE: usize = 256 * 1024;

thread_local! {
    /// One read buffer per thread, reused for every block.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A block's primary, filelists and other XML, as it is and compressed.
#[derive(Debug)]
pub enum BlockXml {
    /// In memory (a block just assembled, or one from a cache without a directory).
    Memory {
        /// The three documents' XML.
        raw: [Vec<u8>; 3],
        /// The same, each compressed as one segment ([`super::compress::Compression::pack_segment`]).
        packed: [Vec<u8>; 3],
    },
    /// In the cache's file for the block, held open (so pruning cannot take it away during
    /// the run): the three documents' XML, then their compressed forms.
    File {
        /// The open file.
        file: File,
        /// The six parts' sizes, in file order.
        sizes: [u64; 6],
    },
}

/// Which form of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The XML as it is (what the open-checksum covers).
    Raw,
    /// Compressed (what the file holds).
    Packed,
}

impl Default for BlockXml {
    fn default() -> Self {
        BlockXml::Memory {
            raw: Default::default(),
            packed: Default::default(),
        }
    }
}

impl BlockXml {
    /// Where part (`form`, `doc`) sits in a block file's order.
    fn part(form: Form, doc: usize) -> usize {
        match form {
            Form::Raw => doc,
            Form::Packed => 3 + doc,
        }
    }

    /// The six parts' sizes, in file order.
    pub fn sizes(&self) -> [u64; 6] {
        match self {
            BlockXml::Memory { raw, packed } => {
                let mut sizes = [0; 6];
                for (size, part) in sizes.iter_mut().zip(raw.iter().chain(packed)) {
                    *size = part.len() as u64;
                }
                sizes
            }
            BlockXml::File { sizes, .. } => *sizes,
        }
    }

    /// Each of the three documents' dictionary for the block after this one
    /// ([`dictionary_of`]: its last packages' XML, at most [`DICTIONARY_MAX`] bytes).
    pub fn tails(&self) -> std::io::Result<[Vec<u8>; 3]> {
        match self {
            BlockXml::Memory { raw, .. } => {
                Ok(raw.each_ref().map(|doc| dictionary_of(doc).to_vec()))
            }
            BlockXml::File { file, sizes } => {
                let mut tails: [Vec<u8>; 3] = Default::default();
                let mut end = 0;
                for (doc, tail) in tails.iter_mut().enumerate() {
                    end += sizes[doc];
                    let length = sizes[doc].min(DICTIONARY_MAX as u64);
                    tail.resize(length as usize, 0);
                    file.read_exact_at(tail, end - length)?;
                    let unused = tail.len() - dictionary_of(tail).len();
                    tail.drain(..unused);
                }
                Ok(tails)
            }
        }
    }

    /// Hands document `doc` in `form` to `sink`, in pieces.
    pub fn each_piece(
        &self,
        form: Form,
        doc: usize,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match self {
            BlockXml::Memory { raw, packed } => match form {
                Form::Raw => sink(&raw[doc]),
                Form::Packed => sink(&packed[doc]),
            },
            BlockXml::File { file, sizes } => BUFFER.with(|cell| {
                let mut buffer = cell.borrow_mut();
                buffer.resize(PIECE, 0);
                let part = Self::part(form, doc);
                let mut offset: u64 = sizes[..part].iter().sum();
                let mut left = sizes[part];
                while left > 0 {
                    let n = usize::try_from(left).map_or(PIECE, |l| l.min(PIECE));
                    file.read_exact_at(&mut buffer[..n], offset)?;
                    sink(&buffer[..n])?;
                    offset += n as u64;
                    left -= n as u64;
                }
                Ok(())
            }),
        }
    }
}

/// The directory of block files.
#[derive(Debug, Clone)]
pub struct BlockFiles {
    dir: PathBuf,
}

impl BlockFiles {
    /// Block files in `dir` (created when the first is written).
    pub fn new(dir: PathBuf) -> BlockFiles {
        BlockFiles { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The file of the block cached under `key` (hex digest, `:`, compression).
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.xml", key.replace(':', ".")))
    }

    /// The key a file name stands for, if it names a block file.
    fn key_of(name: &str) -> Option<String> {
        let stem = name.strip_suffix(".xml")?;
        let (digest, compression) = stem.split_once('.')?;
        Some(format!("{digest}:{compression}"))
    }

    /// Writes block `key`'s parts, whole or not at all (a temporary file renamed into place).
    pub fn write(
        &self,
        key: &str,
        raw: &[Vec<u8>; 3],
        packed: &[Vec<u8>; 3],
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(key);
        let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
        let written = (|| {
            let mut file = File::create(&temporary)?;
            for part in raw.iter().chain(packed) {
                file.write_all(part)?;
            }
            std::fs::rename(&temporary, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }

    /// Block `key`'s parts, if its file is there with the `sizes` the database recorded.
    pub fn open(&self, key: &str, sizes: [u64; 6]) -> Option<BlockXml> {
        let file = File::open(self.path(key)).ok()?;
        let length = file.metadata().ok()?.len();
        (length == sizes.iter().sum::<u64>()).then_some(BlockXml::File { file, sizes })
    }

    /// Removes the files of blocks `keys`.
    pub fn remove(&self, keys: &[String]) {
        for key in keys {
            let _ = std::fs::remove_file(self.path(key));
        }
    }

    /// Removes files no block row names (`live` says which keys have rows): left by a run
    /// stopped between writing a file and its row, or by rows lost with an unsynced database.
    /// Returns how many went.
    pub fn remove_orphans(&self, live: impl Fn(&str) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = match Self::key_of(&name) {
                Some(key) => !live(&key),
                // A temporary file of a writer that died.
                None => name.contains(".tmp-"),
            };
            if orphan && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_files_give_back_each_part_and_refuse_a_wrong_size() {
        let dir = std::env::temp_dir().join(format!("odcs-blocks-{}", uuid::Uuid::new_v4()));
        let files = BlockFiles::new(dir.clone());
        let raw = [vec![b'p'; 300_000], b"<f/>".to_vec(), Vec::new()];
        let packed = [b"P".to_vec(), b"F".to_vec(), b"O".to_vec()];
        files.write("abc:gz", &raw, &packed).expect("write");
        assert_eq!(BlockFiles::key_of("abc.gz.xml").as_deref(), Some("abc:gz"));
        let sizes = [300_000, 4, 0, 1, 1, 1];
        let xml = files.open("abc:gz", sizes).expect("open");
        assert_eq!(xml.sizes(), sizes);
        for (form, parts) in [(Form::Raw, &raw), (Form::Packed, &packed)] {
            for (doc, expected) in parts.iter().enumerate() {
                let mut read = Vec::new();
                xml.each_piece(form, doc, |piece| {
                    read.extend_from_slice(piece);
                    Ok(())
                })
                .expect("read");
                assert_eq!(&read, expected);
            }
        }
        assert!(files.open("abc:gz", [300_000, 5, 0, 1, 1, 1]).is_none());
        assert!(files.open("missing:gz", [0; 6]).is_none());
        std::fs::write(dir.join("stale.xml.tmp-1"), b"x").expect("stale");
        assert_eq!(files.remove_orphans(|key| key == "abc:gz"), 1);
        assert_eq!(files.remove_orphans(|_| false), 1);
        assert!(files.open("abc:gz", sizes).is_none());
        std::fs::remove_dir_all(dir).ok();
    }
}
