//! Profile mapping: the partnership's customer base counted by tenure x area x one
//! characteristic, with how complete each profile field is. This is the baseline
//! representativeness of involvement is judged against.

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

/// Everything a profile map counts, before it is published.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileCounts {
    pub cells: Vec<CountedCell>,
    pub completeness: Vec<FieldCompleteness>,
    pub total: i64,
}

pub use involve_core::disclosure::{Disclosure, ROUNDING_BASE, round_to_base};

/// A map as the caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedMap {
    pub cells: Vec<CountedCell>,
    pub completeness: Vec<FieldCompleteness>,
    pub total: i64,
    pub disclosure: Disclosure,
}

/// Applies `disclosure` to every figure of `counts`.
///
/// A protected cell is also never published above its group (its tenure and area)
/// rounded *down*: a caller who can count a small group exactly (an officer listing
/// its patch) could otherwise read "everyone in it has this answer" from a cell
/// rounded up past the group's size (3 of 3 published as 5). With the cap, a group
/// of 3 shows no breakdown at all, and one of 8 sharing one answer shows 5.
pub fn publish(counts: ProfileCounts, disclosure: Disclosure) -> PublishedMap {
    let ProfileCounts { cells, completeness, total } = counts;
    let mut groups: std::collections::HashMap<(String, Option<String>), i64> =
        std::collections::HashMap::new();
    for cell in &cells {
        *groups.entry((cell.tenure.clone(), cell.area.clone())).or_default() += cell.count;
    }
    let cells = cells
        .into_iter()
        .map(|cell| {
            let published = match disclosure {
                Disclosure::Exact => cell.count,
                Disclosure::RoundedToBase5 => {
                    let group = groups.get(&(cell.tenure.clone(), cell.area.clone())).copied().unwrap_or(0);
                    disclosure.publish_within(cell.count, group)
                }
            };
            CountedCell { count: published, ..cell }
        })
        .filter(|cell| cell.count > 0)
        .collect();
    let completeness = completeness
        .into_iter()
        .map(|field| FieldCompleteness {
            field: field.field,
            recorded: disclosure.publish(field.recorded),
            total: disclosure.publish(field.total),
        })
        .collect();
    PublishedMap { cells, completeness, total: disclosure.publish(total), disclosure }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: &str, count: i64) -> CountedCell {
        CountedCell {
            tenure: "leaseholder".into(),
            area: Some("east".into()),
            value: Some(value.into()),
            count,
        }
    }

    fn counts(cells: Vec<CountedCell>) -> ProfileCounts {
        let total = cells.iter().map(|cell| cell.count).sum();
        let completeness = vec![FieldCompleteness { field: ProfileField::Email, recorded: total - 1, total }];
        ProfileCounts { cells, completeness, total }
    }

    #[test]
    fn rounding_goes_to_the_nearest_five() {
        let rounded: Vec<i64> = (0..=13).map(round_to_base).collect();
        assert_eq!(rounded, [0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10, 10, 10, 15]);
    }

    #[test]
    fn exact_maps_publish_what_was_counted() {
        let counted = counts(vec![cell("white-british", 4), cell("black-african", 1)]);
        let map = publish(counted.clone(), Disclosure::Exact);
        assert_eq!(map.cells, counted.cells);
        assert_eq!(map.total, 5);
        assert_eq!(map.completeness, counted.completeness);
    }

    #[test]
    fn protected_maps_round_every_figure_and_leave_out_zero_cells() {
        let map = publish(
            counts(vec![cell("white-british", 4), cell("black-african", 1), cell("asian-indian", 8)]),
            Disclosure::RoundedToBase5,
        );
        let published: Vec<(&str, i64)> =
            map.cells.iter().map(|cell| (cell.value.as_deref().unwrap_or_default(), cell.count)).collect();
        assert_eq!(published, [("white-british", 5), ("asian-indian", 10)], "the single person is not shown");
        assert_eq!(map.total, 15, "13 rounded");
        assert_eq!((map.completeness[0].recorded, map.completeness[0].total), (10, 15), "12 of 13 rounded");
        assert_eq!(map.disclosure.base(), 5);
    }

    #[test]
    fn differencing_a_protected_map_leaves_every_small_count_uncertain() {
        // Whatever the true counts behind a published figure, every count from 0 to
        // 2 publishes as "absent", so subtracting published figures cannot isolate one person.
        for hidden in 0..=2 {
            let map = publish(
                counts(vec![cell("white-british", 10), cell("other", hidden)]),
                Disclosure::RoundedToBase5,
            );
            assert_eq!(map.cells.len(), 1);
            assert_eq!(map.total, 10, "10, 11 and 12 all publish as 10");
        }
    }

    #[test]
    fn no_cell_is_published_above_its_group_rounded_down() {
        // Everyone in a group of 3 (or 8) shares one answer: rounding alone would
        // publish 5 (or 10), more than the group holds, which says "all of them".
        for (group, shown) in [(3, None), (8, Some(5)), (13, Some(10)), (10, Some(10))] {
            let map = publish(counts(vec![cell("white-british", group)]), Disclosure::RoundedToBase5);
            assert_eq!(map.cells.first().map(|cell| cell.count), shown, "a group of {group}");
        }
        // A cell smaller than its group is rounded as usual.
        let map =
            publish(counts(vec![cell("white-british", 8), cell("other", 5)]), Disclosure::RoundedToBase5);
        assert_eq!(map.cells.iter().map(|cell| cell.count).collect::<Vec<_>>(), [10, 5]);
    }

    #[test]
    fn percent_handles_an_empty_base() {
        let empty = FieldCompleteness { field: ProfileField::Email, recorded: 0, total: 0 };
        assert_eq!(empty.percent(), 0.0);
        let half = FieldCompleteness { field: ProfileField::Email, recorded: 1, total: 2 };
        assert!((half.percent() - 50.0).abs() < f64::EPSILON);
    }

    #[test]
    fn every_profile_field_is_measured_once() {
        let paths: Vec<String> = ProfileField::all().into_iter().map(ProfileField::path).collect();
        for field in EqualityField::ALL {
            assert!(paths.contains(&format!("equality.{}", field.field_name())), "{field:?}");
        }
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), paths.len(), "no field is counted twice");
        assert_eq!(paths.len(), 13 + EqualityField::ALL.len());
    }
}
