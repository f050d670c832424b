//! Multi-row inserts in a few fixed shapes.
//!
//! Both sqlx and PostgreSQL keep a prepared statement per distinct SQL text on
//! each connection. A multi-row `INSERT` of N rows has its own text for every N,
//! so inserting batches of whatever size arrived fills those caches with large,
//! single-use statements (hundreds of megabytes across a pool under load). Rows
//! are therefore inserted in chunks whose sizes are powers of two, at most
//! [`MAX_CHUNK`]: about ten statement shapes per table, ever.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};

/// The largest chunk: well inside SQLite's 32,766 and PostgreSQL's 65,535
/// parameters per statement for tables of up to 60 columns.
pub const MAX_CHUNK: usize = 512;

/// Inserts every row of `rows`, in as few statements as the fixed shapes allow.
pub async fn insert_all<A, C>(conn: &C, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let mut remaining = rows.len();
    let mut rows = rows.into_iter();
    while remaining > 0 {
        let size = chunk_size(remaining);
        let chunk: Vec<A> = rows.by_ref().take(size).collect();
        <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(conn).await?;
        remaining -= size;
    }
    Ok(())
}

/// The largest power of two not above `remaining` or [`MAX_CHUNK`].
fn chunk_size(remaining: usize) -> usize {
    if remaining >= MAX_CHUNK { MAX_CHUNK } else { 1 << remaining.ilog2() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_take_a_few_fixed_sizes() {
        let sizes = |mut remaining: usize| {
            let mut sizes = Vec::new();
            while remaining > 0 {
                let size = chunk_size(remaining);
                sizes.push(size);
                remaining -= size;
            }
            sizes
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(1_300), [512, 512, 256, 16, 4]);
        let shapes: std::collections::BTreeSet<usize> = (1..=2_000).flat_map(sizes).collect();
        assert_eq!(shapes.len(), 10, "{shapes:?}");
    }
}
