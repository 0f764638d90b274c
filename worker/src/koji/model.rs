//! The Koji records composes use, read from the structs a hub returns.

use dxr::Value;

use super::wire::{Record, WireError};

/// Koji's build state for a finished, successful build.
pub const BUILD_COMPLETE: i64 = 1;

/// A tag (`getTag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// The tag id.
    pub id: i64,
    /// The tag name.
    pub name: String,
    /// Its arches, space separated, if set.
    pub arches: Option<String>,
}

impl TagInfo {
    /// Reads a `getTag` struct.
    pub fn from_value(value: &Value) -> Result<TagInfo, WireError> {
        let r = Record::of(value, "tag")?;
        Ok(TagInfo {
            id: r.int("id")?,
            name: r.string("name")?,
            arches: r.opt_string("arches")?,
        })
    }
}

/// A point in the hub's history (`getLastEvent`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// The event id.
    pub id: i64,
}

impl Event {
    /// Reads a `getLastEvent` struct.
    pub fn from_value(value: &Value) -> Result<Event, WireError> {
        Ok(Event {
            id: Record::of(value, "event")?.int("id")?,
        })
    }
}

/// A build (`getBuild`, the builds of `listTaggedRPMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// The build id.
    pub id: i64,
    /// Its package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// `name-version-release`.
    pub nvr: String,
    /// Build state (1 is complete).
    pub state: i64,
    /// The storage volume (`DEFAULT` is the top directory itself).
    pub volume_name: Option<String>,
}

impl BuildInfo {
    /// Reads a build struct (`id` is named `build_id` in tag listings).
    pub fn from_value(value: &Value) -> Result<BuildInfo, WireError> {
        let r = Record::of(value, "build")?;
        let id = match r.opt_int("build_id")? {
            Some(id) => id,
            None => r.int("id")?,
        };
        Ok(BuildInfo {
            id,
            name: r.string("name")?,
            version: r.string("version")?,
            release: r.string("release")?,
            nvr: r.string("nvr")?,
            state: r.int("state")?,
            volume_name: r.opt_string("volume_name")?,
        })
    }

    /// The build's directory below the Koji top directory or URL.
    pub fn directory(&self) -> String {
        let volume = match self.volume_name.as_deref() {
            None | Some("DEFAULT") => String::new(),
            Some(v) => format!("vol/{v}/"),
        };
        format!(
            "{volume}packages/{}/{}/{}",
            self.name, self.version, self.release
        )
    }
}

/// A module's content-generator build: a `getBuild` answer whose `extra.typeinfo.module`
/// names the module build and the tag holding its RPMs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleBuildInfo {
    /// The Koji build (`NAME-STREAM-VERSION.CONTEXT`, the stream's `-` written `_`).
    pub build: BuildInfo,
    /// `NAME:STREAM:VERSION:CONTEXT` as the build records it.
    pub nsvc: String,
    /// The tag holding the module's RPMs.
    pub content_tag: String,
    /// The module's modulemd (the whole build's document).
    pub modulemd: String,
}

impl ModuleBuildInfo {
    /// Reads a `getBuild` answer; `None` when it is not a module build.
    pub fn from_value(value: &Value) -> Result<Option<ModuleBuildInfo>, WireError> {
        let build = BuildInfo::from_value(value)?;
        let r = Record::of(value, "build")?;
        let Some(Value::Struct(extra)) = r.0.get("extra") else {
            return Ok(None);
        };
        let module = match extra.get("typeinfo") {
            Some(Value::Struct(typeinfo)) => match typeinfo.get("module") {
                Some(module @ Value::Struct(_)) => module,
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        let m = Record::of(module, "typeinfo.module")?;
        // Koji records the version as text; some hubs as a number.
        let version = match m.opt_int("version") {
            Ok(Some(n)) => n.to_string(),
            _ => m.string("version")?,
        };
        let nsvc = format!(
            "{}:{}:{version}:{}",
            m.string("name")?,
            m.string("stream")?,
            m.string("context")?
        );
        Ok(Some(ModuleBuildInfo {
            build,
            nsvc,
            content_tag: m.string("content_koji_tag")?,
            modulemd: m.string("modulemd_str")?,
        }))
    }

    /// The Koji NVR of module `name:stream:version.context` (Koji versions cannot hold `-`).
    pub fn nvr(name: &str, stream: &str, version: &str, context: &str) -> String {
        format!("{name}-{}-{version}.{context}", stream.replace('-', "_"))
    }
}

/// A module build tagged into a tag (`listTagged` with `type=module`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedBuild {
    /// The build (`version` holds the module stream, `release` `VERSION.CONTEXT`).
    pub build: BuildInfo,
    /// The tag it is tagged into (the asked tag or one it inherits from).
    pub tag_name: String,
}

impl TaggedBuild {
    /// Reads one entry of a `listTagged` answer.
    pub fn from_value(value: &Value) -> Result<TaggedBuild, WireError> {
        Ok(TaggedBuild {
            build: BuildInfo::from_value(value)?,
            tag_name: Record::of(value, "tagged build")?.string("tag_name")?,
        })
    }
}

/// One RPM of a build (`listRPMs`, the RPMs of `listTaggedRPMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmInfo {
    /// The RPM id.
    pub id: i64,
    /// The build it belongs to.
    pub build_id: i64,
    /// Package name.
    pub name: String,
    /// Epoch, if any.
    pub epoch: Option<i64>,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Arch (`src` for the source RPM).
    pub arch: String,
    /// Size of the unsigned file in bytes.
    pub size: i64,
    /// MD5 of header and payload (rpm's SIGMD5), the same for every signed copy.
    pub payloadhash: String,
}

impl RpmInfo {
    /// Reads an RPM struct.
    pub fn from_value(value: &Value) -> Result<RpmInfo, WireError> {
        let r = Record::of(value, "rpm")?;
        Ok(RpmInfo {
            id: r.int("id")?,
            build_id: r.int("build_id")?,
            name: r.string("name")?,
            epoch: r.opt_int("epoch")?,
            version: r.string("version")?,
            release: r.string("release")?,
            arch: r.string("arch")?,
            size: r.int("size")?,
            payloadhash: r.string("payloadhash")?,
        })
    }

    /// `name-version-release.arch`, the file name without `.rpm`.
    pub fn nvra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }

    /// The file's path below the Koji top directory or URL: the signed copy for `sigkey`, or
    /// the unsigned file.
    pub fn path(&self, build: &BuildInfo, sigkey: Option<&str>) -> String {
        match sigkey {
            Some(key) => format!(
                "{}/data/signed/{}/{}/{}.rpm",
                build.directory(),
                key.to_ascii_lowercase(),
                self.arch,
                self.nvra()
            ),
            None => format!("{}/{}/{}.rpm", build.directory(), self.arch, self.nvra()),
        }
    }
}

/// Reads a list of structs with `read`.
pub fn list<T>(
    value: &Value,
    what: &str,
    read: impl Fn(&Value) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    match value {
        Value::Array(items) => items.iter().map(read).collect(),
        _ => Err(WireError(format!("{what} is not a list"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(volume: Option<&str>) -> BuildInfo {
        BuildInfo {
            id: 1,
            name: "bash".into(),
            version: "5.2".into(),
            release: "1.fc40".into(),
            nvr: "bash-5.2-1.fc40".into(),
            state: BUILD_COMPLETE,
            volume_name: volume.map(str::to_owned),
        }
    }

    fn rpm() -> RpmInfo {
        RpmInfo {
            id: 2,
            build_id: 1,
            name: "bash-doc".into(),
            epoch: None,
            version: "5.2".into(),
            release: "1.fc40".into(),
            arch: "noarch".into(),
            size: 10,
            payloadhash: "00".into(),
        }
    }

    #[test]
    fn paths_follow_kojis_storage_layout() {
        assert_eq!(
            rpm().path(&build(None), None),
            "packages/bash/5.2/1.fc40/noarch/bash-doc-5.2-1.fc40.noarch.rpm"
        );
        assert_eq!(
            rpm().path(&build(Some("DEFAULT")), Some("A15B79CC")),
            "packages/bash/5.2/1.fc40/data/signed/a15b79cc/noarch/bash-doc-5.2-1.fc40.noarch.rpm"
        );
        assert_eq!(
            rpm().path(&build(Some("archive")), None),
            "vol/archive/packages/bash/5.2/1.fc40/noarch/bash-doc-5.2-1.fc40.noarch.rpm"
        );
    }
}
