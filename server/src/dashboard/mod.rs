//! The web dashboard: composes listed newest first with filters at `/`, one compose with its
//! request, state history, links and log at `/dashboard/composes/{id}`. Pages are rendered
//! here (usable without JavaScript); `assets/dashboard.js` makes them live from the event
//! streams and drives the renew and delete buttons through the API. Everything is in the
//! binary: nothing is built by the user or fetched from elsewhere.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::{context, Environment};
use odcs_common::api::{ComposeJson, COMPOSE_LOG, TIME_FORMAT};
use odcs_common::compose::{ComposeState, SourceType};
use odcs_common::config::Config;
use odcs_common::db::models::{Compose, OutboxMessage};
use odcs_common::db::view::compose_json;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::events::cursor::Cursor;
use crate::events::StateEvent;
use crate::listing::ListQuery;
use crate::proxy::script_name;
use crate::routes::composes::{check_deletion, check_renewal, parse_id, Deletion};
use crate::state::AppState;
use crate::totals;

/// Composes per dashboard page.
pub const PER_PAGE: i64 = 25;

/// How many message ids below the last one a list page's stream replays, for the changes that
/// committed after the page was read under a lower id.
const REPLAY_MARGIN: i64 = 100;

/// State changes shown on a compose's page at most.
const HISTORY_SHOWN: i64 = 1000;

/// The templates, parsed once; `.html` names escape every value.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("list.html", include_str!("templates/list.html")),
        ("detail.html", include_str!("templates/detail.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "dashboard template does not parse");
        }
    }
    env
});

/// Renders template `name` as a page.
fn render(name: &str, values: minijinja::Value) -> Result<HttpResponse, ApiError> {
    let html = TEMPLATES
        .get_template(name)
        .and_then(|template| template.render(values))
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// What every page shows: where it is served, who is looking, the source type names.
fn page_context(req: &HttpRequest, config: &Config, caller: Option<&Caller>) -> minijinja::Value {
    let source_types: serde_json::Map<String, Value> = SourceType::ALL
        .iter()
        .map(|t| (t.code().to_string(), Value::from(t.name())))
        .collect();
    context! {
        root => script_name(req),
        composes_url => config.storage.target_dir_url,
        user => caller.map(Caller::name).filter(|name| !name.is_empty()),
        source_types => source_types,
    }
}

/// A compose as the pages show it: its API JSON and its source type's name.
fn shown(compose: &Compose, config: &Config, with_dump: bool) -> Value {
    let json = compose_json(compose, config, with_dump);
    let mut value = serde_json::to_value(&json).unwrap_or_default();
    value["source_type_name"] = Value::from(compose.source_type.name());
    value
}

/// `/`: composes, newest first, filtered by state, source type, owner and source.
pub async fn list(
    req: HttpRequest,
    caller: Result<Caller, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut query = ListQuery::parse(req.query_string(), state.config.server.max_per_page)?;
    query.per_page = PER_PAGE;
    let page = query.clone();
    let (rows, total, last_message) = db::run(&state.pool, move |conn| {
        // Read first: the page's stream replays what changed after it.
        let last_message = OutboxMessage::last_id(conn)?;
        let (total, _) = totals::count(conn, &page.filter)?;
        let rows = Compose::page(conn, &page.filter, page.order, page.page, page.per_page)?;
        Ok((rows, total, last_message))
    })
    .await?;
    // Messages below the last may still commit (ids do not commit in order): replay a margin.
    let cursor = Cursor::global_event_id(last_message, (last_message - REPLAY_MARGIN).max(0));
    let meta = query.meta(&req, total);
    let dashboard_link = |api_link: &str| {
        let query = api_link.split_once('?').map_or("", |(_, q)| q);
        format!("{}/?{query}", script_name(&req))
    };
    let composes: Vec<Value> = rows
        .iter()
        .map(|row| shown(row, &state.config, false))
        .collect();
    let filter = &query.filter;
    let states: Vec<&str> = ComposeState::ALL.iter().map(|s| s.name()).collect();
    let source_type_names: Vec<&str> = SourceType::ALL.iter().map(|t| t.name()).collect();
    render(
        "list.html",
        context! {
            title => "Composes",
            composes => composes,
            cursor => cursor,
            page => meta.page,
            pages => meta.pages.max(1),
            total => meta.total,
            prev => meta.prev.as_deref().map(dashboard_link),
            next => meta.next.as_deref().map(dashboard_link),
            states => states,
            source_type_names => source_type_names,
            filter => context! {
                state => filter.state.map_or("", ComposeState::name),
                source_type => filter.source_type.map_or("", SourceType::name),
                owner => filter.owner.as_deref().unwrap_or_default(),
                source => filter.source.as_deref().unwrap_or_default(),
            },
            ..page_context(&req, &state.config, caller.ok().as_ref())
        },
    )
}

/// One row of a compose's state history.
#[derive(Serialize)]
struct HistoryRow {
    id: i64,
    time: String,
    state: String,
    reason: Option<String>,
}

/// `/dashboard/composes/{id}`: one compose, with the renew and delete buttons the viewer may
/// use (the API's own checks decide).
pub async fn detail(
    req: HttpRequest,
    id: web::Path<String>,
    caller: Result<Caller, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let (compose, messages) = db::run(&state.pool, move |conn| {
        let compose = Compose::find(conn, id)?;
        let messages = OutboxMessage::of_compose_after(conn, id, 0, HISTORY_SHOWN)?;
        Ok((compose, messages))
    })
    .await?;
    let compose = compose.ok_or_else(|| ApiError::NotFound("No such compose found.".into()))?;
    let config = &state.config;
    let caller = caller.ok();
    let (may_renew, deletion) = match &caller {
        Some(caller) if caller.require_login(config).is_ok() => (
            caller.require_scope(config, "renew-compose").is_ok()
                && crate::permissions::require_allowed_client(caller, config).is_ok()
                && check_renewal(caller, config, &compose).is_ok(),
            caller
                .require_scope(config, "delete-compose")
                .ok()
                .and_then(|()| {
                    check_deletion(&compose, caller.name(), caller.is_admin(config)).ok()
                })
                .filter(|_| compose.state != ComposeState::Removed),
        ),
        _ => (false, None),
    };
    let history: Vec<HistoryRow> = messages
        .into_iter()
        .map(|message| {
            let time = message.created_at.format(TIME_FORMAT).to_string();
            let event = StateEvent::of(message, 0);
            HistoryRow {
                id: event.id,
                time,
                state: event
                    .facts
                    .state()
                    .map_or("unknown", ComposeState::name)
                    .to_owned(),
                reason: event.facts.state_reason,
            }
        })
        .collect();
    let json: ComposeJson = compose_json(&compose, config, true);
    let log_url = (!json.toplevel_url.is_empty())
        .then(|| format!("{}/{COMPOSE_LOG}", json.toplevel_url.trim_end_matches('/')));
    let request = serde_json::to_string_pretty(&json).unwrap_or_default();
    render(
        "detail.html",
        context! {
            title => format!("Compose {id}"),
            c => shown(&compose, config, false),
            history => history,
            request => request,
            log_url => log_url,
            may_renew => may_renew,
            may_delete => deletion.is_some(),
            delete_label => match deletion {
                Some(Deletion::Cancel) => "Cancel",
                _ => "Delete",
            },
            ..page_context(&req, config, caller.as_ref())
        },
    )
}

/// `/dashboard/assets/{name}`: the script and the style sheet, from the binary.
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (body, kind) = match name.as_str() {
        "dashboard.js" => (
            include_str!("assets/dashboard.js"),
            "text/javascript; charset=utf-8",
        ),
        "dashboard.css" => (
            include_str!("assets/dashboard.css"),
            "text/css; charset=utf-8",
        ),
        _ => return Err(ApiError::NotFound("No such file.".into())),
    };
    Ok(HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body))
}
