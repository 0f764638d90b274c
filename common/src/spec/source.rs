//! Where a compose's packages come from: one variant per source type, each carrying the fields
//! that type uses and no others.
//!
//! The wire's source object and the table's columns hold a source laid flat
//! ([`SourceFields`]); [`ComposeSource::from_fields`] and [`ComposeSource::to_fields`] are the
//! only conversions between the two forms.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::list::WordList;
use crate::compose::SourceType;

/// Why source fields do not make a source of their type; messages are the API's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Nothing names what to build from.
    #[error("No source provided for {}", .0.code())]
    Missing(SourceType),
    /// The type takes one source and got several.
    #[error("Only single source is allowed for \"{0}\" source_type")]
    NotSingle(SourceType),
    /// A raw_config source is not `name#commit`.
    #[error(
        "Source must be in \"source_name#commit_hash\" format for \"raw_config\" source_type."
    )]
    RawConfigFormat,
    /// A module is not `name:stream[:version[:context]]`.
    #[error("Module definition must be in \"n:s\", \"n:s:v\" or \"n:s:v:c\" format, but got {0}")]
    ModuleFormat(String),
    /// A build compose names something in `source`.
    #[error("build composes take their NVRs in \"builds\", not in \"source\" (got {0:?})")]
    BuildSource(String),
}

/// A module to compose: `name:stream`, optionally with `:version` and `:context`.
///
/// ```
/// use odcs_common::spec::ModuleRef;
/// let module: ModuleRef = "nodejs:20:4020240101:abcd".parse().unwrap();
/// assert_eq!(module.stream, "20");
/// assert_eq!(module.to_string(), "nodejs:20:4020240101:abcd");
/// assert!("nodejs".parse::<ModuleRef>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleRef {
    /// The module name.
    pub name: String,
    /// The stream.
    pub stream: String,
    /// The version, if pinned.
    pub version: Option<String>,
    /// The context, if pinned (only with a version).
    pub context: Option<String>,
    /// The arch, if given (`N:S:V:C:A`, only with a context); passed on to MBS as written.
    pub arch: Option<String>,
}

impl FromStr for ModuleRef {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() < 2 || parts.len() > 5 || parts.iter().any(|p| p.is_empty()) {
            return Err(SourceError::ModuleFormat(text.to_owned()));
        }
        Ok(ModuleRef {
            name: parts[0].to_owned(),
            stream: parts[1].to_owned(),
            version: parts.get(2).map(|v| (*v).to_owned()),
            context: parts.get(3).map(|c| (*c).to_owned()),
            arch: parts.get(4).map(|a| (*a).to_owned()),
        })
    }
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.stream)?;
        if let Some(version) = &self.version {
            write!(f, ":{version}")?;
        }
        if let Some(context) = &self.context {
            write!(f, ":{context}")?;
        }
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        Ok(())
    }
}

/// A git repository of module defaults at a commit (or branch).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleDefaults {
    /// The repository URL.
    pub url: String,
    /// The commit or branch.
    pub commit: String,
}

impl ModuleDefaults {
    /// How the reference stores it in `module_defaults_url`: `"URL COMMIT"`.
    pub fn to_stored(&self) -> String {
        format!("{} {}", self.url, self.commit)
    }

    /// The defaults stored as `"URL COMMIT"`; `None` for anything else.
    pub fn from_stored(stored: &str) -> Option<ModuleDefaults> {
        let (url, commit) = stored.trim().split_once(' ')?;
        Some(ModuleDefaults {
            url: url.to_owned(),
            commit: commit.trim().to_owned(),
        })
    }
}

/// The base module a module compose's modules must build-require.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BaseModuleBounds {
    /// Its name, e.g. `platform`.
    pub name: Option<String>,
    /// Its stream.
    pub stream: Option<String>,
    /// Highest stream version.
    pub stream_version_lte: Option<i64>,
    /// Lowest stream version.
    pub stream_version_gte: Option<i64>,
}

impl BaseModuleBounds {
    /// Whether no bound is set.
    pub fn is_unbounded(&self) -> bool {
        *self == BaseModuleBounds::default()
    }
}

/// Modular content a tag or module compose takes from Koji and MBS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ModularInputs {
    /// Koji tags whose module builds are taken (instead of MBS).
    pub koji_tags: WordList,
    /// Where module defaults come from.
    pub defaults: Option<ModuleDefaults>,
    /// Scratch module builds, `N:S:V:C`.
    pub scratch_modules: WordList,
}

/// `tag`: the latest builds of Koji tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagSource {
    /// The tags, most preferred first (usually one): a package's builds come from the first
    /// tag that has the package.
    pub tags: Vec<String>,
    /// The event the tag is read at: the request's, or the one the worker pinned.
    pub koji_event: Option<i64>,
    /// Builds (NVRs) replacing the tag's builds of the same packages.
    pub builds: WordList,
    /// Modular content.
    pub modular: ModularInputs,
    /// Module builds (NSVCs) from Koji added to the compose.
    pub modules: WordList,
    /// Koji scratch-build task ids whose RPMs are added.
    pub scratch_build_tasks: WordList,
}

/// `module`: module builds and their RPMs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleSource {
    /// The requested modules (empty when only scratch modules are asked for).
    pub modules: Vec<ModuleRef>,
    /// Where modules are found, defaults, scratch modules.
    pub modular: ModularInputs,
    /// Bounds on the base module the modules build-require.
    pub base_module: BaseModuleBounds,
}

/// `repo`: a local RPM repository on the workers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoSource {
    /// The directory (absolute).
    pub path: String,
    /// The repodata revision it was read at, once pinned (kept in `koji_event`, as the
    /// reference does).
    pub revision: Option<i64>,
}

/// `pulp`: Pulp content sets, turned into a repository file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PulpSource {
    /// The content sets (or repository ids).
    pub content_sets: Vec<String>,
}

/// `raw_config`: a Pungi configuration the server knows by name, at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawConfigSource {
    /// The `raw_config_urls` key.
    pub name: String,
    /// The commit or branch.
    pub commit: String,
    /// The Koji event the compose is built at: the request's, or the one the worker pinned.
    pub koji_event: Option<i64>,
    /// Builds the configuration's wrapper may add.
    pub builds: WordList,
    /// Modules the configuration's wrapper may add.
    pub modules: WordList,
}

/// `build`: listed Koji builds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuildSource {
    /// The builds' NVRs.
    pub builds: WordList,
    /// Koji scratch-build task ids whose RPMs are added.
    pub scratch_build_tasks: WordList,
}

/// `pungi_compose`: the RPMs of one variant of an existing Pungi compose.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PungiComposeSource {
    /// The variant's URL, e.g. `https://host/compose/Server`.
    pub url: String,
}

/// What a compose is built from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ComposeSource {
    /// The latest builds of a Koji tag.
    Tag(TagSource),
    /// Module builds.
    Module(ModuleSource),
    /// A local repository.
    Repo(RepoSource),
    /// Pulp content sets.
    Pulp(PulpSource),
    /// A named Pungi configuration.
    RawConfig(RawConfigSource),
    /// Listed Koji builds.
    Build(BuildSource),
    /// An existing Pungi compose.
    PungiCompose(PungiComposeSource),
}

/// A source laid flat, as the wire's source object and the table's columns hold it. Lists that
/// were not given stay distinct from empty ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFields {
    /// The words of `source`.
    pub source: Vec<String>,
    /// `koji_event`.
    pub koji_event: Option<i64>,
    /// `builds`.
    pub builds: WordList,
    /// `modular_koji_tags`.
    pub modular_koji_tags: WordList,
    /// `module_defaults_url` with `module_defaults_commit`.
    pub module_defaults: Option<ModuleDefaults>,
    /// `scratch_modules`.
    pub scratch_modules: WordList,
    /// `scratch_build_tasks`.
    pub scratch_build_tasks: WordList,
    /// `modules`.
    pub modules: WordList,
    /// `base_module_br_*`.
    pub base_module: BaseModuleBounds,
}

/// A source field by its wire name, for the table of which types use which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceField {
    /// `koji_event`.
    KojiEvent,
    /// `builds`.
    Builds,
    /// `modular_koji_tags`.
    ModularKojiTags,
    /// `module_defaults_url` and `module_defaults_commit`.
    ModuleDefaults,
    /// `scratch_modules`.
    ScratchModules,
    /// `scratch_build_tasks`.
    ScratchBuildTasks,
    /// `modules`.
    Modules,
    /// `base_module_br_name`, `_stream`, `_stream_version_lte`, `_stream_version_gte`.
    BaseModule,
}

impl SourceField {
    /// The wire name (the first, for fields sent as several keys).
    pub const fn name(self) -> &'static str {
        match self {
            SourceField::KojiEvent => "koji_event",
            SourceField::Builds => "builds",
            SourceField::ModularKojiTags => "modular_koji_tags",
            SourceField::ModuleDefaults => "module_defaults_url",
            SourceField::ScratchModules => "scratch_modules",
            SourceField::ScratchBuildTasks => "scratch_build_tasks",
            SourceField::Modules => "modules",
            SourceField::BaseModule => "base_module_br_name",
        }
    }

    /// The fields `source_type` uses; the API refuses the others.
    pub fn used_by(source_type: SourceType) -> &'static [SourceField] {
        use SourceField::*;
        match source_type {
            SourceType::Tag => &[
                KojiEvent,
                Builds,
                ModularKojiTags,
                ModuleDefaults,
                ScratchModules,
                ScratchBuildTasks,
                Modules,
            ],
            SourceType::Module => &[ModularKojiTags, ModuleDefaults, ScratchModules, BaseModule],
            SourceType::Repo | SourceType::Pulp | SourceType::PungiCompose => &[],
            SourceType::RawConfig => &[KojiEvent, Builds, Modules],
            SourceType::Build => &[Builds, ScratchBuildTasks],
        }
    }
}

impl SourceFields {
    /// Whether `field` holds anything.
    pub fn has(&self, field: SourceField) -> bool {
        match field {
            SourceField::KojiEvent => self.koji_event.is_some(),
            SourceField::Builds => self.builds.is_given(),
            SourceField::ModularKojiTags => self.modular_koji_tags.is_given(),
            SourceField::ModuleDefaults => self.module_defaults.is_some(),
            SourceField::ScratchModules => self.scratch_modules.is_given(),
            SourceField::ScratchBuildTasks => self.scratch_build_tasks.is_given(),
            SourceField::Modules => self.modules.is_given(),
            SourceField::BaseModule => !self.base_module.is_unbounded(),
        }
    }

    /// The first field that holds something `source_type` does not use.
    pub fn unused_by(&self, source_type: SourceType) -> Option<SourceField> {
        use SourceField::*;
        let used = SourceField::used_by(source_type);
        [
            KojiEvent,
            Builds,
            ModularKojiTags,
            ModuleDefaults,
            ScratchModules,
            ScratchBuildTasks,
            Modules,
            BaseModule,
        ]
        .into_iter()
        .find(|field| self.has(*field) && !used.contains(field))
    }
}

fn single(source_type: SourceType, words: Vec<String>) -> Result<String, SourceError> {
    let mut words = words.into_iter();
    match (words.next(), words.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(SourceError::Missing(source_type)),
        (Some(_), Some(_)) => Err(SourceError::NotSingle(source_type)),
    }
}

fn some(source_type: SourceType, words: Vec<String>) -> Result<Vec<String>, SourceError> {
    if words.is_empty() {
        return Err(SourceError::Missing(source_type));
    }
    Ok(words)
}

fn modular(fields: &mut SourceFields) -> ModularInputs {
    ModularInputs {
        koji_tags: std::mem::take(&mut fields.modular_koji_tags),
        defaults: fields.module_defaults.take(),
        scratch_modules: std::mem::take(&mut fields.scratch_modules),
    }
}

impl ComposeSource {
    /// The source of type `source_type` that `fields` describe. Fields the type does not use
    /// are dropped (the API refuses them earlier, with [`SourceFields::unused_by`]).
    pub fn from_fields(
        source_type: SourceType,
        mut fields: SourceFields,
    ) -> Result<ComposeSource, SourceError> {
        let words = std::mem::take(&mut fields.source);
        Ok(match source_type {
            SourceType::Tag => ComposeSource::Tag(TagSource {
                tags: some(source_type, words)?,
                koji_event: fields.koji_event,
                modular: modular(&mut fields),
                builds: fields.builds,
                modules: fields.modules,
                scratch_build_tasks: fields.scratch_build_tasks,
            }),
            SourceType::Module => {
                let modular = modular(&mut fields);
                if words.is_empty() && modular.scratch_modules.is_empty() {
                    return Err(SourceError::Missing(source_type));
                }
                ComposeSource::Module(ModuleSource {
                    modules: words.iter().map(|w| w.parse()).collect::<Result<_, _>>()?,
                    modular,
                    base_module: fields.base_module,
                })
            }
            SourceType::Repo => ComposeSource::Repo(RepoSource {
                path: single(source_type, words)?,
                revision: fields.koji_event,
            }),
            SourceType::Pulp => ComposeSource::Pulp(PulpSource {
                content_sets: some(source_type, words)?,
            }),
            SourceType::RawConfig => {
                let source = single(source_type, words)?;
                let (name, commit) = source
                    .split_once('#')
                    .filter(|(n, c)| !n.is_empty() && !c.is_empty() && !c.contains('#'))
                    .ok_or(SourceError::RawConfigFormat)?;
                ComposeSource::RawConfig(RawConfigSource {
                    name: name.to_owned(),
                    commit: commit.to_owned(),
                    koji_event: fields.koji_event,
                    builds: fields.builds,
                    modules: fields.modules,
                })
            }
            SourceType::Build => {
                if let Some(word) = words.first() {
                    return Err(SourceError::BuildSource(word.clone()));
                }
                ComposeSource::Build(BuildSource {
                    builds: fields.builds,
                    scratch_build_tasks: fields.scratch_build_tasks,
                })
            }
            SourceType::PungiCompose => ComposeSource::PungiCompose(PungiComposeSource {
                url: single(source_type, words)?,
            }),
        })
    }

    /// The source laid flat.
    pub fn to_fields(&self) -> SourceFields {
        let modular_fields = |m: &ModularInputs, fields: SourceFields| SourceFields {
            modular_koji_tags: m.koji_tags.clone(),
            module_defaults: m.defaults.clone(),
            scratch_modules: m.scratch_modules.clone(),
            ..fields
        };
        match self {
            ComposeSource::Tag(t) => modular_fields(
                &t.modular,
                SourceFields {
                    source: t.tags.clone(),
                    koji_event: t.koji_event,
                    builds: t.builds.clone(),
                    modules: t.modules.clone(),
                    scratch_build_tasks: t.scratch_build_tasks.clone(),
                    ..SourceFields::default()
                },
            ),
            ComposeSource::Module(m) => modular_fields(
                &m.modular,
                SourceFields {
                    source: m.modules.iter().map(ToString::to_string).collect(),
                    base_module: m.base_module.clone(),
                    ..SourceFields::default()
                },
            ),
            ComposeSource::Repo(r) => SourceFields {
                source: vec![r.path.clone()],
                koji_event: r.revision,
                ..SourceFields::default()
            },
            ComposeSource::Pulp(p) => SourceFields {
                source: p.content_sets.clone(),
                ..SourceFields::default()
            },
            ComposeSource::RawConfig(r) => SourceFields {
                source: vec![format!("{}#{}", r.name, r.commit)],
                koji_event: r.koji_event,
                builds: r.builds.clone(),
                modules: r.modules.clone(),
                ..SourceFields::default()
            },
            ComposeSource::Build(b) => SourceFields {
                builds: b.builds.clone(),
                scratch_build_tasks: b.scratch_build_tasks.clone(),
                ..SourceFields::default()
            },
            ComposeSource::PungiCompose(p) => SourceFields {
                source: vec![p.url.clone()],
                ..SourceFields::default()
            },
        }
    }

    /// The source type.
    pub fn source_type(&self) -> SourceType {
        match self {
            ComposeSource::Tag(_) => SourceType::Tag,
            ComposeSource::Module(_) => SourceType::Module,
            ComposeSource::Repo(_) => SourceType::Repo,
            ComposeSource::Pulp(_) => SourceType::Pulp,
            ComposeSource::RawConfig(_) => SourceType::RawConfig,
            ComposeSource::Build(_) => SourceType::Build,
            ComposeSource::PungiCompose(_) => SourceType::PungiCompose,
        }
    }

    /// The compose's `source` text: the words of the source joined by spaces.
    pub fn text(&self) -> String {
        self.to_fields().source.join(" ")
    }

    /// The point the source is read at, as stored in `koji_event`: a Koji event, or a
    /// repository's revision.
    pub fn koji_event(&self) -> Option<i64> {
        match self {
            ComposeSource::Tag(t) => t.koji_event,
            ComposeSource::RawConfig(r) => r.koji_event,
            ComposeSource::Repo(r) => r.revision,
            ComposeSource::Module(_)
            | ComposeSource::Pulp(_)
            | ComposeSource::Build(_)
            | ComposeSource::PungiCompose(_) => None,
        }
    }

    /// The builds of the source (a build compose's, a tag's extra ones, a raw config's).
    pub fn builds(&self) -> &[String] {
        match self {
            ComposeSource::Tag(t) => t.builds.as_slice(),
            ComposeSource::Build(b) => b.builds.as_slice(),
            ComposeSource::RawConfig(r) => r.builds.as_slice(),
            ComposeSource::Module(_)
            | ComposeSource::Repo(_)
            | ComposeSource::Pulp(_)
            | ComposeSource::PungiCompose(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(source: &[&str]) -> SourceFields {
        SourceFields {
            source: source.iter().map(|s| (*s).to_owned()).collect(),
            ..SourceFields::default()
        }
    }

    #[test]
    fn every_type_round_trips_through_its_fields() {
        let mut tag = fields(&["f40-build"]);
        tag.koji_event = Some(7);
        tag.builds = WordList::new(vec!["a-1-1".into()]);
        tag.module_defaults = Some(ModuleDefaults {
            url: "https://git/defaults".into(),
            commit: "main".into(),
        });
        let build = SourceFields {
            builds: WordList::new(vec!["b-1-1".into()]),
            ..SourceFields::default()
        };
        let mut module = fields(&["nodejs:20", "perl:5.36:1"]);
        module.base_module.stream = Some("f40".into());
        let cases = [
            (SourceType::Tag, tag),
            (SourceType::Module, module),
            (SourceType::Repo, fields(&["/srv/repo"])),
            (SourceType::Pulp, fields(&["cs-1", "cs-2"])),
            (SourceType::RawConfig, fields(&["cfg#abc"])),
            (SourceType::Build, build),
            (SourceType::PungiCompose, fields(&["https://host/c/Server"])),
        ];
        for (source_type, flat) in cases {
            let source = ComposeSource::from_fields(source_type, flat.clone()).expect("valid");
            assert_eq!(source.source_type(), source_type);
            assert_eq!(source.to_fields(), flat, "{source_type}");
        }
    }

    #[test]
    fn fields_a_type_does_not_use_are_named() {
        let mut flat = fields(&["/srv/repo"]);
        flat.builds = WordList::new(vec![]);
        assert_eq!(flat.unused_by(SourceType::Repo), Some(SourceField::Builds));
        assert_eq!(flat.unused_by(SourceType::Tag), None);
    }

    #[test]
    fn malformed_sources_are_refused() {
        let cases = [
            (SourceType::Tag, fields(&[]), "No source provided"),
            (
                SourceType::RawConfig,
                fields(&["cfg"]),
                "source_name#commit_hash",
            ),
            (
                SourceType::RawConfig,
                fields(&["a#b#c"]),
                "source_name#commit_hash",
            ),
            (SourceType::Module, fields(&["ed"]), "Module definition"),
            (SourceType::Module, fields(&[]), "No source provided"),
            (SourceType::Build, fields(&["x"]), "not in \"source\""),
        ];
        for (source_type, flat, expected) in cases {
            let err = ComposeSource::from_fields(source_type, flat).expect_err("refused");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
