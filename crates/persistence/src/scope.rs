//! What part of the partnership's data a caller may touch.
//!
//! Built from the caller's principal at the edge of a service and handed to every
//! store query, so the rule lives in one place: the store adds the matching `WHERE`.

use sea_orm::{ColumnTrait, Condition};

/// Where a scoped table keeps the owning organisation and the area of a row.
#[derive(Clone, Copy, Debug)]
pub struct ScopeColumns<C> {
    pub organisation: C,
    pub area: C,
}

/// The rows a caller may see. `None` on a dimension means "no restriction".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only rows belonging to this organisation (`organisations/{id}`).
    pub organisation: Option<String>,
    /// Only rows in these area codes.
    pub areas: Option<Vec<String>>,
}

impl Scope {
    /// The whole partnership.
    pub fn partnership() -> Self {
        Self::default()
    }

    pub fn organisation(organisation: impl Into<String>) -> Self {
        Self { organisation: Some(organisation.into()), areas: None }
    }

    pub fn with_areas(mut self, areas: Vec<String>) -> Self {
        self.areas = Some(areas);
        self
    }

    /// The scope as a `WHERE` condition on a table with these columns: a scoped
    /// lookup adds it to every query, so "not yours" reads as "not there".
    pub fn condition<C: ColumnTrait>(&self, columns: ScopeColumns<C>) -> Condition {
        let mut condition = Condition::all();
        if let Some(organisation) = &self.organisation {
            condition = condition.add(columns.organisation.eq(organisation.as_str()));
        }
        if let Some(areas) = &self.areas {
            condition = condition.add(columns.area.is_in(areas.iter().map(String::as_str)));
        }
        condition
    }

    /// Whether a row owned by `organisation` in `area` is inside the scope.
    pub fn admits(&self, organisation: Option<&str>, area: Option<&str>) -> bool {
        let organisation_ok = match &self.organisation {
            None => true,
            Some(required) => organisation == Some(required.as_str()),
        };
        let area_ok = match &self.areas {
            None => true,
            Some(areas) => area.is_some_and(|area| areas.iter().any(|allowed| allowed == area)),
        };
        organisation_ok && area_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partnership_admits_everything() {
        assert!(Scope::partnership().admits(None, None));
        assert!(Scope::partnership().admits(Some("organisations/a"), Some("north")));
    }

    #[test]
    fn organisation_scope_admits_only_its_own_rows() {
        let scope = Scope::organisation("organisations/a");
        assert!(scope.admits(Some("organisations/a"), None));
        assert!(!scope.admits(Some("organisations/b"), None));
        assert!(!scope.admits(None, None));
    }

    #[test]
    fn area_scope_needs_a_listed_area() {
        let scope = Scope::partnership().with_areas(vec!["north".into()]);
        assert!(scope.admits(Some("organisations/b"), Some("north")));
        assert!(!scope.admits(Some("organisations/b"), Some("south")));
        assert!(!scope.admits(Some("organisations/b"), None));
    }
}
