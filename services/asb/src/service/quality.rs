//! The monthly quality sample in the work queue. It is computed on read, not
//! stored: each officer's share is drawn (by the keyed hash of
//! [`crate::domain::review`]) from the cases they held open when the month began,
//! so every read of the month draws the same cases, and a quality review recorded
//! in the month clears its case. When the next month begins, it draws anew; last
//! month's cases still without a quality review stay, overdue, until they get one.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::Cases;
use crate::domain::case::CaseId;
use crate::domain::review::Month;
use crate::error::AsbError;

/// How long an instance trusts a draw it made before reading the officer's cases
/// again: what fixes a draw is fixed at the month's start, except a case
/// reassigned since, which another instance's draw reflects within this time
/// (this instance forgets its draws at once when it reassigns a case).
const DRAW_FRESH_FOR: Duration = Duration::from_secs(60);

/// Draws made this month and last, by officer: reading an officer's cases and
/// hashing each under the secret once a minute is enough, however often queues
/// are read (5,000 cases take some 28 ms to read on SQLite).
#[derive(Debug, Default)]
pub(super) struct Draws {
    drawn: std::sync::Mutex<HashMap<(NaiveDate, String), Draw>>,
    /// The partnership's secret, read from the store once.
    secret: tokio::sync::OnceCell<Vec<u8>>,
}

#[derive(Debug)]
struct Draw {
    made: Instant,
    cases: Vec<CaseId>,
}

impl Draws {
    /// The fresh draws held for `officers` in `month`, and the officers without one.
    fn held(&self, month: NaiveDate, officers: &[String], now: Instant) -> (Vec<CaseId>, Vec<String>) {
        let Ok(drawn) = self.drawn.lock() else { return (Vec::new(), officers.to_vec()) };
        let mut cases = Vec::new();
        let mut missing = Vec::new();
        for officer in officers {
            match drawn.get(&(month, officer.clone())) {
                Some(draw) if now.saturating_duration_since(draw.made) < DRAW_FRESH_FOR => {
                    cases.extend_from_slice(&draw.cases);
                }
                Some(_) | None => missing.push(officer.clone()),
            }
        }
        (cases, missing)
    }

    /// Keeps `officer`'s draw for `month`; only this month's and last are kept.
    fn keep(&self, month: NaiveDate, officer: String, cases: Vec<CaseId>, now: Instant) {
        let Ok(mut drawn) = self.drawn.lock() else { return };
        let month_before = month.checked_sub_months(chrono::Months::new(1)).unwrap_or(month);
        drawn.retain(|(drawn_for, _), _| *drawn_for >= month_before);
        drawn.insert((month, officer), Draw { made: now, cases });
    }

    /// Forgets every draw: a case changed officer.
    pub(super) fn forget(&self) {
        if let Ok(mut drawn) = self.drawn.lock() {
            drawn.clear();
        }
    }
}

impl Cases {
    /// The cases of `officers` in this month's sample and not yet given a quality
    /// review this month, each due before the month ends; and those of last
    /// month's sample given none since it began, overdue. A queue passes the
    /// officers of the cases it lists, and looks its cases up in the answer.
    pub(super) async fn reviews_due<'a>(
        &self,
        officers: impl IntoIterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<CaseId, DateTime<Utc>>, AsbError> {
        let officers: BTreeSet<&str> = officers.into_iter().collect();
        if officers.is_empty() {
            return Ok(HashMap::new());
        }
        let officers: Vec<String> = officers.into_iter().map(str::to_owned).collect();
        let this_month = Month::of(now);
        let last_month = this_month.previous();
        let reviewed = self.store.quality_reviews(last_month.start, this_month.end).await?;
        let reviewed_this_month: HashSet<Uuid> =
            reviewed.iter().filter(|(_, at)| *at >= this_month.start).map(|(case, _)| *case).collect();
        let reviewed_since_last_month: HashSet<Uuid> = reviewed.iter().map(|(case, _)| *case).collect();
        let mut due = HashMap::new();
        for case in self.sample(&officers, this_month).await? {
            if !reviewed_this_month.contains(&case.uuid()) {
                due.insert(case, this_month.end);
            }
        }
        // Inserted last: a case in both samples shows once, overdue.
        for case in self.sample(&officers, last_month).await? {
            if !reviewed_since_last_month.contains(&case.uuid()) {
                due.insert(case, last_month.end);
            }
        }
        Ok(due)
    }

    /// The month's sample of `officers`' cases: the draws held, and the rest drawn
    /// from the cases each held open when the month began.
    async fn sample(&self, officers: &[String], month: Month) -> Result<Vec<CaseId>, AsbError> {
        let now = self.clock.instant();
        let (mut drawn, missing) = self.draws.held(month.first_day, officers, now);
        if missing.is_empty() {
            return Ok(drawn);
        }
        // Officers with no such case are remembered too, with an empty draw.
        let mut population: HashMap<String, Vec<CaseId>> =
            missing.iter().map(|officer| (officer.clone(), Vec::new())).collect();
        for (id, officer) in self.store.sample_population(&missing, month.start).await? {
            population.entry(officer).or_default().push(CaseId::from_uuid(id));
        }
        let secret = self.draws.secret.get_or_try_init(|| self.store.quality_sample_secret()).await?;
        for (officer, mut open) in population {
            open.sort_unstable();
            let cases = self.sample.draw(secret, month.first_day, &open);
            drawn.extend_from_slice(&cases);
            self.draws.keep(month.first_day, officer, cases, now);
        }
        Ok(drawn)
    }
}
