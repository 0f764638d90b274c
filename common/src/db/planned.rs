//! Queries planned with their parameters' values every time they run.
//!
//! diesel prepares a statement once per connection and PostgreSQL, after a few runs, switches
//! a prepared statement to one generic plan made without the parameters' values. For a page of
//! a filtered list that plan is the wrong one: it cannot know that `LIMIT` is 10 or how many
//! rows the filters keep, so it collects and sorts every match (tens of milliseconds over a
//! million composes) where walking an index in order stops after the first ten (a fraction of
//! a millisecond). A query wrapped in [`PlannedEachTime`] is sent unprepared, as an unnamed
//! statement, which PostgreSQL plans with the values it is given.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `Q`, never kept as a prepared statement (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct PlannedEachTime<Q>(pub Q);

impl<Q: Query> Query for PlannedEachTime<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> QueryId for PlannedEachTime<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for PlannedEachTime<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        pass.unsafe_to_cache_prepared();
        self.0.walk_ast(pass.reborrow())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for PlannedEachTime<Q> {}
