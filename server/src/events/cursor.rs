//! Event ids and `Last-Event-ID`.
//!
//! Message ids come from a sequence, so they are handed out in order but do not commit in
//! order: a transaction holding id 7 may commit after the one holding id 8. Within one compose
//! they do (each transition locks the compose before it writes its message), so the
//! per-compose stream's event id is the message id, and resuming after it is exact.
//!
//! The all-composes stream's event id is `ID:FLOOR`: the message id and a floor, an id at or
//! below which every message was already sent on this stream (the rest were never committed).
//! Resuming sends the messages above the floor, so a late commit below the last id is not
//! lost; the messages between the floor and the last id that the client did get come again,
//! and a client drops them by id (at-least-once, as on the bus).

use crate::error::ApiError;

/// The header a reconnecting client sends with the last event id it got.
pub const LAST_EVENT_ID: &str = "Last-Event-ID";

/// The query parameter that gives a first connection a cursor (an EventSource cannot send
/// headers): a page rendered from the database starts its stream where its rows were read.
/// The header wins when both are sent (a reconnection of that stream).
pub const LAST_EVENT_ID_PARAMETER: &str = "last_event_id";

/// Where a client's stream resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// The last message id the client got.
    pub last: i64,
    /// Every message at or below this id was sent to the client.
    pub floor: i64,
}

impl Cursor {
    /// The event id of message `id` on the all-composes stream, sent with `floor`.
    pub fn global_event_id(id: i64, floor: i64) -> String {
        format!("{id}:{floor}")
    }

    /// Reads a `Last-Event-ID` header: `ID` (a per-compose event id, taken as its own floor)
    /// or `ID:FLOOR`.
    pub fn parse(value: &str) -> Result<Cursor, ApiError> {
        let number = |text: &str| text.trim().parse::<i64>().ok().filter(|n| *n >= 0);
        let cursor = match value.split_once(':') {
            None => number(value).map(|last| Cursor { last, floor: last }),
            Some((last, floor)) => number(last)
                .zip(number(floor))
                .map(|(last, floor)| Cursor { last, floor }),
        };
        cursor.ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{LAST_EVENT_ID} must be an event id this server sent (ID or ID:FLOOR), got {value:?}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_read_back_as_cursors() {
        assert_eq!(
            Cursor::parse(&Cursor::global_event_id(42, 40)).ok(),
            Some(Cursor {
                last: 42,
                floor: 40
            })
        );
        assert_eq!(
            Cursor::parse("17").ok(),
            Some(Cursor {
                last: 17,
                floor: 17
            })
        );
    }

    #[test]
    fn ids_this_server_never_sent_are_400() {
        for value in ["", "abc", "1:", ":2", "-1", "1:2:3", "1.5"] {
            assert!(
                matches!(Cursor::parse(value), Err(ApiError::BadRequest(_))),
                "{value}"
            );
        }
    }
}
