//! The `text/event-stream` wire format (WHATWG HTML, "Server-sent events").

use actix_web::web::Bytes;

/// How long a client waits before reconnecting after the connection drops, in milliseconds.
pub const RETRY_MS: u64 = 1000;

/// The first bytes of every stream: the reconnection delay.
pub fn opening() -> Bytes {
    Bytes::from(format!("retry: {RETRY_MS}\n\n"))
}

/// One event with `data` (one line: the JSON bodies are compact), and `id` when it has one.
pub fn event(id: Option<&str>, data: &str) -> Bytes {
    let mut frame = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        frame.push_str("id: ");
        frame.push_str(id);
        frame.push('\n');
    }
    for line in data.lines() {
        frame.push_str("data: ");
        frame.push_str(line);
        frame.push('\n');
    }
    frame.push('\n');
    Bytes::from(frame)
}

/// A comment line, which clients ignore: it keeps idle connections open through proxies and
/// tells the server a client has gone.
pub fn keepalive() -> Bytes {
    Bytes::from_static(b": keepalive\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_as_the_standard_says() {
        assert_eq!(
            event(Some("7"), r#"{"a":1}"#),
            Bytes::from("id: 7\ndata: {\"a\":1}\n\n")
        );
        assert_eq!(
            event(None, "one\ntwo"),
            Bytes::from("data: one\ndata: two\n\n")
        );
        assert_eq!(opening(), Bytes::from("retry: 1000\n\n"));
    }
}
