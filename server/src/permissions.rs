//! `allowed_clients`: which users and groups may create or renew which composes.
//!
//! Follows the reference's rules: admins need a rule too to create or renew (but then pass
//! every check), a refusal names every attribute a rule does not allow, and a rule restricting
//! `flags` must list `no_flags`, which every compose has. One of its bugs is left out: empty
//! sources (build composes) are not checked against `sources`.

use std::path::Path;

use odcs_common::compose::{ComposeFlags, ComposeResults, ComposeType, SourceType};
use odcs_common::config::{ClientRule, Config};
use odcs_common::spec::{ComposeSource, ComposeSpec};

use crate::auth::Caller;
use crate::error::ApiError;

/// The attributes of a compose that `allowed_clients` rules restrict.
#[derive(Debug, Clone)]
pub struct ComposeAttributes<'a> {
    /// The source type.
    pub source_type: SourceType,
    /// The sources (the words of `source`).
    pub sources: Vec<String>,
    /// The results.
    pub results: ComposeResults,
    /// The flags.
    pub flags: ComposeFlags,
    /// The arches.
    pub arches: Vec<String>,
    /// The compose type.
    pub compose_type: ComposeType,
    /// The target directory; `None` when not checked (renewals keep theirs).
    pub target_dir: Option<&'a Path>,
    /// The raw config key of a raw_config compose.
    pub raw_config_key: Option<&'a str>,
}

impl<'a> ComposeAttributes<'a> {
    /// The attributes of the compose `spec` asks for.
    pub fn of(spec: &'a ComposeSpec) -> ComposeAttributes<'a> {
        ComposeAttributes {
            source_type: spec.source_type(),
            sources: spec.source.to_fields().source,
            results: spec.options.results,
            flags: spec.options.flags,
            arches: spec.arches.clone(),
            compose_type: spec.compose_type,
            target_dir: Some(&spec.target_dir),
            raw_config_key: match &spec.source {
                ComposeSource::RawConfig(raw) => Some(&raw.name),
                _ => None,
            },
        }
    }
}

/// Fails with 403 unless the caller is an allowed client (checked before the body is read, as
/// the reference does; being an admin is not enough).
pub fn require_allowed_client(caller: &Caller, config: &Config) -> Result<(), ApiError> {
    if matches!(caller, Caller::NoAuth) || !matching_rules(caller, config).is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "User {} is not in role allowed_clients.",
        caller.name()
    )))
}

/// The rules that apply to the caller: their user rule if one exists, else their groups'.
fn matching_rules<'c>(caller: &Caller, config: &'c Config) -> Vec<&'c ClientRule> {
    let clients = &config.policy.allowed_clients;
    if let Some(rule) = clients.users.get(caller.name()) {
        return vec![rule];
    }
    caller
        .groups()
        .iter()
        .filter_map(|g| clients.groups.get(g))
        .collect()
}

/// Fails with 403 naming what is not allowed unless one of the caller's rules allows every
/// attribute of the compose. Admins, and everyone under `noauth`, may do anything.
pub fn check_compose(
    caller: &Caller,
    config: &Config,
    attrs: &ComposeAttributes<'_>,
) -> Result<(), ApiError> {
    if caller.is_admin(config) {
        return Ok(());
    }
    let rules = matching_rules(caller, config);
    let mut errors: Vec<String> = Vec::new();
    for rule in &rules {
        let refused = disallowed(rule, config, attrs);
        if refused.is_empty() {
            return Ok(());
        }
        for (name, value) in refused {
            let msg = format!(
                "User {} not allowed to operate with compose with {name}={value}.",
                caller.name()
            );
            if !errors.contains(&msg) {
                errors.push(msg);
            }
        }
    }
    if errors.is_empty() {
        errors.push(format!(
            "User {} not allowed to operate with any compose.",
            caller.name()
        ));
    }
    Err(ApiError::Forbidden(errors.join(" ")))
}

/// Each attribute `rule` does not allow, with its first value not allowed.
fn disallowed(
    rule: &ClientRule,
    config: &Config,
    attrs: &ComposeAttributes<'_>,
) -> Vec<(&'static str, String)> {
    let policy = &config.policy;
    let raw_keys: Vec<String> = policy.raw_config_urls.keys().cloned().collect();
    let target_dir_name = attrs
        .target_dir
        .filter(|dir| *dir != config.storage.target_dir)
        .map(|dir| {
            config
                .storage
                .target_dir_name(Some(&dir.display().to_string()))
                .to_owned()
        });
    let checks: [(&'static str, Vec<String>, &[String]); 8] = [
        (
            "source_types",
            vec![attrs.source_type.name().to_owned()],
            rule.source_types
                .as_deref()
                .unwrap_or(&policy.allowed_source_types),
        ),
        (
            "sources",
            attrs.sources.clone(),
            rule.sources.as_deref().unwrap_or(&policy.allowed_sources),
        ),
        (
            "results",
            owned(attrs.results.names()),
            rule.results.as_deref().unwrap_or(&policy.allowed_results),
        ),
        (
            "flags",
            std::iter::once("no_flags".to_owned())
                .chain(owned(attrs.flags.names()))
                .collect(),
            rule.flags.as_deref().unwrap_or(&policy.allowed_flags),
        ),
        (
            "arches",
            attrs.arches.clone(),
            rule.arches.as_deref().unwrap_or(&policy.allowed_arches),
        ),
        (
            "compose_types",
            vec![attrs.compose_type.name().to_owned()],
            rule.compose_types
                .as_deref()
                .unwrap_or(&policy.allowed_compose_types),
        ),
        (
            "target_dirs",
            target_dir_name.into_iter().collect(),
            rule.target_dirs.as_deref().unwrap_or(&[]),
        ),
        (
            "raw_config_keys",
            attrs
                .raw_config_key
                .map(str::to_owned)
                .into_iter()
                .collect(),
            rule.raw_config_keys.as_deref().unwrap_or(&raw_keys),
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, _, allowed)| !(allowed.len() == 1 && allowed[0].is_empty()))
        .filter_map(|(name, values, allowed)| {
            values
                .into_iter()
                .find(|v| !allowed.contains(v))
                .map(|value| (name, value))
        })
        .collect()
}

fn owned(names: Vec<&'static str>) -> Vec<String> {
    names.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use odcs_common::compose::ComposeFlag;
    use odcs_common::config::AuthBackend;

    use super::*;

    fn config() -> Config {
        let mut config = Config::default();
        config.auth.backend = AuthBackend::Proxy;
        config.policy.allowed_clients.users.insert(
            "alice".into(),
            ClientRule {
                source_types: Some(vec!["tag".into(), "repo".into()]),
                flags: Some(vec!["no_deps".into()]),
                ..ClientRule::default()
            },
        );
        config.policy.allowed_clients.groups.insert(
            "releng".into(),
            ClientRule {
                source_types: Some(vec!["build".into()]),
                arches: Some(vec!["".into()]),
                ..ClientRule::default()
            },
        );
        config.policy.admins.users.push("root".into());
        config
    }

    fn user(name: &str, groups: &[&str]) -> Caller {
        Caller::User {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            scopes: None,
        }
    }

    fn attrs<'a>(source_type: SourceType, flags: ComposeFlags) -> ComposeAttributes<'a> {
        ComposeAttributes {
            source_type,
            sources: vec!["f40".into()],
            results: ComposeResults::EMPTY.with(odcs_common::compose::ComposeResult::Repository),
            flags,
            arches: vec!["x86_64".into()],
            compose_type: ComposeType::Test,
            target_dir: None,
            raw_config_key: None,
        }
    }

    #[test]
    fn a_flag_restriction_must_list_no_flags_as_in_the_reference() {
        let mut config = config();
        let err = check_compose(
            &user("alice", &[]),
            &config,
            &attrs(SourceType::Tag, ComposeFlags::EMPTY),
        )
        .expect_err("no_flags is not listed");
        assert_eq!(
            err.to_string(),
            "User alice not allowed to operate with compose with flags=no_flags."
        );
        if let Some(rule) = config.policy.allowed_clients.users.get_mut("alice") {
            rule.flags = Some(vec!["no_flags".into(), "no_deps".into()]);
        }
        let no_deps = ComposeFlags::EMPTY.with(ComposeFlag::NoDeps);
        check_compose(
            &user("alice", &[]),
            &config,
            &attrs(SourceType::Repo, no_deps),
        )
        .expect("listed flag");
    }

    #[test]
    fn every_disallowed_attribute_is_named() {
        let config = config();
        let check_deps = ComposeFlags::EMPTY.with(ComposeFlag::CheckDeps);
        let err = check_compose(
            &user("alice", &[]),
            &config,
            &attrs(SourceType::Module, check_deps),
        )
        .expect_err("module not allowed");
        assert_eq!(
            err.to_string(),
            "User alice not allowed to operate with compose with source_types=module. \
             User alice not allowed to operate with compose with flags=no_flags."
        );
    }

    #[test]
    fn groups_and_admins_are_honoured() {
        let config = config();
        let mut build = attrs(SourceType::Build, ComposeFlags::EMPTY);
        build.arches = vec!["s390x".to_owned(), "ppc64le".to_owned()];
        check_compose(&user("bob", &["releng"]), &config, &build).expect("group rule, any arch");
        require_allowed_client(&user("bob", &["releng"]), &config).expect("in a group");
        assert!(require_allowed_client(&user("eve", &[]), &config).is_err());
        // As in the reference, admins need a rule to create, then pass every check.
        assert!(require_allowed_client(&user("root", &[]), &config).is_err());
        require_allowed_client(&Caller::NoAuth, &config).expect("noauth");
        check_compose(
            &user("root", &[]),
            &config,
            &attrs(SourceType::Pulp, ComposeFlags::EMPTY),
        )
        .expect("admin");
        check_compose(
            &Caller::NoAuth,
            &config,
            &attrs(SourceType::Pulp, ComposeFlags::EMPTY),
        )
        .expect("noauth");
    }

    #[test]
    fn extra_target_dirs_need_permission() {
        let mut config = config();
        if let Some(rule) = config.policy.allowed_clients.users.get_mut("alice") {
            rule.flags = Some(vec!["no_flags".into(), "no_deps".into()]);
        }
        config
            .storage
            .extra_target_dirs
            .insert("private".into(), "/srv/private".into());
        let mut request = attrs(SourceType::Tag, ComposeFlags::EMPTY);
        request.target_dir = Some(Path::new("/srv/private"));
        let err = check_compose(&user("alice", &[]), &config, &request).expect_err("not allowed");
        assert!(err.to_string().contains("target_dirs=private"));
        let default_dir = config.storage.target_dir.clone();
        request.target_dir = Some(&default_dir);
        check_compose(&user("alice", &[]), &config, &request).expect("default dir");
    }
}
