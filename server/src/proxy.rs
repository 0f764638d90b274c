//! Serving behind a reverse proxy, as the reference does: the proxy may serve the API under a
//! sub-path it names in `X-Script-Name` (stripped from request paths, put back into the links
//! the API answers with), and the host and scheme clients see in `X-Forwarded-Host` and
//! `X-Scheme` (or `X-Forwarded-Proto`). These headers only change links, never identity.
//! Browsers on other sites may read what the API serves (`Access-Control-Allow-Origin: *` on
//! successful reads, as the reference sends it), not what it answers to writes.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN};
use actix_web::http::{Method, Uri};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};

/// The sub-path the proxy serves the API under, from `X-Script-Name`.
#[derive(Debug, Clone)]
struct ScriptName(String);

/// Middleware: takes the proxy's `X-Script-Name` off the request path, so `/odcs/api/1/…`
/// reaches the API, and remembers it for [`external_url`].
pub async fn strip_script_name(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let script = req
        .headers()
        .get("X-Script-Name")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_end_matches('/').to_owned())
        .filter(|v| v.starts_with('/'));
    if let Some(script) = script {
        let uri = req.uri();
        if let Some(rest) = uri.path().strip_prefix(script.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                let path = if rest.is_empty() { "/" } else { rest };
                let target = match uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path.to_owned(),
                };
                if let Ok(stripped) = target.parse::<Uri>() {
                    req.match_info_mut().get_mut().update(&stripped);
                    req.head_mut().uri = stripped;
                }
            }
        }
        req.extensions_mut().insert(ScriptName(script));
    }
    next.call(req).await
}

/// The sub-path the proxy serves this service under (`""` when none): what links in pages
/// start with.
pub fn script_name(req: &HttpRequest) -> String {
    req.extensions()
        .get::<ScriptName>()
        .map(|script| script.0.clone())
        .unwrap_or_default()
}

/// The URL clients see for `req` (without its query): the proxy's scheme and host, its
/// sub-path, then the request's path.
pub fn external_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let scheme = req
        .headers()
        .get("X-Scheme")
        .and_then(|v| v.to_str().ok())
        .filter(|s| matches!(*s, "http" | "https"))
        .unwrap_or(info.scheme());
    let script = req
        .extensions()
        .get::<ScriptName>()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    format!("{scheme}://{}{script}{}", info.host(), req.path())
}

/// Middleware: `Access-Control-Allow-Origin: *` on successful reads of composes, `about` and
/// `metrics` (the routes the reference sends it on).
pub async fn cors_on_reads(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    // The path as routed, after a proxy's sub-path came off it.
    let request = response.request();
    let path = request.path();
    let read = request.method() == Method::GET
        && (path.starts_with("/api/1/composes")
            || path.starts_with("/api/1/about")
            || path.starts_with("/api/1/metrics"));
    if read && response.status().is_success() {
        response
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
    Ok(response)
}
