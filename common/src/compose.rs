//! Compose states, source types, flags, result types and multilib methods.
//!
//! Every numeric value here is the one the reference ODCS stores in its database and sends
//! over the wire, so rows and messages stay readable by both implementations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A name that does not belong to one of the enumerations in this module.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UnknownName {
    /// The source type name is not one ODCS knows.
    #[error("unknown source type {0:?}")]
    SourceType(String),
    /// The state name is not one ODCS knows.
    #[error("unknown compose state {0:?}")]
    State(String),
    /// The flag name is not one ODCS knows.
    #[error("unknown flag {0:?}")]
    Flag(String),
    /// The result name is not one ODCS knows.
    #[error("unknown result {0:?}")]
    Result(String),
    /// The multilib method name is not one ODCS knows.
    #[error("unknown multilib method {0:?}")]
    MultilibMethod(String),
    /// The compose type name is not one ODCS knows.
    #[error("unknown compose type {0:?}")]
    ComposeType(String),
}

/// Declares a fieldless enum whose variants map 1:1 to an integer code and a wire name.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $unknown:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(
            feature = "db",
            derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
            diesel(sql_type = diesel::sql_types::Integer)
        )]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The integer the reference ODCS stores for this value.
            pub const fn code(self) -> i32 {
                match self { $($name::$variant => $code),+ }
            }

            /// The value stored under `code`, if any.
            pub fn from_code(code: i32) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// The value given as its code (`"2"`) or its name (`"done"`).
            pub fn from_code_or_name(text: &str) -> Option<Self> {
                match text.trim().parse::<i32>() {
                    Ok(code) => Self::from_code(code),
                    Err(_) => text.parse().ok(),
                }
            }

            /// The name used on the wire and in configuration.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The code as a reference that lives forever, for storage layers that bind
            /// values by reference.
            pub const fn code_ref(self) -> &'static i32 {
                match self { $($name::$variant => &$code),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownName::$unknown(other.to_owned())),
                }
            }
        }
    };
}

coded_enum! {
    /// Where a compose is in its life.
    ///
    /// ```
    /// use odcs_common::compose::ComposeState;
    /// assert_eq!("done".parse::<ComposeState>().unwrap().code(), 2);
    /// ```
    ComposeState, State {
        /// Stored, waiting for a worker.
        Wait = 0 => "wait",
        /// A worker is building it.
        Generating = 1 => "generating",
        /// Built and available.
        Done = 2 => "done",
        /// Expired or deleted; its files are gone.
        Removed = 3 => "removed",
        /// Could not be built, or was cancelled.
        Failed = 4 => "failed",
    }
}

impl ComposeState {
    /// Whether a worker may still change this compose (it has no outcome yet).
    pub const fn is_pending(self) -> bool {
        matches!(self, ComposeState::Wait | ComposeState::Generating)
    }

    /// Whether moving from `self` to `to` is a legal step of the lifecycle.
    ///
    /// wait → generating → done | failed → removed; wait → failed (cancel);
    /// generating → wait (a dead worker's job handed back); done → removed.
    pub const fn can_move_to(self, to: ComposeState) -> bool {
        use ComposeState::*;
        matches!(
            (self, to),
            (Wait, Generating)
                | (Wait, Failed)
                | (Wait, Done)
                | (Generating, Done)
                | (Generating, Failed)
                | (Generating, Wait)
                | (Done, Removed)
                | (Failed, Removed)
        )
    }
}

coded_enum! {
    /// What a compose is built from.
    SourceType, SourceType {
        /// The latest builds in a Koji tag.
        Tag = 1 => "tag",
        /// Module builds (name:stream[:version[:context]]).
        Module = 2 => "module",
        /// A local RPM repository.
        Repo = 3 => "repo",
        /// Pulp content sets.
        Pulp = 4 => "pulp",
        /// A Pungi configuration from a configured git URL.
        RawConfig = 5 => "raw_config",
        /// An explicit list of Koji builds.
        Build = 6 => "build",
        /// The RPMs of an existing Pungi compose.
        PungiCompose = 7 => "pungi_compose",
    }
}

/// Declares a bit-set over a coded enum, stored as the OR of the members' codes.
macro_rules! bit_set {
    ($(#[$meta:meta])* $set:ident of $item:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(
            feature = "db",
            derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
            diesel(sql_type = diesel::sql_types::Integer)
        )]
        pub struct $set(i32);

        impl $set {
            /// The empty set.
            pub const EMPTY: $set = $set(0);

            /// The set stored as `bits`; bits that name no member are kept so nothing is lost.
            pub const fn from_bits(bits: i32) -> Self {
                $set(bits)
            }

            /// The stored integer.
            pub const fn bits(self) -> i32 {
                self.0
            }

            /// Whether `item` is in the set (a member coded 0 never is: it stands for the
            /// empty set).
            pub const fn contains(self, item: $item) -> bool {
                item.code() != 0 && self.0 & item.code() == item.code()
            }

            /// Whether the set is empty.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The stored integer, as a reference tied to the set, for storage layers that
            /// bind values by reference.
            pub const fn bits_ref(&self) -> &i32 {
                &self.0
            }

            /// The set with `item` added.
            #[must_use]
            pub const fn with(self, item: $item) -> Self {
                $set(self.0 | item.code())
            }

            /// The members, in code order.
            pub fn iter(self) -> impl Iterator<Item = $item> {
                $item::ALL.iter().copied().filter(move |i| self.contains(*i))
            }

            /// The members' names, in code order, as the JSON view lists them.
            pub fn names(self) -> Vec<&'static str> {
                self.iter().map($item::name).collect()
            }
        }

        impl FromIterator<$item> for $set {
            fn from_iter<I: IntoIterator<Item = $item>>(iter: I) -> Self {
                iter.into_iter().fold($set::EMPTY, $set::with)
            }
        }
    };
}

coded_enum! {
    /// One option that changes how a compose is built.
    ComposeFlag, Flag {
        /// Take only the listed packages or modules, not their dependencies.
        NoDeps = 1 => "no_deps",
        /// Do not pull packages from the tag's parents.
        NoInheritance = 2 => "no_inheritance",
        /// Pulp: include unpublished repositories.
        IncludeUnpublishedPulpRepos = 4 => "include_unpublished_pulp_repos",
        /// Fail the compose when dependencies are broken.
        CheckDeps = 8 => "check_deps",
        /// Modules: also take builds in the `done` state.
        IncludeDoneModules = 16 => "include_done_modules",
        /// Pulp: skip content sets that have no repository.
        IgnoreAbsentPulpRepos = 32 => "ignore_absent_pulp_repos",
        /// Never reuse an earlier identical compose.
        NoReuse = 64 => "no_reuse",
        /// Pulp: use only repositories of compatible arches.
        UseOnlyCompatibleArch = 128 => "use_only_compatible_arch",
        /// Raw config: allow a production compose without a label.
        NoLabel = 256 => "no_label",
    }
}

bit_set! {
    /// The flags of a compose.
    ComposeFlags of ComposeFlag
}

coded_enum! {
    /// One kind of artifact a compose produces.
    ComposeResult, Result {
        /// An RPM repository (always produced).
        Repository = 1 => "repository",
        /// ISO images with the packages.
        Iso = 2 => "iso",
        /// An OSTree repository.
        Ostree = 4 => "ostree",
        /// A boot.iso image.
        BootIso = 8 => "boot.iso",
    }
}

bit_set! {
    /// The results of a compose.
    ComposeResults of ComposeResult
}

impl ComposeResult {
    /// Why this service cannot produce this result, if it cannot; `boot_iso` says whether
    /// the server has a command for boot.iso images (`boot_iso_command`).
    pub fn unproducible(self, boot_iso: bool) -> Option<&'static str> {
        match self {
            ComposeResult::Repository | ComposeResult::Iso => None,
            ComposeResult::BootIso if boot_iso => None,
            ComposeResult::BootIso => Some(
                "boot.iso is not a result this server produces: it needs an installer-image \
                 command (boot_iso_command, what Pungi's buildinstall phase runs lorax for), \
                 which this server does not have; ask for \"iso\" for images of the packages",
            ),
            ComposeResult::Ostree => Some(
                "ostree is not a result this server produces: it needs an OSTree repository \
                 built by rpm-ostree (Pungi's ostree phase), which this server does not run",
            ),
        }
    }
}

coded_enum! {
    /// How packages of a compatible arch are chosen for multilib arches.
    MultilibMethod, MultilibMethod {
        /// No multilib packages.
        None = 0 => "none",
        /// Runtime libraries.
        Runtime = 1 => "runtime",
        /// Development packages (-devel, -static).
        Devel = 2 => "devel",
        /// Every package.
        All = 4 => "all",
    }
}

bit_set! {
    /// The multilib methods of a compose (`none` is the empty set).
    MultilibMethods of MultilibMethod
}

/// Identifies a compose: the row id, which also names its directory (`odcs-{id}`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(
    feature = "db",
    derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
    diesel(sql_type = diesel::sql_types::Integer)
)]
pub struct ComposeId(pub i32);

/// What every compose directory name starts with.
const DIR_PREFIX: &str = "odcs-";

impl ComposeId {
    /// The name of the compose's directory and of its `.repo` file: `odcs-{id}`.
    pub fn dir_name(self) -> String {
        format!("{DIR_PREFIX}{}", self.0)
    }

    /// The compose a directory named `name` belongs to, if it is a compose directory.
    pub fn from_dir_name(name: &str) -> Option<ComposeId> {
        name.strip_prefix(DIR_PREFIX)?.parse().ok().map(ComposeId)
    }

    /// The id as stored.
    pub const fn get(self) -> i32 {
        self.0
    }

    /// The id as a reference tied to it, for storage layers that bind values by reference.
    pub const fn get_ref(&self) -> &i32 {
        &self.0
    }
}

impl fmt::Display for ComposeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ComposeId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(ComposeId)
    }
}

impl From<ComposeId> for i64 {
    fn from(id: ComposeId) -> Self {
        i64::from(id.0)
    }
}

impl From<i32> for ComposeId {
    fn from(id: i32) -> Self {
        ComposeId(id)
    }
}

/// The kind of compose a raw_config compose is run as, which Pungi marks in the compose id
/// (`.t`, `.ci`, `.n`, nothing for production, `.d`); other composes are `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ComposeType {
    /// A test compose (the default).
    #[default]
    Test,
    /// A CI compose.
    Ci,
    /// A nightly compose.
    Nightly,
    /// A production compose.
    Production,
    /// A development compose.
    Development,
}

impl ComposeType {
    /// Every compose type.
    pub const ALL: &'static [ComposeType] = &[
        ComposeType::Test,
        ComposeType::Ci,
        ComposeType::Nightly,
        ComposeType::Production,
        ComposeType::Development,
    ];

    /// The name used on the wire and in configuration.
    pub const fn name(self) -> &'static str {
        match self {
            ComposeType::Test => "test",
            ComposeType::Ci => "ci",
            ComposeType::Nightly => "nightly",
            ComposeType::Production => "production",
            ComposeType::Development => "development",
        }
    }

    /// What productmd puts in a compose id for this type (`.t`, `.ci`, `.n`, `.d`; nothing for
    /// production).
    pub const fn id_suffix(self) -> &'static str {
        match self {
            ComposeType::Production => "",
            ComposeType::Nightly => ".n",
            ComposeType::Ci => ".ci",
            ComposeType::Development => ".d",
            ComposeType::Test => ".t",
        }
    }
}

impl fmt::Display for ComposeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ComposeType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComposeType::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownName::ComposeType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_reference() {
        let states: Vec<i32> = ComposeState::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(states, [0, 1, 2, 3, 4]);
        let sources: Vec<(i32, &str)> = SourceType::ALL
            .iter()
            .map(|s| (s.code(), s.name()))
            .collect();
        assert_eq!(
            sources,
            [
                (1, "tag"),
                (2, "module"),
                (3, "repo"),
                (4, "pulp"),
                (5, "raw_config"),
                (6, "build"),
                (7, "pungi_compose")
            ]
        );
        let flags: Vec<i32> = ComposeFlag::ALL.iter().map(|f| f.code()).collect();
        assert_eq!(flags, [1, 2, 4, 8, 16, 32, 64, 128, 256]);
        assert_eq!(ComposeResult::BootIso.code(), 8);
        assert_eq!(MultilibMethod::All.code(), 4);
        assert_eq!(*ComposeState::Failed.code_ref(), 4);
    }

    #[test]
    fn multilib_none_is_the_empty_set() {
        let methods: MultilibMethods = [MultilibMethod::None].into_iter().collect();
        assert!(methods.is_empty());
        assert!(!methods.contains(MultilibMethod::None));
        let methods = MultilibMethods::from_bits(3);
        assert_eq!(methods.names(), ["runtime", "devel"]);
    }

    #[test]
    fn compose_ids_name_directories() {
        assert_eq!(ComposeId(7).dir_name(), "odcs-7");
        assert_eq!(ComposeId::from_dir_name("odcs-7"), Some(ComposeId(7)));
        assert_eq!(ComposeId::from_dir_name("odcs-x"), None);
        assert_eq!(
            "production".parse::<ComposeType>(),
            Ok(ComposeType::Production)
        );
        assert!("weekly".parse::<ComposeType>().is_err());
    }

    #[test]
    fn flag_sets_list_names_in_code_order() {
        let flags: ComposeFlags = [ComposeFlag::NoReuse, ComposeFlag::NoDeps]
            .into_iter()
            .collect();
        assert_eq!(flags.bits(), 65);
        assert_eq!(flags.names(), ["no_deps", "no_reuse"]);
        assert!(flags.contains(ComposeFlag::NoDeps));
        assert!(!flags.contains(ComposeFlag::CheckDeps));
    }

    #[test]
    fn unknown_names_are_reported() {
        assert_eq!(
            "bogus".parse::<ComposeFlag>(),
            Err(UnknownName::Flag("bogus".into()))
        );
        assert!(ComposeState::from_code(9).is_none());
    }

    #[test]
    fn lifecycle_allows_only_forward_steps() {
        use ComposeState::*;
        assert!(Wait.can_move_to(Generating));
        assert!(Done.can_move_to(Removed));
        assert!(!Removed.can_move_to(Done));
        assert!(!Done.can_move_to(Generating));
    }
}
