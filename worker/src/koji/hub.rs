//! A client of one Koji hub: the calls composes need, batched with `multiCall`,
//! retried while the hub is unreachable or offline.

use std::sync::Mutex;
use std::time::Duration;

use dxr::Value;
use odcs_common::report::error_chain;
use thiserror::Error;

use super::model::{list, BuildInfo, Event, ModuleBuildInfo, RpmInfo, TagInfo, TaggedBuild};
use super::wire::{self, Call, Fault, Record, WireError};

/// Calls one `multiCall` carries at most.
const MULTICALL_CHUNK: usize = 500;
/// Koji's fault codes that mean "try again later": `RetryError` and `ServerOffline`.
const RETRIED_FAULTS: [i32; 2] = [1009, 1014];
/// Koji's fault codes that mean "log in again": `AuthError` (an unknown session) and
/// `AuthExpired`.
const SESSION_FAULTS: [i32; 2] = [1002, 1007];

/// Why a hub call failed; messages name the hub so a user can act on them.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KojiError {
    /// The hub could not be reached, even after retries.
    #[error("Koji hub {hub} is unreachable: {reason}")]
    Unreachable {
        /// The hub URL.
        hub: String,
        /// The last transport error or HTTP status.
        reason: String,
    },
    /// The hub answered with a fault.
    #[error("Koji hub {hub} refused {method}: {fault}")]
    Fault {
        /// The hub URL.
        hub: String,
        /// The method called.
        method: String,
        /// The fault.
        fault: Fault,
    },
    /// The hub's answer could not be read.
    #[error("Koji hub {hub} sent an unreadable answer to {method}: {reason}")]
    Protocol {
        /// The hub URL.
        hub: String,
        /// The method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// The client could not be set up (bad certificate, bad URL).
    #[error("cannot set up the Koji client: {0}")]
    Setup(String),
    /// Retrying stopped because the compose must stop (its deadline, a lost lease).
    #[error("Koji hub {hub}: {cause}; the last attempt failed with: {last}")]
    Stopped {
        /// The hub URL.
        hub: String,
        /// Why retrying stopped.
        cause: crate::cancel::Cancelled,
        /// The last error.
        last: String,
    },
}

impl KojiError {
    /// Whether trying again later may succeed: the hub was unreachable or offline through
    /// every retry.
    pub fn is_transient(&self) -> bool {
        match self {
            KojiError::Unreachable { .. } => true,
            KojiError::Fault { fault, .. } => RETRIED_FAULTS.contains(&fault.code),
            KojiError::Protocol { .. } | KojiError::Setup(_) | KojiError::Stopped { .. } => false,
        }
    }
}

/// How to reach a hub.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// The XML-RPC endpoint, e.g. `https://koji.fedoraproject.org/kojihub`.
    pub url: String,
    /// PEM file with a client certificate and key: log in with `sslLogin` when set.
    pub client_cert: Option<std::path::PathBuf>,
    /// PEM file of the CA that signed the hub's certificate, when not a public one.
    pub server_ca: Option<std::path::PathBuf>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Attempts per call while the hub is unreachable.
    pub attempts: u32,
    /// Wait before the first retry; doubles after each.
    pub backoff: Duration,
}

/// A logged-in session's credentials.
#[derive(Debug, Clone)]
struct Session {
    id: i64,
    key: String,
    callnum: i64,
}

/// A Koji hub client. Reads are anonymous unless a client certificate is configured.
pub struct KojiHub {
    settings: HubSettings,
    http: reqwest::blocking::Client,
    session: Mutex<Option<Session>>,
}

impl KojiHub {
    /// A client for the hub `settings` name.
    pub fn new(settings: HubSettings) -> Result<KojiHub, KojiError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("odcs-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.client_cert {
            let pem = std::fs::read(path)
                .map_err(|e| KojiError::Setup(format!("{}: {e}", path.display())))?;
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| KojiError::Setup(format!("{}: {e}", path.display())))?;
            builder = builder.identity(identity);
        }
        if let Some(path) = &settings.server_ca {
            let pem = std::fs::read(path)
                .map_err(|e| KojiError::Setup(format!("{}: {e}", path.display())))?;
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| KojiError::Setup(format!("{}: {e}", path.display())))?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder
            .build()
            .map_err(|e| KojiError::Setup(e.to_string()))?;
        Ok(KojiHub {
            settings,
            http,
            session: Mutex::new(None),
        })
    }

    /// The hub URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Calls one method.
    pub fn call(&self, call: &Call) -> Result<Value, KojiError> {
        self.with_session(|| self.send(call))
    }

    /// Calls many methods in `multiCall` batches; one outcome per call, in order.
    pub fn multicall(&self, calls: &[Call]) -> Result<Vec<Result<Value, KojiError>>, KojiError> {
        let mut outcomes = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(MULTICALL_CHUNK) {
            let value = self.with_session(|| self.send(&wire::multicall(chunk)))?;
            let results = wire::read_multicall(value, chunk.len())
                .map_err(|e| self.protocol("multiCall", e))?;
            outcomes.extend(results.into_iter().zip(chunk).map(|(r, call)| {
                r.map_err(|fault| KojiError::Fault {
                    hub: self.settings.url.clone(),
                    method: call.method.clone(),
                    fault,
                })
            }));
        }
        Ok(outcomes)
    }

    /// Runs `send` logged in (when a client certificate is configured); when the hub says the
    /// session expired or is unknown, logs in again and sends once more.
    fn with_session(
        &self,
        send: impl Fn() -> Result<Value, KojiError>,
    ) -> Result<Value, KojiError> {
        self.ensure_login()?;
        match send() {
            Err(KojiError::Fault { fault, .. })
                if self.settings.client_cert.is_some() && SESSION_FAULTS.contains(&fault.code) =>
            {
                tracing::info!(hub = %self.settings.url, "Koji session expired; logging in again");
                *self.lock_session() = None;
                self.ensure_login()?;
                send()
            }
            other => other,
        }
    }

    fn protocol(&self, method: &str, e: WireError) -> KojiError {
        KojiError::Protocol {
            hub: self.settings.url.clone(),
            method: method.to_owned(),
            reason: e.0,
        }
    }

    /// Logs in with the client certificate once, when one is configured.
    fn ensure_login(&self) -> Result<(), KojiError> {
        if self.settings.client_cert.is_none() {
            return Ok(());
        }
        if self.lock_session().is_some() {
            return Ok(());
        }
        let value = self.send_unlogged(&Call::new("sslLogin"))?;
        let read = || -> Result<Session, WireError> {
            let r = Record::of(&value, "session")?;
            Ok(Session {
                id: r.int("session-id")?,
                key: r.string("session-key")?,
                callnum: 0,
            })
        };
        let session = read().map_err(|e| self.protocol("sslLogin", e))?;
        *self.lock_session() = Some(session);
        Ok(())
    }

    fn lock_session(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `call` in the session, if there is one. A session's calls are numbered and the
    /// hub refuses them out of order, so they are sent one at a time.
    fn send(&self, call: &Call) -> Result<Value, KojiError> {
        let mut session = self.lock_session();
        match session.as_mut() {
            Some(session) => self.send_with(call, Some(session)),
            None => {
                drop(session);
                self.send_with(call, None)
            }
        }
    }

    /// Sends `call` without a session.
    fn send_unlogged(&self, call: &Call) -> Result<Value, KojiError> {
        self.send_with(call, None)
    }

    /// Sends `call`, retrying transport errors, 5xx statuses and "try later" faults, each
    /// attempt numbered in `session`; retries stop when the compose must stop.
    fn send_with(
        &self,
        call: &Call,
        mut session: Option<&mut Session>,
    ) -> Result<Value, KojiError> {
        let body = call.to_xml().map_err(|e| self.protocol(&call.method, e))?;
        let attempts = self.settings.attempts.max(1);
        let mut wait = self.settings.backoff;
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tracing::warn!(hub = %self.settings.url, method = %call.method, attempt, error = %last, "retrying Koji call");
                crate::cancel::sleep_before_retry(wait).map_err(|cause| KojiError::Stopped {
                    hub: self.settings.url.clone(),
                    cause,
                    last: last.clone(),
                })?;
                wait = wait.saturating_mul(2);
            }
            let mut request = self
                .http
                .post(&self.settings.url)
                .header(reqwest::header::CONTENT_TYPE, "text/xml")
                .body(body.clone());
            if let Some(session) = session.as_deref_mut() {
                session.callnum += 1;
                request = request
                    .header("Koji-Session-Id", session.id.to_string())
                    .header("Koji-Session-Key", session.key.clone())
                    .header("Koji-Session-Callnum", session.callnum.to_string());
            }
            let response = match request.send() {
                Ok(r) => r,
                Err(e) => {
                    last = error_chain(&e);
                    continue;
                }
            };
            let status = response.status();
            if status.is_server_error() {
                last = format!("HTTP {status}");
                continue;
            }
            if !status.is_success() {
                return Err(KojiError::Unreachable {
                    hub: self.settings.url.clone(),
                    reason: format!("HTTP {status}"),
                });
            }
            let text = match response.text() {
                Ok(t) => t,
                Err(e) => {
                    last = error_chain(&e);
                    continue;
                }
            };
            match wire::read_response(&text).map_err(|e| self.protocol(&call.method, e))? {
                Ok(value) => return Ok(value),
                Err(fault) if RETRIED_FAULTS.contains(&fault.code) => last = fault.to_string(),
                Err(fault) => {
                    return Err(KojiError::Fault {
                        hub: self.settings.url.clone(),
                        method: call.method.clone(),
                        fault,
                    })
                }
            }
        }
        Err(KojiError::Unreachable {
            hub: self.settings.url.clone(),
            reason: format!("{last} (after {attempts} attempts)"),
        })
    }

    /// The tag named `name`, or `None` when the hub has no such tag.
    pub fn tag(&self, name: &str) -> Result<Option<TagInfo>, KojiError> {
        let value = self.call(&Call::new("getTag").arg(name))?;
        if value == Value::Nil {
            return Ok(None);
        }
        TagInfo::from_value(&value)
            .map(Some)
            .map_err(|e| self.protocol("getTag", e))
    }

    /// The hub's newest event.
    pub fn last_event(&self) -> Result<Event, KojiError> {
        let value = self.call(&Call::new("getLastEvent"))?;
        Event::from_value(&value).map_err(|e| self.protocol("getLastEvent", e))
    }

    /// The ids of `tag` and every tag it inherits from.
    pub fn inherited_tags(&self, tag: &TagInfo) -> Result<Vec<i64>, KojiError> {
        let value = self.call(&Call::new("getFullInheritance").arg(tag.id))?;
        let parents = list(&value, "inheritance", |v| {
            Record::of(v, "inheritance")?.int("parent_id")
        })
        .map_err(|e| self.protocol("getFullInheritance", e))?;
        let mut ids = vec![tag.id];
        for id in parents {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Whether any of `tags` changed (builds tagged or untagged, inheritance edited) after
    /// `event`.
    pub fn tags_changed_since(&self, event: i64, tags: &[i64]) -> Result<bool, KojiError> {
        let value = self.call(
            &Call::new("tagChangedSinceEvent")
                .arg(event)
                .arg(tags.to_vec()),
        )?;
        match value {
            Value::Boolean(b) => Ok(b),
            _ => Err(self.protocol("tagChangedSinceEvent", WireError("not a boolean".into()))),
        }
    }

    /// The latest builds' RPMs in `tag` at `event` (with inheritance when `inherit`), limited
    /// to `arches` when given.
    pub fn latest_tagged_rpms(
        &self,
        tag: &str,
        event: i64,
        inherit: bool,
        arches: Option<Vec<String>>,
    ) -> Result<(Vec<RpmInfo>, Vec<BuildInfo>), KojiError> {
        let call = Call::new("listTaggedRPMS")
            .arg(tag)
            .kwarg("event", event)
            .kwarg("inherit", inherit)
            .kwarg("latest", true)
            .kwarg("arch", arches);
        let value = self.call(&call)?;
        let read = || -> Result<(Vec<RpmInfo>, Vec<BuildInfo>), WireError> {
            match &value {
                Value::Array(pair) if pair.len() == 2 => Ok((
                    list(&pair[0], "rpms", RpmInfo::from_value)?,
                    list(&pair[1], "builds", BuildInfo::from_value)?,
                )),
                _ => Err(WireError("expected [rpms, builds]".into())),
            }
        };
        read().map_err(|e| self.protocol("listTaggedRPMS", e))
    }

    /// The builds named by `nvrs`, `None` for those the hub does not know.
    pub fn builds(&self, nvrs: &[String]) -> Result<Vec<Option<BuildInfo>>, KojiError> {
        let calls: Vec<Call> = nvrs
            .iter()
            .map(|nvr| Call::new("getBuild").arg(nvr.as_str()))
            .collect();
        self.multicall(&calls)?
            .into_iter()
            .map(|r| {
                let value = r?;
                if value == Value::Nil {
                    return Ok(None);
                }
                BuildInfo::from_value(&value)
                    .map(Some)
                    .map_err(|e| self.protocol("getBuild", e))
            })
            .collect()
    }

    /// The module build `nvr` (`NAME-STREAM-VERSION.CONTEXT`), `None` when the hub has no
    /// such build; a build that is not a module's is an error naming it.
    pub fn module_build(&self, nvr: &str) -> Result<Option<ModuleBuildInfo>, KojiError> {
        let value = self.call(&Call::new("getBuild").arg(nvr))?;
        if value == Value::Nil {
            return Ok(None);
        }
        match ModuleBuildInfo::from_value(&value).map_err(|e| self.protocol("getBuild", e))? {
            Some(module) => Ok(Some(module)),
            None => Err(self.protocol(
                "getBuild",
                WireError(format!("{nvr} is not a module build")),
            )),
        }
    }

    /// The module builds tagged into `tag` (and the tags it inherits from) at `event`.
    pub fn tagged_module_builds(
        &self,
        tag: &str,
        event: i64,
    ) -> Result<Vec<TaggedBuild>, KojiError> {
        let call = Call::new("listTagged")
            .arg(tag)
            .kwarg("event", event)
            .kwarg("inherit", true)
            .kwarg("type", "module");
        let value = self.call(&call)?;
        list(&value, "tagged builds", TaggedBuild::from_value)
            .map_err(|e| self.protocol("listTagged", e))
    }

    /// The names of the tags `tag` inherits from at `event`, nearest first.
    pub fn inherited_tag_names(&self, tag: &str, event: i64) -> Result<Vec<String>, KojiError> {
        let call = Call::new("getFullInheritance")
            .arg(tag)
            .kwarg("event", event);
        let value = self.call(&call)?;
        list(&value, "inheritance", |v| {
            Record::of(v, "inheritance")?.string("name")
        })
        .map_err(|e| self.protocol("getFullInheritance", e))
    }

    /// The NVRs of builds matching the glob `pattern`.
    pub fn search_builds(&self, pattern: &str) -> Result<Vec<String>, KojiError> {
        let call = Call::new("search").arg(pattern).arg("build").arg("glob");
        let value = self.call(&call)?;
        list(&value, "search results", |v| {
            Record::of(v, "search result")?.string("name")
        })
        .map_err(|e| self.protocol("search", e))
    }

    /// The RPMs of each build in `build_ids`.
    pub fn build_rpms(&self, build_ids: &[i64]) -> Result<Vec<Vec<RpmInfo>>, KojiError> {
        let calls: Vec<Call> = build_ids
            .iter()
            .map(|id| Call::new("listRPMs").kwarg("buildID", *id))
            .collect();
        self.multicall(&calls)?
            .into_iter()
            .map(|r| {
                list(&r?, "rpms", RpmInfo::from_value).map_err(|e| self.protocol("listRPMs", e))
            })
            .collect()
    }

    /// The keys each RPM in `rpm_ids` has signed copies for, lower-case.
    pub fn rpm_sigkeys(&self, rpm_ids: &[i64]) -> Result<Vec<Vec<String>>, KojiError> {
        let calls: Vec<Call> = rpm_ids
            .iter()
            .map(|id| Call::new("queryRPMSigs").kwarg("rpm_id", *id))
            .collect();
        self.multicall(&calls)?
            .into_iter()
            .map(|r| {
                list(&r?, "signatures", |v| {
                    Ok(Record::of(v, "signature")?
                        .string("sigkey")?
                        .to_ascii_lowercase())
                })
                .map_err(|e| self.protocol("queryRPMSigs", e))
            })
            .collect()
    }
}
