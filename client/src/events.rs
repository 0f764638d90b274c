//! A compose's state changes pushed by the server as Server-Sent Events
//! (`GET /api/1/composes/{id}/events`): a waiting client hears of `done` the moment it
//! commits, without polling and without reaching the message bus.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use odcs_common::compose::ComposeId;
use odcs_common::messaging::StateChanged;
use reqwest::{Method, StatusCode};

use crate::client::{unreachable, Client};
use crate::error::ClientError;

/// The header that resumes a stream after the last event received.
pub const LAST_EVENT_ID: &str = "Last-Event-ID";

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// What opening a compose's event stream gave.
pub enum Opened {
    /// The stream, to read state changes from.
    Stream(ComposeEvents),
    /// The compose is in a final state and nothing follows the event resumed after.
    NothingMore,
    /// The server has no event streams (an older server, or the reference ODCS): poll.
    NotOffered,
}

/// An open stream of one compose's state changes.
pub struct ComposeEvents {
    url: url::Url,
    events: Events,
    last_event_id: Option<String>,
}

impl Client {
    /// Opens compose `id`'s event stream, resuming after `last_event_id` when given; the
    /// connection is given up after `timeout`.
    pub async fn compose_events(
        &self,
        id: ComposeId,
        last_event_id: Option<&str>,
        timeout: Duration,
    ) -> Result<Opened, ClientError> {
        let url = self.url(&format!("composes/{id}/events"))?;
        let mut request = self
            .request(Method::GET, url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(timeout);
        if let Some(last) = last_event_id {
            request = request.header(LAST_EVENT_ID, last);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        let is_event_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        match response.status() {
            StatusCode::NO_CONTENT => Ok(Opened::NothingMore),
            StatusCode::OK if is_event_stream => Ok(Opened::Stream(ComposeEvents {
                url,
                events: Box::pin(response.bytes_stream().eventsource()),
                last_event_id: last_event_id.map(str::to_owned),
            })),
            _ => Ok(Opened::NotOffered),
        }
    }
}

impl ComposeEvents {
    /// The next state change, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<StateChanged>, ClientError> {
        let Some(event) = self.events.next().await else {
            return Ok(None);
        };
        let event = event.map_err(|e| match e {
            EventStreamError::Transport(e) => unreachable(&self.url, &e),
            other => ClientError::Decode {
                url: self.url.to_string(),
                reason: other.to_string(),
            },
        })?;
        if !event.id.is_empty() {
            self.last_event_id = Some(event.id.clone());
        }
        serde_json::from_str(&event.data)
            .map(Some)
            .map_err(|e| ClientError::Decode {
                url: self.url.to_string(),
                reason: format!("event {:?}: {e}", event.id),
            })
    }

    /// The id of the last event read, to resume after it.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }
}
