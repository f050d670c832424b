//! The community trigger (a statutory ASB case review): a complainant whose
//! qualifying reports reach the threshold within the window — three in six
//! months by default, counted across cases and landlords — may have their
//! handling reviewed, and the suite raises it rather than waiting to be asked.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::case::{CaseId, Person};

/// The local threshold (`[services.asb.community_trigger]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerRule {
    pub reports: u32,
    pub months: u32,
}

impl Default for TriggerRule {
    fn default() -> Self {
        Self { reports: 3, months: 6 }
    }
}

/// A threshold reached: the qualifying reports in the window that reached it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub first: DateTime<Utc>,
    pub reached: DateTime<Utc>,
    pub reports: u32,
}

/// A community trigger reached by one complainant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaisedTrigger {
    pub complainant: Person,
    pub trigger: Trigger,
    /// The case of their latest qualifying report: whose owner's queue it is raised in.
    pub owning_case: CaseId,
    /// Every case their qualifying reports are in (as far as the caller may know,
    /// once a read has left out the ones it may not).
    pub cases: Vec<CaseId>,
}

impl TriggerRule {
    /// The rule as applied: a threshold of no reports is one report.
    #[must_use]
    pub fn effective(self) -> Self {
        Self { reports: self.reports.max(1), ..self }
    }

    /// The triggers these qualifying reports raise: `reports` holds, for each
    /// person in it, every report they made (who, which case, when received).
    pub fn raised_among(
        &self,
        reports: impl IntoIterator<Item = (Person, CaseId, DateTime<Utc>)>,
    ) -> Vec<RaisedTrigger> {
        let mut by_person: BTreeMap<Person, Vec<(DateTime<Utc>, CaseId)>> = BTreeMap::new();
        for (person, case, received) in reports {
            by_person.entry(person).or_default().push((received, case));
        }
        let mut raised = Vec::new();
        for (complainant, mut reports) in by_person {
            reports.sort();
            let times: Vec<DateTime<Utc>> = reports.iter().map(|(time, _)| *time).collect();
            let Some(trigger) = self.reached(&times) else { continue };
            let Some(&(_, owning_case)) = reports.last() else { continue };
            let mut cases: Vec<CaseId> = reports.iter().map(|(_, case)| *case).collect();
            cases.sort();
            cases.dedup();
            raised.push(RaisedTrigger { complainant, trigger, owning_case, cases });
        }
        raised
    }

    /// Whether reports received at `received` (one complainant's qualifying reports,
    /// from every case and landlord) reach the threshold within any window: the
    /// earliest moment they do, with the reports in that window.
    pub fn reached(&self, received: &[DateTime<Utc>]) -> Option<Trigger> {
        let threshold = usize::try_from(self.effective().reports).unwrap_or(usize::MAX);
        let mut sorted = received.to_vec();
        sorted.sort_unstable();
        for (end, &reached) in sorted.iter().enumerate() {
            let opens =
                reached.checked_sub_months(Months::new(self.months)).unwrap_or(DateTime::<Utc>::MIN_UTC);
            // Reports after the window opened, up to and including this one.
            let start = sorted[..=end].partition_point(|&time| time <= opens);
            let in_window = end + 1 - start;
            if in_window >= threshold {
                let reports = u32::try_from(in_window).unwrap_or(u32::MAX);
                return Some(Trigger { first: sorted[start], reached, reports });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).unwrap()
    }

    #[test]
    fn three_reports_in_six_months_reach_the_threshold_and_not_over_a_longer_span() {
        let rule = TriggerRule::default();
        assert_eq!(rule.reached(&[at(2026, 1, 10), at(2026, 3, 1)]), None, "two are not enough");
        let hit = rule.reached(&[at(2026, 5, 1), at(2026, 1, 10), at(2026, 3, 1)]).unwrap();
        assert_eq!((hit.first, hit.reached, hit.reports), (at(2026, 1, 10), at(2026, 5, 1), 3));
        // The third comes on the day six months after the first: outside.
        assert_eq!(rule.reached(&[at(2026, 1, 10), at(2026, 3, 1), at(2026, 7, 10)]), None);
        // A day earlier: inside.
        assert!(rule.reached(&[at(2026, 1, 10), at(2026, 3, 1), at(2026, 7, 9)]).is_some());
        // Spread over a year, with three close together at the end.
        let late = rule
            .reached(&[at(2025, 1, 1), at(2025, 9, 1), at(2026, 4, 1), at(2026, 5, 1), at(2026, 6, 1)])
            .unwrap();
        assert_eq!((late.first, late.reached), (at(2026, 4, 1), at(2026, 6, 1)));
    }

    #[test]
    fn a_trigger_is_owned_by_the_case_of_the_latest_report_and_lists_every_case() {
        let rule = TriggerRule::default();
        let (first, second) = (CaseId::generate(), CaseId::generate());
        let anna = Person::Customer("customers/anna".to_owned());
        let bob = Person::External("bob k1".to_owned());
        let raised = rule.raised_among([
            (anna.clone(), first, at(2026, 1, 10)),
            // Received earliest, filed last: order by receipt, not by filing.
            (anna.clone(), second, at(2026, 1, 5)),
            (anna.clone(), first, at(2026, 2, 1)),
            (bob.clone(), second, at(2026, 1, 1)),
            (bob, second, at(2026, 1, 2)),
        ]);
        let mut both = vec![first, second];
        both.sort();
        assert_eq!(
            raised,
            [RaisedTrigger {
                complainant: anna,
                trigger: Trigger { first: at(2026, 1, 5), reached: at(2026, 2, 1), reports: 3 },
                owning_case: first,
                cases: both,
            }]
        );
    }

    #[test]
    fn a_partnership_sets_its_own_threshold() {
        let rule = TriggerRule { reports: 5, months: 12 };
        let four = [at(2026, 1, 1), at(2026, 3, 1), at(2026, 6, 1), at(2026, 9, 1)];
        assert_eq!(rule.reached(&four), None);
        let mut five = four.to_vec();
        five.push(at(2026, 12, 1));
        assert_eq!(rule.reached(&five).map(|hit| hit.reports), Some(5));
    }
}
