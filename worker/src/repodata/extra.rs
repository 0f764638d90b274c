//! Metadata carried from a source repository into the output: modules.yaml (modular
//! repositories), comps (package groups) and updateinfo.

use std::path::{Path, PathBuf};

use crate::checksum::sha256_hex;

use super::compress::{read_decompressed, read_limited, Compression};
use super::repomd::{parse_locations, RepomdRecord};
use super::RepodataError;
use crate::durable::write_synced;

/// A metadata file to publish beside the package metadata, by the repomd type it is
/// published under: carried over from a source repository, or written by the source (a module
/// compose's `modules.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMetadata {
    /// `modules`, `group` or `updateinfo`.
    pub kind: String,
    /// What it holds.
    pub content: ExtraContent,
    /// The one arch whose repositories carry it; `None`: every arch's.
    pub arch: Option<String>,
}

/// Where an extra metadata file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraContent {
    /// A file of a source repository (compressed or not), by its real path.
    File {
        /// The real path.
        path: PathBuf,
        /// The most it may hold decompressed.
        max_bytes: u64,
    },
    /// Text the source wrote.
    Text(String),
}

/// Finds the real path of a file a repository's repomd.xml points at, or says why it may not
/// be read.
pub type Resolver<'a> = &'a dyn Fn(&Path) -> Result<PathBuf, String>;

/// Record types carried over, with the file name stem each is written as.
const CARRIED: &[(&str, &str)] = &[
    ("modules", "modules.yaml"),
    ("group", "comps.xml"),
    ("updateinfo", "updateinfo.xml"),
];

impl ExtraMetadata {
    /// The carried metadata of the repository at `repo_dir`, from its repodata/repomd.xml
    /// (none when it has no repodata). For a directory one trusts (`createrepo`): files are
    /// read through their real paths, which must lie inside `repo_dir`.
    pub fn from_repository(repo_dir: &Path) -> Result<Vec<ExtraMetadata>, RepodataError> {
        let repomd = repo_dir.join("repodata").join("repomd.xml");
        if !repomd.exists() {
            return Ok(Vec::new());
        }
        let root = std::fs::canonicalize(repo_dir).map_err(|e| RepodataError::Write {
            path: repo_dir.to_owned(),
            source: e,
        })?;
        let inside = |path: &Path| -> Result<PathBuf, String> {
            std::fs::canonicalize(path)
                .ok()
                .filter(|real| real.starts_with(&root) && real.is_file())
                .ok_or_else(|| "the file lies outside the repository".to_owned())
        };
        Self::from_repomd(repo_dir, &repomd, &inside, super::MAX_METADATA_BYTES)
    }

    /// The carried metadata `repomd` (a repository's repomd.xml, already resolved) lists, each
    /// file's real path given by `resolve`, none holding more than `max_bytes`.
    pub fn from_repomd(
        repo_dir: &Path,
        repomd: &Path,
        resolve: Resolver<'_>,
        max_bytes: u64,
    ) -> Result<Vec<ExtraMetadata>, RepodataError> {
        let failed = |kind: &str, path: &Path, reason: String| RepodataError::Extra {
            kind: kind.into(),
            path: path.to_owned(),
            reason,
        };
        let text = read_limited(repomd, super::MAX_REPOMD_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned()))
            .map_err(|reason| failed("repomd", repomd, reason))?;
        let records = parse_locations(&text).map_err(|reason| failed("repomd", repomd, reason))?;
        let mut extra = Vec::new();
        for (kind, _) in CARRIED {
            // comps may be listed plain ("group") or only compressed ("group_gz").
            let record = records.iter().find(|r| r.kind == *kind).or_else(|| {
                (*kind == "group")
                    .then(|| records.iter().find(|r| r.kind == "group_gz"))
                    .flatten()
            });
            if let Some(record) = record {
                let listed = repo_dir.join(&record.location);
                if !listed.starts_with(repo_dir)
                    || Path::new(&record.location).is_absolute()
                    || record.location.contains("..")
                {
                    return Err(failed(
                        kind,
                        &listed,
                        "the location points outside the repository".into(),
                    ));
                }
                let source = resolve(&listed).map_err(|reason| failed(kind, &listed, reason))?;
                extra.push(ExtraMetadata {
                    kind: (*kind).into(),
                    content: ExtraContent::File {
                        path: source,
                        max_bytes,
                    },
                    arch: None,
                });
            }
        }
        Ok(extra)
    }

    /// A `modules.yaml` written by the source for the repositories of `arch`.
    pub fn modules_yaml(arch: &str, text: String) -> ExtraMetadata {
        ExtraMetadata {
            kind: "modules".into(),
            content: ExtraContent::Text(text),
            arch: Some(arch.to_owned()),
        }
    }

    /// Whether the repositories of `arch` carry it.
    pub fn is_for(&self, arch: &str) -> bool {
        self.arch.as_deref().is_none_or(|a| a == arch)
    }

    /// Writes the file into `repodata` and returns its records (comps gets a plain and a
    /// compressed record, as createrepo_c writes them).
    pub fn write(
        &self,
        repodata: &Path,
        compression: Compression,
        revision: u64,
    ) -> Result<Vec<RepomdRecord>, RepodataError> {
        let stem = CARRIED
            .iter()
            .find(|(kind, _)| *kind == self.kind)
            .map_or("metadata", |(_, stem)| stem);
        let raw = match &self.content {
            ExtraContent::File { path, max_bytes } => {
                read_decompressed(path, *max_bytes).map_err(|e| RepodataError::Extra {
                    kind: self.kind.clone(),
                    path: path.clone(),
                    reason: e.to_string(),
                })?
            }
            ExtraContent::Text(text) => text.as_bytes().to_vec(),
        };
        let open_checksum = sha256_hex(&raw);
        let mut records = Vec::new();
        if self.kind == "group" {
            let name = format!("{open_checksum}-{stem}");
            write_synced(&repodata.join(&name), &raw)?;
            records.push(RepomdRecord {
                kind: "group".into(),
                checksum: open_checksum.clone(),
                open_checksum: None,
                location: format!("repodata/{name}"),
                timestamp: revision,
                size: raw.len() as u64,
                open_size: None,
            });
        }
        let packed = compression.pack(&raw);
        let checksum = sha256_hex(&packed);
        let name = format!("{checksum}-{stem}{}", compression.suffix());
        write_synced(&repodata.join(&name), &packed)?;
        let kind = if self.kind == "group" {
            format!("group_{}", compression.name())
        } else {
            self.kind.clone()
        };
        records.push(RepomdRecord {
            kind,
            checksum,
            open_checksum: Some(open_checksum),
            location: format!("repodata/{name}"),
            timestamp: revision,
            size: packed.len() as u64,
            open_size: Some(raw.len() as u64),
        });
        Ok(records)
    }
}
