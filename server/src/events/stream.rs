//! One client's stream: what it missed, from the table, then what the hub passes on.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use odcs_common::compose::ComposeId;
use odcs_common::db::models::{Compose, OutboxMessage};
use odcs_common::db::view::compose_json;
use odcs_common::messaging::StateChanged;
use tokio::sync::{broadcast, mpsc, watch};

use crate::db;
use crate::error::ApiError;
use crate::events::cursor::Cursor;
use crate::events::filter::EventFilter;
use crate::events::frames;
use crate::events::hub::{StateEvent, STREAM_BUFFER};
use crate::state::AppState;

/// How often an idle stream sends a keepalive comment.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Messages read from the table per query while replaying.
const REPLAY_PAGE: i64 = 1000;

/// Messages replayed on one connection at most; a client further behind gets these, then the
/// stream ends and it resumes from the last.
const REPLAY_MAX: usize = 20_000;

/// Frames queued for a client's connection.
const FRAMES_QUEUED: usize = 64;

/// `GET /api/1/composes/{id}/events`: compose `id`'s state changes after `resume` (all of its
/// history without one), ending after a final state.
pub async fn compose_events(
    state: &AppState,
    id: ComposeId,
    resume: Option<Cursor>,
) -> Result<HttpResponse, ApiError> {
    let (mut live, mut closing) = subscribe(state).await?;
    let after = resume.map_or(0, |cursor| cursor.last);
    let (compose, history) = db::run(&state.pool, move |conn| {
        let compose = Compose::find(conn, id)?;
        let history = OutboxMessage::of_compose_after(conn, id, after, REPLAY_MAX as i64)?;
        Ok((compose, history))
    })
    .await?;
    let compose = compose.ok_or_else(|| ApiError::NotFound("No such compose found.".into()))?;
    let compose_final = !compose.state.is_pending();
    if history.is_empty() && resume.is_some() && compose_final {
        // Nothing more will come: tells an EventSource not to reconnect.
        return Ok(HttpResponse::NoContent().finish());
    }
    let snapshot = (history.is_empty() && resume.is_none()).then(|| {
        // The history was pruned: the compose as it is now stands in for it.
        let body = StateChanged::new(compose_json(&compose, &state.config, false));
        serde_json::to_string(&body).unwrap_or_default()
    });
    Ok(event_stream(move |out| async move {
        if let Some(snapshot) = snapshot {
            send(&out, frames::event(None, &snapshot)).await?;
            if compose_final {
                return None;
            }
        }
        let mut last = after;
        for message in history {
            last = message.id;
            if send_compose_event(&out, &StateEvent::of(message, 0)).await? {
                return None;
            }
        }
        let mut keepalive = keepalive_timer();
        loop {
            let event = next_live(&mut live, &mut keepalive, &out, &mut closing).await?;
            // Ids of one compose commit in order: a lower one was replayed already.
            if event.compose != id || event.id <= last {
                continue;
            }
            last = event.id;
            if send_compose_event(&out, &event).await? {
                return None;
            }
        }
    }))
}

/// `GET /api/1/events`: the state changes of every compose `filter` passes, from now on, or
/// after `resume`.
pub async fn all_events(
    state: &AppState,
    filter: EventFilter,
    resume: Option<Cursor>,
) -> Result<HttpResponse, ApiError> {
    let (mut live, mut closing) = subscribe(state).await?;
    // Every message at or below the hub's floor had committed before the replay reads.
    let committed = state.events.floor();
    let pool = state.pool.clone();
    Ok(event_stream(move |out| async move {
        let mut floor = resume.map_or(0, |cursor| cursor.floor);
        let mut replayed = HashSet::new();
        if resume.is_some() {
            let start = floor;
            let mut after = floor;
            loop {
                let page = db::run(&pool, move |conn| {
                    Ok(OutboxMessage::after(conn, after, REPLAY_PAGE)?)
                })
                .await
                .ok()?;
                let full = page.len() as i64 == REPLAY_PAGE;
                for message in page {
                    after = message.id;
                    replayed.insert(message.id);
                    let event = StateEvent::of(message, start.max(after.min(committed)));
                    floor = event.floor;
                    if filter.matches(&event.facts) {
                        send(&out, global_frame(&event)).await?;
                    }
                }
                if !full {
                    break;
                }
                if replayed.len() >= REPLAY_MAX {
                    return None;
                }
            }
        }
        let mut keepalive = keepalive_timer();
        loop {
            let event = next_live(&mut live, &mut keepalive, &out, &mut closing).await?;
            if event.id <= floor || replayed.remove(&event.id) {
                continue;
            }
            if filter.matches(&event.facts) {
                send(&out, global_frame(&event)).await?;
            }
        }
    }))
}

/// A new stream's receiver of the hub's events, and what tells it the server is stopping.
async fn subscribe(
    state: &AppState,
) -> Result<(broadcast::Receiver<Arc<StateEvent>>, watch::Receiver<bool>), ApiError> {
    let live = state
        .events
        .subscribe()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok((live, state.events.closing()))
}

/// Sends `event` on a per-compose stream, whose id is the message id; `Some(true)` when the
/// stream ends after it (the compose reached a final state), `None` once the client has gone.
async fn send_compose_event(out: &mpsc::Sender<Bytes>, event: &StateEvent) -> Option<bool> {
    send(out, frames::event(Some(&event.id.to_string()), &event.body)).await?;
    Some(event.facts.state().is_some_and(|state| !state.is_pending()))
}

/// An event of the all-composes stream, with its `ID:FLOOR` id.
fn global_frame(event: &StateEvent) -> Bytes {
    frames::event(
        Some(&Cursor::global_event_id(event.id, event.floor)),
        &event.body,
    )
}

fn keepalive_timer() -> tokio::time::Interval {
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

/// The next event the hub passes on, sending keepalives while there is none. `None` ends the
/// stream: the client left, the server is stopping, or the client fell more than
/// [`STREAM_BUFFER`] events behind (it resumes from the table when it reconnects).
async fn next_live(
    live: &mut broadcast::Receiver<Arc<StateEvent>>,
    keepalive: &mut tokio::time::Interval,
    out: &mpsc::Sender<Bytes>,
    closing: &mut watch::Receiver<bool>,
) -> Option<Arc<StateEvent>> {
    loop {
        tokio::select! {
            _ = closing.wait_for(|closing| *closing) => return None,
            event = live.recv() => return match event {
                Ok(event) => Some(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, buffer = STREAM_BUFFER, "event stream fell behind; ending it so its client resumes");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = keepalive.tick() => send(out, frames::keepalive()).await?,
        }
    }
}

/// Queues `frame` for the client; `None` once the client has gone.
async fn send(out: &mpsc::Sender<Bytes>, frame: Bytes) -> Option<()> {
    out.send(frame).await.ok()
}

/// A `text/event-stream` response whose frames `produce` writes, on a task of its own, until it
/// returns or the client goes.
fn event_stream<F, Fut>(produce: F) -> HttpResponse
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = Option<()>> + 'static,
{
    let (out, frames_out) = mpsc::channel::<Bytes>(FRAMES_QUEUED);
    let opening = out.clone();
    let producing = produce(out);
    actix_web::rt::spawn(async move {
        if send(&opening, frames::opening()).await.is_some() {
            drop(opening);
            producing.await;
        }
    });
    let body = futures_util::stream::unfold(frames_out, |mut frames_out| async move {
        frames_out
            .recv()
            .await
            .map(|frame| (Ok::<_, actix_web::Error>(frame), frames_out))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
