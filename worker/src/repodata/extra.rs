//! Metadata carried from a source repository into the output: modules.yaml (modular
//! repositories), comps (package groups) and updateinfo.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::compress::{read_decompressed, Compression};
use super::repomd::{parse_locations, RepomdRecord};
use super::RepodataError;
use crate::durable::write_synced;

/// A metadata file to carry over, by the repomd type it is published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMetadata {
    /// `modules`, `group` or `updateinfo`.
    pub kind: String,
    /// The source file (compressed or not).
    pub source: PathBuf,
}

/// Record types carried over, with the file name stem each is written as.
const CARRIED: &[(&str, &str)] = &[
    ("modules", "modules.yaml"),
    ("group", "comps.xml"),
    ("updateinfo", "updateinfo.xml"),
];

impl ExtraMetadata {
    /// The carried metadata of the repository at `repo_dir`, from its repodata/repomd.xml
    /// (none when it has no repodata).
    pub fn from_repository(repo_dir: &Path) -> Result<Vec<ExtraMetadata>, RepodataError> {
        let repomd_path = repo_dir.join("repodata").join("repomd.xml");
        let Ok(text) = std::fs::read_to_string(&repomd_path) else {
            return Ok(Vec::new());
        };
        let records = parse_locations(&text).map_err(|reason| RepodataError::Extra {
            kind: "repomd".into(),
            path: repomd_path.clone(),
            reason,
        })?;
        let mut extra = Vec::new();
        for (kind, _) in CARRIED {
            // comps may be listed plain ("group") or only compressed ("group_gz").
            let record = records.iter().find(|r| r.kind == *kind).or_else(|| {
                (*kind == "group")
                    .then(|| records.iter().find(|r| r.kind == "group_gz"))
                    .flatten()
            });
            if let Some(record) = record {
                let source = repo_dir.join(&record.location);
                if !source.starts_with(repo_dir) || record.location.contains("..") {
                    return Err(RepodataError::Extra {
                        kind: (*kind).into(),
                        path: source,
                        reason: "the location points outside the repository".into(),
                    });
                }
                extra.push(ExtraMetadata {
                    kind: (*kind).into(),
                    source,
                });
            }
        }
        Ok(extra)
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
        let raw = read_decompressed(&self.source).map_err(|e| RepodataError::Extra {
            kind: self.kind.clone(),
            path: self.source.clone(),
            reason: e.to_string(),
        })?;
        let open_checksum = hex::encode(Sha256::digest(&raw));
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
        let checksum = hex::encode(Sha256::digest(&packed));
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
