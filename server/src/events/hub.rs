//! The one reader of new state-change messages in an API process, passing each to every open
//! event stream.
//!
//! It wakes when told messages were committed: the database's `odcs_state_history` notice
//! (any process, any host; heard by the change feed) or a commit of this process
//! (`odcs_common::db::commit_signal`). On PostgreSQL it never reads on a timer. SQLite sends
//! no notices, so an SQLite store written by workers in other processes (a test or development
//! set-up; standalone mode writes in this process) is also read every [`SQLITE_RECHECK`] while
//! streams are open.
//!
//! Message ids do not commit in id order, so "everything after the last id read" would skip a
//! transaction that took its id earlier and committed later. The hub therefore remembers the
//! ids it has not seen below the highest it has (gaps), and asks for them again on every read
//! with the new ones. A gap still empty after [`GAP_PATIENCE`] belongs to a transaction that
//! rolled back (or, on a database in real trouble, one that will be missed: no transition
//! holds its transaction open that long). The floor, the id below which nothing is still
//! awaited, goes out with each event (see [`crate::events::cursor`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use odcs_common::compose::{ComposeId, ComposeState};
use odcs_common::db::models::OutboxMessage;
use odcs_common::db::{commit_signal, DbConnection, DbError, DbPool};
use serde::Deserialize;
use tokio::sync::{broadcast, oneshot, watch, Notify};

/// How often the hub reads an SQLite store while streams are open.
pub const SQLITE_RECHECK: Duration = Duration::from_secs(1);

/// How long an id missing below the highest seen is still expected to commit.
pub const GAP_PATIENCE: Duration = Duration::from_secs(30);

/// How many ids below the last one are taken as possibly still in flight when the hub starts.
const START_SPAN: i64 = 1000;

/// Ids read per query.
const PAGE: i64 = 1000;

/// Gaps kept at most; beyond that the oldest are given up (a burst of rolled-back writes).
const MAX_GAPS: usize = 10_000;

/// Events buffered per stream; a stream that falls further behind is ended, and its client
/// resumes from the table.
pub const STREAM_BUFFER: usize = 4096;

/// How long a first stream waits for the hub to start reading.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What filters and the dashboard read of the compose an event is about (from the message body).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[allow(missing_docs)] // each field is the compose JSON field of the same name
pub struct Facts {
    pub owner: Option<String>,
    pub source_type: Option<i32>,
    pub source: Option<String>,
    pub state: Option<i32>,
    pub state_reason: Option<String>,
    pub label: Option<String>,
    pub compose_type: Option<String>,
}

impl Facts {
    /// The state the compose entered, when the body names a known one.
    pub fn state(&self) -> Option<ComposeState> {
        self.state.and_then(ComposeState::from_code)
    }
}

/// One state change, as read from the `messages` table.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEvent {
    /// The message id.
    pub id: i64,
    /// The compose that changed.
    pub compose: ComposeId,
    /// The message body, the JSON published on the bus.
    pub body: String,
    /// The compose as the body shows it.
    pub facts: Facts,
    /// Every message at or below this id had been passed on when this one was.
    pub floor: i64,
}

impl StateEvent {
    /// The event of `message`, passed on with `floor`.
    pub fn of(message: OutboxMessage, floor: i64) -> StateEvent {
        #[derive(Deserialize)]
        struct Body {
            compose: Facts,
        }
        let facts = serde_json::from_str::<Body>(&message.body)
            .map(|b| b.compose)
            .unwrap_or_default();
        StateEvent {
            id: message.id,
            compose: message.compose_id,
            body: message.body,
            facts,
            floor,
        }
    }
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub has not read the table yet (the database is away); try again.
    #[error("the event hub is not reading the database yet")]
    NotStarted,
    /// The hub's thread could not be started.
    #[error("starting the event hub: {0}")]
    Thread(#[from] std::io::Error),
}

/// Wakes a hub: messages were committed (a notice from the database, or a reconnected feed
/// that may have missed some), read again.
#[derive(Clone, Default)]
pub struct HubWaker(Arc<Notify>);

impl HubWaker {
    /// Makes the hub read the table again.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The running hub; dropping it stops its thread, which ends every stream.
pub struct EventHub {
    sender: broadcast::Sender<Arc<StateEvent>>,
    closing: watch::Sender<bool>,
    wake: HubWaker,
    floor: Arc<AtomicI64>,
    reading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EventHub {
    /// Starts the hub's thread. It reads nothing until the first stream opens, and from then
    /// on after every commit it hears of (and, with `recheck`, that often while streams are
    /// open).
    pub fn start(pool: DbPool, recheck: Option<Duration>) -> Result<EventHub, HubError> {
        let (sender, _) = broadcast::channel(STREAM_BUFFER);
        let wake = HubWaker::default();
        let floor = Arc::new(AtomicI64::new(0));
        let (reading_tx, reading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let reader = Reader {
            pool,
            sender: sender.clone(),
            floor: floor.clone(),
            reading: reading_tx,
            window: None,
            recheck,
        };
        let woken = wake.0.clone();
        let thread = std::thread::Builder::new()
            .name("odcs-event-hub".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(reader.run(woken, stopped)),
                    Err(e) => tracing::error!(error = %e, "event hub not started"),
                }
            })?;
        Ok(EventHub {
            sender,
            closing: watch::channel(false).0,
            wake,
            floor,
            reading,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// What wakes this hub.
    pub fn waker(&self) -> HubWaker {
        self.wake.clone()
    }

    /// A receiver of every event from now on. It returns once the hub reads the table, so a
    /// stream that replays history after subscribing misses nothing between the two.
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<Arc<StateEvent>>, HubError> {
        let receiver = self.sender.subscribe();
        self.wake.wake();
        let mut reading = self.reading.clone();
        let started = tokio::time::timeout(START_TIMEOUT, reading.wait_for(|reading| *reading))
            .await
            .is_ok_and(|waited| waited.is_ok());
        if started {
            Ok(receiver)
        } else {
            Err(HubError::NotStarted)
        }
    }

    /// Ends every open stream (the server is stopping: a stream would hold it up until its
    /// client left). Clients reconnect, to another process or to this one restarted.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Tells a stream when to end (see [`EventHub::close_streams`]).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Every message at or below this id has been passed on (0 before the hub reads).
    pub fn floor(&self) -> i64 {
        self.floor.load(Ordering::Acquire)
    }

    /// How many streams are open.
    pub fn streams(&self) -> usize {
        self.sender.receiver_count()
    }
}

impl Drop for EventHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The hub's thread.
struct Reader {
    pool: DbPool,
    sender: broadcast::Sender<Arc<StateEvent>>,
    floor: Arc<AtomicI64>,
    reading: watch::Sender<bool>,
    window: Option<Window>,
    recheck: Option<Duration>,
}

impl Reader {
    async fn run(mut self, wake: Arc<Notify>, mut stopped: oneshot::Receiver<()>) {
        let mut commits = commit_signal::subscribe();
        loop {
            let recheck = async {
                match self.recheck {
                    Some(every) if self.sender.receiver_count() > 0 => {
                        tokio::time::sleep(every).await
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = recheck => {}
                changed = commits.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                _ = &mut stopped => break,
            }
            if self.sender.receiver_count() == 0 && self.window.is_none() {
                continue;
            }
            let pool = self.pool.clone();
            let mut window = self.window.take();
            let sender = self.sender.clone();
            let read = tokio::task::spawn_blocking(move || {
                let result = pool.get().map_err(DbError::Pool).and_then(|mut conn| {
                    conn.run(|c| read(c, &mut window, &sender))
                        .map_err(DbError::from)
                });
                (window, result)
            })
            .await;
            match read {
                Ok((window, result)) => {
                    if let Err(e) = result {
                        // Read again at the next commit heard of; the gaps wait meanwhile.
                        tracing::warn!(error = %e, "event hub cannot read the state history");
                    }
                    if let Some(window) = &window {
                        self.floor.store(window.floor(), Ordering::Release);
                        self.reading.send_replace(true);
                    }
                    self.window = window;
                }
                Err(e) => tracing::error!(error = %e, "event hub read failed"),
            }
        }
    }
}

/// Reads what is new since `window` (starting it when there is none) and sends it.
fn read(
    conn: &mut DbConnection,
    window: &mut Option<Window>,
    sender: &broadcast::Sender<Arc<StateEvent>>,
) -> diesel::QueryResult<()> {
    let now = Instant::now();
    let Some(window) = window else {
        *window = Some(Window::start(conn, now)?);
        return Ok(());
    };
    window.expire_gaps(now);
    // Late commits below the highest id read, then what is new, a page at a time.
    let gaps: Vec<i64> = window.gaps.keys().copied().collect();
    let mut found = Vec::new();
    for gaps in gaps.chunks(PAGE as usize) {
        found.extend(OutboxMessage::by_ids(conn, gaps)?);
    }
    loop {
        let new = OutboxMessage::after(conn, window.highest, PAGE)?;
        let full_page = new.len() as i64 == PAGE;
        found.extend(new);
        found.sort_unstable_by_key(|message| message.id);
        for message in found.drain(..) {
            window.saw(message.id, now);
            let _ = sender.send(Arc::new(StateEvent::of(message, window.floor())));
        }
        if !full_page {
            return Ok(());
        }
    }
}

/// What the hub has seen: the highest id, and the ids below it still awaited.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    highest: i64,
    /// Missing ids, with when a higher id was first seen.
    gaps: BTreeMap<i64, Instant>,
}

impl Window {
    /// Starts after the messages there are now: the last [`START_SPAN`] ids not there yet may
    /// still commit, so they are awaited.
    fn start(conn: &mut DbConnection, now: Instant) -> diesel::QueryResult<Window> {
        let highest = OutboxMessage::last_id(conn)?;
        let from = (highest - START_SPAN).max(0);
        let mut window = Window {
            highest: from,
            gaps: BTreeMap::new(),
        };
        let mut after = from;
        loop {
            let ids = OutboxMessage::ids_after(conn, after, PAGE)?;
            for id in &ids {
                if *id <= highest {
                    window.saw(*id, now);
                }
            }
            match ids.last() {
                Some(last) if ids.len() as i64 == PAGE && *last < highest => after = *last,
                _ => break,
            }
        }
        window.saw_up_to(highest, now);
        Ok(window)
    }

    /// Message `id` was read.
    fn saw(&mut self, id: i64, now: Instant) {
        if id > self.highest {
            self.saw_up_to(id - 1, now);
            self.highest = id;
        } else {
            self.gaps.remove(&id);
        }
    }

    /// Every id up to `id` not read yet is awaited from now.
    fn saw_up_to(&mut self, id: i64, now: Instant) {
        for missing in self.highest + 1..=id {
            self.gaps.insert(missing, now);
        }
        self.highest = self.highest.max(id);
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
    }

    /// Gives up the ids awaited longer than [`GAP_PATIENCE`].
    fn expire_gaps(&mut self, now: Instant) {
        self.gaps
            .retain(|_, since| now.duration_since(*since) < GAP_PATIENCE);
    }

    /// Every id at or below this has been read (or given up).
    fn floor(&self) -> i64 {
        self.gaps
            .keys()
            .next()
            .map_or(self.highest, |first| first - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(highest: i64) -> Window {
        Window {
            highest,
            gaps: BTreeMap::new(),
        }
    }

    #[test]
    fn ids_read_out_of_order_leave_gaps_until_they_come() {
        let now = Instant::now();
        let mut w = window(10);
        w.saw(13, now);
        assert_eq!(w.gaps.keys().copied().collect::<Vec<_>>(), [11, 12]);
        assert_eq!(w.floor(), 10);
        w.saw(11, now);
        assert_eq!(w.floor(), 11);
        w.saw(12, now);
        assert_eq!((w.floor(), w.highest), (13, 13));
    }

    #[test]
    fn gaps_are_given_up_after_their_patience() {
        let then = Instant::now();
        let mut w = window(0);
        w.saw(3, then);
        w.expire_gaps(then + GAP_PATIENCE / 2);
        assert_eq!(w.floor(), 0);
        w.expire_gaps(then + GAP_PATIENCE);
        assert_eq!(w.floor(), 3);
    }

    #[test]
    fn a_burst_of_gaps_keeps_the_newest() {
        let now = Instant::now();
        let mut w = window(0);
        w.saw(MAX_GAPS as i64 + 11, now);
        assert_eq!(w.gaps.len(), MAX_GAPS);
        assert_eq!(w.floor(), 10);
    }

    #[test]
    fn bodies_show_the_compose_to_filters() {
        let message = OutboxMessage {
            id: 5,
            compose_id: ComposeId(9),
            message_id: "m".into(),
            topic: "odcs.state.change".into(),
            body: r#"{"event":"state-changed","compose":{"id":9,"owner":"me","state":2,"source_type":1,"source":"f40","label":null,"compose_type":"test"}}"#.into(),
            created_at: chrono::NaiveDateTime::default(),
            published_at: None,
        };
        let event = StateEvent::of(message, 4);
        assert_eq!(event.facts.owner.as_deref(), Some("me"));
        assert_eq!(event.facts.state(), Some(ComposeState::Done));
        assert_eq!(event.floor, 4);
    }
}
