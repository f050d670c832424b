//! Reports and cases kept apart. A report (who, when, how, what, where, about
//! whom) joins the open case about the same parties, not merely the same place;
//! otherwise it opens a case, linked to the last closed case about those parties
//! so that the durability of a remedy can be measured.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use involve_core::Code;
use serde::{Deserialize, Serialize};

involve_core::uuid_resource_id!(
    /// `cases/{uuid}`.
    pub CaseId,
    "cases"
);

/// How a report arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    ContactCentre,
    Office,
    Email,
    Online,
    /// The out-of-hours line: kept as its own channel so out-of-hours demand shows.
    OutOfHours,
    /// From a partner: the police, another landlord, a support agency.
    PartnerReferral,
}

/// The part someone plays in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    Complainant,
    AllegedPerpetrator,
    Victim,
    Witness,
}

/// Who someone is, as far as the case knows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Person {
    /// A customer of any tenure and landlord: `customers/{uuid}`.
    Customer(String),
    /// Someone outside the customer base, known by a key the officer recorded
    /// (lower-cased name and postcode, say).
    External(String),
    /// Not known, or not willing to be: matches nobody.
    Unknown,
}

impl Person {
    fn identified(&self) -> bool {
        !matches!(self, Self::Unknown)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Party {
    pub role: PartyRole,
    pub person: Person,
}

/// The people a report or a case is about, by the sides that decide whether two
/// are the same matter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sides {
    /// Complainants and victims, identified.
    pub affected: BTreeSet<Person>,
    /// Alleged perpetrators, identified.
    pub accused: BTreeSet<Person>,
}

impl Sides {
    pub fn of<'a>(parties: impl IntoIterator<Item = &'a Party>) -> Self {
        let mut sides = Self::default();
        for party in parties.into_iter().filter(|party| party.person.identified()) {
            match party.role {
                PartyRole::Complainant | PartyRole::Victim => sides.affected.insert(party.person.clone()),
                PartyRole::AllegedPerpetrator => sides.accused.insert(party.person.clone()),
                PartyRole::Witness => false,
            };
        }
        sides
    }

    /// Whether a report with these sides is about the same matter as a case with
    /// `case`'s: someone affected in both, and either the same person accused, or
    /// nobody identified as accused in the report and the same place.
    pub fn same_matter(&self, case: &Sides, same_place: bool) -> bool {
        let shares_affected = !self.affected.is_disjoint(&case.affected);
        let shares_accused = !self.accused.is_disjoint(&case.accused);
        shares_affected && (shares_accused || (self.accused.is_empty() && same_place))
    }
}

/// A case as the joining rule sees it.
#[derive(Clone, Debug)]
pub struct CaseSummary {
    pub id: CaseId,
    pub sides: Sides,
    /// Where: the property (UPRN) or the area code.
    pub place: Option<Code>,
    pub opened: DateTime<Utc>,
    pub closed: Option<DateTime<Utc>>,
}

/// What a new report does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filing {
    /// Joins this open case.
    Join(CaseId),
    /// Opens a case, linked to the last closed case about the same matter, if any.
    Open { repeat_of: Option<CaseId> },
}

/// Where a report about `sides` at `place` goes, among `cases` (the cases about
/// any of its people): the most recent open case about the same matter, or a
/// new one. An anonymous report that identifies nobody always opens a case.
pub fn file(sides: &Sides, place: Option<&Code>, cases: &[CaseSummary]) -> Filing {
    let matching = |case: &&CaseSummary| {
        let same_place = place.is_some() && case.place.as_ref() == place;
        sides.same_matter(&case.sides, same_place)
    };
    let open =
        cases.iter().filter(|case| case.closed.is_none()).filter(matching).max_by_key(|case| case.opened);
    if let Some(open) = open {
        return Filing::Join(open.id);
    }
    let repeat_of =
        cases.iter().filter(|case| case.closed.is_some()).filter(matching).max_by_key(|case| case.closed);
    Filing::Open { repeat_of: repeat_of.map(|case| case.id) }
}

/// What closing a case needs, each named when it is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosureNeed {
    /// A closure reason.
    Reason,
    /// Every referral's outcome recorded.
    ReferralOutcomes,
    /// Mediation considered: referred, or a reason it was not.
    MediationConsidered,
    /// A manager's closure review, signed off.
    ManagerSignOff,
}

impl ClosureNeed {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Reason => "a closure reason",
            Self::ReferralOutcomes => "the outcome of every referral",
            Self::MediationConsidered => "mediation considered (referred, or the reason it was not)",
            Self::ManagerSignOff => "a manager's closure sign-off",
        }
    }
}

/// The state of a case as closure sees it.
#[derive(Clone, Debug, Default)]
pub struct ClosureState {
    pub reason: Option<String>,
    pub referrals_without_outcome: usize,
    pub mediation_considered: bool,
    pub signed_off: bool,
}

/// Everything still missing before the case may close (empty: it may).
pub fn closure_needs(state: &ClosureState) -> Vec<ClosureNeed> {
    let mut needs = Vec::new();
    if state.reason.as_deref().is_none_or(|reason| reason.trim().is_empty()) {
        needs.push(ClosureNeed::Reason);
    }
    if state.referrals_without_outcome > 0 {
        needs.push(ClosureNeed::ReferralOutcomes);
    }
    if !state.mediation_considered {
        needs.push(ClosureNeed::MediationConsidered);
    }
    if !state.signed_off {
        needs.push(ClosureNeed::ManagerSignOff);
    }
    needs
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn customer(id: u8) -> Person {
        Person::Customer(format!("customers/00000000-0000-7000-8000-0000000000{id:02}"))
    }

    fn party(role: PartyRole, person: Person) -> Party {
        Party { role, person }
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap()
    }

    fn case(sides: Sides, place: Option<&str>, opened: u32, closed: Option<u32>) -> CaseSummary {
        CaseSummary {
            id: CaseId::generate(),
            sides,
            place: place.map(Code::trusted),
            opened: at(opened),
            closed: closed.map(at),
        }
    }

    #[test]
    fn a_report_about_the_same_people_joins_their_open_case_and_the_same_place_alone_does_not() {
        let noise = Sides::of(&[
            party(PartyRole::Complainant, customer(1)),
            party(PartyRole::AllegedPerpetrator, customer(2)),
        ]);
        let open = case(noise, Some("north"), 1, None);
        let again = Sides::of(&[
            party(PartyRole::Victim, customer(1)),
            party(PartyRole::AllegedPerpetrator, customer(2)),
            party(PartyRole::Witness, customer(9)),
        ]);
        assert_eq!(
            file(&again, Some(&Code::trusted("north")), std::slice::from_ref(&open)),
            Filing::Join(open.id)
        );

        // A neighbour on the same estate complaining about someone else: a new case.
        let unrelated = Sides::of(&[
            party(PartyRole::Complainant, customer(3)),
            party(PartyRole::AllegedPerpetrator, customer(4)),
        ]);
        assert_eq!(
            file(&unrelated, Some(&Code::trusted("north")), std::slice::from_ref(&open)),
            Filing::Open { repeat_of: None }
        );
        // The same complainant about somebody else: a new case too.
        let other_accused = Sides::of(&[
            party(PartyRole::Complainant, customer(1)),
            party(PartyRole::AllegedPerpetrator, customer(4)),
        ]);
        assert_eq!(
            file(&other_accused, Some(&Code::trusted("north")), std::slice::from_ref(&open)),
            Filing::Open { repeat_of: None }
        );
        // The same complainant, perpetrator unknown, same place: the same matter.
        let unknown = Sides::of(&[
            party(PartyRole::Complainant, customer(1)),
            party(PartyRole::AllegedPerpetrator, Person::Unknown),
        ]);
        assert_eq!(
            file(&unknown, Some(&Code::trusted("north")), std::slice::from_ref(&open)),
            Filing::Join(open.id)
        );
        assert_eq!(file(&unknown, Some(&Code::trusted("south")), &[open]), Filing::Open { repeat_of: None });
    }

    #[test]
    fn after_closure_a_report_opens_a_new_case_linked_to_the_old_one() {
        let sides = Sides::of(&[
            party(PartyRole::Complainant, customer(1)),
            party(PartyRole::AllegedPerpetrator, Person::External("j smith ab1 2cd".into())),
        ]);
        let older = case(sides.clone(), None, 1, Some(5));
        let newer = case(sides.clone(), None, 6, Some(10));
        assert_eq!(file(&sides, None, &[older, newer.clone()]), Filing::Open { repeat_of: Some(newer.id) });
        // Anonymous: nobody identified, nothing to join.
        let anonymous = Sides::of(&[party(PartyRole::Complainant, Person::Unknown)]);
        assert_eq!(file(&anonymous, None, &[newer]), Filing::Open { repeat_of: None });
    }

    #[test]
    fn closing_names_everything_missing() {
        let missing =
            closure_needs(&ClosureState { referrals_without_outcome: 1, ..ClosureState::default() });
        assert_eq!(
            missing,
            [
                ClosureNeed::Reason,
                ClosureNeed::ReferralOutcomes,
                ClosureNeed::MediationConsidered,
                ClosureNeed::ManagerSignOff
            ]
        );
        let ready = ClosureState {
            reason: Some("resolved: perpetrator signed an acceptable behaviour agreement".into()),
            referrals_without_outcome: 0,
            mediation_considered: true,
            signed_off: true,
        };
        assert!(closure_needs(&ready).is_empty());
        assert_eq!(closure_needs(&ClosureState { reason: Some(" ".into()), ..ready }), [ClosureNeed::Reason]);
    }
}
