//! What the inspectors found missing, computed: the regulator's NM01 measures
//! (cases per 1,000 homes, and hate-incident cases per 1,000 homes), whether a
//! remedy lasts (a repeat case about the same matter after an intervention),
//! hotspots by area over time against a threshold, and cost per case from the
//! officer time logged on it.

use std::collections::BTreeMap;

use chrono::{Datelike as _, NaiveDate};
use involve_core::Code;
use serde::{Deserialize, Serialize};

/// `[services.asb.analysis]`: what the analysis counts against.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisSettings {
    /// What an hour of officer time costs, in pence (salary and on-costs): the
    /// partnership's own figure. Unset, no cost per case is shown.
    pub officer_hourly_cost_pence: Option<u64>,
    /// Cases opened in an area in a month that raise a hotspot alert, when a
    /// request names none.
    pub hotspot_threshold: u32,
    /// Points a group's satisfaction may trail the whole before it is flagged.
    pub satisfaction_gap_points: f64,
    /// Fewest (published) answers a group needs for its gap to be flagged.
    pub satisfaction_min_surveyed: i64,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            officer_hourly_cost_pence: None,
            hotspot_threshold: 5,
            satisfaction_gap_points: 10.0,
            satisfaction_min_surveyed: 10,
        }
    }
}

/// The category code whose cases NM01 counts apart.
pub const HATE_INCIDENT: &str = "hate-incident";

/// Who is alleged to have done it, as one case records them: the most
/// identified of its alleged perpetrators decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PerpetratorType {
    /// No alleged perpetrator named.
    None,
    /// At least one customer of the partnership.
    Customer,
    /// Someone outside the customer base (and no customer).
    External,
    /// Only people nobody identified.
    Unknown,
}

impl PerpetratorType {
    pub const ALL: [Self; 4] = [Self::None, Self::Customer, Self::External, Self::Unknown];

    /// The code the store's aggregation answers with.
    pub fn code(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Customer => "customer",
            Self::External => "external",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// One bucket of a period: a calendar month or year (England and Wales dates),
/// clipped to the period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// `2026-11` for a month, `2026` for a year.
    pub label: String,
    pub start: NaiveDate,
    /// The day after its last.
    pub end: NaiveDate,
}

/// Most months one analysis covers (five years).
pub const MAX_MONTHS: usize = 60;

fn buckets(
    first: NaiveDate,
    last: NaiveDate,
    next: impl Fn(NaiveDate) -> Option<NaiveDate>,
    label: impl Fn(NaiveDate) -> String,
) -> Vec<Bucket> {
    let mut buckets = Vec::new();
    let mut start = first;
    while start <= last {
        let Some(boundary) = next(start) else { break };
        let end = boundary.min(last.succ_opt().unwrap_or(NaiveDate::MAX));
        buckets.push(Bucket { label: label(start), start, end });
        start = boundary;
    }
    buckets
}

/// The calendar months of `[first, last]`, each clipped to it.
pub fn months(first: NaiveDate, last: NaiveDate) -> Vec<Bucket> {
    buckets(
        first,
        last,
        |day| {
            let (year, month) =
                if day.month() == 12 { (day.year() + 1, 1) } else { (day.year(), day.month() + 1) };
            NaiveDate::from_ymd_opt(year, month, 1)
        },
        |day| format!("{:04}-{:02}", day.year(), day.month()),
    )
}

/// The reporting year a day falls in, named by the year it begins: the
/// regulator's tenant satisfaction measures (NM01 among them) run from 1 April
/// to 31 March, so 2026 is 1 April 2026 to 31 March 2027.
pub fn reporting_year(day: NaiveDate) -> i32 {
    if day.month() >= 4 { day.year() } else { day.year() - 1 }
}

/// The reporting years ([`reporting_year`]) of `[first, last]`, each clipped to it.
pub fn years(first: NaiveDate, last: NaiveDate) -> Vec<Bucket> {
    buckets(
        first,
        last,
        |day| NaiveDate::from_ymd_opt(reporting_year(day) + 1, 4, 1),
        |day| format!("{:04}", reporting_year(day)),
    )
}

/// Cases per 1,000 homes (NM01): `None` for a landlord without homes on record.
pub fn per_thousand_homes(cases: u64, homes: u64) -> Option<f64> {
    // Counts are far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    (homes > 0).then(|| cases as f64 * 1_000.0 / homes as f64)
}

/// One closed case as the remedy analysis sees it.
#[derive(Clone, Debug)]
pub struct RemedyOutcome {
    /// The intervention types used on the case.
    pub interventions: Vec<Code>,
    /// Whether the matter came back: a later case linked to it as a repeat.
    pub repeated: bool,
    /// Whether the case closed resolved.
    pub resolved: bool,
}

/// Per intervention type: cases, resolved, repeated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemedyTally {
    pub cases: u64,
    pub resolved: u64,
    pub repeated: u64,
}

impl RemedyTally {
    /// Share of its cases that came back, in percent.
    pub fn repeat_percent(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        (self.cases > 0).then(|| self.repeated as f64 * 100.0 / self.cases as f64)
    }
}

/// Outcome and repeat rate by intervention type: does the remedy last?
pub fn remedies(outcomes: &[RemedyOutcome]) -> BTreeMap<Code, RemedyTally> {
    let mut by_type: BTreeMap<Code, RemedyTally> = BTreeMap::new();
    for outcome in outcomes {
        let mut seen: Vec<&Code> = outcome.interventions.iter().collect();
        seen.sort_unstable();
        seen.dedup();
        for code in seen {
            let tally = by_type.entry(code.clone()).or_default();
            tally.cases += 1;
            tally.resolved += u64::from(outcome.resolved);
            tally.repeated += u64::from(outcome.repeated);
        }
    }
    by_type
}

/// Cases opened per area per period (a month, a quarter).
#[derive(Clone, Debug, Default)]
pub struct Hotspots<P: Ord> {
    counts: BTreeMap<(Code, P), u64>,
}

/// An area whose cases in a period reached the alert threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotspotAlert<P> {
    pub area: Code,
    pub period: P,
    pub cases: u64,
    /// Cases in the same area the period before.
    pub previous: u64,
}

impl<P: Ord + Clone> Hotspots<P> {
    pub fn count(&mut self, area: Code, period: P) {
        *self.counts.entry((area, period)).or_default() += 1;
    }

    /// Adds `cases` in `area` in `period` (as an aggregation counted them).
    pub fn add(&mut self, area: Code, period: P, cases: u64) {
        if cases > 0 {
            *self.counts.entry((area, period)).or_default() += cases;
        }
    }

    /// Every (area, period) with a case, oldest period first, each with the
    /// period before and whether it reached `threshold`.
    pub fn figures(&self, threshold: u64, previous_of: impl Fn(&P) -> P) -> Vec<HotspotFigure<P>> {
        let mut figures: Vec<HotspotFigure<P>> = self
            .counts
            .iter()
            .map(|((area, period), &cases)| HotspotFigure {
                area: area.clone(),
                period: period.clone(),
                cases,
                previous: self.cases(area, &previous_of(period)),
                alert: cases >= threshold.max(1),
            })
            .collect();
        figures.sort_by(|a, b| a.period.cmp(&b.period).then_with(|| a.area.cmp(&b.area)));
        figures
    }

    pub fn cases(&self, area: &Code, period: &P) -> u64 {
        self.counts.get(&(area.clone(), period.clone())).copied().unwrap_or(0)
    }

    /// Every (area, period) at or over `threshold`, with the area's count in the
    /// period before (`previous_of` names it), most cases first.
    pub fn alerts(&self, threshold: u64, previous_of: impl Fn(&P) -> P) -> Vec<HotspotAlert<P>> {
        let mut alerts: Vec<HotspotAlert<P>> = self
            .counts
            .iter()
            .filter(|&(_, &cases)| cases >= threshold)
            .map(|((area, period), &cases)| HotspotAlert {
                area: area.clone(),
                period: period.clone(),
                cases,
                previous: self.cases(area, &previous_of(period)),
            })
            .collect();
        alerts.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.area.cmp(&b.area)));
        alerts
    }
}

/// One area in one period, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotspotFigure<P> {
    pub area: Code,
    pub period: P,
    pub cases: u64,
    /// Cases in the same area the period before.
    pub previous: u64,
    /// `cases` reached the threshold.
    pub alert: bool,
}

/// Groups' satisfaction from counts already published (rounded by profiles),
/// flagged against the whole's exact satisfaction (`overall`: satisfied and
/// surveyed, which are ASB's own figures and need no protection): a gap where a
/// group with at least `min_surveyed` answers trails by `gap_points` or more.
pub fn published_satisfaction_gaps(
    groups: &[GroupSatisfaction],
    overall: (i64, i64),
    gap_points: f64,
    min_surveyed: i64,
) -> Vec<PublishedSatisfaction> {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let percent = |satisfied: i64, surveyed: i64| satisfied as f64 * 100.0 / surveyed as f64;
    let (satisfied, surveyed) = overall;
    let whole = (surveyed > 0).then(|| percent(satisfied, surveyed));
    groups
        .iter()
        .filter(|group| group.surveyed > 0)
        .map(|group| PublishedSatisfaction {
            characteristic: group.characteristic.clone(),
            value: group.value.clone(),
            surveyed: group.surveyed,
            satisfied: group.satisfied,
            gap: whole.is_some_and(|whole| {
                group.surveyed >= min_surveyed.max(1)
                    && whole - percent(group.satisfied, group.surveyed) >= gap_points
            }),
        })
        .collect()
}

/// A share in percent; `None` of nothing.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// One equality group's answers to the closure survey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSatisfaction {
    /// An equality characteristic and its value (`ethnicity`, `white-british`).
    pub characteristic: String,
    pub value: String,
    pub surveyed: i64,
    pub satisfied: i64,
}

/// A group's satisfaction as published: counts under `disclosure`, and a gap
/// flagged where the group trails everyone by `gap_points` or more with at least
/// `min_surveyed` answers (fewer say nothing reliable either way).
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedSatisfaction {
    pub characteristic: String,
    pub value: String,
    pub surveyed: i64,
    pub satisfied: i64,
    pub gap: bool,
}

pub fn satisfaction_gaps(
    groups: &[GroupSatisfaction],
    disclosure: involve_core::disclosure::Disclosure,
    gap_points: f64,
    min_surveyed: i64,
) -> Vec<PublishedSatisfaction> {
    let (surveyed, satisfied) =
        groups.iter().fold((0_i64, 0_i64), |(s, t), group| (s + group.surveyed, t + group.satisfied));
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let percent = |satisfied: i64, surveyed: i64| satisfied as f64 * 100.0 / surveyed as f64;
    let overall = (surveyed > 0).then(|| percent(satisfied, surveyed));
    groups
        .iter()
        .map(|group| {
            let gap = overall.is_some_and(|overall| {
                group.surveyed >= min_surveyed.max(1)
                    && overall - percent(group.satisfied, group.surveyed) >= gap_points
            });
            PublishedSatisfaction {
                characteristic: group.characteristic.clone(),
                value: group.value.clone(),
                surveyed: disclosure.publish(group.surveyed),
                satisfied: disclosure.publish_within(group.satisfied, group.surveyed),
                gap,
            }
        })
        .filter(|group| group.surveyed > 0)
        .collect()
}

/// Cost per case from officer time: minutes logged times the hourly cost, over cases.
pub fn cost_per_case(minutes_logged: u64, hourly_cost_pence: u64, cases: u64) -> Option<u64> {
    (cases > 0).then(|| minutes_logged.saturating_mul(hourly_cost_pence) / 60 / cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nm01_counts_cases_per_thousand_homes() {
        assert_eq!(per_thousand_homes(45, 9_000), Some(5.0));
        assert_eq!(per_thousand_homes(3, 9_000).map(|rate| (rate * 1000.0).round()), Some(333.0));
        assert_eq!(per_thousand_homes(3, 0), None);
    }

    #[test]
    fn the_repeat_rate_of_each_remedy_counts_a_case_once() {
        let code = Code::trusted;
        let outcomes = [
            RemedyOutcome {
                interventions: vec![code("warning"), code("warning")],
                repeated: true,
                resolved: false,
            },
            RemedyOutcome {
                interventions: vec![code("warning"), code("mediation")],
                repeated: false,
                resolved: true,
            },
            RemedyOutcome { interventions: vec![code("injunction")], repeated: false, resolved: true },
        ];
        let by_type = remedies(&outcomes);
        assert_eq!(by_type[&code("warning")], RemedyTally { cases: 2, resolved: 1, repeated: 1 });
        assert_eq!(by_type[&code("warning")].repeat_percent(), Some(50.0));
        assert_eq!(by_type[&code("injunction")].repeat_percent(), Some(0.0));
        assert_eq!(by_type.len(), 3);
    }

    #[test]
    fn hotspots_alert_at_the_threshold_with_the_period_before() {
        let mut hotspots = Hotspots::default();
        let (north, south) = (Code::trusted("north"), Code::trusted("south"));
        for _ in 0..2 {
            hotspots.count(north.clone(), 202_610);
        }
        for _ in 0..5 {
            hotspots.count(north.clone(), 202_611);
        }
        for _ in 0..4 {
            hotspots.count(south.clone(), 202_611);
        }
        let alerts = hotspots.alerts(4, |month| month - 1);
        assert_eq!(
            alerts,
            [
                HotspotAlert { area: north, period: 202_611, cases: 5, previous: 2 },
                HotspotAlert { area: south, period: 202_611, cases: 4, previous: 0 },
            ]
        );
    }

    #[test]
    fn satisfaction_gaps_are_flagged_with_small_counts_protected() {
        use involve_core::disclosure::Disclosure;
        let group = |value: &str, surveyed, satisfied| GroupSatisfaction {
            characteristic: "ethnicity".into(),
            value: value.into(),
            surveyed,
            satisfied,
        };
        let groups = [group("a", 80, 60), group("b", 20, 8), group("c", 3, 0)];
        let published = satisfaction_gaps(&groups, Disclosure::RoundedToBase5, 10.0, 10);
        // Overall 68 of 103 (66%); b at 40% trails by 26 points; c has too few answers.
        assert_eq!(
            published.iter().map(|g| (g.value.as_str(), g.gap)).collect::<Vec<_>>(),
            [("a", false), ("b", true), ("c", false)]
        );
        assert_eq!((published[2].surveyed, published[2].satisfied), (5, 0));
        let exact = satisfaction_gaps(&groups, Disclosure::Exact, 10.0, 10);
        assert_eq!((exact[2].surveyed, exact[2].satisfied), (3, 0));
        let tiny = satisfaction_gaps(&[group("d", 2, 1)], Disclosure::RoundedToBase5, 10.0, 10);
        assert!(tiny.is_empty(), "a group that rounds to nobody is left out");
    }

    #[test]
    fn periods_split_into_calendar_months_and_reporting_years_clipped_to_the_period() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let months = months(day(2026, 11, 15), day(2027, 1, 10));
        let labels: Vec<&str> = months.iter().map(|bucket| bucket.label.as_str()).collect();
        assert_eq!(labels, ["2026-11", "2026-12", "2027-01"]);
        assert_eq!((months[0].start, months[0].end), (day(2026, 11, 15), day(2026, 12, 1)));
        assert_eq!((months[2].start, months[2].end), (day(2027, 1, 1), day(2027, 1, 11)));
        // Reporting years run from 1 April: the new year does not start a new one.
        let years = years(day(2026, 11, 15), day(2027, 4, 10));
        assert_eq!(years.iter().map(|bucket| bucket.label.as_str()).collect::<Vec<_>>(), ["2026", "2027"]);
        assert_eq!((years[0].start, years[0].end), (day(2026, 11, 15), day(2027, 4, 1)));
        assert_eq!((years[1].start, years[1].end), (day(2027, 4, 1), day(2027, 4, 11)));
        assert_eq!((reporting_year(day(2027, 3, 31)), reporting_year(day(2027, 4, 1))), (2026, 2027));
    }

    #[test]
    fn hotspot_figures_flag_the_threshold_and_not_one_below() {
        let mut hotspots = Hotspots::default();
        hotspots.add(Code::trusted("north"), 1, 2);
        hotspots.add(Code::trusted("north"), 2, 3);
        hotspots.add(Code::trusted("south"), 2, 0);
        let figures = hotspots.figures(3, |period| period - 1);
        assert_eq!(
            figures.iter().map(|f| (f.period, f.cases, f.previous, f.alert)).collect::<Vec<_>>(),
            [(1, 2, 0, false), (2, 3, 2, true)]
        );
    }

    #[test]
    fn published_groups_are_flagged_against_the_exact_whole() {
        let group = |value: &str, surveyed, satisfied| GroupSatisfaction {
            characteristic: "ethnicity".into(),
            value: value.into(),
            surveyed,
            satisfied,
        };
        let groups = [group("a", 20, 15), group("b", 10, 5), group("c", 5, 0)];
        let published = published_satisfaction_gaps(&groups, (21, 34), 10.0, 10);
        // The whole: 21 of 34 (62%); b at 50% trails by 12 points; c has too few answers.
        assert_eq!(
            published.iter().map(|g| (g.value.as_str(), g.gap)).collect::<Vec<_>>(),
            [("a", false), ("b", true), ("c", false)]
        );
        assert!(published_satisfaction_gaps(&groups, (0, 0), 10.0, 1).iter().all(|g| !g.gap));
    }

    #[test]
    fn cost_per_case_comes_from_time_logged() {
        // 30 hours at £36.00 an hour over 6 cases: £180.00 each.
        assert_eq!(cost_per_case(30 * 60, 3_600, 6), Some(18_000));
        assert_eq!(cost_per_case(60, 3_600, 0), None);
    }
}
