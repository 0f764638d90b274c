//! The HTML pages people land on, as the reference has them: `/` says what the service is and
//! where composes are served, `/api/1/` lists the API's routes.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Escapes `text` for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
             <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
        ))
}

/// `/`: what this service is, where its API and composes are.
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    let composes = escape(&state.config.storage.target_dir_url);
    page(
        "On Demand Compose Service",
        &format!(
            "<p>This service builds temporary RPM repositories (composes) on request.</p>\n\
             <ul>\n<li><a href=\"api/1/\">API v1</a></li>\n\
             <li><a href=\"{composes}\">Composes</a></li>\n</ul>\n"
        ),
    )
}

/// `/api/1/`: the routes of API v1.
pub async fn api_doc() -> HttpResponse {
    page(
        "ODCS API v1",
        "<ul>\n\
         <li><code>GET, POST</code> <a href=\"composes/\">composes/</a>: list, request</li>\n\
         <li><code>GET, PATCH, DELETE</code> <code>composes/ID</code>: read, renew, cancel or \
         remove</li>\n\
         <li><code>GET</code> <code>composes/ID/events</code>: the compose's state changes as \
         they happen (Server-Sent Events)</li>\n\
         <li><code>GET</code> <a href=\"events\">events</a>: every compose's state changes \
         (Server-Sent Events)</li>\n\
         <li><code>GET</code> <a href=\"about/\">about/</a>: this instance</li>\n\
         <li><code>GET</code> <a href=\"metrics/\">metrics/</a>: Prometheus metrics</li>\n\
         <li><code>GET</code> <a href=\"openapi.json\">openapi.json</a>: the OpenAPI \
         document</li>\n</ul>\n",
    )
}
