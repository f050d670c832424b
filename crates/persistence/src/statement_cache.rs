//! SQLite statements rendered once per query shape instead of once per call.
//!
//! Building a query with sea-orm and rendering it to SQL costs a few
//! microseconds a call (5 - 8% of a lookup by key through the whole service).
//! The text depends only on the query's shape (which filters are present, how
//! many areas a scope lists), not on the values bound. So a shape's text is
//! rendered once, from placeholder arguments that can be told apart from each
//! other and from the query's own constants among the rendered values: that
//! tells where each argument is bound. A later call of the same shape binds its
//! own arguments there. The query is still built by one sea-orm function for
//! both databases; only the rendering for SQLite is remembered. In debug builds
//! (every test) each call is rendered afresh as well and must match.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use sea_orm::Statement;
use sea_orm::sea_query::{Value, Values};

use crate::{Scope, StoreError};

/// The arguments of one kind of query.
pub trait Arguments: Sized {
    /// What the statement's text depends on.
    type Shape: Hash + Eq;
    fn shape(&self) -> Self::Shape;
    /// The same shape with every argument replaced by a placeholder (see
    /// [`placeholder_text`] and [`placeholder_uuid`]).
    fn placeholders(&self) -> Self;
    /// Every argument, in an order of the implementation's choosing that is the
    /// same for two values of the same shape.
    fn values(&self) -> Vec<Value>;
}

/// Text no caller sends: placeholder `index` for a text argument.
pub fn placeholder_text(index: usize) -> String {
    format!("\u{1}placeholder {index}\u{1}")
}

/// A UUID no row has (version bits zero): placeholder `index` for a UUID argument.
pub fn placeholder_uuid(index: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x1_0000_0000 + index as u128)
}

/// A number no page size reaches: placeholder `index` for a numeric argument.
pub fn placeholder_number(index: usize) -> u64 {
    0x1_0000_0000 + index as u64
}

/// Numbers placeholders in the order an [`Arguments::placeholders`] asks for them.
#[derive(Debug, Default)]
pub struct Placeholders {
    next: usize,
}

impl Placeholders {
    fn take(&mut self) -> usize {
        self.next += 1;
        self.next
    }

    pub fn text(&mut self) -> String {
        placeholder_text(self.take())
    }

    /// `Some` placeholder text where `present` has a value.
    pub fn text_for<T>(&mut self, present: Option<&T>) -> Option<String> {
        present.map(|_| self.text())
    }

    pub fn uuid(&mut self) -> uuid::Uuid {
        placeholder_uuid(self.take())
    }

    pub fn number(&mut self) -> u64 {
        placeholder_number(self.take())
    }

    /// A scope of the same shape as `scope` (an organisation or not, as many areas).
    pub fn scope(&mut self, scope: &Scope) -> Scope {
        Scope {
            organisation: self.text_for(scope.organisation.as_ref()),
            areas: scope.areas.as_ref().map(|areas| areas.iter().map(|_| self.text()).collect()),
        }
    }
}

/// What a scope's text depends on: whether it names an organisation, how many areas.
pub fn scope_shape(scope: &Scope) -> (bool, Option<usize>) {
    (scope.organisation.is_some(), scope.areas.as_ref().map(Vec::len))
}

/// A scope's arguments, for [`Arguments::values`].
pub fn scope_values(scope: &Scope, values: &mut Vec<Value>) {
    values.extend(scope.organisation.as_deref().map(Value::from));
    values.extend(scope.areas.iter().flatten().map(|area| Value::from(area.as_str())));
}

/// Where a rendered statement's values come from.
#[derive(Debug)]
enum Slot {
    /// The argument at this index of [`Arguments::values`].
    Argument(usize),
    /// A constant of the query itself (a state code, say).
    Fixed(Value),
}

#[derive(Debug)]
struct Rendered {
    sql: Arc<str>,
    slots: Vec<Slot>,
}

/// Statements of one kind of query, rendered for SQLite, by shape.
#[derive(Debug)]
pub struct StatementCache<S> {
    rendered: RwLock<HashMap<S, Arc<Rendered>>>,
}

impl<S> Default for StatementCache<S> {
    fn default() -> Self {
        Self { rendered: RwLock::new(HashMap::new()) }
    }
}

impl<S: Hash + Eq> StatementCache<S> {
    /// The statement `build` makes for `arguments`, rendered for SQLite: its
    /// text (once per shape) and its values.
    pub fn statement<A: Arguments<Shape = S>>(
        &self,
        arguments: &A,
        build: impl Fn(&A) -> sea_orm::Statement,
    ) -> Result<(Arc<str>, Values), StoreError> {
        let shape = arguments.shape();
        let known = self.rendered.read().ok().and_then(|rendered| rendered.get(&shape).cloned());
        let rendered = match known {
            Some(rendered) => rendered,
            None => {
                let rendered = Arc::new(render(arguments, &build)?);
                if let Ok(mut cache) = self.rendered.write() {
                    cache.insert(shape, Arc::clone(&rendered));
                }
                rendered
            }
        };
        let given = arguments.values();
        let mut values = Vec::with_capacity(rendered.slots.len());
        for slot in &rendered.slots {
            values.push(match slot {
                Slot::Argument(index) => given
                    .get(*index)
                    .cloned()
                    .ok_or_else(|| mismatch("an argument the shape does not have"))?,
                Slot::Fixed(value) => value.clone(),
            });
        }
        let statement = (Arc::clone(&rendered.sql), Values(values));
        if cfg!(debug_assertions) {
            let fresh = build(arguments);
            debug_assert_eq!(&*statement.0, fresh.sql, "the shape does not decide the statement's text");
            debug_assert_eq!(Some(&statement.1), fresh.values.as_ref(), "values bound out of place");
        }
        Ok(statement)
    }
}

/// The text of `arguments`' shape, and where each value comes from.
fn render<A: Arguments>(arguments: &A, build: &impl Fn(&A) -> Statement) -> Result<Rendered, StoreError> {
    let placeholders = arguments.placeholders();
    let marks = placeholders.values();
    if marks.iter().enumerate().any(|(index, mark)| marks[..index].contains(mark)) {
        return Err(mismatch("two placeholders alike"));
    }
    let Statement { sql, values, .. } = build(&placeholders);
    let slots = values
        .map(|values| values.0)
        .unwrap_or_default()
        .into_iter()
        .map(|value| match marks.iter().position(|mark| *mark == value) {
            Some(index) => Slot::Argument(index),
            None => Slot::Fixed(value),
        })
        .collect();
    Ok(Rendered { sql: sql.into(), slots })
}

fn mismatch(what: &str) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Custom(format!("statement cache: {what}")))
}

#[cfg(test)]
mod tests {
    use sea_orm::ExprTrait as _;
    use sea_orm::sea_query::{Alias, Expr, Query, SqliteQueryBuilder};

    use super::*;

    /// `SELECT … WHERE id = ? AND state = 'active' [AND name IN (…)] LIMIT ?`
    #[derive(Clone, Debug)]
    struct Find {
        id: uuid::Uuid,
        names: Vec<String>,
        limit: u64,
    }

    impl Arguments for Find {
        type Shape = usize;
        fn shape(&self) -> usize {
            self.names.len()
        }
        fn placeholders(&self) -> Self {
            Self {
                id: placeholder_uuid(0),
                names: (1..=self.names.len()).map(placeholder_text).collect(),
                limit: u64::MAX - 1,
            }
        }
        fn values(&self) -> Vec<Value> {
            let mut values = vec![self.id.into(), self.limit.into()];
            values.extend(self.names.iter().map(|name| Value::from(name.as_str())));
            values
        }
    }

    fn build(find: &Find) -> Statement {
        let mut query = Query::select();
        query
            .column(Alias::new("id"))
            .from(Alias::new("things"))
            .and_where(Expr::col(Alias::new("id")).eq(find.id))
            .and_where(Expr::col(Alias::new("state")).eq("active"));
        if !find.names.is_empty() {
            query.and_where(Expr::col(Alias::new("name")).is_in(find.names.iter().map(String::as_str)));
        }
        query.limit(find.limit);
        let (sql, values) = query.build(SqliteQueryBuilder);
        Statement::from_sql_and_values(sea_orm::DbBackend::Sqlite, sql, values)
    }

    #[test]
    fn binds_each_call_s_arguments_where_the_shape_put_them() {
        let cache = StatementCache::default();
        for (names, limit) in [(vec![], 5), (vec!["a".to_owned()], 7), (vec!["b".to_owned(), "c".into()], 9)]
        {
            for _ in 0..2 {
                let find = Find { id: uuid::Uuid::now_v7(), names: names.clone(), limit };
                let (sql, values) = cache.statement(&find, build).unwrap();
                let fresh = build(&find);
                assert_eq!(&*sql, fresh.sql);
                assert_eq!(Some(values), fresh.values);
            }
        }
        assert_eq!(cache.rendered.read().unwrap().len(), 3);
    }
}
