//! An officer's work queue: what is coming due and what is overdue on their
//! cases — acknowledgements, first responses, contacts with complainants, case
//! reviews, community triggers — overdue first, so work surfaces before it
//! breaches a standard.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkingCalendar;
use super::case::CaseId;
use super::standards::{self, StandardSettings, Standing};

/// What needs doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Acknowledge,
    FirstResponse,
    ContactComplainant,
    CaseReview,
    CommunityTrigger,
}

/// One line of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueItem {
    pub case: CaseId,
    pub task: Task,
    /// Due by (exclusive); for a trigger, when it was reached.
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
}

/// The timestamps of an open case that its queue items come from.
#[derive(Clone, Debug)]
pub struct CaseClock {
    pub case: CaseId,
    pub received: DateTime<Utc>,
    pub acknowledged: Option<DateTime<Utc>>,
    pub first_response_within: Option<Duration>,
    pub first_responded: Option<DateTime<Utc>>,
    pub opened: DateTime<Utc>,
    pub contacts: Vec<DateTime<Utc>>,
    /// A manager review asked for by this date (a sampled case, a closure request).
    pub review_due: Option<DateTime<Utc>>,
    /// A community trigger reached on this case's complainant, not yet answered.
    pub trigger_reached: Option<DateTime<Utc>>,
}

fn item(
    case: CaseId,
    task: Task,
    standing: Standing,
    now: DateTime<Utc>,
    horizon: Duration,
) -> Option<QueueItem> {
    match standing {
        Standing::Due(deadline) if deadline - now <= horizon => {
            Some(QueueItem { case, task, deadline, overdue: false })
        }
        Standing::Overdue(deadline) => Some(QueueItem { case, task, deadline, overdue: true }),
        Standing::Due(_) | Standing::Met | Standing::Missed | Standing::NotApplicable => None,
    }
}

/// The queue items of one open case as of `now`: everything overdue, and what
/// falls due within `horizon`.
pub fn items(
    clock: &CaseClock,
    settings: &StandardSettings,
    calendar: &WorkingCalendar,
    now: DateTime<Utc>,
    horizon: Duration,
) -> Vec<QueueItem> {
    let case = clock.case;
    let acknowledgement =
        standards::acknowledgement(settings, calendar, clock.received, clock.acknowledged, now);
    let first_response =
        standards::first_response(clock.received, clock.first_response_within, clock.first_responded, now);
    let contact = standards::contact(settings.contact_every_days, clock.opened, &clock.contacts, None, now);
    let mut items: Vec<QueueItem> = [
        item(case, Task::Acknowledge, acknowledgement, now, horizon),
        item(case, Task::FirstResponse, first_response, now, horizon),
        item(case, Task::ContactComplainant, contact, now, horizon),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(due) = clock.review_due {
        // A sampled review is the month's work from its first day, so it shows
        // whatever the horizon, not only in the last hours before it is due.
        items.push(QueueItem { case, task: Task::CaseReview, deadline: due, overdue: now >= due });
    }
    if let Some(reached) = clock.trigger_reached {
        items.push(QueueItem { case, task: Task::CommunityTrigger, deadline: reached, overdue: true });
    }
    items
}

/// The bounds a case must cross to have any queue item as of `now` within
/// `horizon`: a pre-filter the store applies in SQL so a queue reads only the
/// open cases that may be in it, never all of them. It may let through cases
/// with no item ([`items`] has the last word), never hold back one with an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueWindow {
    /// An unacknowledged case, or one still waiting for its first response, may
    /// be in the queue only if received before this: both deadlines fall after
    /// receipt, and an item's deadline is at most `now + horizon`.
    pub received_before: DateTime<Utc>,
    /// A case may owe a contact only if neither it was opened nor its complainant
    /// (or victim) contacted at or after this. The contact deadline is the start
    /// of the local day `contact_every_days + 1` after the last contact's, which is
    /// more than `contact_every_days - 1` days after the contact itself (a local
    /// day is 23 to 25 hours long, so a day's margin covers the clock change).
    pub quiet_before: DateTime<Utc>,
}

impl QueueWindow {
    pub fn new(settings: &StandardSettings, now: DateTime<Utc>, horizon: Duration) -> Self {
        let received_before = now + horizon.max(Duration::zero());
        let margin = Duration::days(i64::from(settings.contact_every_days.saturating_sub(1)));
        Self { received_before, quiet_before: received_before - margin }
    }

    /// The pre-filter as the store's SQL applies it, for one case's clock (a
    /// review or a trigger always lets a case through).
    pub fn may_hold(&self, clock: &CaseClock) -> bool {
        let waiting = clock.acknowledged.is_none()
            || (clock.first_response_within.is_some() && clock.first_responded.is_none());
        let last_contact =
            clock.contacts.iter().copied().filter(|&at| at >= clock.opened).max().unwrap_or(clock.opened);
        (waiting && clock.received < self.received_before)
            || last_contact < self.quiet_before
            || clock.review_due.is_some()
            || clock.trigger_reached.is_some()
    }
}

/// A queue's order: overdue first, then by deadline, earliest first.
pub fn sort(queue: &mut [QueueItem]) {
    queue.sort_by(|a, b| {
        b.overdue.cmp(&a.overdue).then(a.deadline.cmp(&b.deadline)).then(a.task.cmp(&b.task))
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn clock(received: DateTime<Utc>) -> CaseClock {
        CaseClock {
            case: CaseId::generate(),
            received,
            acknowledged: None,
            first_response_within: None,
            first_responded: None,
            opened: received,
            contacts: Vec::new(),
            review_due: None,
            trigger_reached: None,
        }
    }

    #[test]
    fn work_surfaces_before_it_breaches_and_overdue_work_comes_first() {
        let settings = StandardSettings::default();
        let calendar = WorkingCalendar::england_and_wales();
        let horizon = Duration::days(2);
        // Received Monday 16 November 09:00: acknowledgement due by the end of Thursday 19th.
        let fresh = clock(at(16, 9));
        assert!(items(&fresh, &settings, &calendar, at(16, 10), horizon).is_empty(), "not due for days");
        let soon = items(&fresh, &settings, &calendar, at(18, 10), horizon);
        assert_eq!(
            soon.iter().map(|item| (item.task, item.overdue)).collect::<Vec<_>>(),
            [(Task::Acknowledge, false)]
        );

        // An urgent case received the day before, with no first response yet.
        let urgent = CaseClock { first_response_within: Some(Duration::hours(24)), ..clock(at(17, 9)) };
        let mut queue = items(&urgent, &settings, &calendar, at(18, 10), horizon);
        queue.extend(soon);
        sort(&mut queue);
        assert_eq!(queue[0].task, Task::FirstResponse);
        assert!(queue[0].overdue);
        assert_eq!(queue.iter().filter(|item| item.overdue).count(), 1);

        // Acknowledged and responded, then quiet: the contact comes due on day 14.
        let quiet =
            CaseClock { acknowledged: Some(at(16, 12)), contacts: vec![at(16, 12)], ..clock(at(16, 9)) };
        assert!(items(&quiet, &settings, &calendar, at(27, 9), horizon).is_empty());
        let contact = items(&quiet, &settings, &calendar, at(29, 9), horizon);
        assert_eq!(contact.iter().map(|item| item.task).collect::<Vec<_>>(), [Task::ContactComplainant]);
        assert_eq!(contact[0].deadline, at(30, 0).checked_add_signed(Duration::days(1)).unwrap());
    }

    #[test]
    fn the_pre_filter_holds_back_no_case_with_an_item() {
        let settings = StandardSettings::default();
        let calendar = WorkingCalendar::england_and_wales();
        // Every hour of two months around the clock change and a bank holiday,
        // for cases received, acknowledged and contacted at those hours.
        let now = at(16, 9);
        for horizon in [Duration::zero(), Duration::hours(1), Duration::days(2), Duration::days(90)] {
            let window = QueueWindow::new(&settings, now, horizon);
            for hours_back in 0..(24 * 62) {
                let instant = now - Duration::hours(hours_back) + Duration::minutes(59);
                let clocks = [
                    clock(instant),
                    CaseClock { acknowledged: Some(instant), ..clock(instant - Duration::days(1)) },
                    CaseClock {
                        acknowledged: Some(instant),
                        contacts: vec![instant],
                        ..clock(instant - Duration::days(30))
                    },
                    CaseClock {
                        acknowledged: Some(instant),
                        first_response_within: Some(Duration::hours(24)),
                        ..clock(instant)
                    },
                ];
                for case in &clocks {
                    let queued = !items(case, &settings, &calendar, now, horizon).is_empty();
                    assert!(!queued || window.may_hold(case), "{case:?} held back at {horizon:?}");
                }
            }
        }
        // And it does hold back the quiet ones: contacted yesterday, acknowledged.
        let window = QueueWindow::new(&settings, now, Duration::days(2));
        let quiet = CaseClock { acknowledged: Some(at(15, 9)), contacts: vec![at(15, 9)], ..clock(at(1, 9)) };
        assert!(!window.may_hold(&quiet));
        // At the boundary: the last contact exactly 13 days before the horizon's end is held
        // back, a minute earlier is let through.
        let edge = window.quiet_before;
        let at_edge = CaseClock { contacts: vec![edge], ..quiet };
        let before_edge = CaseClock { contacts: vec![edge - Duration::minutes(1)], ..quiet };
        assert!(!window.may_hold(&at_edge));
        assert!(window.may_hold(&before_edge));
    }

    #[test]
    fn reviews_and_triggers_join_the_queue() {
        let settings = StandardSettings::default();
        let calendar = WorkingCalendar::england_and_wales();
        let case = CaseClock {
            acknowledged: Some(at(2, 10)),
            contacts: vec![at(20, 10)],
            review_due: Some(at(25, 0)),
            trigger_reached: Some(at(20, 11)),
            ..clock(at(2, 9))
        };
        let queue = items(&case, &settings, &calendar, at(24, 9), Duration::days(2));
        let tasks: Vec<(Task, bool)> = queue.iter().map(|item| (item.task, item.overdue)).collect();
        assert_eq!(tasks, [(Task::CaseReview, false), (Task::CommunityTrigger, true)]);
    }
}
