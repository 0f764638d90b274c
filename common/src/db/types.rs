//! Typed columns: compose ids, states, source types, flags, results and multilib methods are
//! read and written as the integers the reference stores, on every backend.
//!
//! Each impl is generic over the backend, so one impl serves PostgreSQL, SQLite and the
//! multi-connection backend alike (diesel asks for the last to be implemented by hand).

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{HasSqlType, Integer};

use crate::compose::{
    ComposeFlags, ComposeId, ComposeResults, ComposeState, MultilibMethods, SourceType,
};
use crate::db::MultiBackend;

/// Coded enums: stored as their code; an unknown code is a deserialization error naming it.
macro_rules! coded_column {
    ($($ty:ident),+) => {$(
        impl<DB> ToSql<Integer, DB> for $ty
        where
            DB: Backend,
            i32: ToSql<Integer, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.code_ref().to_sql(out)
            }
        }

        impl<DB> FromSql<Integer, DB> for $ty
        where
            DB: Backend,
            i32: FromSql<Integer, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let code = i32::from_sql(bytes)?;
                $ty::from_code(code).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($ty), " code {}"), code).into()
                })
            }
        }
    )+};
}

coded_column!(ComposeState, SourceType);

/// Bit sets: stored as their bits, kept whole (bits naming no member survive a round trip).
macro_rules! bits_column {
    ($($ty:ident),+) => {$(
        impl<DB> ToSql<Integer, DB> for $ty
        where
            DB: Backend,
            i32: ToSql<Integer, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.bits_ref().to_sql(out)
            }
        }

        impl<DB> FromSql<Integer, DB> for $ty
        where
            DB: Backend,
            i32: FromSql<Integer, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok($ty::from_bits(i32::from_sql(bytes)?))
            }
        }
    )+};
}

bits_column!(ComposeFlags, ComposeResults, MultilibMethods);

impl<DB> ToSql<Integer, DB> for ComposeId
where
    DB: Backend,
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.get_ref().to_sql(out)
    }
}

impl<DB> FromSql<Integer, DB> for ComposeId
where
    DB: Backend,
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(ComposeId(i32::from_sql(bytes)?))
    }
}

// The multi-connection backend knows `Integer` already; this only proves it at compile time.
const _: fn() = || {
    fn knows_integer<B: HasSqlType<Integer>>() {}
    knows_integer::<MultiBackend>();
};

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::compose::ComposeFlag;
    use crate::db::DbConnection;

    #[test]
    fn typed_columns_round_trip_on_sqlite() {
        let mut conn = DbConnection::Sqlite(
            diesel::SqliteConnection::establish(":memory:").expect("in-memory database"),
        );
        let flags: ComposeFlags = [ComposeFlag::NoDeps, ComposeFlag::NoReuse]
            .into_iter()
            .collect();
        let (state, source_type, read_flags, id): (
            ComposeState,
            SourceType,
            ComposeFlags,
            ComposeId,
        ) = diesel::select((
            ComposeState::Done.into_sql::<Integer>(),
            SourceType::PungiCompose.into_sql::<Integer>(),
            flags.into_sql::<Integer>(),
            ComposeId(42).into_sql::<Integer>(),
        ))
        .get_result(&mut conn)
        .expect("select");
        assert_eq!(state, ComposeState::Done);
        assert_eq!(source_type, SourceType::PungiCompose);
        assert_eq!(read_flags.bits(), 65);
        assert_eq!(id, ComposeId(42));

        let bad: Result<ComposeState, _> =
            diesel::select(9.into_sql::<Integer>()).get_result(&mut conn);
        let err = bad.expect_err("9 is no state");
        assert!(
            format!("{err:?}").contains("unknown ComposeState code 9"),
            "{err:?}"
        );
    }
}
