//! The `composes` table: rows, inserts and the queries the server and workers share.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::compose::{
    ComposeFlags, ComposeId, ComposeResults, ComposeState, MultilibMethods, SourceType,
};
use crate::db::planned::PlannedEachTime;
use crate::db::schema::composes;
use crate::db::{DbConnection, MultiBackend};
use crate::spec::ComposeSpec;

/// One stored compose, column for column.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = composes)]
#[allow(missing_docs)] // each field is the reference's column of the same name
pub struct Compose {
    pub id: ComposeId,
    pub owner: String,
    pub source_type: SourceType,
    pub source: String,
    pub modular_koji_tags: Option<String>,
    pub module_defaults_url: Option<String>,
    pub koji_event: Option<i64>,
    pub sigkeys: Option<String>,
    pub state: ComposeState,
    pub state_reason: Option<String>,
    pub results: ComposeResults,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub flags: ComposeFlags,
    pub time_to_expire: NaiveDateTime,
    pub time_submitted: NaiveDateTime,
    pub time_started: Option<NaiveDateTime>,
    pub time_done: Option<NaiveDateTime>,
    pub time_removed: Option<NaiveDateTime>,
    pub removed_by: Option<String>,
    pub reused_id: Option<ComposeId>,
    pub koji_task_id: Option<i64>,
    pub arches: Option<String>,
    pub multilib_arches: Option<String>,
    pub multilib_method: Option<MultilibMethods>,
    pub lookaside_repos: Option<String>,
    pub label: Option<String>,
    pub compose_type: Option<String>,
    pub pungi_compose_id: Option<String>,
    pub pungi_config_dump: Option<String>,
    pub celery_task_id: Option<String>,
    pub target_dir: Option<String>,
    pub scratch_modules: Option<String>,
    pub scratch_build_tasks: Option<String>,
    pub parent_pungi_compose_ids: Option<String>,
    pub modules: Option<String>,
    pub respin_of: Option<String>,
    pub base_module_br_name: Option<String>,
    pub base_module_br_stream: Option<String>,
    pub base_module_br_stream_version_lte: Option<i64>,
    pub base_module_br_stream_version_gte: Option<i64>,
    pub traceparent: Option<String>,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub dispatched_at: Option<NaiveDateTime>,
    pub attempts: i32,
}

/// A compose about to be stored; it always starts in `wait`.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = composes)]
#[allow(missing_docs)] // each field but the last is the column of the same name
pub struct NewCompose {
    pub owner: String,
    pub source_type: SourceType,
    pub source: String,
    pub modular_koji_tags: Option<String>,
    pub module_defaults_url: Option<String>,
    pub koji_event: Option<i64>,
    pub sigkeys: Option<String>,
    pub state: ComposeState,
    pub results: ComposeResults,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub flags: ComposeFlags,
    pub time_to_expire: NaiveDateTime,
    pub time_submitted: NaiveDateTime,
    pub arches: Option<String>,
    pub multilib_arches: Option<String>,
    pub multilib_method: Option<MultilibMethods>,
    pub lookaside_repos: Option<String>,
    pub label: Option<String>,
    pub compose_type: Option<String>,
    pub pungi_config_dump: Option<String>,
    pub target_dir: Option<String>,
    pub scratch_modules: Option<String>,
    pub scratch_build_tasks: Option<String>,
    pub parent_pungi_compose_ids: Option<String>,
    pub modules: Option<String>,
    pub respin_of: Option<String>,
    pub base_module_br_name: Option<String>,
    pub base_module_br_stream: Option<String>,
    pub base_module_br_stream_version_lte: Option<i64>,
    pub base_module_br_stream_version_gte: Option<i64>,
    pub traceparent: Option<String>,
    /// The client's `Idempotency-Key`, stored beside the compose (not a column of it).
    #[diesel(skip_insertion)]
    pub idempotency: Option<super::IdempotencyClaim>,
}

impl NewCompose {
    /// Stores the compose and returns the row with its new id.
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<Compose> {
        // RETURNING is spelled out per backend: diesel's multi-connection backend cannot
        // express it, though both databases support it.
        macro_rules! insert_on {
            ($conn:expr) => {
                diesel::insert_into(composes::table)
                    .values(self)
                    .returning(Compose::as_returning())
                    .get_result($conn)
            };
        }
        match conn {
            DbConnection::Postgresql(pg) => insert_on!(pg),
            DbConnection::Sqlite(lite) => insert_on!(lite),
        }
    }

    /// Stores `news` and returns their rows, in the same order. On PostgreSQL that is one
    /// statement per thousand composes: a burst of creates stored together is parsed, planned
    /// and sent once instead of once per compose.
    pub fn insert_many(conn: &mut DbConnection, news: &[NewCompose]) -> QueryResult<Vec<Compose>> {
        /// Rows per statement: some thirty parameters each, well under PostgreSQL's 65,535.
        const ROWS: usize = 1000;
        match conn {
            DbConnection::Postgresql(pg) => {
                let mut stored = Vec::with_capacity(news.len());
                for rows in news.chunks(ROWS) {
                    let mut inserted: Vec<Compose> = diesel::insert_into(composes::table)
                        .values(rows)
                        .returning(Compose::as_returning())
                        .get_results(pg)?;
                    // The sequence numbers the rows in the order of the VALUES list, whatever
                    // order RETURNING hands them back in.
                    inserted.sort_by_key(|compose| compose.id);
                    stored.append(&mut inserted);
                }
                Ok(stored)
            }
            DbConnection::Sqlite(_) => news.iter().map(|new| new.insert(conn)).collect(),
        }
    }
}

/// Equality filters of the list endpoint; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each field filters the column of the same name
pub struct ComposeFilter {
    pub owner: Option<String>,
    pub source_type: Option<SourceType>,
    pub source: Option<String>,
    pub state: Option<ComposeState>,
    pub koji_task_id: Option<i64>,
    pub pungi_compose_id: Option<String>,
    pub compose_type: Option<String>,
    pub label: Option<String>,
    /// A state or source type number no compose can have was asked for: nothing matches (the
    /// reference answers an empty page, not an error).
    pub impossible: bool,
}

/// A column the list endpoint can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant sorts by the column of the same name
pub enum OrderKey {
    Id,
    Owner,
    SourceType,
    KojiEvent,
    State,
    TimeToExpire,
    TimeSubmitted,
    TimeDone,
    TimeRemoved,
}

impl OrderKey {
    /// Every key with its query-string name, in the order the API documents them.
    pub const ALL: &'static [(&'static str, OrderKey)] = &[
        ("id", OrderKey::Id),
        ("owner", OrderKey::Owner),
        ("source_type", OrderKey::SourceType),
        ("koji_event", OrderKey::KojiEvent),
        ("state", OrderKey::State),
        ("time_to_expire", OrderKey::TimeToExpire),
        ("time_submitted", OrderKey::TimeSubmitted),
        ("time_done", OrderKey::TimeDone),
        ("time_removed", OrderKey::TimeRemoved),
    ];
}

/// A sort order: a column, and whether it runs high to low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComposeOrder {
    /// The column.
    pub key: OrderKey,
    /// High to low when true.
    pub descending: bool,
}

impl Default for ComposeOrder {
    /// Newest first, as the reference lists.
    fn default() -> Self {
        ComposeOrder {
            key: OrderKey::Id,
            descending: true,
        }
    }
}

/// How many composes of one source type are in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCount {
    /// The source type.
    pub source_type: SourceType,
    /// The state.
    pub state: ComposeState,
    /// The number of composes.
    pub count: i64,
}

type BoxedComposes<'a> = composes::BoxedQuery<'a, MultiBackend>;

fn filtered(filter: &ComposeFilter) -> BoxedComposes<'_> {
    let mut query = composes::table.into_boxed();
    if let Some(owner) = &filter.owner {
        query = query.filter(composes::owner.eq(owner));
    }
    if let Some(source_type) = filter.source_type {
        query = query.filter(composes::source_type.eq(source_type));
    }
    if let Some(source) = &filter.source {
        query = query.filter(composes::source.eq(source));
    }
    if let Some(state) = filter.state {
        query = query.filter(composes::state.eq(state));
    }
    if let Some(task) = filter.koji_task_id {
        query = query.filter(composes::koji_task_id.eq(task));
    }
    if let Some(id) = &filter.pungi_compose_id {
        query = query.filter(composes::pungi_compose_id.eq(id));
    }
    if let Some(compose_type) = &filter.compose_type {
        query = query.filter(composes::compose_type.eq(compose_type));
    }
    if let Some(label) = &filter.label {
        query = query.filter(composes::label.eq(label));
    }
    if filter.impossible {
        // Ids start at 1.
        query = query.filter(composes::id.lt(0));
    }
    query
}

fn ordered(query: BoxedComposes<'_>, order: ComposeOrder) -> BoxedComposes<'_> {
    use composes::dsl as c;
    // Ties (several composes with the same owner, state, ...) are broken by id, so pages never
    // overlap or skip rows.
    macro_rules! by {
        ($col:expr) => {
            if order.descending {
                query.order(($col.desc(), c::id.desc()))
            } else {
                query.order(($col.asc(), c::id.asc()))
            }
        };
    }
    match order.key {
        OrderKey::Id if order.descending => query.order(c::id.desc()),
        OrderKey::Id => query.order(c::id.asc()),
        OrderKey::Owner => by!(c::owner),
        OrderKey::SourceType => by!(c::source_type),
        OrderKey::KojiEvent => by!(c::koji_event),
        OrderKey::State => by!(c::state),
        OrderKey::TimeToExpire => by!(c::time_to_expire),
        OrderKey::TimeSubmitted => by!(c::time_submitted),
        OrderKey::TimeDone => by!(c::time_done),
        OrderKey::TimeRemoved => by!(c::time_removed),
    }
}

impl Compose {
    /// The compose with `id`, if stored.
    pub fn find(conn: &mut DbConnection, id: ComposeId) -> QueryResult<Option<Compose>> {
        // The hottest query runs on the backend's own connection: the multi-backend wrapper
        // would build its SQL again on every call instead of reusing the prepared statement.
        macro_rules! find_on {
            ($conn:expr) => {
                composes::table
                    .find(id)
                    .select(composes::all_columns)
                    .first($conn)
                    .optional()
            };
        }
        match conn {
            DbConnection::Postgresql(pg) => find_on!(pg),
            DbConnection::Sqlite(lite) => find_on!(lite),
        }
    }

    /// Takes compose `id`'s row until the transaction ends (a write lock on both backends), so
    /// what is read of it next cannot change under the caller; false when there is no such row.
    pub fn lock(conn: &mut DbConnection, id: ComposeId) -> QueryResult<bool> {
        let locked = diesel::update(composes::table.find(id))
            .set(composes::state.eq(composes::state))
            .execute(conn)?;
        Ok(locked == 1)
    }

    /// Waiting composes whose job was never handed to a queue, submitted before `before`,
    /// oldest first, at most `limit`: the job outbox.
    pub fn undispatched(
        conn: &mut DbConnection,
        before: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<ComposeId>> {
        composes::table
            .filter(composes::state.eq(ComposeState::Wait))
            .filter(composes::dispatched_at.is_null())
            .filter(composes::time_submitted.lt(before))
            .order((composes::time_submitted.asc(), composes::id.asc()))
            .select(composes::id)
            .limit(limit)
            .load(conn)
    }

    /// How many composes match `filter`.
    pub fn count(conn: &mut DbConnection, filter: &ComposeFilter) -> QueryResult<i64> {
        filtered(filter).count().get_result(conn)
    }

    /// One page of the composes matching `filter`; `page` counts from 1. A filtered page is
    /// planned with the filters' values each time (see [`crate::db::planned`]); an unfiltered
    /// one has no values to plan with, so it stays prepared and is neither parsed nor planned
    /// again.
    pub fn page(
        conn: &mut DbConnection,
        filter: &ComposeFilter,
        order: ComposeOrder,
        page: i64,
        per_page: i64,
    ) -> QueryResult<Vec<Compose>> {
        let query = ordered(filtered(filter), order)
            .select(Compose::as_select())
            .limit(per_page)
            .offset((page - 1).saturating_mul(per_page));
        if *filter == ComposeFilter::default() {
            query.load(conn)
        } else {
            PlannedEachTime(query).load(conn)
        }
    }

    /// The composes that reuse this one.
    pub fn reusing(&self, conn: &mut DbConnection) -> QueryResult<Vec<Compose>> {
        composes::table
            .filter(composes::reused_id.eq(self.id))
            .select(Compose::as_select())
            .load(conn)
    }

    /// Moves the expiry of each done compose in `ids` to `until`, unless it already expires
    /// later.
    pub fn extend_expiry(
        conn: &mut DbConnection,
        ids: &[ComposeId],
        until: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            composes::table
                .filter(composes::id.eq_any(ids))
                .filter(composes::state.eq(ComposeState::Done))
                .filter(composes::time_to_expire.lt(until)),
        )
        .set(composes::time_to_expire.eq(until))
        .execute(conn)
    }

    /// Marks a done or failed compose as expired now, removed by `user`, for the expiry job to
    /// delete; false when it is in another state.
    pub fn mark_for_removal(
        conn: &mut DbConnection,
        id: ComposeId,
        user: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let removable = [ComposeState::Done, ComposeState::Failed];
        let changed = diesel::update(
            composes::table
                .find(id)
                .filter(composes::state.eq_any(removable)),
        )
        .set((
            composes::time_to_expire.eq(now),
            composes::removed_by.eq(user),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    }

    /// How many composes there are per source type and state.
    pub fn count_by_source_type_and_state(conn: &mut DbConnection) -> QueryResult<Vec<StateCount>> {
        let rows: Vec<(SourceType, ComposeState, i64)> = composes::table
            .group_by((composes::source_type, composes::state))
            .select((
                composes::source_type,
                composes::state,
                diesel::dsl::count_star(),
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(source_type, state, count)| StateCount {
                source_type,
                state,
                count,
            })
            .collect())
    }
}

/// How many raw_config composes of one `source` (`key#commit`) are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawConfigCount {
    /// `key#commit_or_branch`.
    pub source: String,
    /// The state.
    pub state: ComposeState,
    /// The number of composes.
    pub count: i64,
}

impl Compose {
    /// How many raw_config composes there are per source and state.
    pub fn count_raw_config_by_source_and_state(
        conn: &mut DbConnection,
    ) -> QueryResult<Vec<RawConfigCount>> {
        let rows: Vec<(String, ComposeState, i64)> = composes::table
            .filter(composes::source_type.eq(SourceType::RawConfig))
            .group_by((composes::source, composes::state))
            .select((composes::source, composes::state, diesel::dsl::count_star()))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(source, state, count)| RawConfigCount {
                source,
                state,
                count,
            })
            .collect())
    }
}

impl Compose {
    /// Earlier composes with the same request as `compose` (any event) that it might reuse:
    /// done ones newest first, then ones still generating oldest first. Never one that
    /// itself reuses another, one an admin deleted, one past its expiry at `now`, nor one
    /// whose stored request cannot be read.
    pub fn reuse_candidates(
        conn: &mut DbConnection,
        compose: &Compose,
        spec: &ComposeSpec,
        now: NaiveDateTime,
    ) -> QueryResult<Vec<Compose>> {
        let candidates = |state: ComposeState| {
            composes::table
                .filter(composes::source_type.eq(compose.source_type))
                .filter(composes::id.lt(compose.id))
                .filter(composes::reused_id.is_null())
                .filter(composes::state.eq(state))
                .filter(composes::source.eq(spec.source.text()))
                .filter(composes::removed_by.is_null())
                .filter(composes::time_to_expire.gt(now))
                .select(Compose::as_select())
        };
        let mut found: Vec<Compose> = candidates(ComposeState::Done)
            .order(composes::id.desc())
            .limit(REUSE_CANDIDATES)
            .load(conn)?;
        let generating: Vec<Compose> = candidates(ComposeState::Generating)
            .filter(composes::lease_expires_at.is_not_null())
            .order(composes::id.asc())
            .limit(REUSE_CANDIDATES)
            .load(conn)?;
        found.extend(generating);
        found.retain(|c| c.spec().is_ok_and(|old| spec.same_request_as(&old)));
        Ok(found)
    }
}

/// Most earlier composes of each state looked at for reuse.
const REUSE_CANDIDATES: i64 = 50;

#[cfg(all(test, feature = "test-support"))]
mod plan_tests {
    use super::*;
    use crate::db::testing::{Store, TestDb};
    use diesel::sql_types::BigInt;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[test]
    fn filtered_pages_are_never_kept_as_prepared_statements() {
        let db = TestDb::new(Store::Postgres);
        let pool = crate::db::pool::build(&db.url, 1).expect("pool");
        let mut conn = pool.get().expect("connection");
        crate::db::migrations::run_pending(&mut conn).expect("migrate");
        let filter = ComposeFilter {
            owner: Some("someone".into()),
            state: Some(ComposeState::Done),
            ..ComposeFilter::default()
        };
        for _ in 0..8 {
            Compose::page(&mut conn, &filter, ComposeOrder::default(), 1, 10).expect("page");
            Compose::count(&mut conn, &filter).expect("count");
        }
        let prepared = |conn: &mut DbConnection, like: &str| -> i64 {
            diesel::sql_query(
                "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE $1",
            )
            .bind::<diesel::sql_types::Text, _>(like)
            .get_result::<Count>(conn)
            .expect("prepared statements")
            .n
        };
        assert_eq!(
            prepared(&mut conn, "%LIMIT%"),
            0,
            "the page query is planned each time"
        );
        assert_eq!(
            prepared(&mut conn, "%COUNT(*)%"),
            1,
            "the count is prepared once"
        );
        for _ in 0..3 {
            Compose::page(
                &mut conn,
                &ComposeFilter::default(),
                ComposeOrder::default(),
                1,
                10,
            )
            .expect("page");
        }
        assert_eq!(
            prepared(&mut conn, "%LIMIT%"),
            1,
            "the unfiltered page, with no values to plan with, is prepared once"
        );
    }
}
