//! What every handler shares: configuration, the database pool and metrics.

use std::sync::Arc;

use odcs_common::compose::ComposeId;
use odcs_common::config::Config;
use odcs_common::db::DbPool;

use odcs_common::dispatch::Dispatcher;

use crate::change_feed::ChangeFeed;
use crate::compose_cache::ComposeCache;
use crate::create_batch::CreateBatcher;
use crate::dispatch_log::DispatchLog;
use crate::events::EventHub;
use crate::kerberos::KerberosAcceptor;
use crate::ldap::LdapGroups;
use crate::metrics::Metrics;
use crate::oidc::OidcVerifier;
use crate::page_cache::PageCache;
use crate::totals::TotalsCache;

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// Connections to the compose store.
    pub pool: DbPool,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Recently counted list totals.
    pub totals: Arc<TotalsCache>,
    /// Recently served composes, for GET by id.
    pub composes: Arc<ComposeCache>,
    /// Recently served list pages.
    pub pages: Arc<PageCache>,
    /// Passes state changes to the event streams.
    pub events: Arc<EventHub>,
    /// Keeps `composes` true to the database, and wakes `events`, while this state lives
    /// (PostgreSQL only).
    pub change_feed: Option<Arc<ChangeFeed>>,
    /// Stores new composes, requests arriving together in one transaction.
    pub creates: CreateBatcher,
    /// Records of jobs handed over, written in batches.
    pub dispatch_log: DispatchLog,
    /// Where compose jobs go (RabbitMQ, or the in-process queue in standalone mode).
    pub dispatcher: Arc<Dispatcher>,
    /// Users' groups from LDAP, when configured.
    pub ldap: Option<Arc<LdapGroups>>,
    /// The OpenID Connect token verifier, with the `openidc` backend.
    pub oidc: Option<Arc<OidcVerifier>>,
    /// The Kerberos acceptor, with the backends that accept Negotiate tokens.
    pub kerberos: Option<Arc<KerberosAcceptor>>,
}

impl AppState {
    /// A write through this process changed `composes` (none for a new compose): every cached
    /// list total and page is outdated, and so is what the compose cache kept of them, before
    /// the database's notice of the change arrives.
    pub fn wrote(&self, composes: &[ComposeId]) {
        self.totals.invalidate();
        self.pages.forget_all();
        for id in composes {
            self.composes.forget(id);
        }
    }
}
