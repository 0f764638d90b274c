//! `/api/1/`, the HTML page listing the API's routes, as the reference has it (`/` is the
//! dashboard, see [`crate::dashboard`]).

use actix_web::HttpResponse;

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
             <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
        ))
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
