//! `/api/1/composes/`: list, create, get, renew and delete composes.

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use odcs_common::api::{ComposeJson, ComposeList, StatusMessage};
use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::db::lifecycle::{self, ComposeChanges, Transition};
use odcs_common::db::models::{Compose, ComposeFilter, NewCompose};
use odcs_common::db::view::compose_json;
use odcs_common::dispatch::hand_over;
use odcs_common::request::{lifetime, ComposeRequest, RenewRequest};
use odcs_common::spec::{ComposeSource, ComposeSpec};
use odcs_common::time::{after, now};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::read_json;
use crate::create_batch::Created;
use crate::db;
use crate::error::ApiError;
use crate::idempotency;
use crate::listing::ListQuery;
use crate::permissions::{check_compose, require_allowed_client, ComposeAttributes};
use crate::state::AppState;
use crate::totals::{self, Cached};

/// The body of a create request, for the API description (parsing is
/// [`ComposeRequest::from_json`]).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the wire format; never constructed
pub struct CreateBody {
    /// What to build from: `type` (tag, module, repo, pulp, raw_config, build, pungi_compose),
    /// `source`, and optionally packages, builds, sigkeys, koji_event, modular_koji_tags,
    /// module_defaults_url/commit, scratch_modules, scratch_build_tasks, modules,
    /// base_module_br_name/stream/stream_version_lte/stream_version_gte.
    #[schema(value_type = Object)]
    source: serde_json::Value,
    /// Lifetime in seconds, clamped to the configured maximum.
    seconds_to_live: Option<i64>,
    /// Flag names, e.g. `no_deps`.
    flags: Option<Vec<String>>,
    /// Extra results: `iso`, `ostree`, `boot.iso`.
    results: Option<Vec<String>>,
    /// Arches to build for.
    arches: Option<Vec<String>>,
    /// Arches that get multilib packages.
    multilib_arches: Option<Vec<String>>,
    /// Multilib method names: `runtime`, `devel`, `all`.
    multilib_method: Option<Vec<String>>,
    /// Repository URLs used to satisfy dependencies.
    lookaside_repos: Option<Vec<String>>,
    /// Compose label.
    label: Option<String>,
    /// Compose type, `test` by default.
    compose_type: Option<String>,
    /// Name of an extra target directory, or `default`.
    target_dir: Option<String>,
    /// Pungi compose ids of parent composes.
    parent_pungi_compose_ids: Option<Vec<String>>,
    /// Pungi compose id this compose respins.
    respin_of: Option<String>,
}

/// Hands the job of `compose` (just stored, as its API JSON) to its queue without making the
/// client wait: the compose is stored, so a broker that is down or blocking publishers only
/// delays the job (the relay and the beat dispatch it again), never the answer.
fn dispatch_in_background(state: &AppState, compose: &ComposeJson) {
    let (dispatcher, config, log) = (
        state.dispatcher.clone(),
        state.config.clone(),
        state.dispatch_log.clone(),
    );
    let id = compose.id;
    let compose = serde_json::to_value(compose).unwrap_or_default();
    actix_web::rt::spawn(async move {
        if hand_over(&dispatcher, &config, &compose).await {
            log.record(id);
        }
    });
}

/// Counts `filter`'s total again without making a request wait for it (see [`crate::totals`]).
fn recount_in_background(state: &AppState, filter: ComposeFilter) {
    let (pool, totals) = (state.pool.clone(), state.totals.clone());
    let ticket = totals.ticket();
    actix_web::rt::spawn(async move {
        let counting = filter.clone();
        match db::run(&pool, move |conn| Ok(totals::count(conn, &counting)?)).await {
            Ok((total, cost)) => totals.put(filter, total, cost, ticket),
            Err(e) => tracing::warn!(error = %e, "list total not counted again"),
        }
    });
}

/// Path ids that are not numbers cannot name a compose.
pub fn parse_id(raw: &str) -> Result<ComposeId, ApiError> {
    raw.parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .map(ComposeId)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "No compose with id {raw:?} exists: compose ids are positive integers."
            ))
        })
}

/// List composes, newest first unless `order_by` says otherwise.
#[utoipa::path(get, path = "/api/1/composes/", tag = "composes",
    params(
        ("owner" = Option<String>, Query, description = "Only composes of this owner"),
        ("source_type" = Option<String>, Query, description = "Source type number or name"),
        ("source" = Option<String>, Query, description = "Exact source"),
        ("state" = Option<String>, Query, description = "State number or name"),
        ("koji_task_id" = Option<i64>, Query, description = "Koji task id"),
        ("pungi_compose_id" = Option<String>, Query, description = "Pungi compose id"),
        ("compose_type" = Option<String>, Query, description = "Compose type"),
        ("label" = Option<String>, Query, description = "Label"),
        ("order_by" = Option<String>, Query, description = "id, owner, source_type, koji_event, state, time_to_expire, time_submitted, time_done or time_removed; '-' prefix for descending (default -id)"),
        ("page" = Option<i64>, Query, description = "Page number from 1"),
        ("per_page" = Option<i64>, Query, description = "Composes per page (default 10)"),
    ),
    responses(
        (status = 200, description = "A page of composes", body = ComposeList),
        (status = 400, description = "Bad filter, order or page", body = StatusMessage),
    ))]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(req.query_string(), state.config.server.max_per_page)?;
    let cached = state.totals.lookup(&query.filter);
    let known_total = match &cached {
        Cached::Fresh(total) | Cached::Refresh(total) => Some(*total),
        Cached::Count => None,
        Cached::Await(first) => totals::first_total(first.clone()).await,
    };
    let key = query.page_key();
    let kept_items = state.pages.get(&key);
    let (items, total) = match (kept_items, known_total) {
        (Some(items), Some(total)) => (items, total),
        (kept_items, known_total) => {
            let ticket = kept_items
                .is_none()
                .then(|| state.pages.ticket(&key))
                .flatten();
            let total_ticket = state.totals.ticket();
            let read = read_page(&state, &query, known_total, kept_items.is_none()).await;
            if read.is_err() && matches!(cached, Cached::Count) {
                state.totals.abandon(&query.filter);
            }
            let read = read?;
            if let Some(cost) = read.cost {
                state
                    .totals
                    .put(query.filter.clone(), read.total, cost, total_ticket);
            }
            let items = match (kept_items, read.rows) {
                (Some(items), _) => items,
                (None, rows) => {
                    let items = page_items(&state, rows.as_deref().unwrap_or_default())?;
                    if let (Some(ticket), Some(_)) = (ticket, rows) {
                        state.pages.keep(ticket, items.clone());
                    }
                    items
                }
            };
            (items, read.total)
        }
    };
    if matches!(cached, Cached::Refresh(_)) {
        recount_in_background(&state, query.filter.clone());
    }
    let meta = serde_json::to_vec(&query.meta(&req, total)).map_err(ApiError::internal)?;
    Ok(json_response(list_body(&items, &meta)))
}

/// What the database said about one list page.
struct ReadPage {
    /// The number of composes the filters match.
    total: i64,
    /// How long counting them took, when they were counted.
    cost: Option<std::time::Duration>,
    /// The page's composes, when asked for and the page is within the total (past the last
    /// page nothing is read, and the empty page depends on the total, so it is not kept).
    rows: Option<Vec<Compose>>,
}

/// Counts `query`'s composes unless `known_total` is given, and reads its page if `rows`.
async fn read_page(
    state: &AppState,
    query: &ListQuery,
    known_total: Option<i64>,
    rows: bool,
) -> Result<ReadPage, ApiError> {
    let page = query.clone();
    db::run(&state.pool, move |conn| {
        let (total, cost) = match known_total {
            Some(total) => (total, None),
            None => {
                let (total, cost) = totals::count(conn, &page.filter)?;
                (total, Some(cost))
            }
        };
        let offset = (page.page - 1).saturating_mul(page.per_page);
        let rows = if rows && total > offset {
            Some(Compose::page(
                conn,
                &page.filter,
                page.order,
                page.page,
                page.per_page,
            )?)
        } else {
            None
        };
        Ok(ReadPage { total, cost, rows })
    })
    .await
}

/// The JSON array of a page's composes.
fn page_items(state: &AppState, rows: &[Compose]) -> Result<Bytes, ApiError> {
    let items: Vec<ComposeJson> = rows
        .iter()
        .map(|row| compose_json(row, &state.config, false))
        .collect();
    serde_json::to_vec(&items)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// A [`ComposeList`] body from its parts, already serialised.
fn list_body(items: &[u8], meta: &[u8]) -> Bytes {
    const ITEMS: &[u8] = br#"{"items":"#;
    const META: &[u8] = br#","meta":"#;
    let mut body = Vec::with_capacity(ITEMS.len() + items.len() + META.len() + meta.len() + 1);
    body.extend_from_slice(ITEMS);
    body.extend_from_slice(items);
    body.extend_from_slice(META);
    body.extend_from_slice(meta);
    body.push(b'}');
    Bytes::from(body)
}

/// Request a new compose; it is stored in `wait` and built by a worker.
#[utoipa::path(post, path = "/api/1/composes/", tag = "composes",
    request_body = CreateBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the create safe to retry: a later POST by the same owner with this key and the same body returns the compose the first one created (1 to 255 printable ASCII characters)")),
    responses(
        (status = 200, description = "The stored compose (or the one an earlier create with the same Idempotency-Key stored)", body = ComposeJson),
        (status = 400, description = "Invalid request", body = StatusMessage),
        (status = 422, description = "The Idempotency-Key was used with another body", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed", body = StatusMessage),
        (status = 413, description = "Body too large", body = StatusMessage),
    ))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    caller.require_login(&config)?;
    caller.require_scope(&config, "new-compose")?;
    require_allowed_client(&caller, &config)?;
    let body = read_json(&req, payload, config.server.max_body_bytes)
        .await?
        .ok_or_else(|| ApiError::BadRequest("No JSON POST data submitted".into()))?;
    let claim = idempotency::claim(&req, &body)?;
    if let Some(claim) = &claim {
        if let Some(earlier) = idempotency::earlier(&state.pool, caller.name(), claim).await? {
            return Ok(HttpResponse::Ok().json(compose_json(&earlier, &config, false)));
        }
    }
    // The reference's own refusals, then its permission check, then what this server
    // refuses besides (see ComposeRequest::parse_json).
    let parsed = ComposeRequest::parse_json(&body)?;
    let refusal = parsed.refusal.or_else(|| parsed.request.refusal(&config));
    let spec = parsed.request.resolve_accepting(&config)?;
    check_compose(&caller, &config, &ComposeAttributes::of(&spec))?;
    if let Some(refusal) = refusal {
        return Err(refusal.into());
    }
    let mut new = NewCompose::from_spec(&spec, caller.name(), now());
    new.idempotency = claim;
    let stored = match state.creates.create(new).await? {
        Created::Stored(stored) => *stored,
        Created::KeyTaken(claim) => {
            let earlier = idempotency::earlier(&state.pool, caller.name(), &claim)
                .await?
                // The winner's compose was removed in the meantime: the client may try again.
                .ok_or(ApiError::Unavailable)?;
            return Ok(HttpResponse::Ok().json(compose_json(&earlier, &config, false)));
        }
    };
    state.wrote(&[]);
    let json = compose_json(&stored, &config, false);
    dispatch_in_background(&state, &json);
    tracing::info!(compose.id = %stored.id, source.type = %spec.source_type(), owner = %stored.owner, "compose requested");
    Ok(HttpResponse::Ok().json(json))
}

/// One compose, with its Pungi configuration dump.
#[utoipa::path(get, path = "/api/1/composes/{id}", tag = "composes",
    params(("id" = i64, Path, description = "Compose id")),
    responses(
        (status = 200, description = "The compose", body = ComposeJson),
        (status = 404, description = "No such compose", body = StatusMessage),
    ))]
pub async fn get(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    if let Some(json) = state.composes.get(&id) {
        return Ok(json_response(json));
    }
    let ticket = state.composes.ticket(&id);
    let compose = db::run(&state.pool, move |conn| Ok(Compose::find(conn, id)?))
        .await?
        .ok_or_else(|| ApiError::NotFound("No such compose found.".into()))?;
    let json = serde_json::to_vec(&compose_json(&compose, &state.config, true))
        .map(Bytes::from)
        .map_err(ApiError::internal)?;
    if let Some(ticket) = ticket {
        state.composes.keep(ticket, json.clone());
    }
    Ok(json_response(json))
}

/// A 200 answer whose body is JSON already serialised.
fn json_response(json: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(json)
}

/// What a renewal did.
enum Renewal {
    /// The compose itself, with a later expiry, and every compose whose expiry moved with it.
    Extended(Compose, Vec<ComposeId>),
    /// A new compose in `wait` with the old one's options.
    Copied(Compose),
}

/// Renew a compose: extend a done compose's expiry (and of the composes sharing its files), or
/// request a copy of a removed or failed one, or of one whose label, sigkeys, builds or modules
/// change.
#[utoipa::path(patch, path = "/api/1/composes/{id}", tag = "composes",
    params(("id" = i64, Path, description = "Compose id")),
    responses(
        (status = 200, description = "The renewed compose or its new copy", body = ComposeJson),
        (status = 400, description = "Invalid request", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed", body = StatusMessage),
        (status = 404, description = "No such compose in done, failed or removed", body = StatusMessage),
    ))]
pub async fn renew(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = state.config.clone();
    caller.require_login(&config)?;
    caller.require_scope(&config, "renew-compose")?;
    require_allowed_client(&caller, &config)?;
    let id = parse_id(&id)?;
    let body = read_json(&req, payload, config.server.max_body_bytes).await?;
    let renewal = RenewRequest::from_json(body.as_ref())?;
    let owner = caller.name().to_owned();

    let old = db::run(&state.pool, move |conn| Ok(Compose::find(conn, id)?))
        .await?
        .filter(|c| RENEWABLE.contains(&c.state))
        .ok_or_else(|| ApiError::NotFound(format!("No compose with id {id} found")))?;
    let spec = check_renewal(&caller, &config, &old)?;
    let raw_config_key = match &spec.source {
        ComposeSource::RawConfig(raw) => Some(raw.name.clone()),
        _ => None,
    };
    let seconds_to_live = lifetime(renewal.seconds_to_live, &config, raw_config_key.as_deref());

    let renewed = {
        let config = config.clone();
        db::run(&state.pool, move |conn| {
            db::in_write_transaction(conn, |conn| {
                renew_in(conn, id, &renewal, &owner, seconds_to_live, &config)
            })
        })
        .await?
    };
    match renewed {
        Renewal::Extended(compose, family) => {
            state.wrote(&family);
            tracing::info!(compose.id = %compose.id, "compose expiry extended");
            Ok(HttpResponse::Ok().json(compose_json(&compose, &config, false)))
        }
        Renewal::Copied(compose) => {
            state.wrote(&[]);
            tracing::info!(
                compose.id = %compose.id,
                renewed.id = %id,
                "compose copied for renewal"
            );
            let json = compose_json(&compose, &config, false);
            dispatch_in_background(&state, &json);
            Ok(HttpResponse::Ok().json(json))
        }
    }
}

/// The request `compose` stores; a row this service cannot read (written by something else)
/// cannot be renewed.
fn stored_spec(
    compose: &Compose,
    config: &odcs_common::config::Config,
) -> Result<ComposeSpec, ApiError> {
    compose
        .spec_in(&config.storage.target_dir)
        .map_err(|e| ApiError::BadRequest(format!("Compose {} cannot be renewed: {e}", compose.id)))
}

/// The states a compose can be renewed from.
const RENEWABLE: [ComposeState; 3] = [
    ComposeState::Removed,
    ComposeState::Done,
    ComposeState::Failed,
];

/// Whether `caller` may renew `compose` (in a renewable state, its request allowed to them);
/// its request when so.
pub fn check_renewal(
    caller: &Caller,
    config: &odcs_common::config::Config,
    compose: &Compose,
) -> Result<ComposeSpec, ApiError> {
    if !RENEWABLE.contains(&compose.state) {
        return Err(ApiError::NotFound(format!(
            "No compose with id {} found",
            compose.id
        )));
    }
    let spec = stored_spec(compose, config)?;
    check_compose(
        caller,
        config,
        &ComposeAttributes {
            target_dir: None,
            ..ComposeAttributes::of(&spec)
        },
    )?;
    Ok(spec)
}

/// What a delete does to a compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Cancels it (it waits): its owner or an admin.
    Cancel,
    /// Marks it for removal (done or failed): admins only.
    Remove,
}

/// The refusal of an admin's action to `user`, in the reference's words.
fn not_admin(user: &str) -> ApiError {
    ApiError::Forbidden(format!("User {user} is not in role admins."))
}

/// What deleting `compose` would do for `user`, or why they may not.
pub fn check_deletion(compose: &Compose, user: &str, is_admin: bool) -> Result<Deletion, ApiError> {
    let id = compose.id;
    if compose.state == ComposeState::Wait {
        if !is_admin && compose.owner != user {
            return Err(ApiError::Forbidden(format!(
                "Compose (id={id}) can not be canceled, it's owned by someone else."
            )));
        }
        return Ok(Deletion::Cancel);
    }
    if !is_admin {
        return Err(not_admin(user));
    }
    Ok(Deletion::Remove)
}

/// The renewal itself, in one transaction so the compose cannot change state under it.
fn renew_in(
    conn: &mut odcs_common::db::DbConnection,
    id: ComposeId,
    renewal: &RenewRequest,
    owner: &str,
    seconds_to_live: i64,
    config: &odcs_common::config::Config,
) -> Result<Renewal, ApiError> {
    // Hold the row: the expiry job cannot remove it while this decides.
    Compose::lock(conn, id)?;
    let old = Compose::find(conn, id)?
        .ok_or_else(|| ApiError::NotFound(format!("No compose with id {id} found")))?;
    let spec = stored_spec(&old, config)?;
    let needs_copy =
        matches!(old.state, ComposeState::Removed | ComposeState::Failed) || renewal.changes(&spec);
    let now = now();
    if !needs_copy {
        if old.state != ComposeState::Done {
            return Err(ApiError::NotFound(format!("No compose with id {id} found")));
        }
        let until = after(now, seconds_to_live);
        let mut family: Vec<ComposeId> = vec![old.id];
        family.extend(old.reused_id);
        family.extend(old.reusing(conn)?.iter().map(|c| c.id));
        Compose::extend_expiry(conn, &family, until)?;
        let extended = Compose::find(conn, id)?
            .ok_or_else(|| ApiError::NotFound(format!("No compose with id {id} found")))?;
        return Ok(Renewal::Extended(extended, family));
    }
    let mut copy = renewal.apply(spec, config)?;
    copy.seconds_to_live = seconds_to_live;
    copy.options.respin_of = old.pungi_compose_id.clone();
    let mut new = NewCompose::from_spec(&copy, owner, now);
    // A raw_config compose is regenerated from the configuration it was built with.
    new.pungi_config_dump = old.pungi_config_dump.clone();
    Ok(Renewal::Copied(lifecycle::create(conn, &new, config, now)?))
}

/// Cancel a waiting compose (its owner or an admin), or mark a done or failed compose expired
/// so the expiry job removes it (admins only).
#[utoipa::path(delete, path = "/api/1/composes/{id}", tag = "composes",
    params(("id" = i64, Path, description = "Compose id")),
    responses(
        (status = 202, description = "Cancelled, or accepted for removal", body = StatusMessage),
        (status = 400, description = "Not in wait, done or failed", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not the owner or an admin", body = StatusMessage),
        (status = 404, description = "No such compose", body = StatusMessage),
    ))]
pub async fn delete(
    id: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require_login(&state.config)?;
    caller.require_scope(&state.config, "delete-compose")?;
    let id = parse_id(&id)?;
    let is_admin = caller.is_admin(&state.config);
    let user = caller.name().to_owned();
    let config = state.config.clone();
    let message = db::run(&state.pool, move |conn| {
        db::in_write_transaction(conn, |conn| delete_in(conn, id, &user, is_admin, &config))
    })
    .await?;
    state.wrote(&[id]);
    Ok(HttpResponse::Accepted().json(StatusMessage {
        status: 202,
        error: None,
        message,
    }))
}

fn delete_in(
    conn: &mut odcs_common::db::DbConnection,
    id: ComposeId,
    user: &str,
    is_admin: bool,
    config: &odcs_common::config::Config,
) -> Result<String, ApiError> {
    let compose = Compose::find(conn, id)?
        .ok_or_else(|| ApiError::NotFound("No such compose found.".into()))?;
    let now = now();
    if check_deletion(&compose, user, is_admin)? == Deletion::Cancel {
        let cancel = Transition {
            from: &[ComposeState::Wait],
            to: ComposeState::Failed,
            reason: Some(format!("Canceled by {user}")),
            held_by: None,
            expired_before: None,
            changes: ComposeChanges::default(),
        };
        if lifecycle::transition(conn, id, &cancel, config, now)?.is_some() {
            tracing::info!(compose.id = %id, user, "compose canceled");
            return Ok(format!("Compose (id={id}) has been canceled"));
        }
    }
    if !is_admin {
        // It left `wait` before the cancel: removing it is for admins.
        return Err(not_admin(user));
    }
    if Compose::mark_for_removal(conn, id, user, now)? {
        tracing::info!(compose.id = %id, user, "compose marked for removal");
        return Ok(format!(
            "The delete request for compose (id={id}) has been accepted and will be processed by backend later."
        ));
    }
    Err(ApiError::BadRequest(format!(
        "Compose (id={id}) can not be removed, its state need to be in ['done', 'failed']."
    )))
}
