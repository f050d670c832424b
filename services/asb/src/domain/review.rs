//! Manager case reviews: a quality check of case files against a checklist, on
//! a sample drawn each month by a configurable rule. The draw is deterministic
//! (a keyed hash of the case and the month), so re-running it picks the same
//! cases and an officer cannot tell in advance which will be picked.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{local_date, start_of_day};
use super::case::CaseId;

/// How long the owner of a review's action has to put it right, unless the
/// review says.
pub const ACTION_DUE_AFTER_DAYS: i64 = 14;

/// A calendar month in England and Wales: the period one sample covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Month {
    /// Its first day.
    pub first_day: NaiveDate,
    /// Its first instant (local midnight, as UTC).
    pub start: DateTime<Utc>,
    /// The next month's first instant: the sample's reviews are due before it.
    pub end: DateTime<Utc>,
}

impl Month {
    /// The month `now` falls in, in UK local time.
    pub fn of(now: DateTime<Utc>) -> Self {
        let today = local_date(now);
        let first_day = today.with_day(1).unwrap_or(today);
        let next = first_day.checked_add_months(chrono::Months::new(1)).unwrap_or(NaiveDate::MAX);
        Self { first_day, start: start_of_day(first_day), end: start_of_day(next) }
    }

    /// The month before.
    pub fn previous(&self) -> Self {
        Self::of(self.start - Duration::days(1))
    }
}

/// `[services.asb.quality_sample]`: how many open cases each month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleRule {
    /// Percent of each officer's open cases.
    pub percent: u32,
    /// At least this many per officer (when the officer has that many).
    pub minimum_per_officer: u32,
}

impl Default for SampleRule {
    fn default() -> Self {
        Self { percent: 10, minimum_per_officer: 1 }
    }
}

/// The draw's order: HMAC-SHA256 of the month and the case under the
/// partnership's secret, so nobody without it can tell which cases come first.
fn draw_key(secret: &[u8], month: NaiveDate, case: CaseId) -> [u8; 32] {
    use hmac::{Hmac, Mac as _};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else { return [0; 32] };
    mac.update(&month.year().to_be_bytes());
    mac.update(&month.month().to_be_bytes());
    mac.update(case.uuid().as_bytes());
    mac.finalize().into_bytes().into()
}

impl SampleRule {
    /// How many of an officer's `open` cases the month's sample takes.
    pub fn size(&self, open: usize) -> usize {
        let by_percent = (open * usize::try_from(self.percent).unwrap_or(100)).div_ceil(100);
        by_percent.max(usize::try_from(self.minimum_per_officer).unwrap_or(0)).min(open)
    }

    /// The sample of one officer's open cases for `month`.
    pub fn draw(&self, secret: &[u8], month: NaiveDate, open: &[CaseId]) -> Vec<CaseId> {
        let mut ordered: Vec<([u8; 32], CaseId)> =
            open.iter().map(|&case| (draw_key(secret, month, case), case)).collect();
        ordered.sort_unstable();
        ordered.into_iter().take(self.size(open.len())).map(|(_, case)| case).collect()
    }

    /// The month's sample over every officer's cases: `population` is each open
    /// case with its officer, in any order; each officer's share is drawn apart.
    pub fn draw_by_officer(
        &self,
        secret: &[u8],
        month: NaiveDate,
        population: impl IntoIterator<Item = (CaseId, String)>,
    ) -> Vec<CaseId> {
        let mut by_officer: std::collections::BTreeMap<String, Vec<CaseId>> =
            std::collections::BTreeMap::new();
        for (case, officer) in population {
            by_officer.entry(officer).or_default().push(case);
        }
        by_officer.values().flat_map(|open| self.draw(secret, month, open)).collect()
    }
}

/// One point of the review checklist and how the case fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub item: String,
    pub met: bool,
    /// What to do about it: becomes an action on the case when not met.
    pub action: Option<String>,
    /// Who is to do it; the case's officer when `None`.
    pub owner: Option<String>,
    /// By when; [`ACTION_DUE_AFTER_DAYS`] after the review when `None`.
    pub due: Option<NaiveDate>,
}

/// An action a review puts on the case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub action: String,
    pub owner: String,
    pub due: NaiveDate,
}

/// The actions a review's findings put on the case: one for every point not
/// met, owned by whoever the finding names or else `officer`, due when it says
/// or else [`ACTION_DUE_AFTER_DAYS`] after `reviewed`.
pub fn actions_from(findings: &[Finding], officer: &str, reviewed: NaiveDate) -> Vec<Action> {
    let default_due = reviewed + Duration::days(ACTION_DUE_AFTER_DAYS);
    findings
        .iter()
        .filter(|finding| !finding.met)
        .map(|finding| Action {
            action: finding.action.clone().unwrap_or_else(|| format!("put right: {}", finding.item)),
            owner: finding.owner.clone().unwrap_or_else(|| officer.to_owned()),
            due: finding.due.unwrap_or(default_due),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monthly_sample_is_a_share_of_each_officers_cases_drawn_the_same_way_twice() {
        let rule = SampleRule::default();
        assert_eq!((rule.size(0), rule.size(3), rule.size(10), rule.size(11)), (0, 1, 1, 2));
        let cases: Vec<CaseId> = (0..25).map(|_| CaseId::generate()).collect();
        let november = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let december = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let drawn = rule.draw(b"secret", november, &cases);
        assert_eq!(drawn.len(), 3);
        assert_eq!(drawn, rule.draw(b"secret", november, &cases), "the same draw again");
        assert!(drawn.iter().all(|case| cases.contains(case)));
        // Another month (or another secret) draws differently, almost surely.
        let other_months: Vec<Vec<CaseId>> = (1..=12)
            .map(|month| rule.draw(b"secret", NaiveDate::from_ymd_opt(2027, month, 1).unwrap(), &cases))
            .collect();
        assert!(other_months.iter().any(|other| *other != drawn));
        assert_ne!(rule.draw(b"secret", december, &cases), rule.draw(b"other", december, &cases));
    }

    #[test]
    fn each_officers_share_is_drawn_apart() {
        let rule = SampleRule::default();
        let month = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let smith: Vec<CaseId> = (0..11).map(|_| CaseId::generate()).collect();
        let khan: Vec<CaseId> = (0..2).map(|_| CaseId::generate()).collect();
        let population = smith
            .iter()
            .map(|case| (*case, "smith".to_owned()))
            .chain(khan.iter().map(|case| (*case, "khan".to_owned())));
        let drawn = rule.draw_by_officer(b"secret", month, population);
        assert_eq!(drawn.iter().filter(|case| smith.contains(case)).count(), 2, "10% of 11, rounded up");
        assert_eq!(drawn.iter().filter(|case| khan.contains(case)).count(), 1, "at least one each");
    }

    #[test]
    fn a_month_runs_from_local_midnight_on_its_first_day() {
        use chrono::TimeZone as _;
        // 31 October 2026 23:30 UTC is 31 October in the UK (GMT from the 25th)...
        let month = Month::of(Utc.with_ymd_and_hms(2026, 10, 31, 23, 30, 0).unwrap());
        assert_eq!(month.first_day, NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        // ...which began at 23:00 UTC on 30 September (BST).
        assert_eq!(month.start, Utc.with_ymd_and_hms(2026, 9, 30, 23, 0, 0).unwrap());
        assert_eq!(month.end, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        // 30 June 23:30 UTC is already 1 July in the UK.
        let july = Month::of(Utc.with_ymd_and_hms(2026, 6, 30, 23, 30, 0).unwrap());
        assert_eq!(july.first_day, NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        assert_eq!(july.previous().first_day, NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        assert_eq!(july.previous().end, july.start);
    }

    #[test]
    fn findings_not_met_become_actions_with_owners_and_due_dates() {
        let finding =
            |item: &str, met: bool| Finding { item: item.into(), met, action: None, owner: None, due: None };
        let reviewed = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let findings = [
            finding("risk assessment recorded", true),
            Finding {
                action: Some("call the complainant this week".into()),
                owner: Some("A Khan".into()),
                due: NaiveDate::from_ymd_opt(2026, 12, 7),
                ..finding("contact every 14 days", false)
            },
            finding("action plan agreed", false),
        ];
        let actions = actions_from(&findings, "J Smith", reviewed);
        assert_eq!(
            actions,
            [
                Action {
                    action: "call the complainant this week".into(),
                    owner: "A Khan".into(),
                    due: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
                },
                Action {
                    action: "put right: action plan agreed".into(),
                    owner: "J Smith".into(),
                    due: NaiveDate::from_ymd_opt(2026, 12, 17).unwrap(),
                },
            ]
        );
    }
}
