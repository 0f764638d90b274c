//! The `idempotency_keys` table: which compose a client's `Idempotency-Key` created.

use diesel::prelude::*;

use crate::compose::{ComposeId, ComposeState};
use crate::db::schema::{composes, idempotency_keys};
use crate::db::DbConnection;

/// A create's idempotency key and what was asked with it. Stored with the compose the create
/// stores, so a POST repeated with the key (a client retrying after a timeout) gets that compose
/// back instead of a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The `Idempotency-Key` header, as sent.
    pub key: String,
    /// SHA-256 (hex) of the request body, to tell a retry from another request reusing the key.
    pub request_hash: String,
}

/// What an owner's key was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// The compose the first create with the key stored.
    pub compose_id: ComposeId,
    /// The hash of that create's body.
    pub request_hash: String,
}

#[derive(Insertable)]
#[diesel(table_name = idempotency_keys)]
struct NewKey<'a> {
    owner: &'a str,
    key: &'a str,
    request_hash: &'a str,
    compose_id: ComposeId,
}

impl IdempotencyClaim {
    /// Records that `owner`'s key created `compose` (call inside the create's transaction). A
    /// concurrent create that stored the key first makes this fail with a unique violation, and
    /// the transaction with it.
    pub fn insert(
        &self,
        conn: &mut DbConnection,
        owner: &str,
        compose: ComposeId,
    ) -> QueryResult<()> {
        diesel::insert_into(idempotency_keys::table)
            .values(NewKey {
                owner,
                key: &self.key,
                request_hash: &self.request_hash,
                compose_id: compose,
            })
            .execute(conn)
            .map(|_| ())
    }

    /// What `owner`'s key was used for, while its compose lives: the key of a removed compose
    /// is released (deleted), so that it can name a new compose.
    pub fn find_live(&self, conn: &mut DbConnection, owner: &str) -> QueryResult<Option<KeyUse>> {
        let mine = idempotency_keys::owner
            .eq(owner)
            .and(idempotency_keys::key.eq(&self.key));
        let found: Option<(ComposeId, String)> = idempotency_keys::table
            .filter(mine)
            .select((idempotency_keys::compose_id, idempotency_keys::request_hash))
            .first(conn)
            .optional()?;
        let Some((compose_id, request_hash)) = found else {
            return Ok(None);
        };
        let state: Option<ComposeState> = composes::table
            .find(compose_id)
            .select(composes::state)
            .first(conn)
            .optional()?;
        if state.is_none_or(|state| state == ComposeState::Removed) {
            diesel::delete(
                idempotency_keys::table
                    .filter(mine.and(idempotency_keys::compose_id.eq(compose_id))),
            )
            .execute(conn)?;
            return Ok(None);
        }
        Ok(Some(KeyUse {
            compose_id,
            request_hash,
        }))
    }
}
