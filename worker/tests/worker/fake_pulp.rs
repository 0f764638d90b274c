//! A fake Pulp 2 server for tests (Pulp 2 is no longer distributed): its REST API's
//! `POST /pulp/api/v2/repositories/search/` (Mongo-style `criteria` with `filters` and
//! `fields`) and `GET /pulp/api/v2/repositories/{id}/` (Pulp's error document on a 404),
//! answering with Pulp 2's JSON shapes; HTTP basic authentication as Pulp's API enforces it;
//! and the repositories' content served under their `relative_url`, as Pulp publishes it.
//! `pulp_reference_check.py` runs the reference's own Pulp client against it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use odcs_common::test_pki::TestPki;
use serde_json::{json, Map, Value};

/// One Pulp 2 repository.
#[derive(Debug, Clone)]
pub struct Pulp2Repo {
    pub id: String,
    pub content_set: Option<String>,
    pub arch: String,
    pub signatures: String,
    /// `notes.include_in_download_service`: "True" or "False", as Pulp 2 stores it.
    pub published: bool,
    pub relative_url: String,
    /// A directory served at `relative_url` (its repodata and packages).
    pub content: Option<PathBuf>,
}

impl Pulp2Repo {
    fn document(&self) -> Value {
        let mut notes = json!({
            "relative_url": self.relative_url,
            "arch": self.arch,
            "signatures": self.signatures,
            "include_in_download_service": if self.published { "True" } else { "False" },
            "product_versions": "[\"8.4\"]",
            "platform_full_version": "8",
            "_repo-type": "rpm-repo",
        });
        if let Some(set) = &self.content_set {
            notes["content_set"] = json!(set);
        }
        json!({
            "id": self.id,
            "display_name": self.id,
            "description": null,
            "notes": notes,
            "scratchpad": {},
            "content_unit_counts": {"rpm": 1},
            "last_unit_added": "2026-11-30T10:00:00Z",
            "last_unit_removed": null,
            "_ns": "repos",
            "_id": {"$oid": format!("{:024x}", self.id.len())},
            "_href": format!("/pulp/api/v2/repositories/{}/", self.id),
        })
    }
}

#[derive(Debug, Default)]
struct State {
    repos: Vec<Pulp2Repo>,
    /// `Authorization` header every API call must carry (`None`: anyone).
    authorization: Option<String>,
    /// API calls answered 503 before Pulp is up again.
    down_for: usize,
    /// API calls seen.
    calls: usize,
}

/// A running fake Pulp 2.
pub struct FakePulp2 {
    state: Arc<Mutex<State>>,
    /// The server root (`pulp_server_url`).
    pub url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakePulp2 {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
    }
}

/// A Pulp 2 error document, as its API writes them.
fn pulp_error(status: u16, message: &str, href: &str) -> Value {
    json!({
        "http_request_method": "GET",
        "exception": null,
        "error_message": message,
        "_href": href,
        "http_status": status,
        "error": {"code": "PLP0009", "description": message, "data": {}, "sub_errors": []},
        "traceback": null,
    })
}

/// Whether `doc` has `value` at the dotted `path`, or one of `{"$in": [...]}`.
fn matches(doc: &Value, path: &str, wanted: &Value) -> bool {
    let have = path.split('.').try_fold(doc, |v, key| v.get(key));
    let Some(have) = have else {
        return false;
    };
    match wanted.get("$in").and_then(Value::as_array) {
        Some(any) => any.contains(have),
        None => have == wanted,
    }
}

fn authorized(state: &State, req: &HttpRequest) -> bool {
    state.authorization.as_deref().is_none_or(|want| {
        req.headers()
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            == Some(want)
    })
}

/// Checks authentication and outages; `Some` is the answer to give instead.
fn gate(state: &mut State, req: &HttpRequest) -> Option<HttpResponse> {
    state.calls += 1;
    if state.down_for > 0 {
        state.down_for -= 1;
        return Some(HttpResponse::ServiceUnavailable().body("Service Unavailable"));
    }
    if !authorized(state, req) {
        return Some(HttpResponse::Unauthorized().json(pulp_error(
            401,
            "Invalid credentials or non-existent user",
            req.path(),
        )));
    }
    None
}

async fn search(
    state: web::Data<Arc<Mutex<State>>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut state = state.lock().expect("state");
    if let Some(answer) = gate(&mut state, &req) {
        return answer;
    }
    // Pulp reads the body as JSON whatever its Content-Type (the reference sends none).
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().json(pulp_error(400, "Invalid JSON", req.path()));
    };
    let criteria = &body["criteria"];
    let empty = Map::new();
    let filters = criteria["filters"].as_object().unwrap_or(&empty);
    let fields: Option<Vec<&str>> = criteria["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect());
    let found: Vec<Value> = state
        .repos
        .iter()
        .map(Pulp2Repo::document)
        .filter(|doc| filters.iter().all(|(path, v)| matches(doc, path, v)))
        .map(|doc| match &fields {
            Some(fields) => {
                let mut kept = Map::new();
                for key in fields.iter().copied().chain(["_id", "_href"]) {
                    if let Some(v) = doc.get(key) {
                        kept.insert(key.to_owned(), v.clone());
                    }
                }
                Value::Object(kept)
            }
            None => doc,
        })
        .collect();
    HttpResponse::Ok().json(found)
}

async fn repository(
    state: web::Data<Arc<Mutex<State>>>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let mut state = state.lock().expect("state");
    if let Some(answer) = gate(&mut state, &req) {
        return answer;
    }
    match state.repos.iter().find(|r| r.id == *id) {
        Some(repo) => HttpResponse::Ok().json(repo.document()),
        None => HttpResponse::NotFound().json(pulp_error(
            404,
            &format!("Missing resource(s): repository={id}"),
            req.path(),
        )),
    }
}

/// Published content: a file under some repository's `relative_url`.
async fn content(state: web::Data<Arc<Mutex<State>>>, tail: web::Path<String>) -> HttpResponse {
    let state = state.lock().expect("state");
    for repo in &state.repos {
        let (Some(dir), Some(rest)) = (
            &repo.content,
            tail.strip_prefix(repo.relative_url.trim_matches('/')),
        ) else {
            continue;
        };
        let rest = rest.trim_start_matches('/');
        if rest.split('/').any(|part| part == "..") {
            break;
        }
        if let Ok(bytes) = std::fs::read(dir.join(rest)) {
            return HttpResponse::Ok().body(bytes);
        }
    }
    HttpResponse::NotFound().finish()
}

impl FakePulp2 {
    /// Starts a server with no repositories, open to anyone.
    pub fn start() -> FakePulp2 {
        Self::serve(None)
    }

    /// Starts a server over HTTPS that requires a client certificate signed by `pki.ca`, as
    /// Pulp 2 behind httpd does.
    pub fn start_tls(pki: &TestPki) -> FakePulp2 {
        Self::serve(Some(crate::koji_hub::server_config(pki)))
    }

    fn serve(tls: Option<rustls::ServerConfig>) -> FakePulp2 {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let data = web::Data::new(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/pulp/api/v2/repositories/search/", web::post().to(search))
                        .route("/pulp/api/v2/repositories/{id}/", web::get().to(repository))
                        .route("/{tail:.*}", web::get().to(content))
                })
                .workers(1);
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
        FakePulp2 {
            state,
            url: format!("{scheme}://127.0.0.1:{port}"),
            handle: rx.recv().expect("server started"),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a repository.
    pub fn add(&self, repo: Pulp2Repo) {
        self.state().repos.push(repo);
    }

    /// From now on the API wants this user and password.
    pub fn require_login(&self, user: &str, password: &str) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.state().authorization = Some(format!("Basic {token}"));
    }

    /// The next `calls` API calls are answered 503.
    pub fn down_for(&self, calls: usize) {
        self.state().down_for = calls;
    }

    /// API calls answered so far.
    pub fn calls(&self) -> usize {
        self.state().calls
    }
}
