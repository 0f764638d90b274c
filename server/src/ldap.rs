//! Users' groups from LDAP, as the reference looks them up: for each configured `[base,
//! filter]`, a one-level search with the user name in the filter, each entry's `cn` a group.
//! Answers are cached per user for `auth_ldap_cache_seconds`; an unreachable or failing LDAP
//! server means no LDAP groups (and a warning), never a failed request. `ldaps://` and StartTLS
//! check the server's certificate against the configured authorities (or the system's).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use odcs_common::config::AuthConfig;

use crate::tls::{client_config, TlsError};

/// Most users whose groups are remembered; past this the cache starts over.
const MAX_CACHED_USERS: usize = 10_000;

/// Looks groups up in the configured LDAP server.
pub struct LdapGroups {
    url: String,
    searches: Vec<(String, String)>,
    ttl: Duration,
    timeout: Duration,
    starttls: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl LdapGroups {
    /// The lookup `auth` configures, if it names an LDAP server; fails when the authorities
    /// file cannot be read, so a misconfigured server stops at start-up.
    pub fn from_config(auth: &AuthConfig) -> Result<Option<LdapGroups>, TlsError> {
        if auth.ldap_server.is_empty() {
            return Ok(None);
        }
        let tls = if auth.ldap_ca_cert.is_empty() {
            None
        } else {
            Some(Arc::new(client_config(
                "auth_ldap_ca_cert",
                Path::new(&auth.ldap_ca_cert),
            )?))
        };
        Ok(Some(LdapGroups {
            url: auth.ldap_server.clone(),
            searches: auth.ldap_groups.clone(),
            ttl: Duration::from_secs(auth.ldap_cache_seconds),
            timeout: Duration::from_secs(auth.ldap_timeout_seconds),
            starttls: auth.ldap_starttls,
            tls,
            cache: Mutex::new(HashMap::new()),
        }))
    }

    /// The groups of `user`; none when LDAP cannot say.
    pub async fn groups_of(&self, user: &str) -> Vec<String> {
        if let Some(groups) = self.cached(user) {
            return groups;
        }
        match tokio::time::timeout(self.timeout, self.search(user)).await {
            Ok(Ok(groups)) => {
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= MAX_CACHED_USERS {
                        cache.clear();
                    }
                    cache.insert(user.to_owned(), (Instant::now(), groups.clone()));
                }
                groups
            }
            Ok(Err(e)) => {
                tracing::warn!(user, ldap = %self.url, error = %e, "cannot query the user's groups from LDAP");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(user, ldap = %self.url, "LDAP did not answer in time: the user has no LDAP groups");
                Vec::new()
            }
        }
    }

    fn cached(&self, user: &str) -> Option<Vec<String>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(user)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, groups)| groups.clone())
    }

    async fn search(&self, user: &str) -> Result<Vec<String>, ldap3::LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url).await?;
        ldap3::drive!(conn);
        let mut groups = Vec::new();
        for (base, filter) in &self.searches {
            let filter = user_filter(filter, user);
            let (entries, _) = ldap
                .search(base, Scope::OneLevel, &filter, vec!["cn"])
                .await?
                .success()?;
            for entry in entries {
                let entry = SearchEntry::construct(entry);
                groups.extend(entry.attrs.get("cn").into_iter().flatten().cloned());
            }
        }
        let _ = ldap.unbind().await;
        groups.sort();
        groups.dedup();
        Ok(groups)
    }
}

/// `filter` with `{}` (or `{0}`, as the reference's Python formatting allows) replaced by
/// `user`, escaped so a user name cannot change the filter.
fn user_filter(filter: &str, user: &str) -> String {
    let escaped = ldap3::ldap_escape(user);
    filter.replace("{0}", &escaped).replace("{}", &escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_cannot_change_the_filter() {
        assert_eq!(user_filter("(memberUid={})", "alice"), "(memberUid=alice)");
        assert_eq!(
            user_filter("(&(memberUid={0})(objectClass=posixGroup))", "x)(cn=*"),
            "(&(memberUid=x\\29\\28cn=\\2a)(objectClass=posixGroup))"
        );
    }
}
