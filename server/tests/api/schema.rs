//! Schema invariants: migrations revert cleanly and the list queries have their indexes.

use diesel::prelude::*;
use diesel::sql_types::Text;
use odcs_common::db::{migrations, DbConnection};

use crate::on_both_stores;
use crate::support::{test_config, Store};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

fn index_names(conn: &mut DbConnection, store: Store) -> Vec<String> {
    let sql = match store {
        Store::Postgres => "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'composes'",
        Store::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'composes'"
        }
    };
    diesel::sql_query(sql)
        .load::<Name>(conn)
        .expect("indexes")
        .into_iter()
        .map(|n| n.name)
        .collect()
}

fn store_of(url: &str) -> Store {
    if url.starts_with("postgres") {
        Store::Postgres
    } else {
        Store::Sqlite
    }
}

on_both_stores!(indexes_exist_and_migrations_revert, test_config(), |app| {
    let store = store_of(&app.db.url);
    let mut conn = app.conn();
    let names = index_names(&mut conn, store);
    for index in [
        "ix_composes_state_id",
        "ix_composes_time_to_expire",
        "ix_composes_source_type_state_id",
        "ix_composes_reused_id",
        "ix_composes_owner_id",
    ] {
        assert!(
            names.iter().any(|n| n == index),
            "{index} missing from {names:?}"
        );
    }
    // Until none is left (more than there will ever be).
    for _ in 0..1000 {
        if migrations::revert_last(&mut conn).is_err() {
            break;
        }
    }
    assert!(
        index_names(&mut conn, store).is_empty(),
        "every down.sql ran"
    );
    let applied = migrations::run_pending(&mut conn).expect("up again");
    assert!(!applied.is_empty());
    assert!(migrations::run_pending(&mut conn)
        .expect("idempotent")
        .is_empty());
});
