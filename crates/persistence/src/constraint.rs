//! Unique keys by name, so a store tells which one refused a write without
//! matching strings by hand.
//!
//! A migration creates the index from the same constant the store matches a
//! refusal against: PostgreSQL names the constraint in its message, SQLite lists
//! the key's columns (`UNIQUE constraint failed: table.a, table.b`).

use crate::StoreError;

/// A unique index or primary key of a service's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniqueKey {
    /// The index name (for a primary key, PostgreSQL's default `{table}_pkey`).
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

impl UniqueKey {
    /// Whether a database's unique-violation message is about this key.
    pub fn is_named_in(&self, detail: &str) -> bool {
        if detail.contains(&format!("\"{}\"", self.name)) {
            return true;
        }
        let Some(listed) = detail.split("UNIQUE constraint failed: ").nth(1) else { return false };
        let columns: Vec<String> =
            self.columns.iter().map(|column| format!("{}.{column}", self.table)).collect();
        listed.trim() == columns.join(", ")
    }
}

impl StoreError {
    /// Whether this is `key` refusing a write.
    pub fn violates(&self, key: &UniqueKey) -> bool {
        matches!(self, StoreError::UniqueViolation(detail) if key.is_named_in(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: UniqueKey = UniqueKey {
        name: "customers_landlord_reference",
        table: "customers",
        columns: &["landlord", "reference"],
    };

    #[test]
    fn both_databases_messages_name_the_key() {
        let postgres = "duplicate key value violates unique constraint \"customers_landlord_reference\"";
        let sqlite = "UNIQUE constraint failed: customers.landlord, customers.reference";
        for detail in [postgres, sqlite] {
            assert!(StoreError::UniqueViolation(detail.to_owned()).violates(&KEY), "{detail}");
        }
        for other in [
            "duplicate key value violates unique constraint \"customers_landlord_reference_old\"",
            "UNIQUE constraint failed: customers.landlord",
            "UNIQUE constraint failed: customers.landlord, customers.reference, customers.x",
            "UNIQUE constraint failed: idempotency_keys.organisation",
        ] {
            assert!(!StoreError::UniqueViolation(other.to_owned()).violates(&KEY), "{other}");
        }
        assert!(!StoreError::Conflict(sqlite.to_owned()).violates(&KEY));
    }
}
