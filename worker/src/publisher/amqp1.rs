//! AMQP 1.0 publishing (ActiveMQ Artemis, UMB, RabbitMQ's plugin): a connection to the first
//! broker of `messaging_broker_urls` that answers, one session, and a sender link per
//! address. Messages are durable, carry the JSON body as a string (as the reference's
//! proton messages do) and the fedora-messaging headers as application properties; a
//! publish ends when the broker settles it `accepted`.

use std::collections::HashMap;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Header, Message, MessageId, Outcome, Properties,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Symbol};
use fe2o3_amqp::{Connection, Sender, Session};
use odcs_common::config::MessagingConfig;
use odcs_common::messaging::{HeaderValue, OutgoingMessage};
use odcs_common::redact::redact;
use thiserror::Error;

use super::tls::{self, TlsError};
use super::{first_answering, BrokerError};

mod external;

/// The IANA port of AMQP over TLS.
const AMQPS_PORT: u16 = 5671;

/// Why an AMQP 1.0 broker did not take a message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Amqp1Error {
    /// No broker of the list could be reached; the last one's error.
    #[error("no AMQP 1.0 broker reachable; {url}: {message}")]
    Connect {
        /// The last broker tried, password redacted.
        url: String,
        /// What went wrong there.
        message: String,
    },
    /// The TLS settings could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The session or a sender link could not be opened.
    #[error("AMQP 1.0 link to {address}: {message}")]
    Link {
        /// The address.
        address: String,
        /// What the broker said.
        message: String,
    },
    /// Sending failed (the connection dropped).
    #[error("AMQP 1.0 send: {0}")]
    Send(String),
    /// The broker settled the message other than `accepted`.
    #[error("AMQP 1.0 broker did not accept the message: {0}")]
    NotAccepted(String),
}

/// An open connection to an AMQP 1.0 broker.
pub struct Link {
    connection: ConnectionHandle<()>,
    session: SessionHandle<()>,
    senders: HashMap<String, Sender>,
    open: bool,
}

impl BrokerError for Amqp1Error {
    fn unreachable(url: String, message: String) -> Self {
        Amqp1Error::Connect { url, message }
    }

    fn is_settings(&self) -> bool {
        matches!(self, Amqp1Error::Tls(_))
    }
}

impl Link {
    /// Connects to the first broker of `config.broker_urls` that answers.
    pub async fn connect(config: &MessagingConfig) -> Result<Link, Amqp1Error> {
        first_answering(&config.broker_urls, "AMQP 1.0", |url| open(config, url)).await
    }

    /// Whether the connection may still carry messages.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Sends `message` to its topic's address and waits for the broker's outcome.
    pub async fn publish(
        &mut self,
        config: &MessagingConfig,
        message: &OutgoingMessage<'_>,
    ) -> Result<(), Amqp1Error> {
        let result = self.send(config, message).await;
        if matches!(result, Err(Amqp1Error::Send(_) | Amqp1Error::Link { .. })) {
            self.open = false;
        }
        result
    }

    async fn send(
        &mut self,
        config: &MessagingConfig,
        message: &OutgoingMessage<'_>,
    ) -> Result<(), Amqp1Error> {
        let address = config.address_of(message.topic);
        if !self.senders.contains_key(&address) {
            let sender = Sender::attach(
                &mut self.session,
                format!("odcs-relay {address}"),
                address.as_str(),
            )
            .await
            .map_err(|e| Amqp1Error::Link {
                address: address.clone(),
                message: e.to_string(),
            })?;
            self.senders.insert(address.clone(), sender);
        }
        let Some(sender) = self.senders.get_mut(&address) else {
            return Err(Amqp1Error::Send("no sender".into()));
        };
        let outcome = sender
            .send(amqp_message(message))
            .await
            .map_err(|e| Amqp1Error::Send(e.to_string()))?;
        match outcome {
            Outcome::Accepted(_) => Ok(()),
            other => Err(Amqp1Error::NotAccepted(format!("{other:?}"))),
        }
    }

    /// Detaches the links and closes the session and the connection.
    pub async fn close(mut self) {
        for (_, sender) in self.senders.drain() {
            let _ = sender.close().await;
        }
        let _ = self.session.close().await;
        let _ = self.connection.close().await;
    }
}

async fn open(config: &MessagingConfig, url: &str) -> Result<Link, Amqp1Error> {
    let failed = |message: String| Amqp1Error::Connect {
        url: redact(url),
        message,
    };
    let parsed = url::Url::parse(url).map_err(|e| failed(e.to_string()))?;
    let container_id = format!("odcs-relay-{}", uuid::Uuid::new_v4().simple());
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let builder = Connection::builder()
        .container_id(container_id)
        .domain(host.as_str());
    let secure = parsed.scheme() == "amqps";
    let credentials = !parsed.username().is_empty();
    // Credentials in the URL mean SASL PLAIN; a client certificate over TLS, EXTERNAL; else
    // ANONYMOUS.
    let connection = if secure && !credentials && config.client_certificate().is_some() {
        let mut stream = tls_stream(config, &parsed, &host).await?;
        external::authenticate(&mut stream)
            .await
            .map_err(|e| failed(e.to_string()))?;
        // Authenticated and encrypted already: fe2o3-amqp speaks plain AMQP on top.
        builder
            .scheme("amqp")
            .hostname(host.as_str())
            .open_with_stream(stream)
            .await
    } else {
        let builder = if credentials {
            builder
        } else {
            builder.sasl_profile(SaslProfile::Anonymous)
        };
        if secure {
            let connector = tokio_rustls::TlsConnector::from(tls::client_config(config)?);
            // TLS from the first byte, as ActiveMQ, Artemis and RabbitMQ expect on 5671.
            builder
                .alt_tls_establishment(true)
                .rustls_connector(connector)
                .open(parsed)
                .await
        } else {
            builder.open(parsed).await
        }
    }
    .map_err(|e| failed(e.to_string()))?;
    let mut connection = connection;
    let session = Session::begin(&mut connection)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(Link {
        connection,
        session,
        senders: HashMap::new(),
        open: true,
    })
}

/// A TLS connection to the broker of `url` (port 5671 unless it names one), presenting the
/// client certificate.
async fn tls_stream(
    config: &MessagingConfig,
    url: &url::Url,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Amqp1Error> {
    let (connector, server_name) = tls::connector_for(config, host)?;
    let tcp = tokio::net::TcpStream::connect((host, url.port().unwrap_or(AMQPS_PORT)))
        .await
        .map_err(|e| Amqp1Error::Connect {
            url: redact(url.as_str()),
            message: e.to_string(),
        })?;
    connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| Amqp1Error::Connect {
            url: redact(url.as_str()),
            message: format!("TLS: {e}"),
        })
}

fn amqp_message(
    message: &OutgoingMessage<'_>,
) -> Message<fe2o3_amqp::types::messaging::AmqpValue<String>> {
    let mut properties = ApplicationProperties::builder();
    for (name, value) in message.headers() {
        let value = match value {
            HeaderValue::Text(text) => SimpleValue::String(text),
            HeaderValue::Int(n) => SimpleValue::Long(n),
            HeaderValue::Bool(b) => SimpleValue::Bool(b),
        };
        properties = properties.insert(name, value);
    }
    Message::builder()
        .header(Header {
            durable: true,
            ..Header::default()
        })
        .properties(Properties {
            message_id: Some(MessageId::String(message.message_id.to_owned())),
            content_type: Some(Symbol::from("application/json")),
            content_encoding: Some(Symbol::from("utf-8")),
            ..Properties::default()
        })
        .application_properties(properties.build())
        .value(message.body.to_owned())
        .build()
}
