//! Where everything of a compose lives, as the reference ODCS (through Pungi) lays it out:
//!
//! ```text
//! {target_dir}/odcs-{id}/
//!   pungi-stderr.log                  the compose log (the reference client tails this name)
//!   compose/
//!     Temporary/{arch}/os/            Packages/{letter}/*.rpm, repodata/
//!     Temporary/{arch}/debug/tree/    debuginfo and debugsource
//!     Temporary/source/tree/          SRPMs
//!     Temporary/odcs-{id}.repo
//!     metadata/composeinfo.json, rpms.json
//! ```

use std::path::{Path, PathBuf};

use odcs_common::compose::ComposeId;

/// The variant name Pungi gives ODCS composes.
pub const VARIANT: &str = "Temporary";

/// The log file in a compose's top directory.
pub const LOG_FILE: &str = odcs_common::api::COMPOSE_LOG;

/// What the name of a claim's staging directory starts with.
const STAGING_PREFIX: &str = ".compose-";

/// Whether a compose directory's entry `name` is a claim's staging directory.
pub fn is_staging_dir(name: &str) -> bool {
    name.starts_with(STAGING_PREFIX)
}

/// Paths of one compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeLayout {
    /// `odcs-{id}`.
    pub name: String,
    /// `{target_dir}/odcs-{id}`.
    pub top: PathBuf,
}

impl ComposeLayout {
    /// The layout of compose `id` under `target_dir`.
    pub fn new(target_dir: &Path, id: ComposeId) -> ComposeLayout {
        let name = id.dir_name();
        ComposeLayout {
            top: target_dir.join(&name),
            name,
        }
    }

    /// The finished `compose/` directory.
    pub fn compose_dir(&self) -> PathBuf {
        self.top.join("compose")
    }

    /// Where the claim `claim` builds `compose/` before it is renamed into place: each claim
    /// has its own, so a worker that lost its lease never writes into another's tree.
    pub fn staging_dir(&self, claim: &str) -> PathBuf {
        self.top.join(format!("{STAGING_PREFIX}{claim}"))
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        self.top.join(LOG_FILE)
    }
}

/// Paths inside a `compose/` directory (final or staging), relative parts as Pungi names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trees {
    /// The `compose/` (or staging) directory.
    pub root: PathBuf,
}

impl Trees {
    /// `Temporary/{arch}/os` relative to `compose/`.
    pub fn os_rel(arch: &str) -> String {
        format!("{VARIANT}/{arch}/os")
    }

    /// `Temporary/{arch}/debug/tree` relative to `compose/`.
    pub fn debug_rel(arch: &str) -> String {
        format!("{VARIANT}/{arch}/debug/tree")
    }

    /// `Temporary/source/tree` relative to `compose/`.
    pub fn source_rel() -> String {
        format!("{VARIANT}/source/tree")
    }

    /// An absolute tree path.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The `.repo` file.
    pub fn repofile(&self, name: &str) -> PathBuf {
        self.root.join(VARIANT).join(format!("{name}.repo"))
    }

    /// `metadata/`.
    pub fn metadata_dir(&self) -> PathBuf {
        self.root.join("metadata")
    }
}

/// Where a package file goes inside its tree: `Packages/{first letter, lower case}/{file}`.
pub fn package_href(file_name: &str) -> String {
    let letter = file_name
        .chars()
        .next()
        .map_or('_', |c| c.to_ascii_lowercase());
    format!("Packages/{letter}/{file_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_reference_layout() {
        let layout = ComposeLayout::new(Path::new("/srv/odcs"), ComposeId(7));
        assert_eq!(layout.top, Path::new("/srv/odcs/odcs-7"));
        assert_eq!(
            layout.log_file(),
            Path::new("/srv/odcs/odcs-7/pungi-stderr.log")
        );
        let trees = Trees {
            root: layout.compose_dir(),
        };
        assert_eq!(
            trees.path(&Trees::os_rel("x86_64")),
            Path::new("/srv/odcs/odcs-7/compose/Temporary/x86_64/os")
        );
        assert_eq!(
            trees.repofile("odcs-7"),
            Path::new("/srv/odcs/odcs-7/compose/Temporary/odcs-7.repo")
        );
        assert_eq!(package_href("Ed-1.rpm"), "Packages/e/Ed-1.rpm");
    }
}
