//! What operators watch about ASB casework, declared once for the platform to
//! export (`platform::signals`): open cases by priority, and the open cases
//! whose acknowledgement, first response or contact with the complainant is
//! overdue — each an unrecovered breach of its service standard.

use std::collections::BTreeMap;
use std::sync::Arc;

use platform::clock::SharedClock;
use platform::signals::{DomainSignals, Reading, Signal};

use crate::domain::standards::{StandardSettings, Standing};
use crate::store::{CaseFilter, ListReach, Store};

const OPEN: Signal =
    Signal { name: "asb.cases.open", description: "ASB cases not closed, by priority", unit: "{case}" };
const OVERDUE: Signal = Signal {
    name: "asb.standards.overdue",
    description: "Open ASB cases whose acknowledgement, first response or complainant contact is overdue, by standard",
    unit: "{case}",
};
const BREACHED: Signal = Signal {
    name: "asb.standards.breached",
    description: "Open ASB cases that have missed or are overdue on a service standard, by standard",
    unit: "{case}",
};
const SIGNALS: &[Signal] = &[OPEN, OVERDUE, BREACHED];

/// Open cases are read in pages of this many.
const PAGE: u64 = 500;

/// The standards, in the order `standings` computes them.
const STANDARDS: [&str; 3] = ["acknowledgement", "first_response", "contact"];

#[derive(Debug)]
pub(crate) struct AsbSignals {
    pub(crate) store: Arc<Store>,
    pub(crate) standards: StandardSettings,
    pub(crate) clock: SharedClock,
}

#[async_trait::async_trait]
impl DomainSignals for AsbSignals {
    fn signals(&self) -> &'static [Signal] {
        SIGNALS
    }

    async fn read(&self) -> anyhow::Result<Vec<Reading>> {
        let reference = self.store.reference_data().await?;
        let calendar = &reference.calendar;
        let now = self.clock.now();
        let mut by_priority: BTreeMap<String, i64> = ["untriaged", "routine", "high", "urgent"]
            .into_iter()
            .map(|priority| (priority.to_owned(), 0))
            .collect();
        let mut overdue = [0_i64; 3];
        let mut breached = [0_i64; 3];
        let filter = CaseFilter { open_only: true, ..CaseFilter::default() };
        let mut before = None;
        loop {
            let page = self.store.list_cases(&ListReach::Areas(None), &filter, before, PAGE).await?;
            for record in &page {
                let case = &record.case;
                let priority = case.priority.clone().unwrap_or_else(|| "untriaged".to_owned());
                *by_priority.entry(priority).or_default() += 1;
                let contacts = crate::service::complainant_contacts(record);
                let times = crate::service::case_times(case, &contacts);
                let standings = self.standards.standings(calendar, &times, now);
                for (index, standing) in standings.into_iter().enumerate() {
                    overdue[index] += i64::from(matches!(standing, Standing::Overdue(_)));
                    breached[index] += i64::from(standing.is_breach());
                }
            }
            match page.last() {
                Some(last) if page.len() as u64 == PAGE => before = Some(last.case.id),
                Some(_) | None => break,
            }
        }
        let mut readings: Vec<Reading> = by_priority
            .into_iter()
            .map(|(priority, count)| Reading::new(&OPEN, count).with("priority", priority))
            .collect();
        for (index, standard) in STANDARDS.into_iter().enumerate() {
            readings.push(Reading::new(&OVERDUE, overdue[index]).with("standard", standard));
            readings.push(Reading::new(&BREACHED, breached[index]).with("standard", standard));
        }
        Ok(readings)
    }
}
