//! The `messages` table: the outbox of state-change messages.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::compose::ComposeId;
use crate::db::schema::messages;
use crate::db::DbConnection;

/// A message waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = messages)]
pub struct OutboxMessage {
    /// Outbox order: messages of one compose are published in id order.
    pub id: i64,
    /// The compose it is about.
    pub compose_id: ComposeId,
    /// Stable id, sent as the AMQP message id so consumers can drop duplicates.
    pub message_id: String,
    /// The routing key.
    pub topic: String,
    /// The JSON body.
    pub body: String,
    /// When the transition happened.
    pub created_at: NaiveDateTime,
    /// When the relay published it (or, standalone, passed it by); `None` while it waits.
    pub published_at: Option<NaiveDateTime>,
}

/// A message to add to the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage {
    /// The compose it is about.
    pub compose_id: ComposeId,
    /// Stable id.
    pub message_id: String,
    /// The routing key.
    pub topic: String,
    /// The JSON body.
    pub body: String,
    /// When the transition happened.
    pub created_at: NaiveDateTime,
    /// Set from the start where there is no bus to publish to (standalone mode): the relay
    /// would only mark it, an update of every message for nothing.
    pub published_at: Option<NaiveDateTime>,
}

impl NewMessage {
    /// Adds the message to the outbox (call inside the transition's transaction).
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        NewMessage::insert_many(conn, std::slice::from_ref(self))
    }

    /// Adds the messages to the outbox in this order (call inside the transitions'
    /// transaction): in one statement on PostgreSQL, where each statement is a round trip.
    pub fn insert_many(conn: &mut DbConnection, messages: &[NewMessage]) -> QueryResult<()> {
        /// Rows per statement: six parameters each, well under PostgreSQL's 65,535.
        const ROWS: usize = 1000;
        crate::db::commit_signal::wrote_messages();
        match conn {
            DbConnection::Postgresql(pg) => {
                for rows in messages.chunks(ROWS) {
                    diesel::insert_into(messages::table)
                        .values(rows)
                        .execute(pg)?;
                }
            }
            DbConnection::Sqlite(lite) => {
                for message in messages {
                    diesel::insert_into(messages::table)
                        .values(message)
                        .execute(lite)?;
                }
            }
        }
        Ok(())
    }
}

impl OutboxMessage {
    /// The oldest `limit` messages not published yet.
    pub fn oldest(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<OutboxMessage>> {
        messages::table
            .filter(messages::published_at.is_null())
            .order(messages::id.asc())
            .limit(limit)
            .select(OutboxMessage::as_select())
            .load(conn)
    }

    /// Records that the messages `ids` were published at `now`: they leave the outbox and stay
    /// as state history until [`OutboxMessage::prune`].
    pub fn mark_published(
        conn: &mut DbConnection,
        ids: &[i64],
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(messages::table.filter(messages::id.eq_any(ids)))
            .set(messages::published_at.eq(now))
            .execute(conn)
    }

    /// Deletes up to `limit` messages published before `before`; returns how many went.
    pub fn prune(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
        let old: Vec<i64> = messages::table
            .filter(messages::published_at.lt(before))
            .select(messages::id)
            .limit(limit)
            .load(conn)?;
        diesel::delete(messages::table.filter(messages::id.eq_any(old))).execute(conn)
    }

    /// The ids of up to `limit` messages after `after`, in id order (from the index alone): the
    /// event hub learns from them which ids are still missing when it starts.
    pub fn ids_after(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<i64>> {
        messages::table
            .filter(messages::id.gt(after))
            .order(messages::id.asc())
            .limit(limit)
            .select(messages::id)
            .load(conn)
    }

    /// The messages `ids`, in id order.
    pub fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<OutboxMessage>> {
        messages::table
            .filter(messages::id.eq_any(ids))
            .order(messages::id.asc())
            .select(OutboxMessage::as_select())
            .load(conn)
    }

    /// Up to `limit` messages after `after`, in id order: the state history a client that
    /// reconnects has missed.
    pub fn after(
        conn: &mut DbConnection,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<OutboxMessage>> {
        messages::table
            .filter(messages::id.gt(after))
            .order(messages::id.asc())
            .limit(limit)
            .select(OutboxMessage::as_select())
            .load(conn)
    }

    /// Up to `limit` messages about `compose` after `after`, in id order (which is the order
    /// of its transitions: each locks the compose before it writes its message).
    pub fn of_compose_after(
        conn: &mut DbConnection,
        compose: ComposeId,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<OutboxMessage>> {
        messages::table
            .filter(messages::compose_id.eq(compose))
            .filter(messages::id.gt(after))
            .order(messages::id.asc())
            .limit(limit)
            .select(OutboxMessage::as_select())
            .load(conn)
    }

    /// The largest message id there is, 0 when there are none.
    pub fn last_id(conn: &mut DbConnection) -> QueryResult<i64> {
        messages::table
            .select(diesel::dsl::max(messages::id))
            .get_result::<Option<i64>>(conn)
            .map(|id| id.unwrap_or(0))
    }

    /// How many messages wait to be published.
    pub fn pending(conn: &mut DbConnection) -> QueryResult<i64> {
        messages::table
            .filter(messages::published_at.is_null())
            .count()
            .get_result(conn)
    }
}
