//! `/api/1/composes/{id}/events` and `/api/1/events`: compose state changes as Server-Sent
//! Events (see [`crate::events`]).

use actix_web::{web, HttpRequest, HttpResponse};
use odcs_common::api::StatusMessage;

use crate::error::ApiError;
use crate::events::cursor::{Cursor, LAST_EVENT_ID, LAST_EVENT_ID_PARAMETER};
use crate::events::filter::EventFilter;
use crate::events::stream;
use crate::routes::composes::parse_id;
use crate::state::AppState;

/// The cursor a reconnecting client sent (the `Last-Event-ID` header), or the one a first
/// connection asked for (the `last_event_id` parameter), if any.
fn resume(req: &HttpRequest) -> Result<Option<Cursor>, ApiError> {
    if let Some(value) = req.headers().get(LAST_EVENT_ID) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::BadRequest(format!("{LAST_EVENT_ID} is not text")))?;
        return Cursor::parse(value).map(Some);
    }
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == LAST_EVENT_ID_PARAMETER)
        .map(|(_, value)| Cursor::parse(&value))
        .transpose()
}

/// A compose's state changes as Server-Sent Events: its history first (or, with
/// `Last-Event-ID`, what came after that event), then each change as it commits. The stream
/// ends after `done`, `failed` or `removed`; a reconnection with nothing left to send is
/// answered 204, which tells an EventSource to stop. Each event's data is the body of the
/// `odcs.state.change` message; its id is the message id.
#[utoipa::path(get, path = "/api/1/composes/{id}/events", tag = "composes",
    params(
        ("id" = i64, Path, description = "Compose id"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received, to resume after it"),
        ("last_event_id" = Option<String>, Query, description = "Resume after this event id on a first connection (the header wins)"),
    ),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 204, description = "The compose is in a final state and nothing follows the event given"),
        (status = 400, description = "Last-Event-ID is not an id this server sent", body = StatusMessage),
        (status = 404, description = "No such compose", body = StatusMessage),
    ))]
pub async fn compose(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    stream::compose_events(&state, id, resume(&req)?).await
}

/// State changes of every compose the filters pass, as Server-Sent Events, from now on (or,
/// with `Last-Event-ID`, from that event on: events can come twice, never go missing; drop
/// repeats by the message id before the colon). Filters: `owner`, `source_type`, `source`,
/// `state`, `label`, `compose_type`.
#[utoipa::path(get, path = "/api/1/events", tag = "composes",
    params(
        ("owner" = Option<String>, Query, description = "Only composes of this owner"),
        ("source_type" = Option<String>, Query, description = "Only this source type (name or number)"),
        ("source" = Option<String>, Query, description = "Only this source"),
        ("state" = Option<String>, Query, description = "Only changes into this state (name or number)"),
        ("label" = Option<String>, Query, description = "Only composes with this label"),
        ("compose_type" = Option<String>, Query, description = "Only composes of this type"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received, to resume after it"),
        ("last_event_id" = Option<String>, Query, description = "Resume after this event id on a first connection (the header wins)"),
    ),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 400, description = "An unknown parameter, a bad value, or a Last-Event-ID this server never sent", body = StatusMessage),
    ))]
pub async fn all(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let filter = EventFilter::parse(req.query_string())?;
    stream::all_events(&state, filter, resume(&req)?).await
}
