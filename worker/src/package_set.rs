//! The package set of a compose: its files described once (the summarize stage), then kept to
//! the copies signed with an accepted key (the signature stage).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use odcs_common::spec::Sigkeys;
use thiserror::Error;

use crate::compose::layout::package_href;
use crate::package::sigkey::{describe_keys, key_accepts};
use crate::package::PackageSummary;
use crate::repodata::{
    summarize, CachedPackage, Compression, FileHashing, PackageCache, PackageInput, RepodataError,
    RepodataOptions,
};

/// `items` joined by "; ", the tail counted rather than listed.
pub fn list_problems(items: &[String]) -> String {
    odcs_common::reason::listed(items, "; ")
}

/// One package of the set: its file and what it is (with its metadata for the repodata).
pub type Package = (PathBuf, CachedPackage);

/// Why the package set cannot be described.
#[derive(Debug, Error)]
#[error(transparent)]
pub struct SummarizeError(#[from] RepodataError);

impl SummarizeError {
    /// Whether trying again later may succeed (the disk failed, not the package).
    pub fn is_transient(&self) -> bool {
        self.0.is_transient()
    }
}

/// Describes every file of the set once (or takes it from the package cache): NEVRA, arch,
/// source RPM, signing key, checksum, and its primary and filelists XML.
pub fn describe(
    files: Vec<PathBuf>,
    compression: Compression,
    cache: &PackageCache,
) -> Result<Vec<Package>, SummarizeError> {
    let inputs: Vec<PackageInput> = files
        .iter()
        .map(|path| PackageInput {
            href: package_href(
                path.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default(),
            ),
            path: path.clone(),
            stat: None,
        })
        .collect();
    let described = summarize(
        &inputs,
        RepodataOptions {
            compression,
            revision: 0,
            cache: Some(cache),
            hashing: FileHashing::Fastest,
        },
    )?;
    Ok(files.into_iter().zip(described).collect())
}

/// Packages with no copy signed by an accepted key.
#[derive(Debug, Error)]
#[error("Packages not signed with any of the keys {}: {}", describe_keys(.keys), list_problems(.packages))]
pub struct SignatureError {
    /// Each package and the keys its copies have.
    pub packages: Vec<String>,
    /// The accepted keys.
    pub keys: Vec<String>,
}

/// The package set restricted to accepted signatures: of several copies of one package, the one
/// signed by the most preferred key. Fails naming every package with no accepted copy.
pub fn signed_copies(
    packages: Vec<Package>,
    sigkeys: &Sigkeys,
) -> Result<Vec<Package>, SignatureError> {
    let keys = sigkeys.as_slice();
    let rank = |s: &PackageSummary| {
        keys.iter()
            .position(|k| key_accepts(k, s.sigkey.as_deref()))
    };
    let mut best: HashMap<String, usize> = HashMap::new();
    let mut found_keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, (_, p)) in packages.iter().enumerate() {
        let nevra = p.summary.nevra();
        match rank(&p.summary) {
            Some(r) => {
                let better = best
                    .get(&nevra)
                    .is_none_or(|b| rank(&packages[*b].1.summary).is_some_and(|old| r < old));
                if better {
                    best.insert(nevra, i);
                }
            }
            None => {
                found_keys.entry(nevra).or_default().insert(
                    p.summary
                        .sigkey
                        .clone()
                        .unwrap_or_else(|| "unsigned".into()),
                );
            }
        }
    }
    let unsigned: Vec<String> = found_keys
        .into_iter()
        .filter(|(nevra, _)| !best.contains_key(nevra))
        .map(|(nevra, found)| {
            format!(
                "{nevra} (signed with {})",
                found.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    if !unsigned.is_empty() {
        return Err(SignatureError {
            packages: unsigned,
            keys: keys.to_vec(),
        });
    }
    let keep: HashSet<usize> = best.into_values().collect();
    Ok(packages
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, p)| p)
        .collect())
}
