//! A fake Koji hub for tests: real XML-RPC over HTTP on loopback (Koji's dialect: `<nil/>`,
//! `<i8>`, `__starstar` keyword arguments, faults, `multiCall` and `system.multicall`), answering the calls
//! composes make with structs shaped as a real hub's, and serving a package storage laid out as
//! Koji's top directory. Tags, builds, taggings and signed copies change through the test API;
//! every change is a new event, as on a hub.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use dxr::{Fault, FaultResponse, MethodCall, MethodResponse, Value};
use md5::{Digest, Md5};
use odcs_common::test_pki::TestPki;

/// A tag and its parents (tag id, priority).
#[derive(Debug, Clone)]
struct Tag {
    id: i64,
    name: String,
    arches: Option<String>,
    parents: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
struct Build {
    id: i64,
    name: String,
    version: String,
    release: String,
    state: i64,
    create_event: i64,
    /// `extra` as the hub stores it (a module build's `typeinfo.module`), `None` for plain
    /// RPM builds.
    extra: Option<Value>,
}

impl Build {
    /// Whether this is a module's content-generator build.
    fn is_module(&self) -> bool {
        matches!(&self.extra, Some(Value::Struct(extra))
            if matches!(extra.get("typeinfo"), Some(Value::Struct(t)) if t.contains_key("module")))
    }

    fn nvr(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.release)
    }
}

#[derive(Debug, Clone)]
struct Rpm {
    id: i64,
    build_id: i64,
    name: String,
    version: String,
    release: String,
    epoch: Option<i64>,
    arch: String,
    size: i64,
    payloadhash: String,
}

#[derive(Debug, Clone)]
struct Tagging {
    tag_id: i64,
    build_id: i64,
    create_event: i64,
    revoke_event: Option<i64>,
}

/// The hub's whole state.
#[derive(Debug, Default)]
struct State {
    event: i64,
    next_id: i64,
    tags: Vec<Tag>,
    /// (tag id, event) of every inheritance edit.
    inheritance_edits: Vec<(i64, i64)>,
    builds: Vec<Build>,
    rpms: Vec<Rpm>,
    taggings: Vec<Tagging>,
    /// (rpm id, sigkey).
    sigs: Vec<(i64, String)>,
    /// Calls still to answer with 503 before the hub is "up".
    down_for: usize,
    /// Files (paths below the top directory) served with their bytes damaged.
    corrupt: HashSet<String>,
    /// Every method called, multicall members included.
    calls: Vec<String>,
    /// Files served.
    downloads: Vec<String>,
    /// Koji-Session-* headers seen.
    session_headers: Vec<String>,
    /// Logged-in sessions by id.
    sessions: BTreeMap<i64, Session>,
    /// The id the next login gets.
    next_session: i64,
    /// Files (paths below the top directory) served with one payload byte changed.
    tampered: HashSet<String>,
}

/// A login, checked as a hub checks it: its key, the last call number it used (a hub refuses
/// numbers that go backwards), and whether it expired.
#[derive(Debug)]
struct Session {
    key: String,
    last_call: Option<i64>,
    expired: bool,
}

impl State {
    /// Checks a request's Koji-Session-* headers as a hub does: an unknown session or a wrong
    /// key is an `AuthError`, an expired one `AuthExpired`, a call number not above the last
    /// one a `SequenceError` (or, when equal, a `RetryError`). Requests without a session are
    /// anonymous.
    fn check_session(&mut self, request: &HttpRequest) -> Result<(), Fault> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let Some(id) = header("Koji-Session-Id") else {
            return Ok(());
        };
        let id: i64 = id
            .parse()
            .map_err(|_| Fault::new(1002, format!("Invalid session id: {id:?}")))?;
        let key = header("Koji-Session-Key").unwrap_or_default();
        let session = self
            .sessions
            .get_mut(&id)
            .filter(|s| s.key == key)
            .ok_or_else(|| Fault::new(1002, "Invalid session or session key".to_owned()))?;
        if session.expired {
            return Err(Fault::new(1007, format!("session {id} expired")));
        }
        if let Some(callnum) = header("Koji-Session-Callnum") {
            let callnum: i64 = callnum
                .parse()
                .map_err(|_| Fault::new(1002, format!("Invalid callnum: {callnum:?}")))?;
            match session.last_call {
                Some(last) if last > callnum => {
                    return Err(Fault::new(
                        1008,
                        format!("{last} > {callnum} (session {id})"),
                    ))
                }
                Some(last) if last == callnum => {
                    return Err(Fault::new(
                        1009,
                        format!("unable to retry call {callnum} for session {id}"),
                    ))
                }
                _ => session.last_call = Some(callnum),
            }
        }
        Ok(())
    }

    fn new_event(&mut self) -> i64 {
        self.event += 1;
        self.event
    }

    /// The ids of the tag named `tag` and the build `nvr`.
    fn tag_and_build(&self, tag: &str, nvr: &str) -> (i64, i64) {
        let tag_id = self.tags.iter().find(|t| t.name == tag).expect("tag").id;
        let build_id = self
            .builds
            .iter()
            .find(|b| b.nvr() == nvr)
            .expect("build")
            .id;
        (tag_id, build_id)
    }

    /// The name of tag `id` (empty for an unknown id).
    fn tag_name(&self, id: i64) -> String {
        self.tags
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn tag(&self, key: &Value) -> Option<&Tag> {
        match key {
            Value::String(name) => self.tags.iter().find(|t| &t.name == name),
            v => {
                let id = int(v)?;
                self.tags.iter().find(|t| t.id == id)
            }
        }
    }

    /// The tag and its ancestors in Koji's inheritance order (depth first, by priority).
    fn inheritance(&self, tag: &Tag) -> Vec<(i64, i64, i64, i64)> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([tag.id]);
        self.walk(tag, 1, &mut seen, &mut out);
        out
    }

    fn walk(
        &self,
        tag: &Tag,
        depth: i64,
        seen: &mut HashSet<i64>,
        out: &mut Vec<(i64, i64, i64, i64)>,
    ) {
        let mut parents = tag.parents.clone();
        parents.sort_by_key(|(_, priority)| *priority);
        for (parent, priority) in parents {
            if !seen.insert(parent) {
                continue;
            }
            out.push((parent, tag.id, depth, priority));
            if let Some(p) = self.tags.iter().find(|t| t.id == parent).cloned() {
                self.walk(&p, depth + 1, seen, out);
            }
        }
    }

    /// The tags a listing of `tag` reads, in order: the tag, then with `inherit` the tags it
    /// inherits from.
    fn search_order(&self, tag: &Tag, inherit: bool) -> Vec<i64> {
        let mut order = vec![tag.id];
        if inherit {
            order.extend(self.inheritance(tag).into_iter().map(|(parent, ..)| parent));
        }
        order
    }

    fn build_struct(&self, b: &Build) -> Value {
        let mut m = BTreeMap::new();
        let nvr = b.nvr();
        m.insert("build_id".into(), Value::Integer(b.id as i32));
        m.insert("id".into(), Value::Integer(b.id as i32));
        m.insert("name".into(), s(&b.name));
        m.insert("package_name".into(), s(&b.name));
        m.insert("package_id".into(), Value::Integer(b.id as i32));
        m.insert("version".into(), s(&b.version));
        m.insert("release".into(), s(&b.release));
        m.insert("epoch".into(), Value::Nil);
        m.insert("nvr".into(), s(&nvr));
        m.insert("state".into(), Value::Integer(b.state as i32));
        m.insert(
            "creation_event_id".into(),
            Value::Integer(b.create_event as i32),
        );
        m.insert(
            "creation_time".into(),
            s("2024-04-01 10:00:00.000000+00:00"),
        );
        m.insert("creation_ts".into(), Value::Double(1_711_965_600.0));
        m.insert(
            "completion_time".into(),
            s("2024-04-01 10:30:00.000000+00:00"),
        );
        m.insert("completion_ts".into(), Value::Double(1_711_967_400.0));
        m.insert("owner_id".into(), Value::Integer(1));
        m.insert("owner_name".into(), s("releng"));
        m.insert("task_id".into(), Value::Nil);
        m.insert("source".into(), Value::Nil);
        m.insert("extra".into(), b.extra.clone().unwrap_or(Value::Nil));
        let (cg_id, cg_name) = if b.is_module() {
            (Value::Integer(1), s("module-build-service"))
        } else {
            (Value::Nil, Value::Nil)
        };
        m.insert("cg_id".into(), cg_id);
        m.insert("cg_name".into(), cg_name);
        m.insert("draft".into(), Value::Boolean(false));
        m.insert("volume_id".into(), Value::Integer(0));
        m.insert("volume_name".into(), s("DEFAULT"));
        Value::Struct(m)
    }

    fn rpm_struct(&self, r: &Rpm) -> Value {
        let mut m = BTreeMap::new();
        m.insert("id".into(), Value::Integer(r.id as i32));
        m.insert("build_id".into(), Value::Integer(r.build_id as i32));
        m.insert("buildroot_id".into(), Value::Integer(1));
        m.insert("name".into(), s(&r.name));
        m.insert("version".into(), s(&r.version));
        m.insert("release".into(), s(&r.release));
        m.insert(
            "epoch".into(),
            r.epoch.map_or(Value::Nil, |e| Value::Integer(e as i32)),
        );
        m.insert("arch".into(), s(&r.arch));
        m.insert(
            "nvr".into(),
            s(&format!("{}-{}-{}", r.name, r.version, r.release)),
        );
        // Sizes travel as i8 once past 2 GiB; small ones as int, as Koji's marshaller does.
        m.insert(
            "size".into(),
            i32::try_from(r.size).map_or(Value::Long(r.size), Value::Integer),
        );
        m.insert("payloadhash".into(), s(&r.payloadhash));
        m.insert("buildtime".into(), Value::Integer(1_711_965_600));
        m.insert("external_repo_id".into(), Value::Integer(0));
        m.insert("external_repo_name".into(), s("INTERNAL"));
        m.insert("metadata_only".into(), Value::Boolean(false));
        m.insert("extra".into(), Value::Nil);
        m.insert("draft".into(), Value::Boolean(false));
        Value::Struct(m)
    }

    fn active(&self, tag_id: i64, event: i64) -> impl Iterator<Item = &Tagging> {
        self.taggings.iter().filter(move |t| {
            t.tag_id == tag_id
                && t.create_event <= event
                && t.revoke_event.is_none_or(|r| r > event)
        })
    }

    fn call(
        &mut self,
        method: &str,
        args: &[Value],
        kwargs: &BTreeMap<String, Value>,
    ) -> Result<Value, Fault> {
        self.calls.push(method.to_owned());
        let arg = |i: usize, name: &str| -> Option<Value> {
            kwargs.get(name).cloned().or_else(|| args.get(i).cloned())
        };
        match method {
            "sslLogin" => {
                let id = self.next_session;
                self.next_session += 1;
                let key = format!("{id}-secret");
                self.sessions.insert(
                    id,
                    Session {
                        key: key.clone(),
                        last_call: None,
                        expired: false,
                    },
                );
                Ok(Value::Struct(BTreeMap::from([
                    ("session-id".to_owned(), Value::Integer(id as i32)),
                    ("session-key".to_owned(), s(&key)),
                    ("header-auth".to_owned(), Value::Boolean(true)),
                ])))
            }
            "getLastEvent" => Ok(Value::Struct(BTreeMap::from([
                ("id".to_owned(), Value::Integer(self.event as i32)),
                (
                    "ts".to_owned(),
                    Value::Double(1_711_965_600.0 + self.event as f64),
                ),
            ]))),
            "getTag" => {
                let key = arg(0, "taginfo").ok_or_else(|| param("taginfo"))?;
                let strict = matches!(arg(1, "strict"), Some(Value::Boolean(true)));
                match self.tag(&key) {
                    Some(t) => Ok(Value::Struct(BTreeMap::from([
                        ("id".to_owned(), Value::Integer(t.id as i32)),
                        ("name".to_owned(), s(&t.name)),
                        (
                            "arches".to_owned(),
                            t.arches.as_deref().map_or(Value::Nil, s),
                        ),
                        ("locked".to_owned(), Value::Boolean(false)),
                        ("perm".to_owned(), Value::Nil),
                        ("perm_id".to_owned(), Value::Nil),
                        ("maven_support".to_owned(), Value::Boolean(false)),
                        ("maven_include_all".to_owned(), Value::Boolean(false)),
                        ("extra".to_owned(), Value::Struct(BTreeMap::new())),
                    ]))),
                    None if strict => Err(generic(&format!("No such tagInfo: {}", describe(&key)))),
                    None => Ok(Value::Nil),
                }
            }
            "getFullInheritance" => {
                let key = arg(0, "tag").ok_or_else(|| param("tag"))?;
                let tag = self
                    .tag(&key)
                    .cloned()
                    .ok_or_else(|| generic(&format!("No such tagInfo: {}", describe(&key))))?;
                let entries = self
                    .inheritance(&tag)
                    .into_iter()
                    .map(|(parent, child, depth, priority)| {
                        let name = self.tag_name(parent);
                        Value::Struct(BTreeMap::from([
                            ("parent_id".to_owned(), Value::Integer(parent as i32)),
                            ("child_id".to_owned(), Value::Integer(child as i32)),
                            ("name".to_owned(), s(&name)),
                            ("depth".to_owned(), Value::Integer(depth as i32)),
                            ("priority".to_owned(), Value::Integer(priority as i32)),
                            ("maxdepth".to_owned(), Value::Nil),
                            ("intransitive".to_owned(), Value::Boolean(false)),
                            ("noconfig".to_owned(), Value::Boolean(false)),
                            ("pkg_filter".to_owned(), s("")),
                            ("filter".to_owned(), Value::Array(vec![])),
                        ]))
                    })
                    .collect();
                Ok(Value::Array(entries))
            }
            "tagChangedSinceEvent" => {
                let event = arg(0, "event")
                    .and_then(|v| int(&v))
                    .ok_or_else(|| param("event"))?;
                let tags: Vec<i64> = match arg(1, "taglist") {
                    Some(Value::Array(items)) => items.iter().filter_map(int).collect(),
                    _ => return Err(param("taglist")),
                };
                let changed = self.taggings.iter().any(|t| {
                    tags.contains(&t.tag_id)
                        && (t.create_event > event || t.revoke_event.is_some_and(|r| r > event))
                }) || self
                    .inheritance_edits
                    .iter()
                    .any(|(t, e)| tags.contains(t) && *e > event);
                Ok(Value::Boolean(changed))
            }
            "listTaggedRPMS" => {
                self.list_tagged_rpms(&arg(0, "tag").ok_or_else(|| param("tag"))?, kwargs)
            }
            "getBuild" => {
                let key = arg(0, "buildInfo").ok_or_else(|| param("buildInfo"))?;
                let strict = matches!(arg(1, "strict"), Some(Value::Boolean(true)));
                let found = match &key {
                    Value::String(nvr) => self.builds.iter().find(|b| &b.nvr() == nvr),
                    v => int(v).and_then(|id| self.builds.iter().find(|b| b.id == id)),
                };
                match found {
                    Some(b) => Ok(self.build_struct(b)),
                    None if strict => Err(generic(&format!("No such build: {}", describe(&key)))),
                    None => Ok(Value::Nil),
                }
            }
            "listTagged" => self.list_tagged(&arg(0, "tag").ok_or_else(|| param("tag"))?, kwargs),
            "search" => {
                let terms = match arg(0, "terms") {
                    Some(Value::String(t)) => t,
                    _ => return Err(param("terms")),
                };
                let kind = match arg(1, "type") {
                    Some(Value::String(t)) => t,
                    _ => return Err(param("type")),
                };
                let glob = match arg(2, "matchType") {
                    Some(Value::String(m)) => m == "glob",
                    _ => false,
                };
                if kind != "build" {
                    return Err(generic(&format!("No search type: {kind}")));
                }
                let found = self
                    .builds
                    .iter()
                    .filter(|b| {
                        if glob {
                            glob_matches(&terms, &b.nvr())
                        } else {
                            b.nvr() == terms
                        }
                    })
                    .map(|b| {
                        Value::Struct(BTreeMap::from([
                            ("id".to_owned(), Value::Integer(b.id as i32)),
                            ("name".to_owned(), s(&b.nvr())),
                        ]))
                    })
                    .collect();
                Ok(Value::Array(found))
            }
            "listRPMs" => {
                let build = arg(0, "buildID").and_then(|v| int(&v));
                let arches = arch_list(arg(3, "arches").as_ref());
                let rpms = self
                    .rpms
                    .iter()
                    .filter(|r| build.is_none_or(|b| r.build_id == b))
                    .filter(|r| arches.as_ref().is_none_or(|a| a.contains(&r.arch)))
                    .map(|r| self.rpm_struct(r))
                    .collect();
                Ok(Value::Array(rpms))
            }
            "queryRPMSigs" => {
                let rpm = arg(0, "rpm_id").and_then(|v| int(&v));
                let key = match arg(1, "sigkey") {
                    Some(Value::String(k)) => Some(k),
                    _ => None,
                };
                let sigs = self
                    .sigs
                    .iter()
                    .filter(|(id, k)| {
                        rpm.is_none_or(|r| r == *id) && key.as_ref().is_none_or(|want| want == k)
                    })
                    .map(|(id, k)| {
                        Value::Struct(BTreeMap::from([
                            ("rpm_id".to_owned(), Value::Integer(*id as i32)),
                            ("sigkey".to_owned(), s(k)),
                            (
                                "sighash".to_owned(),
                                s(&hex_md5(format!("{id}{k}").as_bytes())),
                            ),
                        ]))
                    })
                    .collect();
                Ok(Value::Array(sigs))
            }
            other => Err(generic(&format!("Invalid method: {other}"))),
        }
    }

    /// `listTagged`: the builds tagged into the tag (and, with `inherit`, the tags it inherits
    /// from, in inheritance order) at `event`, each with the tag it was found in; `type`
    /// `module` keeps module builds, `latest` the newest build of each package per tag.
    fn list_tagged(&self, key: &Value, kwargs: &BTreeMap<String, Value>) -> Result<Value, Fault> {
        let tag = self
            .tag(key)
            .cloned()
            .ok_or_else(|| generic(&format!("No such tagInfo: {}", describe(key))))?;
        let event = kwargs.get("event").and_then(int).unwrap_or(self.event);
        let inherit = matches!(kwargs.get("inherit"), Some(Value::Boolean(true)));
        let latest = matches!(kwargs.get("latest"), Some(Value::Boolean(true)));
        let modules_only = match kwargs.get("type") {
            Some(Value::String(t)) if t == "module" => true,
            Some(Value::String(t)) => return Err(generic(&format!("unsupported build type: {t}"))),
            _ => false,
        };
        let order = self.search_order(&tag, inherit);
        let mut out = Vec::new();
        let mut seen_packages: HashSet<String> = HashSet::new();
        for tag_id in order {
            let mut here: Vec<&Tagging> = self.active(tag_id, event).collect();
            here.sort_by_key(|t| std::cmp::Reverse(t.create_event));
            let mut taken_here: HashSet<String> = HashSet::new();
            for t in here {
                let Some(b) = self.builds.iter().find(|b| b.id == t.build_id) else {
                    continue;
                };
                if modules_only && !b.is_module() {
                    continue;
                }
                if latest && (seen_packages.contains(&b.name) || !taken_here.insert(b.name.clone()))
                {
                    continue;
                }
                let Value::Struct(mut info) = self.build_struct(b) else {
                    unreachable!()
                };
                info.insert("tag_id".into(), Value::Integer(tag_id as i32));
                info.insert("tag_name".into(), s(&self.tag_name(tag_id)));
                out.push(Value::Struct(info));
            }
            seen_packages.extend(taken_here);
        }
        Ok(Value::Array(out))
    }

    fn list_tagged_rpms(
        &self,
        key: &Value,
        kwargs: &BTreeMap<String, Value>,
    ) -> Result<Value, Fault> {
        let tag = self
            .tag(key)
            .cloned()
            .ok_or_else(|| generic(&format!("No such tagInfo: {}", describe(key))))?;
        let event = kwargs.get("event").and_then(int).unwrap_or(self.event);
        let inherit = matches!(kwargs.get("inherit"), Some(Value::Boolean(true)));
        let latest = matches!(kwargs.get("latest"), Some(Value::Boolean(true)));
        let arches = arch_list(kwargs.get("arch"));
        let order = self.search_order(&tag, inherit);
        // Per package, the first tag in inheritance order that has it decides; within a tag
        // the most recently tagged build is the latest.
        let mut chosen: Vec<(i64, i64)> = Vec::new();
        let mut seen_packages: HashSet<String> = HashSet::new();
        for tag_id in order {
            let mut here: Vec<&Tagging> = self.active(tag_id, event).collect();
            here.sort_by_key(|t| std::cmp::Reverse(t.create_event));
            let mut taken_here: HashSet<String> = HashSet::new();
            for t in here {
                let Some(b) = self.builds.iter().find(|b| b.id == t.build_id) else {
                    continue;
                };
                if seen_packages.contains(&b.name) {
                    continue;
                }
                if latest && !taken_here.insert(b.name.clone()) {
                    continue;
                }
                chosen.push((b.id, tag_id));
            }
            seen_packages.extend(taken_here);
        }
        let mut rpms = Vec::new();
        let mut builds = Vec::new();
        for (build_id, tag_id) in chosen {
            let b = self
                .builds
                .iter()
                .find(|b| b.id == build_id)
                .expect("build");
            let tag_name = self.tag_name(tag_id);
            let Value::Struct(mut info) = self.build_struct(b) else {
                unreachable!()
            };
            info.insert("tag_id".into(), Value::Integer(tag_id as i32));
            info.insert("tag_name".into(), s(&tag_name));
            builds.push(Value::Struct(info));
            for r in self.rpms.iter().filter(|r| r.build_id == build_id) {
                if arches.as_ref().is_some_and(|a| !a.contains(&r.arch)) {
                    continue;
                }
                rpms.push(self.rpm_struct(r));
            }
        }
        Ok(Value::Array(vec![Value::Array(rpms), Value::Array(builds)]))
    }
}

/// An `arch` argument: one arch, a list of them, or none (any arch).
fn arch_list(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(a) => Some(vec![a.clone()]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Whether `text` matches the shell glob `pattern` (`*` and `?`), as Koji's glob search.
fn glob_matches(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(i64::from(*i)),
        Value::Long(l) => Some(*l),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => int(v).map_or_else(|| format!("{v:?}"), |i| i.to_string()),
    }
}

fn generic(message: &str) -> Fault {
    Fault::new(1000, message.to_owned())
}

fn param(name: &str) -> Fault {
    Fault::new(1019, format!("missing argument: {name}"))
}

fn hex_md5(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Splits Koji's flat parameters into positional and keyword arguments.
fn split_kwargs(mut params: Vec<Value>) -> (Vec<Value>, BTreeMap<String, Value>) {
    if let Some(Value::Struct(last)) = params.last() {
        if matches!(last.get("__starstar"), Some(Value::Boolean(true))) {
            let Some(Value::Struct(mut kwargs)) = params.pop() else {
                unreachable!()
            };
            kwargs.remove("__starstar");
            return (params, kwargs);
        }
    }
    (params, BTreeMap::new())
}

/// A running fake hub with its storage.
pub struct FakeKoji {
    state: Arc<Mutex<State>>,
    /// The XML-RPC endpoint.
    pub url: String,
    /// The top URL package files are served under.
    pub topurl: String,
    /// The top directory (also usable as a mounted `koji_topdir`).
    pub topdir: PathBuf,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeKoji {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
    }
}

async fn xmlrpc(
    state: web::Data<Arc<Mutex<State>>>,
    request: HttpRequest,
    body: String,
) -> HttpResponse {
    let mut st = lock(&state);
    if st.down_for > 0 {
        st.down_for -= 1;
        return HttpResponse::ServiceUnavailable().body("hub is down");
    }
    for name in [
        "Koji-Session-Id",
        "Koji-Session-Key",
        "Koji-Session-Callnum",
    ] {
        if let Some(v) = request.headers().get(name) {
            let text = format!("{name}: {}", v.to_str().unwrap_or_default());
            st.session_headers.push(text);
        }
    }
    if let Err(fault) = st.check_session(&request) {
        return respond(Err(fault));
    }
    let Ok(call) = MethodCall::from_xml(&body) else {
        return respond(Err(generic("malformed methodCall")));
    };
    let method = call.name.to_string();
    if method == "multiCall" || method == "system.multicall" {
        st.calls.push(method);
        let Some(Value::Array(entries)) = call.params.into_iter().next() else {
            return respond(Err(param("calls")));
        };
        let mut results = Vec::new();
        for entry in entries {
            let Value::Struct(mut m) = entry else {
                results.push(fault_value(&param("call")));
                continue;
            };
            let name = match m.remove("methodName") {
                Some(Value::String(n)) => n,
                _ => String::new(),
            };
            let params = match m.remove("params") {
                Some(Value::Array(p)) => p,
                _ => Vec::new(),
            };
            let (args, kwargs) = split_kwargs(params);
            results.push(match st.call(&name, &args, &kwargs) {
                Ok(v) => Value::Array(vec![v]),
                Err(f) => fault_value(&f),
            });
        }
        return respond(Ok(Value::Array(results)));
    }
    let (args, kwargs) = split_kwargs(call.params);
    let outcome = st.call(&method, &args, &kwargs);
    respond(outcome)
}

fn fault_value(f: &Fault) -> Value {
    Value::Struct(BTreeMap::from([
        ("faultCode".to_owned(), Value::Integer(f.code())),
        ("faultString".to_owned(), s(f.string())),
    ]))
}

fn respond(outcome: Result<Value, Fault>) -> HttpResponse {
    let body = match outcome {
        Ok(value) => MethodResponse { value }.to_xml(),
        Err(fault) => FaultResponse { fault }.to_xml(),
    }
    .expect("response encodes");
    HttpResponse::Ok()
        .content_type("text/xml")
        .body(format!("<?xml version='1.0'?>\n{body}"))
}

async fn files(
    state: web::Data<Arc<Mutex<State>>>,
    root: web::Data<PathBuf>,
    path: web::Path<String>,
) -> HttpResponse {
    let relative = path.into_inner();
    if relative.split('/').any(|p| p == "..") {
        return HttpResponse::Forbidden().finish();
    }
    let mut st = lock(&state);
    st.downloads.push(relative.clone());
    let corrupt = st.corrupt.contains(&relative);
    let tampered = st.tampered.contains(&relative);
    drop(st);
    match std::fs::read(root.join(&relative)) {
        Ok(mut bytes) => {
            if corrupt {
                let n = bytes.len();
                bytes.truncate(n.saturating_sub(100));
            }
            if let Some(last) = bytes.last_mut().filter(|_| tampered) {
                *last ^= 0xff;
            }
            HttpResponse::Ok()
                .content_type("application/x-rpm")
                .body(bytes)
        }
        Err(_) => HttpResponse::NotFound().body("not found"),
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Name, version, release and arch of a package file, by its headers.
pub fn rpm_nvra(path: &Path) -> (String, String, String, String, Option<i64>) {
    let pkg = rpm::PackageMetadata::open(path).expect("rpm header");
    let arch = if pkg.is_source_package() {
        "src".to_owned()
    } else {
        pkg.get_arch().expect("arch").to_owned()
    };
    let epoch = pkg.get_epoch().ok().map(i64::from);
    (
        pkg.get_name().expect("name").to_owned(),
        pkg.get_version().expect("version").to_owned(),
        pkg.get_release().expect("release").to_owned(),
        arch,
        epoch,
    )
}

/// MD5 over header and payload: rpm's SIGMD5, which Koji records as the payload hash.
fn payload_hash(path: &Path) -> String {
    let pkg = rpm::PackageMetadata::open(path).expect("rpm header");
    let bytes = std::fs::read(path).expect("read rpm");
    let start = pkg.get_package_segment_offsets().header as usize;
    hex_md5(&bytes[start..])
}

impl FakeKoji {
    /// Starts a hub on loopback with an empty history; storage goes to `topdir`.
    pub fn start(topdir: &Path) -> FakeKoji {
        Self::serve(topdir, None)
    }

    /// Starts a hub over HTTPS that requires a client certificate signed by `tls.ca`.
    pub fn start_tls(topdir: &Path, tls: &TestPki) -> FakeKoji {
        Self::serve(topdir, Some(server_config(tls)))
    }

    fn serve(topdir: &Path, tls: Option<rustls::ServerConfig>) -> FakeKoji {
        std::fs::create_dir_all(topdir).expect("topdir");
        let state = Arc::new(Mutex::new(State {
            event: 1000,
            next_id: 100,
            next_session: 4242,
            ..State::default()
        }));
        let secure = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let data = web::Data::new(state.clone());
        let root = web::Data::new(topdir.to_owned());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(root.clone())
                        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                        .route("/kojihub", web::post().to(xmlrpc))
                        .route("/kojifiles/{tail:.*}", web::get().to(files))
                })
                .workers(2);
                let server = match tls {
                    Some(config) => server.listen_rustls_0_23(listener, config),
                    None => server.listen(listener),
                }
                .expect("listen")
                .run();
                tx.send(server.handle()).expect("handle");
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("server started");
        let scheme = if secure { "https" } else { "http" };
        FakeKoji {
            state,
            url: format!("{scheme}://127.0.0.1:{port}/kojihub"),
            topurl: format!("{scheme}://127.0.0.1:{port}/kojifiles"),
            topdir: topdir.to_owned(),
            handle,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Creates a tag inheriting from `parents` (name, priority); returns its id.
    pub fn add_tag(&self, name: &str, arches: &str, parents: &[(&str, i64)]) -> i64 {
        let mut st = self.state();
        let parents = parents
            .iter()
            .map(|(p, prio)| {
                (
                    st.tags
                        .iter()
                        .find(|t| t.name == *p)
                        .expect("parent exists")
                        .id,
                    *prio,
                )
            })
            .collect();
        let id = st.new_id();
        let event = st.new_event();
        st.tags.push(Tag {
            id,
            name: name.to_owned(),
            arches: (!arches.is_empty()).then(|| arches.to_owned()),
            parents,
        });
        st.inheritance_edits.push((id, event));
        id
    }

    /// Whether a tag named `name` exists.
    pub fn has_tag(&self, name: &str) -> bool {
        self.state().tags.iter().any(|t| t.name == name)
    }

    /// Imports a build made of `files` (its source RPM among them, or not); returns its NVR.
    pub fn import_build(&self, files: &[PathBuf]) -> String {
        let (name, version, release) = files
            .iter()
            .map(|f| rpm_nvra(f))
            .find(|(.., arch, _)| arch == "src")
            .or_else(|| files.first().map(|f| rpm_nvra(f)))
            .map(|(n, v, r, ..)| (n, v, r))
            .expect("a build has files");
        let mut st = self.state();
        let build_id = st.new_id();
        let event = st.new_event();
        st.builds.push(Build {
            id: build_id,
            name: name.clone(),
            version: version.clone(),
            release: release.clone(),
            state: 1,
            create_event: event,
            extra: None,
        });
        for file in files {
            let (n, v, r, arch, epoch) = rpm_nvra(file);
            let nvra = format!("{n}-{v}-{r}.{arch}");
            let dest = self.topdir.join(format!(
                "packages/{name}/{version}/{release}/{arch}/{nvra}.rpm"
            ));
            std::fs::create_dir_all(dest.parent().expect("dir")).expect("mkdir");
            std::fs::copy(file, &dest).expect("store rpm");
            let id = st.new_id();
            st.rpms.push(Rpm {
                id,
                build_id,
                name: n,
                version: v,
                release: r,
                epoch,
                arch,
                size: std::fs::metadata(file).expect("size").len() as i64,
                payloadhash: payload_hash(file),
            });
        }
        format!("{name}-{version}-{release}")
    }

    /// Imports a module's content-generator build, as MBS does when a module build finishes:
    /// build `NAME-STREAM-VERSION.CONTEXT` whose `extra.typeinfo.module` holds the whole
    /// modulemd and the content tag, with each `(arch, document)` of `per_arch` stored as
    /// `files/module/modulemd.ARCH.txt`. Returns its NVR.
    pub fn import_module_build(
        &self,
        module: &ModuleBuild<'_>,
        per_arch: &[(&str, String)],
    ) -> String {
        let koji_stream = module.stream.replace('-', "_");
        let release = format!("{}.{}", module.version, module.context);
        let typeinfo = Value::Struct(BTreeMap::from([
            ("name".to_owned(), s(module.name)),
            ("stream".to_owned(), s(module.stream)),
            ("version".to_owned(), s(&module.version.to_string())),
            ("context".to_owned(), s(module.context)),
            ("modulemd_str".to_owned(), s(module.modulemd)),
            ("content_koji_tag".to_owned(), s(module.content_tag)),
            ("module_build_service_id".to_owned(), Value::Integer(7)),
        ]));
        let extra = Value::Struct(BTreeMap::from([(
            "typeinfo".to_owned(),
            Value::Struct(BTreeMap::from([("module".to_owned(), typeinfo)])),
        )]));
        let dir = self.topdir.join(format!(
            "packages/{}/{koji_stream}/{release}/files/module",
            module.name
        ));
        std::fs::create_dir_all(&dir).expect("module files dir");
        for (arch, text) in per_arch {
            std::fs::write(dir.join(format!("modulemd.{arch}.txt")), text).expect("modulemd");
        }
        let mut st = self.state();
        let id = st.new_id();
        let event = st.new_event();
        st.builds.push(Build {
            id,
            name: module.name.to_owned(),
            version: koji_stream.clone(),
            release: release.clone(),
            state: 1,
            create_event: event,
            extra: Some(extra),
        });
        format!("{}-{koji_stream}-{release}", module.name)
    }

    /// Marks a build failed (state 3).
    pub fn fail_build(&self, nvr: &str) {
        let mut st = self.state();
        let b = st
            .builds
            .iter_mut()
            .find(|b| b.nvr() == nvr)
            .expect("build");
        b.state = 3;
    }

    /// Stores `signed` as the copy of its RPM signed with `sigkey`.
    pub fn add_signed_copy(&self, signed: &Path, sigkey: &str) {
        let (n, v, r, arch, _) = rpm_nvra(signed);
        let mut st = self.state();
        let rpm = st
            .rpms
            .iter()
            .find(|x| x.name == n && x.version == v && x.release == r && x.arch == arch)
            .expect("rpm imported")
            .clone();
        let build = st
            .builds
            .iter()
            .find(|b| b.id == rpm.build_id)
            .expect("build")
            .clone();
        let key = sigkey.to_ascii_lowercase();
        let dest = self.topdir.join(format!(
            "packages/{}/{}/{}/data/signed/{key}/{arch}/{n}-{v}-{r}.{arch}.rpm",
            build.name, build.version, build.release
        ));
        std::fs::create_dir_all(dest.parent().expect("dir")).expect("mkdir");
        std::fs::copy(signed, &dest).expect("store signed copy");
        st.sigs.push((rpm.id, key));
    }

    /// Tags `nvr` into `tag`; returns the event.
    pub fn tag_build(&self, tag: &str, nvr: &str) -> i64 {
        let mut st = self.state();
        let (tag_id, build_id) = st.tag_and_build(tag, nvr);
        let event = st.new_event();
        st.taggings.push(Tagging {
            tag_id,
            build_id,
            create_event: event,
            revoke_event: None,
        });
        event
    }

    /// Untags `nvr` from `tag`; returns the event.
    pub fn untag_build(&self, tag: &str, nvr: &str) -> i64 {
        let mut st = self.state();
        let (tag_id, build_id) = st.tag_and_build(tag, nvr);
        let event = st.new_event();
        for t in st
            .taggings
            .iter_mut()
            .filter(|t| t.tag_id == tag_id && t.build_id == build_id && t.revoke_event.is_none())
        {
            t.revoke_event = Some(event);
        }
        event
    }

    /// The newest event.
    pub fn last_event(&self) -> i64 {
        self.state().event
    }

    /// Answers the next `calls` hub calls with 503 Service Unavailable.
    pub fn go_down_for(&self, calls: usize) {
        self.state().down_for = calls;
    }

    /// Serves the file at `relative` (below the top directory) truncated.
    pub fn corrupt(&self, relative: &str) {
        self.state().corrupt.insert(relative.to_owned());
    }

    /// Serves the file at `relative` with the last byte of its payload changed: the same size,
    /// different content.
    pub fn tamper(&self, relative: &str) {
        self.state().tampered.insert(relative.to_owned());
    }

    /// Expires every session: their next call is answered with `AuthExpired`.
    pub fn expire_sessions(&self) {
        for session in self.state().sessions.values_mut() {
            session.expired = true;
        }
    }

    /// Every method called so far (multicall members included), then forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }

    /// Every file served so far, then forgets them.
    pub fn take_downloads(&self) -> Vec<String> {
        std::mem::take(&mut self.state().downloads)
    }

    /// Koji-Session-* headers seen so far.
    pub fn session_headers(&self) -> Vec<String> {
        self.state().session_headers.clone()
    }
}

/// What a module content-generator build records about its module.
pub struct ModuleBuild<'a> {
    pub name: &'a str,
    pub stream: &'a str,
    pub version: u64,
    pub context: &'a str,
    /// The whole build's modulemd.
    pub modulemd: &'a str,
    /// The tag holding the module's RPMs.
    pub content_tag: &'a str,
}

/// A rustls server configuration that presents `pki`'s server certificate and requires a
/// client certificate from its authority.
pub fn server_config(pki: &TestPki) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca).expect("ca pem"))
        .expect("ca");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let certs = CertificateDer::pem_file_iter(&pki.server_cert)
        .expect("server pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("server certs");
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).expect("server key");
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server config")
}
