//! Compare-and-set writes on a row's version, the number behind its etag
//! (AIP-154): a write lands only on the version it was based on, so two writers
//! cannot both win, on SQLite or on PostgreSQL's READ COMMITTED.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter as _, UpdateMany, Value,
};

use crate::{Etag, StoreError};

/// The columns of a versioned table.
#[derive(Clone, Copy, Debug)]
pub struct Versioned<C> {
    pub id: C,
    pub version: C,
}

/// `Err(StoreError::Stale)` when the caller sent an etag and the row has moved on
/// from it; no etag asks for no check.
pub fn expect_version(current: i64, supplied: Option<Etag>) -> Result<(), StoreError> {
    if Etag::from_version(current).admits(supplied) { Ok(()) } else { Err(StoreError::Stale) }
}

impl<C: ColumnTrait> Versioned<C> {
    /// Writes `row`'s set columns to the row `id` as version `version + 1`, only if
    /// it is still at `version`; `StoreError::Stale` if another write got there first.
    /// Any column `row` sets is written; its id and version are set here.
    pub async fn save<A, Conn>(
        &self,
        conn: &Conn,
        row: A,
        id: impl Into<Value>,
        version: i64,
    ) -> Result<(), StoreError>
    where
        A: ActiveModelTrait + Send,
        A::Entity: EntityTrait<Column = C>,
        Conn: ConnectionTrait,
    {
        let written = self.update(row, id, version).exec(conn).await?;
        if written.rows_affected == 1 { Ok(()) } else { Err(StoreError::Stale) }
    }

    /// The statement [`Versioned::save`] runs, for a store that runs its own
    /// (the SQLite writer): it changed one row, or the row was [`StoreError::Stale`].
    pub fn update<A>(&self, mut row: A, id: impl Into<Value>, version: i64) -> UpdateMany<A::Entity>
    where
        A: ActiveModelTrait,
        A::Entity: EntityTrait<Column = C>,
    {
        row.not_set(self.id);
        row.set(self.version, Value::from(version + 1));
        <A::Entity as EntityTrait>::update_many()
            .set(row)
            .filter(self.id.eq(id))
            .filter(self.version.eq(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_checked_only_when_sent() {
        assert!(expect_version(3, None).is_ok());
        assert!(expect_version(3, Some(Etag::from_version(3))).is_ok());
        assert!(matches!(expect_version(4, Some(Etag::from_version(3))), Err(StoreError::Stale)));
    }
}
