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
