//! A fake Module Build Service for tests: `GET /module-build-service/1/module-builds/` over
//! HTTP on loopback, filtering, ordering and paging as MBS does (`nsvc`, repeated `state`,
//! `base_module_br_*`, `order_desc_by=version`, `page`/`per_page`) and answering with items
//! and `meta` shaped as MBS's, `modulemd` and `base_module_buildrequires` when `verbose`.
//! `mbs_reference_check.py` runs the reference ODCS's MBS lookup against it.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// A base module a build was built against.
#[derive(Debug, Clone)]
pub struct BaseModule {
    pub name: String,
    pub stream: String,
    pub stream_version: u64,
}

/// One module build MBS knows.
#[derive(Debug, Clone)]
pub struct MbsBuild {
    pub name: String,
    pub stream: String,
    pub version: u64,
    pub context: String,
    /// 3 done, 5 ready (MBS's numbers).
    pub state: u8,
    pub modulemd: String,
    pub base: Vec<BaseModule>,
    pub koji_tag: String,
}

impl MbsBuild {
    fn state_name(&self) -> &'static str {
        match self.state {
            3 => "done",
            5 => "ready",
            4 => "failed",
            _ => "build",
        }
    }

    fn item(&self, id: usize, verbose: bool) -> Value {
        let mut item = json!({
            "id": id,
            "name": self.name,
            "stream": self.stream,
            "version": self.version.to_string(),
            "context": self.context,
            "state": self.state,
            "state_name": self.state_name(),
            "state_reason": null,
            "koji_tag": self.koji_tag,
            "owner": "releng",
            "scmurl": format!("https://src.example.com/modules/{}.git?#abc", self.name),
            "scratch": false,
            "rebuild_strategy": "changed-and-after",
            "time_submitted": "2026-11-30T10:00:00Z",
            "time_modified": "2026-11-30T11:00:00Z",
            "time_completed": "2026-11-30T11:00:00Z",
            "buildrequires": self.base.iter().map(|b| (b.name.clone(), json!({
                "stream": b.stream, "version": "1", "context": "00000000",
                "stream_version": b.stream_version,
            }))).collect::<serde_json::Map<String, Value>>(),
            "siblings": [],
            "tasks": {},
        });
        if verbose {
            item["modulemd"] = json!(self.modulemd);
            item["base_module_buildrequires"] = self
                .base
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    json!({
                        "id": 1000 + i, "name": b.name, "stream": b.stream,
                        "version": "1", "context": "00000000",
                        "stream_version": b.stream_version,
                    })
                })
                .collect();
            item["component_builds"] = json!([]);
            item["state_trace"] = json!([]);
        }
        item
    }
}

/// A running fake MBS.
pub struct FakeMbs {
    /// The API root (`mbs_url`).
    pub url: String,
    builds: Arc<Mutex<Vec<MbsBuild>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeMbs {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
    }
}

impl FakeMbs {
    pub fn start() -> FakeMbs {
        let builds = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::new(builds.clone());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new().app_data(data.clone()).route(
                        "/module-build-service/1/module-builds/",
                        web::get().to(module_builds),
                    )
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run();
                tx.send(server.handle()).expect("handle");
                let _ = server.await;
            });
        });
        FakeMbs {
            url: format!("http://127.0.0.1:{port}/module-build-service"),
            builds,
            handle: rx.recv().expect("server started"),
        }
    }

    pub fn add(&self, build: MbsBuild) {
        self.builds.lock().expect("builds").push(build);
    }
}

/// The query's values for `key`, in order (MBS takes `state` more than once).
fn values<'a>(query: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    query
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn state_number(text: &str) -> Option<u8> {
    match text {
        "done" => Some(3),
        "ready" => Some(5),
        "failed" => Some(4),
        other => other.parse().ok(),
    }
}

fn bad_request(message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(json!({"status": 400, "error": "Bad Request", "message": message}))
}

async fn module_builds(
    builds: web::Data<Arc<Mutex<Vec<MbsBuild>>>>,
    request: HttpRequest,
) -> HttpResponse {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.query_string().as_bytes())
            .into_owned()
            .collect();
    let one = |key: &str| values(&query, key).first().map(|v| (*v).to_owned());
    let verbose = one("verbose").is_some_and(|v| v == "true" || v == "True" || v == "1");
    let states: Vec<u8> = values(&query, "state")
        .into_iter()
        .filter_map(state_number)
        .collect();
    let nsvc: Vec<String> = one("nsvc")
        .map(|n| n.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    if nsvc.len() > 4 {
        return bad_request("The nsvc parameter must be in the N:S:V:C format");
    }
    let br_name = one("base_module_br_name");
    let br_stream = one("base_module_br_stream");
    let lte = match one("base_module_br_stream_version_lte").map(|v| v.parse::<u64>()) {
        Some(Err(_)) => return bad_request("An invalid base_module_br_stream_version_lte"),
        other => other.and_then(Result::ok),
    };
    let gte = match one("base_module_br_stream_version_gte").map(|v| v.parse::<u64>()) {
        Some(Err(_)) => return bad_request("An invalid base_module_br_stream_version_gte"),
        other => other.and_then(Result::ok),
    };
    let page: usize = one("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let per_page: usize = one("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10)
        .clamp(1, 100);

    let all = builds.lock().expect("builds").clone();
    let mut matching: Vec<(usize, &MbsBuild)> = all
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            let fields = [
                b.name.clone(),
                b.stream.clone(),
                b.version.to_string(),
                b.context.clone(),
            ];
            nsvc.iter()
                .zip(fields.iter())
                .all(|(want, have)| want == have)
        })
        .filter(|(_, b)| states.is_empty() || states.contains(&b.state))
        .filter(|(_, b)| {
            let bounded =
                br_name.is_some() || br_stream.is_some() || lte.is_some() || gte.is_some();
            !bounded
                || b.base.iter().any(|base| {
                    br_name.as_ref().is_none_or(|n| *n == base.name)
                        && br_stream.as_ref().is_none_or(|s| *s == base.stream)
                        && lte.is_none_or(|v| base.stream_version <= v)
                        && gte.is_none_or(|v| base.stream_version >= v)
                })
        })
        .collect();
    match one("order_desc_by").as_deref() {
        Some("version") => matching.sort_by_key(|b| std::cmp::Reverse(b.1.version)),
        Some("id") | None => matching.sort_by_key(|b| std::cmp::Reverse(b.0)),
        Some(other) => return bad_request(&format!("An invalid order_desc_by: {other}")),
    }
    let total = matching.len();
    let pages = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(i, b)| b.item(i + 1, verbose))
        .collect();
    let link = |p: usize| format!("{}?page={p}&per_page={per_page}", request.path());
    HttpResponse::Ok().json(json!({
        "items": items,
        "meta": {
            "first": link(1),
            "last": link(pages),
            "next": (page < pages).then(|| link(page + 1)),
            "prev": (page > 1).then(|| link(page - 1)),
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "total": total,
        }
    }))
}

/// A modulemd v2 document (valid for libmodulemd) of one build.
pub fn modulemd(
    name: &str,
    stream: &str,
    version: u64,
    context: &str,
    platform: &str,
    requires: &[(&str, &str)],
    rpms: &[&str],
) -> String {
    let mut text = format!(
        "---\ndocument: modulemd\nversion: 2\ndata:\n  name: {name}\n  stream: \"{stream}\"\n  \
         version: {version}\n  context: {context}\n  summary: The {name} module\n  \
         description: The {name} module, stream {stream}.\n  license:\n    module: [MIT]\n  \
         dependencies:\n  - buildrequires:\n      platform: [{platform}]\n    requires:\n      \
         platform: [{platform}]\n"
    );
    for (module, stream) in requires {
        text.push_str(&format!("      {module}: [\"{stream}\"]\n"));
    }
    text.push_str("  profiles:\n    default:\n      rpms: [");
    let names: Vec<String> = rpms
        .iter()
        .map(|nevra| nevra.rsplitn(3, '-').nth(2).unwrap_or(nevra).to_owned())
        .collect();
    text.push_str(&names.join(", "));
    text.push_str("]\n  artifacts:\n    rpms:\n");
    for rpm in rpms {
        text.push_str(&format!("    - {rpm}\n"));
    }
    text.push_str("...\n");
    text
}
