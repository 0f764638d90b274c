//! The links naming a finished `raw_config` compose in `{target_dir}/{compose_type}/`:
//! `{pungi_compose_id}`, and `latest-{short}-{version}` (plus `-{label}` for labelled composes)
//! pointing at the newest compose of a release. Links are replaced atomically (a new link
//! renamed over the old), so readers always see a complete one. The compose a `latest-*` link
//! points to is kept when it expires; removing a compose removes the links pointing to it.

use std::path::{Path, PathBuf};

use odcs_common::compose::ComposeType;

/// The links of one compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeLinks {
    /// `{target_dir}/{compose_type}`.
    dir: PathBuf,
    /// What the links hold: the compose directory relative to `dir`.
    target: PathBuf,
    /// `{pungi_compose_id}`.
    id_name: String,
    /// `latest-...` names.
    latest_names: Vec<String>,
}

impl ComposeLinks {
    /// The links of the compose in `{target_dir}/{dir_name}` with `pungi_compose_id`.
    pub fn new(
        target_dir: &Path,
        dir_name: &str,
        compose_type: ComposeType,
        pungi_compose_id: &str,
        label: Option<&str>,
    ) -> ComposeLinks {
        let release: Vec<&str> = pungi_compose_id.split('-').take(2).collect();
        let latest = format!("latest-{}", release.join("-"));
        let mut latest_names = vec![latest.clone()];
        if let Some(label) = label.filter(|l| !l.is_empty()) {
            latest_names.push(format!("{latest}-{label}"));
        }
        ComposeLinks {
            dir: ComposeLinks::dir_of(target_dir, compose_type),
            target: Path::new("..").join(dir_name),
            id_name: pungi_compose_id.to_owned(),
            latest_names,
        }
    }

    /// The directory links of `compose_type` composes in `target_dir` are in (Pungi's
    /// `--old-composes`).
    pub fn dir_of(target_dir: &Path, compose_type: ComposeType) -> PathBuf {
        target_dir.join(compose_type.name())
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.id_name).chain(&self.latest_names)
    }

    /// Creates (or moves) every link to this compose.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        for name in self.names() {
            let temporary = self
                .dir
                .join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
            std::os::unix::fs::symlink(&self.target, &temporary)?;
            if let Err(e) = std::fs::rename(&temporary, self.dir.join(name)) {
                let _ = std::fs::remove_file(&temporary);
                return Err(e);
            }
        }
        Ok(())
    }

    fn points_here(&self, name: &str) -> bool {
        std::fs::read_link(self.dir.join(name)).is_ok_and(|t| t == self.target)
    }

    /// Whether a `latest-*` link points to this compose.
    pub fn is_latest(&self) -> bool {
        self.latest_names.iter().any(|name| self.points_here(name))
    }

    /// Removes the links that point to this compose (not those moved to another since).
    pub fn remove(&self) {
        for name in self.names() {
            if self.points_here(name) {
                let _ = std::fs::remove_file(self.dir.join(name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_links_move_to_the_newest_compose_and_go_with_it() {
        let target = std::env::temp_dir().join(format!("odcs-links-{}", uuid::Uuid::new_v4()));
        let first = ComposeLinks::new(
            &target,
            "odcs-1",
            ComposeType::Production,
            "F-41-20261202.0",
            Some("RC-1.0"),
        );
        let second = ComposeLinks::new(
            &target,
            "odcs-2",
            ComposeType::Production,
            "F-41-20261202.1",
            None,
        );
        first.create().expect("first");
        let dir = target.join("production");
        assert_eq!(
            std::fs::read_link(dir.join("F-41-20261202.0")).expect("id"),
            Path::new("../odcs-1")
        );
        assert!(first.is_latest());
        second.create().expect("second");
        assert_eq!(
            std::fs::read_link(dir.join("latest-F-41")).expect("latest"),
            Path::new("../odcs-2")
        );
        // The labelled link still names the first compose, which is kept for it.
        assert!(first.is_latest());
        assert!(second.is_latest());
        first.remove();
        assert!(!dir.join("F-41-20261202.0").exists());
        assert!(std::fs::symlink_metadata(dir.join("latest-F-41-RC-1.0")).is_err());
        assert!(std::fs::symlink_metadata(dir.join("latest-F-41")).is_ok());
        let _ = std::fs::remove_dir_all(&target);
    }
}
