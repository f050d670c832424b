//! Days as the service standards count them: local dates in England and Wales,
//! working days that skip weekends and bank holidays (reference data operators
//! extend), or calendar days where a partnership configures them.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike as _, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc, Weekday,
};
use serde::{Deserialize, Serialize};

/// How a standard's days are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCount {
    /// Monday to Friday, bank holidays excepted.
    #[default]
    Working,
    Calendar,
}

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }?;
    let last = first_of_next.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    last.checked_sub_signed(Duration::days(i64::from(back)))
}

/// When British Summer Time starts and ends in `year` (UTC instants): 01:00 UTC on
/// the last Sundays of March and October, the rule since 1996.
fn summer_time(year: i32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let one_am = NaiveTime::from_hms_opt(1, 0, 0)?;
    let starts = Utc.from_utc_datetime(&last_sunday(year, 3)?.and_time(one_am));
    let ends = Utc.from_utc_datetime(&last_sunday(year, 10)?.and_time(one_am));
    Some((starts, ends))
}

/// The offset of UK local time from UTC at `instant`: one hour in summer time.
fn uk_offset(instant: DateTime<Utc>) -> Duration {
    match summer_time(instant.year()) {
        Some((starts, ends)) if instant >= starts && instant < ends => Duration::hours(1),
        Some(_) | None => Duration::zero(),
    }
}

/// The date in England and Wales at `instant`.
pub fn local_date(instant: DateTime<Utc>) -> NaiveDate {
    (instant + uk_offset(instant)).date_naive()
}

/// The wall-clock time in England and Wales at `instant` (GMT or BST), for
/// showing deadlines to officers.
pub fn local_time(instant: DateTime<Utc>) -> NaiveDateTime {
    (instant + uk_offset(instant)).naive_utc()
}

/// The first instant of local `date`: midnight in England and Wales, as UTC.
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    let midnight = Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN));
    // Midnight local is never inside a change (they happen at 01:00 UTC), so the
    // offset at the naive midnight read as UTC is the day's.
    midnight - uk_offset(midnight)
}

/// The working-day calendar: weekends and the bank holidays it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    bank_holidays: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    pub fn new(bank_holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self { bank_holidays: bank_holidays.into_iter().collect() }
    }

    /// England and Wales bank holidays, 2025 to 2027 (the seed reference data;
    /// operators add later years).
    pub fn england_and_wales() -> Self {
        Self::new(
            ENGLAND_AND_WALES
                .iter()
                .filter_map(|&(year, month, day)| NaiveDate::from_ymd_opt(year, month, day)),
        )
    }

    pub fn is_bank_holiday(&self, date: NaiveDate) -> bool {
        self.bank_holidays.contains(&date)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_bank_holiday(date)
    }

    /// The date `days` days after `from`, counted as `count` says: the day of
    /// `from` itself is day 0, whatever it is.
    pub fn add_days(&self, from: NaiveDate, days: u32, count: DayCount) -> NaiveDate {
        match count {
            DayCount::Calendar => {
                from.checked_add_signed(Duration::days(i64::from(days))).unwrap_or(NaiveDate::MAX)
            }
            DayCount::Working => {
                let mut date = from;
                let mut left = days;
                while left > 0 {
                    let Some(next) = date.succ_opt() else { return NaiveDate::MAX };
                    date = next;
                    if self.is_working_day(date) {
                        left -= 1;
                    }
                }
                date
            }
        }
    }

    /// The instant by which something due `days` days after `from` must happen:
    /// the end of that local day (exclusive).
    pub fn deadline(&self, from: DateTime<Utc>, days: u32, count: DayCount) -> DateTime<Utc> {
        let due = self.add_days(local_date(from), days, count);
        due.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, start_of_day)
    }
}

/// England and Wales bank holidays held as seed reference data.
pub const ENGLAND_AND_WALES: [(i32, u32, u32); 24] = [
    (2025, 1, 1),
    (2025, 4, 18),
    (2025, 4, 21),
    (2025, 5, 5),
    (2025, 5, 26),
    (2025, 8, 25),
    (2025, 12, 25),
    (2025, 12, 26),
    (2026, 1, 1),
    (2026, 4, 3),
    (2026, 4, 6),
    (2026, 5, 4),
    (2026, 5, 25),
    (2026, 8, 31),
    (2026, 12, 25),
    (2026, 12, 28),
    (2027, 1, 1),
    (2027, 3, 26),
    (2027, 3, 29),
    (2027, 5, 3),
    (2027, 5, 31),
    (2027, 8, 30),
    (2027, 12, 27),
    (2027, 12, 28),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, minute, 0).unwrap()
    }

    #[test]
    fn local_time_is_bst_in_summer_and_gmt_in_winter() {
        let summer = local_time(at(2026, 7, 1, 23, 30));
        assert_eq!(summer, date(2026, 7, 2).and_hms_opt(0, 30, 0).unwrap());
        let winter = local_time(at(2026, 12, 1, 23, 30));
        assert_eq!(winter, date(2026, 12, 1).and_hms_opt(23, 30, 0).unwrap());
    }

    #[test]
    fn local_dates_follow_british_summer_time() {
        // 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(last_sunday(2026, 3), Some(date(2026, 3, 29)));
        assert_eq!(last_sunday(2026, 10), Some(date(2026, 10, 25)));
        assert_eq!(local_date(at(2026, 7, 1, 23, 30)), date(2026, 7, 2), "00:30 BST");
        assert_eq!(local_date(at(2026, 12, 1, 23, 30)), date(2026, 12, 1), "23:30 GMT");
        assert_eq!(start_of_day(date(2026, 7, 2)), at(2026, 7, 1, 23, 0));
        assert_eq!(start_of_day(date(2026, 12, 2)), at(2026, 12, 2, 0, 0));
        assert_eq!(start_of_day(date(2026, 3, 29)), at(2026, 3, 29, 0, 0), "the change is at 01:00 UTC");
        assert_eq!(start_of_day(date(2026, 3, 30)), at(2026, 3, 29, 23, 0));
    }

    #[test]
    fn working_days_skip_weekends_and_bank_holidays() {
        let calendar = WorkingCalendar::england_and_wales();
        // Friday 6 November 2026, evening: Monday, Tuesday, Wednesday.
        assert_eq!(calendar.add_days(date(2026, 11, 6), 3, DayCount::Working), date(2026, 11, 11));
        assert_eq!(calendar.add_days(date(2026, 11, 6), 3, DayCount::Calendar), date(2026, 11, 9));
        // Thursday before Easter 2026: Good Friday and Easter Monday are holidays.
        assert_eq!(calendar.add_days(date(2026, 4, 2), 3, DayCount::Working), date(2026, 4, 9));
        // Christmas 2026: Friday 25th, Monday 28th (Boxing Day substitute).
        assert_eq!(calendar.add_days(date(2026, 12, 24), 1, DayCount::Working), date(2026, 12, 29));
        // A Saturday report counts from Monday.
        assert_eq!(calendar.add_days(date(2026, 11, 7), 3, DayCount::Working), date(2026, 11, 11));
        assert!(!calendar.is_working_day(date(2027, 12, 28)));
        assert_eq!(ENGLAND_AND_WALES.len(), 24);
    }

    #[test]
    fn a_deadline_is_the_end_of_the_local_day() {
        let calendar = WorkingCalendar::england_and_wales();
        // Received Friday 6 November 2026 at 18:30: due by the end of Wednesday 11th.
        let received = at(2026, 11, 6, 18, 30);
        assert_eq!(calendar.deadline(received, 3, DayCount::Working), at(2026, 11, 12, 0, 0));
        // In summer time the local day ends at 23:00 UTC.
        let summer = at(2026, 6, 5, 18, 30);
        assert_eq!(calendar.deadline(summer, 3, DayCount::Working), at(2026, 6, 10, 23, 0));
    }
}
