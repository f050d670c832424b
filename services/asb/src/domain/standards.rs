//! The service standards, computed from a case's timestamps, never typed in:
//! acknowledgement within 3 (working) days of receipt, first response within
//! each category's time, contact with the complainant at least every 14 days
//! while open, and satisfaction at closure. Each case meets, misses, or still has
//! a standard due; a period's report counts them against its target, with the
//! counts behind the percentage and the cases that missed it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{DayCount, WorkingCalendar, local_date, start_of_day};

/// Where one case stands against one standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Met,
    Missed,
    /// Not done yet, and not late: due by this instant (exclusive).
    Due(DateTime<Utc>),
    /// Not done, and late since this instant.
    Overdue(DateTime<Utc>),
    /// The standard does not apply (no first-response time for the category, no
    /// survey answer).
    NotApplicable,
}

impl Standing {
    /// Something to do by `deadline`, done at `done` (if it is), as of `now`.
    fn against(deadline: DateTime<Utc>, done: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match done {
            Some(done) if done < deadline => Self::Met,
            Some(_) => Self::Missed,
            None if now < deadline => Self::Due(deadline),
            None => Self::Overdue(deadline),
        }
    }

    /// Whether it counts against the standard already (missed, or overdue).
    pub fn is_breach(self) -> bool {
        matches!(self, Self::Missed | Self::Overdue(_))
    }
}

/// How the partnership sets its standards (`[services.asb]` configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandardSettings {
    pub acknowledge_within_days: u32,
    pub acknowledge_days: DayCount,
    pub contact_every_days: u32,
    /// Targets, in percent.
    pub acknowledgement_target: u32,
    pub contact_target: u32,
    pub satisfaction_target: u32,
    pub first_response_target: u32,
}

impl Default for StandardSettings {
    fn default() -> Self {
        Self {
            acknowledge_within_days: 3,
            acknowledge_days: DayCount::Working,
            contact_every_days: 14,
            acknowledgement_target: 90,
            contact_target: 75,
            satisfaction_target: 60,
            first_response_target: 90,
        }
    }
}

/// The timestamps of one case that the standards are computed from.
#[derive(Clone, Copy, Debug)]
pub struct CaseTimes<'a> {
    pub received: DateTime<Utc>,
    pub acknowledged: Option<DateTime<Utc>>,
    /// The first-response time of its categories, once triaged.
    pub first_response_within: Option<Duration>,
    pub responded: Option<DateTime<Utc>>,
    pub opened: DateTime<Utc>,
    pub closed: Option<DateTime<Utc>>,
    /// Contacts with the complainant or a victim.
    pub contacts: &'a [DateTime<Utc>],
}

impl StandardSettings {
    /// Where `case` stands at `now` on acknowledgement, first response and
    /// contact, in that order: what a case shows, what the standards report
    /// counts, and what the overdue and breach signals count.
    pub fn standings(
        &self,
        calendar: &WorkingCalendar,
        case: &CaseTimes<'_>,
        now: DateTime<Utc>,
    ) -> [Standing; 3] {
        [
            acknowledgement(self, calendar, case.received, case.acknowledged, now),
            first_response(case.received, case.first_response_within, case.responded, now),
            contact(self.contact_every_days, case.opened, case.contacts, case.closed, now),
        ]
    }
}

/// Acknowledging a report received at `received`.
pub fn acknowledgement(
    settings: &StandardSettings,
    calendar: &WorkingCalendar,
    received: DateTime<Utc>,
    acknowledged: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Standing {
    let deadline = calendar.deadline(received, settings.acknowledge_within_days, settings.acknowledge_days);
    Standing::against(deadline, acknowledged, now)
}

/// The first response to a case within its categories' time (`None`: no time set).
pub fn first_response(
    received: DateTime<Utc>,
    within: Option<Duration>,
    responded: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Standing {
    let Some(within) = within else { return Standing::NotApplicable };
    // Within 24 hours means up to and including the 24th hour.
    let deadline = received + within + Duration::nanoseconds(1);
    Standing::against(deadline, responded, now)
}

/// Contact with the complainant at least every `every_days` calendar days from
/// the case's opening until its closure (or `now`): every gap between local
/// dates, opening to first contact, contact to contact, last contact to closure,
/// is at most that many days. Missed at the first gap that is longer.
pub fn contact(
    every_days: u32,
    opened: DateTime<Utc>,
    contacts: &[DateTime<Utc>],
    closed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Standing {
    let every = Duration::days(i64::from(every_days));
    let mut sorted: Vec<DateTime<Utc>> = contacts.iter().copied().filter(|&c| c >= opened).collect();
    sorted.sort_unstable();
    let mut previous = local_date(opened);
    for contact in sorted.into_iter().take_while(|&contact| closed.is_none_or(|closed| contact <= closed)) {
        let date = local_date(contact);
        if date - previous > every {
            return Standing::Missed;
        }
        previous = date;
    }
    // From the last contact: due by the end of the day `every_days` later.
    let due = previous.checked_add_signed(every).and_then(|date| date.succ_opt());
    let deadline = due.map_or(DateTime::<Utc>::MAX_UTC, start_of_day);
    match closed {
        Some(closed) if closed < deadline => Standing::Met,
        Some(_) => Standing::Missed,
        None if now < deadline => Standing::Due(deadline),
        None => Standing::Overdue(deadline),
    }
}

/// The complainant's answer to the closure survey.
pub fn satisfaction(satisfied: Option<bool>) -> Standing {
    match satisfied {
        Some(true) => Standing::Met,
        Some(false) => Standing::Missed,
        None => Standing::NotApplicable,
    }
}

/// One standard over a period: the counts behind the percentage, and who missed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally<K> {
    pub met: u64,
    pub missed: u64,
    /// Still due, not yet late: outside the percentage.
    pub pending: u64,
    pub target_percent: u32,
    pub missed_by: Vec<K>,
}

impl<K> Tally<K> {
    pub fn new(target_percent: u32) -> Self {
        Self { met: 0, missed: 0, pending: 0, target_percent, missed_by: Vec::new() }
    }

    /// Counts one case's standing (overdue counts as missed: it already has).
    pub fn count(&mut self, case: K, standing: Standing) {
        match standing {
            Standing::Met => self.met += 1,
            Standing::Missed | Standing::Overdue(_) => {
                self.missed += 1;
                self.missed_by.push(case);
            }
            Standing::Due(_) => self.pending += 1,
            Standing::NotApplicable => {}
        }
    }

    /// Met as a percentage of the decided cases; `None` with none decided.
    pub fn percent(&self) -> Option<f64> {
        let decided = self.met + self.missed;
        // Counts are far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        (decided > 0).then(|| self.met as f64 * 100.0 / decided as f64)
    }

    pub fn meets_target(&self) -> Option<bool> {
        self.percent().map(|percent| percent >= f64::from(self.target_percent))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, minute, 0).unwrap()
    }

    #[test]
    fn acknowledgement_on_day_three_is_met_and_on_day_four_missed() {
        let settings = StandardSettings::default();
        let calendar = WorkingCalendar::england_and_wales();
        // Friday 6 November 2026, 18:30 (GMT): day 3 is Wednesday 11th.
        let received = at(2026, 11, 6, 18, 30);
        let ack = |done| acknowledgement(&settings, &calendar, received, done, at(2026, 11, 20, 0, 0));
        assert_eq!(ack(Some(at(2026, 11, 11, 23, 59))), Standing::Met);
        assert_eq!(ack(Some(at(2026, 11, 12, 0, 0))), Standing::Missed);
        // Over the Easter weekend 2026: received Thursday 2 April, day 3 is Thursday 9th (BST).
        let easter = at(2026, 4, 2, 10, 0);
        let ack = |done| acknowledgement(&settings, &calendar, easter, done, at(2026, 5, 1, 0, 0));
        assert_eq!(ack(Some(at(2026, 4, 9, 22, 59))), Standing::Met);
        assert_eq!(ack(Some(at(2026, 4, 9, 23, 0))), Standing::Missed, "midnight BST on day 4");
        // Counted in calendar days where configured: Monday 9th is day 3.
        let calendar_days = StandardSettings { acknowledge_days: DayCount::Calendar, ..settings.clone() };
        let on_tuesday =
            acknowledgement(&calendar_days, &calendar, received, Some(at(2026, 11, 10, 9, 0)), received);
        assert_eq!(on_tuesday, Standing::Missed);
        // Not yet acknowledged: due, then overdue.
        let open = |now| acknowledgement(&settings, &calendar, received, None, now);
        assert_eq!(open(at(2026, 11, 11, 12, 0)), Standing::Due(at(2026, 11, 12, 0, 0)));
        assert_eq!(open(at(2026, 11, 12, 0, 0)), Standing::Overdue(at(2026, 11, 12, 0, 0)));
    }

    #[test]
    fn a_first_response_at_23h59_is_met_and_at_24h01_missed() {
        let received = at(2026, 11, 6, 18, 30);
        let day = Some(Duration::hours(24));
        let now = at(2026, 12, 1, 0, 0);
        assert_eq!(first_response(received, day, Some(at(2026, 11, 7, 18, 29)), now), Standing::Met);
        assert_eq!(first_response(received, day, Some(at(2026, 11, 7, 18, 30)), now), Standing::Met);
        assert_eq!(first_response(received, day, Some(at(2026, 11, 7, 18, 31)), now), Standing::Missed);
        assert_eq!(first_response(received, None, None, now), Standing::NotApplicable);
        assert!(first_response(received, day, None, now).is_breach());
    }

    #[test]
    fn contact_every_fourteen_days_and_not_fifteen() {
        let opened = at(2026, 10, 1, 9, 0);
        let now = at(2026, 12, 1, 0, 0);
        // Contacts on days 14 and 28: met while open (due again by day 42).
        let every_14 = [at(2026, 10, 15, 16, 0), at(2026, 10, 29, 8, 0)];
        assert_eq!(contact(14, opened, &every_14, Some(at(2026, 11, 12, 12, 0)), now), Standing::Met);
        // A gap of 15 days misses it.
        let gap_15 = [at(2026, 10, 16, 9, 0)];
        assert_eq!(contact(14, opened, &gap_15, Some(at(2026, 10, 20, 9, 0)), now), Standing::Missed);
        // Open with no contact since day 14: due by the end of day 28, then overdue.
        let once = [at(2026, 10, 15, 9, 0)];
        assert_eq!(
            contact(14, opened, &once, None, at(2026, 10, 29, 22, 0)),
            Standing::Due(at(2026, 10, 30, 0, 0))
        );
        assert!(contact(14, opened, &once, None, at(2026, 10, 30, 0, 0)).is_breach());
        // Closed on day 15 after no contact at all: missed.
        assert_eq!(contact(14, opened, &[], Some(at(2026, 10, 16, 9, 0)), now), Standing::Missed);
        // 23:00 BST on day 14 is still day 14; midnight BST is day 15.
        assert_eq!(contact(14, opened, &[], Some(at(2026, 10, 15, 21, 59)), now), Standing::Met);
        assert_eq!(contact(14, opened, &[], Some(at(2026, 10, 15, 23, 0)), now), Standing::Missed);
    }

    #[test]
    fn a_tally_keeps_the_counts_and_the_cases_that_missed() {
        let mut tally = Tally::new(90);
        tally.count("a", Standing::Met);
        tally.count("b", Standing::Missed);
        tally.count("c", Standing::Overdue(at(2026, 1, 1, 0, 0)));
        tally.count("d", Standing::Due(at(2026, 1, 1, 0, 0)));
        tally.count("e", Standing::NotApplicable);
        assert_eq!((tally.met, tally.missed, tally.pending), (1, 2, 1));
        assert_eq!(tally.missed_by, ["b", "c"]);
        assert!((tally.percent().unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(tally.meets_target(), Some(false));
        assert_eq!(Tally::<&str>::new(60).percent(), None);
        assert_eq!(satisfaction(Some(true)), Standing::Met);
        assert_eq!(satisfaction(None), Standing::NotApplicable);
    }
}
