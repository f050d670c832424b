//! Tenure changes keep history: the current period closes the day before the new
//! one starts, and a change can never rewrite the past.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::customer::{OrganisationName, TenurePeriod};
use super::reference::Code;

/// How far ahead a tenure change may be recorded.
pub const MAX_DAYS_AHEAD: u64 = 366;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenureRuleError {
    #[error("the new tenure must start after the current period, which started on {current_start}")]
    NotAfterCurrentStart { current_start: NaiveDate },
    #[error("a tenure change may be recorded at most {MAX_DAYS_AHEAD} days ahead")]
    TooFarAhead,
    #[error("the customer already has this tenure and landlord")]
    NoChange,
}

/// A requested change of tenure.
#[derive(Clone, Debug)]
pub struct TenureChange {
    pub tenure: Code,
    pub landlord: Option<OrganisationName>,
    pub effective_date: NaiveDate,
    pub reason: Option<String>,
}

/// What a change does to the history: the end date of the current period and the
/// new period to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenureTransition {
    pub close_current_on: Option<NaiveDate>,
    pub next: TenurePeriod,
}

/// Plans `change` against `history` (oldest first; the last period is current).
pub fn plan_change(
    history: &[TenurePeriod],
    current_landlord: Option<&OrganisationName>,
    current_tenure: &Code,
    change: TenureChange,
    now: DateTime<Utc>,
) -> Result<TenureTransition, TenureRuleError> {
    if &change.tenure == current_tenure && change.landlord.as_ref() == current_landlord {
        return Err(TenureRuleError::NoChange);
    }
    let today = now.date_naive();
    if today.checked_add_days(Days::new(MAX_DAYS_AHEAD)).is_some_and(|limit| change.effective_date > limit) {
        return Err(TenureRuleError::TooFarAhead);
    }
    let current = history.last();
    if let Some(current) = current
        && change.effective_date <= current.start_date
    {
        return Err(TenureRuleError::NotAfterCurrentStart { current_start: current.start_date });
    }
    Ok(TenureTransition {
        close_current_on: current.and_then(|_| change.effective_date.pred_opt()),
        next: TenurePeriod {
            tenure: change.tenure,
            landlord: change.landlord,
            start_date: change.effective_date,
            end_date: None,
            reason: change.reason,
            record_time: now,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn period(tenure: &str, start: NaiveDate) -> TenurePeriod {
        TenurePeriod {
            tenure: Code::trusted(tenure),
            landlord: None,
            start_date: start,
            end_date: None,
            reason: None,
            record_time: Utc::now(),
        }
    }

    fn change(tenure: &str, effective: NaiveDate) -> TenureChange {
        TenureChange {
            tenure: Code::trusted(tenure),
            landlord: None,
            effective_date: effective,
            reason: None,
        }
    }

    #[test]
    fn closes_the_current_period_the_day_before() {
        let history = [period("council-tenant", date(2020, 4, 1))];
        let transition = plan_change(
            &history,
            None,
            &Code::trusted("council-tenant"),
            change("leaseholder", date(2024, 6, 1)),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(transition.close_current_on, Some(date(2024, 5, 31)));
        assert_eq!(transition.next.start_date, date(2024, 6, 1));
    }

    #[test]
    fn cannot_start_before_the_current_period() {
        let history = [period("council-tenant", date(2020, 4, 1))];
        let err = plan_change(
            &history,
            None,
            &Code::trusted("council-tenant"),
            change("leaseholder", date(2020, 4, 1)),
            Utc::now(),
        )
        .unwrap_err();
        assert!(matches!(err, TenureRuleError::NotAfterCurrentStart { .. }));
    }

    #[test]
    fn a_change_must_change_something() {
        let history = [period("council-tenant", date(2020, 4, 1))];
        let err = plan_change(
            &history,
            None,
            &Code::trusted("council-tenant"),
            change("council-tenant", date(2024, 1, 1)),
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(err, TenureRuleError::NoChange);
    }

    #[test]
    fn not_too_far_ahead() {
        let history = [period("council-tenant", date(2020, 4, 1))];
        let err = plan_change(
            &history,
            None,
            &Code::trusted("council-tenant"),
            change("leaseholder", date(2099, 1, 1)),
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(err, TenureRuleError::TooFarAhead);
    }
}
