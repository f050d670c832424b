//! Profile mapping: the partnership's customer base counted by tenure x area x one
//! characteristic, with how complete each profile field is. This is the baseline
//! representativeness of involvement is judged against.

use super::access::SMALL_COUNT_THRESHOLD;
use super::customer::EqualityField;

/// The optional third dimension of a profile map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Characteristic {
    Equality(EqualityField),
    PreferredLanguage,
    PreferredContactChannel,
}

/// The profile fields whose completeness is measured, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    Email,
    Phone,
    Mobile,
    DateOfBirth,
    PreferredContactChannel,
    PreferredLanguage,
    AccessibilityNeeds,
    Household,
    Uprn,
    Postcode,
    Area,
    Vulnerabilities,
    InvolvementInterests,
    Equality(EqualityField),
}

impl ProfileField {
    pub fn all() -> Vec<Self> {
        let mut fields = vec![
            Self::Email,
            Self::Phone,
            Self::Mobile,
            Self::DateOfBirth,
            Self::PreferredContactChannel,
            Self::PreferredLanguage,
            Self::AccessibilityNeeds,
            Self::Household,
            Self::Uprn,
            Self::Postcode,
            Self::Area,
            Self::Vulnerabilities,
            Self::InvolvementInterests,
        ];
        fields.extend(EqualityField::ALL.map(Self::Equality));
        fields
    }

    /// The `Customer` field path it reports as.
    pub fn path(self) -> String {
        match self {
            Self::Email => "contact.email".into(),
            Self::Phone => "contact.phone".into(),
            Self::Mobile => "contact.mobile".into(),
            Self::DateOfBirth => "date_of_birth".into(),
            Self::PreferredContactChannel => "preferred_contact_channel".into(),
            Self::PreferredLanguage => "communication_needs.preferred_language".into(),
            Self::AccessibilityNeeds => "accessibility_needs".into(),
            Self::Household => "household".into(),
            Self::Uprn => "property.uprn".into(),
            Self::Postcode => "property.postcode".into(),
            Self::Area => "area".into(),
            Self::Vulnerabilities => "vulnerabilities".into(),
            Self::InvolvementInterests => "involvement_interests".into(),
            Self::Equality(field) => format!("equality.{}", field.field_name()),
        }
    }
}

/// One counted combination, as the store returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountedCell {
    pub tenure: String,
    pub area: Option<String>,
    pub value: Option<String>,
    pub count: i64,
}

/// One cell as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapCell {
    pub tenure: String,
    pub area: Option<String>,
    pub value: Option<String>,
    /// `None` when withheld as too small to publish.
    pub count: Option<i64>,
}

/// How many customers have one field recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCompleteness {
    pub field: ProfileField,
    pub recorded: i64,
    pub total: i64,
}

impl FieldCompleteness {
    pub fn percent(&self) -> f64 {
        if self.total == 0 { 0.0 } else { (self.recorded as f64) * 100.0 / (self.total as f64) }
    }
}

/// Applies small-count suppression: counts from 1 to 4 could single people out.
pub fn present(cells: Vec<CountedCell>, suppress_small: bool) -> Vec<MapCell> {
    cells
        .into_iter()
        .map(|cell| MapCell {
            count: (!suppress_small || cell.count >= SMALL_COUNT_THRESHOLD).then_some(cell.count),
            tenure: cell.tenure,
            area: cell.area,
            value: cell.value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(count: i64) -> CountedCell {
        CountedCell { tenure: "leaseholder".into(), area: None, value: None, count }
    }

    #[test]
    fn small_counts_are_withheld_only_when_asked() {
        let shown = present(vec![cell(4), cell(5)], true);
        assert_eq!(shown[0].count, None);
        assert_eq!(shown[1].count, Some(5));
        let exact = present(vec![cell(1)], false);
        assert_eq!(exact[0].count, Some(1));
    }

    #[test]
    fn percent_handles_an_empty_base() {
        let empty = FieldCompleteness { field: ProfileField::Email, recorded: 0, total: 0 };
        assert_eq!(empty.percent(), 0.0);
        let half = FieldCompleteness { field: ProfileField::Email, recorded: 1, total: 2 };
        assert!((half.percent() - 50.0).abs() < f64::EPSILON);
    }

    #[test]
    fn every_equality_field_is_measured() {
        let paths: Vec<String> = ProfileField::all().into_iter().map(ProfileField::path).collect();
        assert!(paths.contains(&"equality.sexual_orientation".to_owned()));
        assert!(paths.contains(&"contact.email".to_owned()));
    }
}
