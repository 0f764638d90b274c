//! The `worker_heartbeats` table: which worker processes are alive and what they consume.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::worker_heartbeats;
use crate::db::DbConnection;

/// How long after its last beat a worker still counts as alive (four of its beats missed, at
/// the workers' 15 s).
pub const ALIVE_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// How long a worker process that stopped beating (killed, its host gone) is still listed by
/// the metrics, as offline, before the beat forgets it.
pub const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// One worker process as it last said it was alive.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = worker_heartbeats)]
pub struct WorkerHeartbeat {
    /// `host-pid`, unique among the processes sharing the database.
    pub name: String,
    /// The queues it consumes, comma separated (`in-process` for standalone mode's queue).
    pub queues: String,
    /// Jobs it runs at once.
    pub concurrency: i32,
    /// When the process started.
    pub started_at: NaiveDateTime,
    /// When it last said it was alive.
    pub seen_at: NaiveDateTime,
}

impl WorkerHeartbeat {
    /// Records the beat (inserting the row the first time; a name is one process's, so no
    /// other writes it meanwhile).
    pub fn record(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let updated = diesel::update(worker_heartbeats::table.find(&self.name))
            .set((
                worker_heartbeats::queues.eq(&self.queues),
                worker_heartbeats::concurrency.eq(self.concurrency),
                worker_heartbeats::seen_at.eq(self.seen_at),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(worker_heartbeats::table)
                .values(self)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Every worker known (seen within [`FORGET_AFTER`], or not yet forgotten), by name.
    pub fn known(conn: &mut DbConnection) -> QueryResult<Vec<WorkerHeartbeat>> {
        worker_heartbeats::table
            .order(worker_heartbeats::name.asc())
            .select(WorkerHeartbeat::as_select())
            .load(conn)
    }

    /// Deletes the workers not seen since `before`; returns how many went.
    pub fn forget_before(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(worker_heartbeats::table.filter(worker_heartbeats::seen_at.lt(before)))
            .execute(conn)
    }

    /// Deletes worker `name`'s row (it stopped).
    pub fn forget(conn: &mut DbConnection, name: &str) -> QueryResult<usize> {
        diesel::delete(worker_heartbeats::table.filter(worker_heartbeats::name.eq(name)))
            .execute(conn)
    }

    /// Whether it counts as alive at `now`.
    pub fn is_alive(&self, now: NaiveDateTime) -> bool {
        self.seen_at >= now - ALIVE_FOR
    }

    /// The queues it consumes.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.split(',').filter(|q| !q.is_empty())
    }
}
