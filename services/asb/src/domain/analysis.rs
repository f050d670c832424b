//! What the inspectors found missing, computed: the regulator's NM01 measures
//! (cases per 1,000 homes, and hate-incident cases per 1,000 homes), whether a
//! remedy lasts (a repeat case about the same matter after an intervention),
//! hotspots by area over time against a threshold, and cost per case from the
//! officer time logged on it.

use std::collections::BTreeMap;

use involve_core::Code;

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
    fn cost_per_case_comes_from_time_logged() {
        // 30 hours at £36.00 an hour over 6 cases: £180.00 each.
        assert_eq!(cost_per_case(30 * 60, 3_600, 6), Some(18_000));
        assert_eq!(cost_per_case(60, 3_600, 0), None);
    }
}
