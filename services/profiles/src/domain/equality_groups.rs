//! Equality profiles of sets of people a peer service names (ASB's complainants,
//! victims, perpetrators): counted here, where the answers are, and published
//! protected exactly as profile maps are, so the peer learns group sizes and
//! never a person's answer.

use super::customer::EqualityField;
pub use involve_core::disclosure::Disclosure;

/// Most customer names one request may carry across its sets.
pub const MAX_NAMES: usize = 50_000;

/// One labelled set, counted: its current customers in all and per value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountedSet {
    pub label: String,
    pub total: i64,
    /// `(value, customers)`, in value order.
    pub values: Vec<(String, i64)>,
}

/// What is counted: one equality characteristic over labelled sets of customers.
#[derive(Clone, Debug)]
pub struct GroupQuery {
    pub field: EqualityField,
    /// `(label, customer ids)`, each id at most once per set.
    pub sets: Vec<(String, Vec<uuid::Uuid>)>,
}

/// Applies `disclosure` to every figure, as [`super::profile_map::publish`] does:
/// a set's total rounded, each value rounded and never above the set's total
/// rounded down, and values that publish as 0 left out.
pub fn publish(sets: Vec<CountedSet>, disclosure: Disclosure) -> Vec<CountedSet> {
    sets.into_iter()
        .map(|set| CountedSet {
            values: set
                .values
                .into_iter()
                .map(|(value, count)| (value, disclosure.publish_within(count, set.total)))
                .filter(|(_, count)| *count > 0)
                .collect(),
            total: disclosure.publish(set.total),
            label: set.label,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[(&str, i64)]) -> CountedSet {
        CountedSet {
            label: "complainants".into(),
            total: values.iter().map(|(_, count)| count).sum(),
            values: values.iter().map(|(value, count)| ((*value).to_owned(), *count)).collect(),
        }
    }

    #[test]
    fn small_groups_are_rounded_away_and_no_value_exceeds_its_set() {
        let published = publish(
            vec![set(&[("white-british", 9), ("black-african", 2), ("asian-indian", 3)])],
            Disclosure::RoundedToBase5,
        );
        assert_eq!(published[0].total, 15, "14 rounded");
        assert_eq!(
            published[0].values,
            [("white-british".to_owned(), 10), ("asian-indian".to_owned(), 5)],
            "2 people are not shown"
        );
        // Three people sharing one answer: rounding alone would publish 5 of 5.
        let everyone = publish(vec![set(&[("white-british", 3)])], Disclosure::RoundedToBase5);
        assert_eq!((everyone[0].total, everyone[0].values.len()), (5, 0));
    }
}
