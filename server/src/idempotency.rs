//! `Idempotency-Key` on create: a client that repeats a POST (after a timeout, or from several
//! retrying processes at once) with the same key and body gets the compose the first one
//! created, never a second compose. Keys are kept per owner for as long as their compose lives
//! (see [`IdempotencyClaim::find_live`]).

use actix_web::HttpRequest;
use odcs_common::db::models::{Compose, IdempotencyClaim};
use odcs_common::db::DbPool;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db;
use crate::error::ApiError;

/// The request header that carries the key.
pub const HEADER: &str = "Idempotency-Key";

/// The longest key accepted (a UUID is 36 characters).
const MAX_KEY_CHARS: usize = 255;

/// The claim of a create: its key and the hash of its body (`serde_json` writes object keys in
/// sorted order, so the same JSON sent with its keys reordered is the same request). `None`
/// without the header; 400 for a key that is empty, too long or not printable ASCII.
pub fn claim(req: &HttpRequest, body: &Value) -> Result<Option<IdempotencyClaim>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            (1..=MAX_KEY_CHARS).contains(&key.len())
                && key.bytes().all(|b| (0x20..0x7f).contains(&b))
        })
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "The {HEADER} header must be 1 to {MAX_KEY_CHARS} printable ASCII characters."
            ))
        })?;
    let body = serde_json::to_vec(body).map_err(ApiError::internal)?;
    Ok(Some(IdempotencyClaim {
        key: key.to_owned(),
        request_hash: format!("{:x}", Sha256::digest(&body)),
    }))
}

/// The compose an earlier create by `owner` with this key stored, if it still lives; 422 if
/// that create had another body.
pub async fn earlier(
    pool: &DbPool,
    owner: &str,
    claim: &IdempotencyClaim,
) -> Result<Option<Compose>, ApiError> {
    let (owner, claim) = (owner.to_owned(), claim.clone());
    db::run(pool, move |conn| {
        let Some(used) = claim.find_live(conn, &owner)? else {
            return Ok(None);
        };
        if used.request_hash != claim.request_hash {
            return Err(ApiError::Unprocessable(format!(
                "The {HEADER} {:?} was used for compose {} with another request body: \
                 send a new key for a new request.",
                claim.key, used.compose_id
            )));
        }
        Ok(Compose::find(conn, used.compose_id)?)
    })
    .await
}
