//! The `pulp` source type: content sets (or repository ids) turned into one `.repo` file
//! pointing at the Pulp repositories that publish them; no package is copied. As the reference:
//! sources not found as content sets are looked up as repository ids, what is still missing
//! fails the compose unless `ignore_absent_pulp_repos`, and a compose that found nothing is an
//! empty repository.

use std::collections::{BTreeMap, BTreeSet};

use odcs_common::compose::ComposeFlag;
use odcs_common::spec::{ComposeSpec, PulpSource, ResolvedRequest, Sigkeys};

use super::{Finished, PackageSet, ResolveContext, Resolved, Source, SourceContext, SourceError};
use crate::compose::layout::Trees;
use crate::pulp::{Pulp, PulpRepo};

/// An opened Pulp request.
pub struct PulpCompose<'a> {
    pulp: &'a Pulp,
    sources: Vec<String>,
    include_unpublished: bool,
    ignore_absent: bool,
    compatible_arch: bool,
}

impl<'a> PulpCompose<'a> {
    /// Opens the request for `source`'s content sets.
    pub fn open(
        source: &PulpSource,
        spec: &ComposeSpec,
        ctx: &SourceContext<'a>,
    ) -> Result<PulpCompose<'a>, SourceError> {
        let pulp = ctx.pulp.ok_or_else(|| {
            SourceError::message("Pulp composes are disabled: no pulp_server_url is configured")
        })?;
        let options = &spec.options;
        Ok(PulpCompose {
            pulp,
            sources: source.content_sets.clone(),
            include_unpublished: options.has(ComposeFlag::IncludeUnpublishedPulpRepos),
            ignore_absent: options.has(ComposeFlag::IgnoreAbsentPulpRepos),
            compatible_arch: options.has(ComposeFlag::UseOnlyCompatibleArch),
        })
    }

    /// The repositories the sources name, in `.repo` order, and the sources found (sorted, as
    /// the reference records them); fails
    /// naming what is missing unless absent sources may be left out.
    fn find(&self) -> Result<(Vec<PulpRepo>, Vec<String>), SourceError> {
        let by_set = self
            .pulp
            .repos_by_content_set(&self.sources, self.include_unpublished)?;
        let remaining: Vec<String> = self
            .sources
            .iter()
            .filter(|s| !by_set.contains_key(*s))
            .cloned()
            .collect();
        let by_id = if remaining.is_empty() {
            BTreeMap::new()
        } else {
            self.pulp
                .repos_by_id(&remaining, self.include_unpublished)?
        };
        let found: BTreeSet<&String> = by_set.keys().chain(by_id.keys()).collect();
        let found_sources: Vec<String> = found.into_iter().cloned().collect();
        if found_sources.len() < self.sources.len() && !self.ignore_absent {
            return Err(SourceError::message(format!(
                "Failed to find all the source(s) {} in Pulp, found only {}",
                python_list(&self.sources),
                python_list(&found_sources)
            )));
        }
        let mut repos: BTreeMap<String, PulpRepo> = BTreeMap::new();
        for repo in by_set.into_values().flatten().chain(by_id.into_values()) {
            repos.entry(repo.id.clone()).or_insert(repo);
        }
        Ok((repos.into_values().collect(), found_sources))
    }

    /// The `.repo` section of `repo`.
    fn section(&self, repo: &PulpRepo) -> String {
        let url = match (&repo.arch, self.compatible_arch) {
            (Some(arch), true) => repo.url.replace(arch.as_str(), "$basearch"),
            _ => repo.url.clone(),
        };
        let mut section = format!(
            "[{id}]\nname={id}\nbaseurl={url}\nenabled=1\ngpgcheck=0\n",
            id = repo.id
        );
        if self.compatible_arch {
            section.push_str("skip_if_unavailable=1\n");
        }
        section
    }
}

/// `items` written as Python's `repr` writes a list of strings, as the reference's messages
/// show them.
fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| python_repr(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// `text` as Python's `repr` writes a string: single quotes unless it holds one and no double
/// quote.
fn python_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl Source for PulpCompose<'_> {
    /// Pulp has no point in time to read at.
    fn pin(&mut self) -> Result<Option<i64>, SourceError> {
        Ok(None)
    }

    /// Pulp repositories change without a trace Pulp would show: never reused, as the
    /// reference never reuses them.
    fn unchanged_since(&mut self, _event: Option<i64>) -> Result<bool, SourceError> {
        Ok(false)
    }

    fn resolve(self: Box<Self>, ctx: &ResolveContext<'_>) -> Result<Resolved, SourceError> {
        let (repos, found) = self.find()?;
        let resolved_source = (found.len() < self.sources.len()).then(|| found.clone());
        ctx.log.line(format_args!(
            "Pulp {}: {} repositories for {}",
            self.pulp.url(),
            repos.len(),
            found.join(" ")
        ));
        if repos.is_empty() {
            ctx.log.line(format_args!(
                "Nothing found in Pulp: the compose is an empty repository"
            ));
            return Ok(Resolved::Packages(PackageSet {
                resolved: resolved_source.map(|source| ResolvedRequest {
                    source: Some(source),
                    ..ResolvedRequest::default()
                }),
                ..PackageSet::chosen(Vec::new())
            }));
        }
        let arches: BTreeSet<String> = repos.iter().filter_map(|r| r.arch.clone()).collect();
        let sigkeys: BTreeSet<String> = repos.iter().flat_map(|r| r.sigkeys.clone()).collect();
        let text: Vec<String> = repos.iter().map(|r| self.section(r)).collect();
        let trees = Trees {
            root: ctx.staging.to_owned(),
        };
        let repofile = trees.repofile(&ctx.layout.name);
        if let Some(dir) = repofile.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                SourceError::message(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        crate::durable::write_synced(&repofile, text.join("\n").as_bytes())
            .map_err(SourceError::permanent)?;
        Ok(Resolved::Finished(Finished {
            pungi_compose_id: None,
            config_dump: None,
            staged: super::Staged::ComposeDir,
            links: None,
            resolved: Some(ResolvedRequest {
                arches: (!arches.is_empty()).then(|| arches.into_iter().collect()),
                sigkeys: Some(Sigkeys::new(sigkeys.into_iter().collect())),
                source: resolved_source,
                ..ResolvedRequest::default()
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_python_writes_them() {
        assert_eq!(
            python_list(&["a".into(), "it's".into(), "both'\"".into()]),
            r#"['a', "it's", 'both\'"']"#
        );
        assert_eq!(python_list(&[]), "[]");
    }
}
