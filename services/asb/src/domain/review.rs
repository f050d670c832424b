//! Manager case reviews: a quality check of case files against a checklist, on
//! a sample drawn each month by a configurable rule. The draw is deterministic
//! (a keyed hash of the case and the month), so re-running it picks the same
//! cases and an officer cannot tell in advance which will be picked.

use chrono::{Datelike as _, NaiveDate};
use serde::{Deserialize, Serialize};

use super::case::CaseId;

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
}

/// One point of the review checklist and how the case fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub item: String,
    pub met: bool,
    /// What to do about it: becomes an action on the case when not met.
    pub action: Option<String>,
}

/// The actions a review's findings put on the case: every point not met.
pub fn actions_from(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|finding| !finding.met)
        .map(|finding| finding.action.clone().unwrap_or_else(|| format!("put right: {}", finding.item)))
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
    fn findings_not_met_become_actions() {
        let findings = [
            Finding { item: "risk assessment recorded".into(), met: true, action: None },
            Finding {
                item: "contact every 14 days".into(),
                met: false,
                action: Some("call the complainant this week".into()),
            },
            Finding { item: "action plan agreed".into(), met: false, action: None },
        ];
        assert_eq!(
            actions_from(&findings),
            ["call the complainant this week", "put right: action plan agreed"]
        );
    }
}
