//! Idempotency keys for `request_id` (AIP-155).
//!
//! A mutating request that carries a `request_id` claims its key as the first write
//! of its transaction, together with the resource it will produce and a digest of
//! the request. Concurrent twins therefore queue on the key: the first commits, the
//! others fail on its primary key, find it, and answer with the first one's
//! resource; a later retry finds it at once. A `request_id` reused with a different
//! request (another customer, other fields) is refused `REQUEST_ID_REUSED` instead
//! of replaying an answer to a question it did not ask, as payment APIs do.
//!
//! Keys are kept per organisation, so one caller's ids never reveal another's
//! resources. Only the resource name and a SHA-256 digest are stored, never the
//! request or response body, so an erasure has nothing to chase here.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, Set};

use crate::{StoreError, UniqueKey};

/// The key's primary key: a twin request that claimed it first makes a claim fail
/// on this (see [`lost_to_a_twin`]).
pub const KEY: UniqueKey = UniqueKey {
    name: "idempotency_keys_pkey",
    table: "idempotency_keys",
    columns: &["organisation", "method", "request_id"],
};

/// Whether a write failed because a concurrent twin with the same request id
/// claimed the key first: roll back and answer with [`find`].
pub fn lost_to_a_twin(err: &StoreError) -> bool {
    err.violates(&KEY)
}

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organisation: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub resource: String,
        pub create_time: DateTimeUtc,
        /// SHA-256 (hex) of the request; absent on keys stored before digests were.
        pub request_digest: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Identifies one logical request.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyKey<'a> {
    pub organisation: &'a str,
    pub method: &'a str,
    pub request_id: &'a str,
    /// SHA-256 (hex) of the request as the caller sent it, `request_id` left out.
    pub digest: &'a str,
}

/// A request's `request_id` and the digest of what it asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdentity {
    pub request_id: String,
    pub digest: String,
}

impl RequestIdentity {
    /// `request_id` with the digest of `request_bytes` (the request as encoded, its
    /// `request_id` left out).
    pub fn new(request_id: String, request_bytes: &[u8]) -> Self {
        Self { request_id, digest: digest(request_bytes) }
    }
}

impl<'a> IdempotencyKey<'a> {
    /// The key of `actor`'s call, when the request carried a `request_id`.
    pub fn for_request(actor: &'a crate::Actor, request: Option<&'a RequestIdentity>) -> Option<Self> {
        request.map(|request| Self {
            organisation: &actor.organisation,
            method: &actor.method,
            request_id: &request.request_id,
            digest: &request.digest,
        })
    }
}

/// The same `request_id` came with a different request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("request_id {request_id} was already used for a different request")]
pub struct RequestIdReused {
    pub request_id: String,
}

/// The resource an earlier request with this key produced, if any; an error when
/// the earlier request was a different one.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    key: IdempotencyKey<'_>,
) -> Result<Option<Result<String, RequestIdReused>>, StoreError> {
    let row = entity::Entity::find_by_id((
        key.organisation.to_owned(),
        key.method.to_owned(),
        key.request_id.to_owned(),
    ))
    .one(conn)
    .await?;
    Ok(row.map(|row| match row.request_digest {
        Some(stored) if stored != key.digest => {
            Err(RequestIdReused { request_id: key.request_id.to_owned() })
        }
        Some(_) | None => Ok(row.resource),
    }))
}

/// Claims this key for `resource`: the first write of the request's transaction.
/// A concurrent twin that got there first makes this fail with a unique violation
/// (on PostgreSQL, after waiting for the twin to commit), so the caller rolls back
/// and answers with [`find`] instead.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    key: IdempotencyKey<'_>,
    resource: &str,
) -> Result<(), StoreError> {
    claim_row(key, resource).insert(conn).await?;
    Ok(())
}

/// The row [`claim`] inserts, for a store that runs its own statements (the
/// SQLite writer): inserted first in the transaction, as `claim` is.
pub fn claim_row(key: IdempotencyKey<'_>, resource: &str) -> entity::ActiveModel {
    entity::ActiveModel {
        organisation: Set(key.organisation.to_owned()),
        method: Set(key.method.to_owned()),
        request_id: Set(key.request_id.to_owned()),
        resource: Set(resource.to_owned()),
        create_time: Set(chrono::Utc::now()),
        request_digest: Set(Some(key.digest.to_owned())),
    }
}

/// SHA-256 (hex) of `bytes`: the digest of a request as [`IdempotencyKey`] keeps it.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_hex_and_differ_by_content() {
        let a = RequestIdentity::new("id".into(), b"customer a");
        assert_eq!(a, RequestIdentity::new("id".into(), b"customer a"));
        assert_ne!(a.digest, RequestIdentity::new("id".into(), b"customer b").digest);
        assert_eq!(a.digest.len(), 64);
        assert!(a.digest.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
