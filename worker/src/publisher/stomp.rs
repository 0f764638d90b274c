//! STOMP 1.2 publishing, for UMB and other ActiveMQ-style buses (and RabbitMQ's plugin): a
//! connection to the first broker of `messaging_broker_urls` that answers (`stomp://`, or
//! `stomp+ssl://` with the client certificate), each message a persistent SEND that asks for
//! a receipt; a publish ends when the broker's RECEIPT arrives.
//!
//! The framing is written here: the Rust STOMP clients available either lack client
//! certificates and receipts or carry a licence this project cannot take, and a publisher
//! needs three frames of the protocol.

use odcs_common::config::MessagingConfig;
use odcs_common::messaging::{HeaderValue, OutgoingMessage};
use odcs_common::redact::redact;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use super::tls::{self, TlsError};
use super::{first_answering, BrokerError};

/// The largest frame a broker's answer may be; answers are a few headers.
const MAX_ANSWER: usize = 1 << 20;

/// Why a STOMP broker did not take a message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StompError {
    /// No broker of the list could be reached; the last one's error.
    #[error("no STOMP broker reachable; {url}: {message}")]
    Connect {
        /// The last broker tried, password redacted.
        url: String,
        /// What went wrong there.
        message: String,
    },
    /// The TLS settings could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection failed while sending or waiting for the receipt.
    #[error("STOMP connection: {0}")]
    Io(#[from] std::io::Error),
    /// The broker answered with an ERROR frame.
    #[error("STOMP broker refused: {0}")]
    Refused(String),
    /// The broker answered with something the protocol does not allow here.
    #[error("STOMP broker sent an unexpected {0} frame")]
    Unexpected(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection to a STOMP broker.
pub struct Link {
    stream: BufStream<Box<dyn Io>>,
    receipts: u64,
    open: bool,
}

/// A frame: its command, its headers in order, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    command: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Frame {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The frame on the wire. Header names and values are escaped as STOMP 1.2 says, except
    /// in CONNECT, which 1.0 brokers must still read.
    fn encode(&self) -> Vec<u8> {
        let escape = |text: &str| {
            if self.command == "CONNECT" {
                return text.to_owned();
            }
            text.replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\r', "\\r")
                .replace(':', "\\c")
        };
        let mut out = format!("{}\n", self.command).into_bytes();
        for (name, value) in &self.headers {
            out.extend(format!("{}:{}\n", escape(name), escape(value)).into_bytes());
        }
        if !self.body.is_empty() {
            out.extend(format!("content-length:{}\n", self.body.len()).into_bytes());
        }
        out.push(b'\n');
        out.extend(&self.body);
        out.push(0);
        out
    }

    /// Reads one frame from `bytes` (without its trailing NUL), skipping heart-beat newlines.
    fn decode(bytes: &[u8]) -> Option<Frame> {
        let text = std::str::from_utf8(bytes).ok()?;
        let text = text.trim_start_matches(['\r', '\n']);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .or_else(|| text.split_once("\n\n"))
            .unwrap_or((text, ""));
        let mut lines = head.lines();
        let command = lines.next()?.trim_end_matches('\r').to_owned();
        let unescape = |text: &str| {
            let mut out = String::with_capacity(text.len());
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('c') => out.push(':'),
                    Some(other) => out.push(other),
                    None => {}
                }
            }
            out
        };
        let headers = lines
            .filter_map(|line| line.trim_end_matches('\r').split_once(':'))
            .map(|(n, v)| (unescape(n), unescape(v)))
            .collect();
        Some(Frame {
            command,
            headers,
            body: body.as_bytes().to_vec(),
        })
    }
}

impl BrokerError for StompError {
    fn unreachable(url: String, message: String) -> Self {
        StompError::Connect { url, message }
    }

    fn is_settings(&self) -> bool {
        matches!(self, StompError::Tls(_))
    }
}

impl Link {
    /// Connects to the first broker of `config.broker_urls` that answers.
    pub async fn connect(config: &MessagingConfig) -> Result<Link, StompError> {
        first_answering(&config.broker_urls, "STOMP", |url| open(config, url)).await
    }

    /// Whether the connection may still carry messages.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Sends `message` to its topic's destination and waits for the broker's receipt.
    pub async fn publish(
        &mut self,
        config: &MessagingConfig,
        message: &OutgoingMessage<'_>,
    ) -> Result<(), StompError> {
        self.receipts += 1;
        let receipt = format!("odcs-{}", self.receipts);
        let mut headers = vec![
            ("destination".to_owned(), config.address_of(message.topic)),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("persistent".to_owned(), "true".to_owned()),
            ("amqp-message-id".to_owned(), message.message_id.to_owned()),
            ("receipt".to_owned(), receipt.clone()),
        ];
        headers.extend(message.headers().into_iter().map(|(name, value)| {
            let value = match value {
                HeaderValue::Text(text) => text,
                HeaderValue::Int(n) => n.to_string(),
                HeaderValue::Bool(b) => b.to_string(),
            };
            (name, value)
        }));
        let send = Frame {
            command: "SEND".into(),
            headers,
            body: message.body.as_bytes().to_vec(),
        };
        let result = self.exchange(&send, &receipt).await;
        if result.is_err() {
            self.open = false;
        }
        result
    }

    async fn exchange(&mut self, send: &Frame, receipt: &str) -> Result<(), StompError> {
        self.stream.write_all(&send.encode()).await?;
        self.stream.flush().await?;
        loop {
            let answer = read_frame(&mut self.stream).await?;
            match answer.command.as_str() {
                "RECEIPT" if answer.header("receipt-id") == Some(receipt) => return Ok(()),
                "ERROR" => return Err(refusal(&answer)),
                // A late receipt of a message given up on earlier; it was delivered then.
                "RECEIPT" => continue,
                other => return Err(StompError::Unexpected(other.to_owned())),
            }
        }
    }

    /// Says goodbye to the broker.
    pub async fn close(mut self) {
        let goodbye = Frame {
            command: "DISCONNECT".into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let _ = self.stream.write_all(&goodbye.encode()).await;
        let _ = self.stream.shutdown().await;
    }
}

fn refusal(frame: &Frame) -> StompError {
    let body = String::from_utf8_lossy(&frame.body);
    let message = frame.header("message").unwrap_or_default();
    StompError::Refused(format!("{message} {}", body.trim()).trim().to_owned())
}

async fn read_frame(stream: &mut BufStream<Box<dyn Io>>) -> Result<Frame, StompError> {
    let mut bytes = Vec::new();
    loop {
        let read = stream.read_until(0, &mut bytes).await?;
        if read == 0 {
            return Err(StompError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if bytes.len() > MAX_ANSWER {
            return Err(StompError::Unexpected("oversized".into()));
        }
        bytes.pop();
        if bytes.iter().all(|b| matches!(b, b'\n' | b'\r')) {
            // Heart-beats only; the frame is yet to come.
            bytes.clear();
            continue;
        }
        return Frame::decode(&bytes).ok_or_else(|| StompError::Unexpected("unreadable".into()));
    }
}

async fn open(config: &MessagingConfig, url: &str) -> Result<Link, StompError> {
    let failed = |message: String| StompError::Connect {
        url: redact(url),
        message,
    };
    let parsed = url::Url::parse(url).map_err(|e| failed(e.to_string()))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port().unwrap_or(61613);
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| failed(e.to_string()))?;
    let io: Box<dyn Io> = if matches!(parsed.scheme(), "stomp+ssl" | "stomps") {
        let (connector, name) = tls::connector_for(config, &host)?;
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| failed(e.to_string()))?,
        )
    } else {
        Box::new(tcp)
    };
    let mut stream = BufStream::new(io);
    // The virtual host is the URL's path, as RabbitMQ names it; "/" by default.
    let vhost = match parsed.path().trim_start_matches('/') {
        "" => "/".to_owned(),
        path => percent_decode(path),
    };
    let mut headers = vec![
        ("accept-version".to_owned(), "1.2".to_owned()),
        ("host".to_owned(), vhost),
        ("heart-beat".to_owned(), "0,0".to_owned()),
    ];
    if !parsed.username().is_empty() {
        headers.push(("login".into(), percent_decode(parsed.username())));
        headers.push((
            "passcode".into(),
            percent_decode(parsed.password().unwrap_or_default()),
        ));
    }
    let connect = Frame {
        command: "CONNECT".into(),
        headers,
        body: Vec::new(),
    };
    stream
        .write_all(&connect.encode())
        .await
        .map_err(|e| failed(e.to_string()))?;
    stream.flush().await.map_err(|e| failed(e.to_string()))?;
    let answer = read_frame(&mut stream)
        .await
        .map_err(|e| failed(e.to_string()))?;
    match answer.command.as_str() {
        "CONNECTED" => Ok(Link {
            stream,
            receipts: 0,
            open: true,
        }),
        "ERROR" => Err(failed(refusal(&answer).to_string())),
        other => Err(failed(format!("answered CONNECT with {other}"))),
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_escape_headers_and_carry_their_length() {
        let frame = Frame {
            command: "SEND".into(),
            headers: vec![("destination".into(), "/topic/a:b\nc\\d".into())],
            body: b"{\"x\": 1}".to_vec(),
        };
        let wire = frame.encode();
        assert_eq!(
            wire,
            b"SEND\ndestination:/topic/a\\cb\\nc\\\\d\ncontent-length:8\n\n{\"x\": 1}\0"
        );
        let decoded = Frame::decode(&wire[..wire.len() - 1]).expect("decodes");
        assert_eq!(decoded.header("destination"), Some("/topic/a:b\nc\\d"));
        assert_eq!(decoded.body, frame.body);
    }

    #[test]
    fn answers_are_read_past_heart_beats() {
        let receipt =
            Frame::decode(b"\n\r\nRECEIPT\r\nreceipt-id:odcs-7\r\n\r\n").expect("decodes");
        assert_eq!(receipt.command, "RECEIPT");
        assert_eq!(receipt.header("receipt-id"), Some("odcs-7"));
        let connect = Frame {
            command: "CONNECT".into(),
            headers: vec![("login".into(), "a:b".into())],
            body: Vec::new(),
        };
        assert_eq!(
            connect.encode(),
            b"CONNECT\nlogin:a:b\n\n\0",
            "CONNECT is not escaped"
        );
    }

    #[test]
    fn user_and_password_in_the_url_are_decoded() {
        assert_eq!(percent_decode("p%40ss%3Aword+1"), "p@ss:word+1");
        assert_eq!(percent_decode("%2Fumb"), "/umb");
    }
}
