//! Listens to the database's compose change notices (`odcs_compose_changed`, sent by triggers
//! when a change commits, see the `compose_change_notices` and `compose_insert_notices`
//! migrations) and tells the [`ComposeCache`] which composes changed and the [`PageCache`] that
//! something did, whichever process or host changed them; and to its
//! state history notices (`odcs_state_history`, see `state_history_notices`), which wake the
//! event hub to pass new state changes to the event streams.
//!
//! The feed holds one connection of its own (tokio-postgres: diesel cannot wait for a notice),
//! on a thread of its own. While it is not listening (starting, reconnecting) the cache serves
//! nothing; a connection that breaks, stops answering, or stops delivering the probe notices the
//! feed sends itself makes the cache forget everything until it listens again. SQLite has no
//! notices: there the cache stays off, and a standalone server's database is in process anyway.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use odcs_common::compose::ComposeId;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::config::SslMode;
use tokio_postgres::AsyncMessage;

use crate::compose_cache::ComposeCache;
use crate::events::HubWaker;
use crate::page_cache::PageCache;
use crate::totals::TotalsCache;

/// The channel the trigger announces changed compose ids on.
pub const CHANNEL: &str = "odcs_compose_changed";

/// The channel announcing that state-change messages were committed.
pub const HISTORY_CHANNEL: &str = "odcs_state_history";

/// The payload of the notice sent when composes are inserted (no id: one per statement).
pub const INSERTED: &str = "inserted";

/// Who hears what the feed hears.
#[derive(Clone)]
pub struct Listeners {
    /// Forgets the composes that changed.
    pub cache: Arc<ComposeCache>,
    /// Forgets every list page when anything changed.
    pub pages: Arc<PageCache>,
    /// Outdates every list total when anything changed.
    pub totals: Arc<TotalsCache>,
    /// Wakes the event hub to read the state changes committed.
    pub events: HubWaker,
}

impl Listeners {
    /// The feed listens: the caches may keep and serve from now on.
    fn listening(&self) {
        self.cache.listening();
        self.pages.listening();
        self.totals.set_listening(true);
    }

    /// The feed lost its connection: the caches forget everything and serve nothing.
    fn deaf(&self) {
        self.cache.deaf();
        self.pages.deaf();
        self.totals.set_listening(false);
    }

    /// Something changed (compose `id`, or new composes when `None`).
    fn changed(&self, id: Option<ComposeId>) {
        self.pages.forget_all();
        self.totals.invalidate();
        // Last: a test (or an operator) that sees the compose's change count grow knows the
        // pages and totals have heard of it too.
        if let Some(id) = id {
            self.cache.forget(&id);
        }
    }
}

/// How often the feed sends itself a probe notice through the database: a connection lost
/// without a word (a dropped network path), or one that no longer delivers notices, is noticed
/// within two of these and [`PING_TIMEOUT`].
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// How long a ping may take before the connection is taken for lost.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The first wait before connecting again.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between attempts to connect again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the feed cannot listen to a database.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The `database_url` has options the listening connection cannot honour.
    #[error("database_url cannot be used to listen for changes: {0}")]
    Url(String),
    /// The TLS settings of the `database_url` could not be applied.
    #[error("TLS for the change feed: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    /// The feed's thread could not be started.
    #[error("starting the change feed: {0}")]
    Thread(#[from] std::io::Error),
}

/// The running feed; dropping it stops the thread and closes its connection.
pub struct ChangeFeed {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChangeFeed {
    /// Starts listening to the PostgreSQL database at `database_url` on behalf of `listeners`.
    pub fn start(database_url: &str, listeners: Listeners) -> Result<ChangeFeed, FeedError> {
        ChangeFeed::start_probing_every(database_url, listeners, PING_INTERVAL)
    }

    /// [`ChangeFeed::start`], probing the connection every `ping_interval` (tests probe often).
    pub fn start_probing_every(
        database_url: &str,
        listeners: Listeners,
        ping_interval: Duration,
    ) -> Result<ChangeFeed, FeedError> {
        let (config, tls) = listener_config(database_url)?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("odcs-change-feed".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(listen_until_stopped(
                        config,
                        tls,
                        listeners,
                        stopped,
                        ping_interval,
                    )),
                    Err(e) => tracing::error!(error = %e, "change feed not started"),
                }
            })?;
        Ok(ChangeFeed {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How a listening session ended.
enum Ended {
    Stopped,
    Lost(String),
}

async fn listen_until_stopped(
    config: tokio_postgres::Config,
    tls: MakeTlsConnector,
    listeners: Listeners,
    mut stopped: oneshot::Receiver<()>,
    ping_interval: Duration,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let session = listen(
            &config,
            tls.clone(),
            &listeners,
            &mut stopped,
            ping_interval,
        );
        match session.await {
            Ended::Stopped => break,
            Ended::Lost(why) => {
                if listeners.cache.is_listening() {
                    // It was listening: a new outage, retried quickly at first.
                    backoff = FIRST_BACKOFF;
                }
                listeners.deaf();
                tracing::warn!(error = %why, retry_in = ?backoff, "change feed lost; compose and page caches off until it listens again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = &mut stopped => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    listeners.deaf();
}

/// One session: connects, listens, and forgets every compose a notice names until the
/// connection fails or the feed is stopped.
async fn listen(
    config: &tokio_postgres::Config,
    tls: MakeTlsConnector,
    listeners: &Listeners,
    stopped: &mut oneshot::Receiver<()>,
    ping_interval: Duration,
) -> Ended {
    // A database that does not answer must not hold up stopping (a server shutting down).
    let connected = tokio::select! {
        connected = config.connect(tls) => connected,
        _ = &mut *stopped => return Ended::Stopped,
    };
    let (client, connection) = match connected {
        Ok(pair) => pair,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    let mut notices = read_notices(connection);
    let listen = format!("LISTEN {CHANNEL}; LISTEN {HISTORY_CHANNEL}");
    let listened = tokio::select! {
        listened = client.batch_execute(&listen) => listened,
        _ = &mut *stopped => return Ended::Stopped,
    };
    if let Err(e) = listened {
        return Ended::Lost(e.to_string());
    }
    listeners.listening();
    // Messages committed while nobody listened are read now.
    listeners.events.wake();
    tracing::info!(
        channel = CHANNEL,
        "change feed listening; compose and page caches on"
    );
    let session = session_name();
    let (mut sent, mut heard) = (0u64, 0u64);
    let mut ping = tokio::time::interval(ping_interval);
    // After a stall, one probe rather than a burst of them.
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            // Notices first: a probe's notice arrives before its query returns, so it is always
            // counted before the next tick checks for it. Unbiased, a tick that fell due while
            // the thread was held up (a loaded host) could win the draw and end a healthy feed.
            biased;
            notice = notices.recv() => match notice {
                Some(Ok((channel, _))) if channel == HISTORY_CHANNEL => listeners.events.wake(),
                Some(Ok((_, payload))) => {
                    if let Some(n) = take_notice(&payload, &session, listeners) {
                        heard = heard.max(n);
                    }
                }
                Some(Err(why)) => return Ended::Lost(why),
                None => return Ended::Lost("connection closed".into()),
            },
            _ = ping.tick() => {
                if heard < sent {
                    // The connection answers but its notices stopped: nothing tells this
                    // process of changes any more (e.g. a pooler that dropped the LISTEN).
                    return Ended::Lost("the feed's own probe notice never came back".into());
                }
                sent += 1;
                let probe = format!("SELECT pg_notify('{CHANNEL}', '{PROBE_PREFIX}{session}:{sent}')");
                match tokio::time::timeout(PING_TIMEOUT, client.simple_query(&probe)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("ping unanswered".into()),
                }
            }
            _ = &mut *stopped => return Ended::Stopped,
        }
    }
}

/// What the payload of a feed's probe notice starts with; every feed hears every feed's probes
/// and ignores those of the others.
const PROBE_PREFIX: &str = "probe:";

/// A name for one listening session, unique among the feeds sharing a database.
fn session_name() -> String {
    static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

/// Acts on one notice heard by `session`: a changed compose is forgotten, and it or new
/// composes spoil the list pages and totals, another feed's probe is ignored, and a payload nobody sends makes the caches
/// forget everything, to be safe. Returns the number of the session's own probe when it is one.
fn take_notice(payload: &str, session: &str, listeners: &Listeners) -> Option<u64> {
    if let Ok(id) = payload.parse::<i32>() {
        listeners.changed(Some(ComposeId(id)));
        return None;
    }
    if payload == INSERTED {
        listeners.changed(None);
        return None;
    }
    match payload.strip_prefix(PROBE_PREFIX) {
        Some(probe) => own_probe(probe, session),
        None => {
            listeners.listening();
            None
        }
    }
}

/// The number of a probe sent by `session`, or `None` for another session's probe.
fn own_probe(probe: &str, session: &str) -> Option<u64> {
    let (name, n) = probe.rsplit_once(':')?;
    (name == session).then(|| n.parse().ok()).flatten()
}

/// Drives `connection` on a task of its own and passes on the channel and payload of each
/// notice; its last item is the reason the connection ended.
fn read_notices<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
) -> mpsc::UnboundedReceiver<Result<(String, String), String>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let why = loop {
            match messages.next().await {
                Some(Ok(AsyncMessage::Notification(notice))) => {
                    let notice = (notice.channel().to_owned(), notice.payload().to_owned());
                    if sender.send(Ok(notice)).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break e.to_string(),
                None => break "connection closed".to_owned(),
            }
        };
        let _ = sender.send(Err(why));
    });
    receiver
}

/// The libpq connection options tokio-postgres does not parse, applied here instead.
const LIBPQ_TLS_OPTIONS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// The listening connection's settings from a libpq `database_url`, with TLS as libpq would
/// apply it: `disable`, `allow`, `prefer` (the default) and `require` encrypt without checking
/// the server's certificate (unless `sslrootcert` names a CA, as libpq does for `require`),
/// `verify-ca` checks it against the CA, `verify-full` also checks the host name.
pub fn listener_config(
    database_url: &str,
) -> Result<(tokio_postgres::Config, MakeTlsConnector), FeedError> {
    let mut url = url::Url::parse(database_url).map_err(|e| FeedError::Url(e.to_string()))?;
    let options: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let option = |name: &str| {
        options
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let (sslmode, rootcert, cert, key) = (
        option("sslmode").unwrap_or_else(|| "prefer".into()),
        option("sslrootcert"),
        option("sslcert"),
        option("sslkey"),
    );
    url.query_pairs_mut().clear().extend_pairs(
        options
            .iter()
            .filter(|(key, _)| !LIBPQ_TLS_OPTIONS.contains(&key.as_str())),
    );
    if url.query() == Some("") {
        url.set_query(None);
    }
    let mut config = tokio_postgres::Config::from_str(url.as_str())
        .map_err(|e| FeedError::Url(e.to_string()))?;
    if config.get_hosts().is_empty() {
        config.host("/var/run/postgresql");
    }
    if config.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .map_err(|_| FeedError::Url("no user name in it, and USER is not set".into()))?;
        config.user(user);
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .application_name("odcs-server change feed");
    let (mode, verify, hostname) = match sslmode.as_str() {
        "disable" => (SslMode::Disable, false, false),
        "allow" | "prefer" => (SslMode::Prefer, false, false),
        "require" => (SslMode::Require, rootcert.is_some(), false),
        "verify-ca" => (SslMode::Require, true, false),
        "verify-full" => (SslMode::Require, true, true),
        other => return Err(FeedError::Url(format!("unknown sslmode {other:?}"))),
    };
    config.ssl_mode(mode);
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    if let Some(rootcert) = &rootcert {
        builder.set_ca_file(rootcert)?;
    }
    if let (Some(cert), Some(key)) = (&cert, &key) {
        builder.set_certificate_chain_file(cert)?;
        builder.set_private_key_file(key, SslFiletype::PEM)?;
    }
    builder.set_verify(if verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    let mut tls = MakeTlsConnector::new(builder.build());
    tls.set_callback(move |connection, _domain| {
        connection.set_verify_hostname(hostname);
        Ok(())
    });
    Ok((config, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_options_are_taken_out_of_the_url() {
        let (config, _) = listener_config(
            "postgres://odcs@db.example.com:5433/odcs?sslmode=disable&connect_timeout=3",
        )
        .expect("config");
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(config.get_user(), Some("odcs"));
        assert_eq!(config.get_dbname(), Some("odcs"));
        assert_eq!(config.get_ports(), &[5433]);
        let (config, _) =
            listener_config("postgres://odcs@db/odcs?sslmode=verify-full").expect("config");
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        let (config, _) = listener_config("postgres://odcs@db/odcs").expect("config");
        assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn an_unreachable_database_leaves_the_cache_off_and_the_feed_stops() {
        let cache = Arc::new(crate::compose_cache::compose_cache(10));
        let feed = ChangeFeed::start(
            "postgres://odcs@127.0.0.1:1/odcs?sslmode=disable",
            Listeners {
                cache: cache.clone(),
                pages: Arc::new(crate::page_cache::page_cache(10)),
                totals: Arc::new(TotalsCache::new(Duration::from_secs(1))),
                events: HubWaker::default(),
            },
        )
        .expect("started");
        std::thread::sleep(Duration::from_millis(300));
        assert!(!cache.is_listening());
        drop(feed);
        assert!(!cache.is_listening());
    }

    #[test]
    fn a_feed_takes_only_its_own_probes() {
        assert_eq!(own_probe("123-456-0:7", "123-456-0"), Some(7));
        assert_eq!(own_probe("123-456-1:7", "123-456-0"), None);
        assert_eq!(own_probe("123-456-0:x", "123-456-0"), None);
        assert_eq!(own_probe("garbage", "123-456-0"), None);
        assert_ne!(session_name(), session_name());
    }

    #[test]
    fn a_url_the_feed_cannot_honour_is_refused_with_a_reason() {
        let refused = listener_config("postgres://odcs@db/odcs?sslmode=sometimes")
            .err()
            .expect("refused");
        assert!(refused.to_string().contains("sslmode"), "{refused}");
        let refused = listener_config(
            "postgres://odcs@db/odcs?sslrootcert=/nonexistent/ca.pem&sslmode=verify-ca",
        )
        .err()
        .expect("refused");
        assert!(refused.to_string().contains("TLS"), "{refused}");
    }
}
