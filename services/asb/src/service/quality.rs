//! The monthly quality sample in the work queue. It is computed on read, not
//! stored: each officer's share is drawn (by the keyed hash of
//! [`crate::domain::review`]) from the cases they held open when the month began,
//! so every read of the month draws the same cases, and a quality review recorded
//! in the month clears its case. When the next month begins, it draws anew; last
//! month's cases still without a quality review stay, overdue, until they get one.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use chrono::{DateTime, NaiveDate, Utc};

use super::Cases;
use crate::domain::case::CaseId;
use crate::domain::review::{Month, SampleRule};
use crate::error::AsbError;

/// Draws already made this month and last, by officer, each with a fingerprint
/// of the cases it was drawn from: hashing every case under the secret once a
/// month is enough, however often queues are read.
#[derive(Debug, Default)]
pub(super) struct Draws {
    drawn: std::sync::Mutex<HashMap<(NaiveDate, String), Draw>>,
    /// The partnership's secret, read from the store once.
    secret: tokio::sync::OnceCell<Vec<u8>>,
}

#[derive(Debug)]
struct Draw {
    fingerprint: u64,
    cases: Vec<CaseId>,
}

impl Draws {
    /// One officer's share for `month` of `open` (sorted).
    fn draw(
        &self,
        rule: &SampleRule,
        secret: &[u8],
        month: NaiveDate,
        officer: &str,
        open: &[CaseId],
    ) -> Vec<CaseId> {
        let mut hasher = DefaultHasher::new();
        open.hash(&mut hasher);
        let fingerprint = hasher.finish();
        let key = (month, officer.to_owned());
        if let Ok(drawn) = self.drawn.lock()
            && let Some(draw) = drawn.get(&key)
            && draw.fingerprint == fingerprint
        {
            return draw.cases.clone();
        }
        // Hashed without the lock held: other queue reads go on meanwhile.
        let cases = rule.draw(secret, month, open);
        if let Ok(mut drawn) = self.drawn.lock() {
            // Only this month's and last month's draws are read again.
            let month_before = month.checked_sub_months(chrono::Months::new(1)).unwrap_or(month);
            drawn.retain(|(drawn_for, _), _| *drawn_for >= month_before);
            drawn.insert(key, Draw { fingerprint, cases: cases.clone() });
        }
        cases
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
        let reviewed_this_month = self.store.quality_reviewed(this_month.start, this_month.end).await?;
        let reviewed_since_last_month = self.store.quality_reviewed(last_month.start, this_month.end).await?;
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

    /// The month's sample of `officers`' cases.
    async fn sample(&self, officers: &[String], month: Month) -> Result<Vec<CaseId>, AsbError> {
        let mut population: HashMap<String, Vec<CaseId>> = HashMap::new();
        for (id, officer) in self.store.sample_population(officers, month.start).await? {
            population.entry(officer).or_default().push(CaseId::from_uuid(id));
        }
        let secret = self.draws.secret.get_or_try_init(|| self.store.quality_sample_secret()).await?;
        let mut drawn = Vec::new();
        for (officer, mut open) in population {
            open.sort_unstable();
            drawn.extend(self.draws.draw(&self.sample, secret, month.first_day, &officer, &open));
        }
        Ok(drawn)
    }
}
