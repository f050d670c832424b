//! Working a case: an append-only diary whose corrections are new entries,
//! interventions from reference data valid over date ranges (the law changes;
//! old types stay readable for old cases), and mediation considered in every case.

use chrono::NaiveDate;
use involve_core::Code;
use serde::{Deserialize, Serialize};

involve_core::uuid_resource_id!(
    /// `cases/{case}/diaryEntries/{uuid}` is named under its case; the id alone here.
    pub DiaryEntryId,
    "diaryEntries"
);

/// A diary entry as the correction rule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef {
    pub id: DiaryEntryId,
    /// The entry it corrects, if it is a correction.
    pub corrects: Option<DiaryEntryId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorrectionError {
    #[error("the entry to correct is not in this case's diary")]
    NotInThisCase,
    #[error("that entry was already corrected: correct the latest correction")]
    AlreadyCorrected,
}

/// Checks that a new entry correcting `target` may be added to `diary`: the
/// target is this case's, and is the latest version of what it records (a
/// correction of a correction is fine; two corrections of one entry are not).
pub fn check_correction(diary: &[EntryRef], target: DiaryEntryId) -> Result<(), CorrectionError> {
    if !diary.iter().any(|entry| entry.id == target) {
        return Err(CorrectionError::NotInThisCase);
    }
    if diary.iter().any(|entry| entry.corrects == Some(target)) {
        return Err(CorrectionError::AlreadyCorrected);
    }
    Ok(())
}

/// What kind of thing an intervention is: it decides what closure asks of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionKind {
    /// Early and informal: warnings, agreements.
    Early,
    /// Mediation between the parties.
    Mediation,
    /// Legal remedies: notices, injunctions, orders, possession.
    Enforcement,
    /// A referral out (police, MARAC, victim support): its outcome must be recorded.
    Referral,
    /// Support for victims and witnesses, target hardening.
    Support,
}

/// An intervention type, as reference data holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterventionType {
    pub code: Code,
    pub display_name: String,
    pub kind: InterventionKind,
    pub effective_from: NaiveDate,
    /// The last day it may be newly used; `None` while the law still provides it.
    pub effective_to: Option<NaiveDate>,
}

impl InterventionType {
    /// Whether it may be newly recorded on `date`.
    pub fn available_on(&self, date: NaiveDate) -> bool {
        date >= self.effective_from && self.effective_to.is_none_or(|last| date <= last)
    }

    /// Whether only enforcement officers may record it.
    pub fn is_enforcement(&self) -> bool {
        self.kind == InterventionKind::Enforcement
    }
}

/// The seed's intervention types (reference data operators extend and retire).
pub fn default_interventions() -> Vec<InterventionType> {
    // The 2014 Act's powers (in force 20 October 2014) and the landlord's own.
    let act_2014 = NaiveDate::from_ymd_opt(2014, 10, 20).unwrap_or(NaiveDate::MIN);
    let always = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
    [
        ("warning", "Warning", InterventionKind::Early, always),
        ("mediation", "Mediation", InterventionKind::Mediation, always),
        ("acceptable-behaviour-agreement", "Acceptable behaviour agreement", InterventionKind::Early, always),
        ("notice-seeking-possession", "Notice of seeking possession", InterventionKind::Enforcement, always),
        ("injunction", "Civil injunction", InterventionKind::Enforcement, act_2014),
        (
            "community-protection-notice",
            "Community protection notice",
            InterventionKind::Enforcement,
            act_2014,
        ),
        ("closure-order", "Closure order", InterventionKind::Enforcement, act_2014),
        ("possession-proceedings", "Possession proceedings", InterventionKind::Enforcement, always),
        ("demoted-tenancy", "Demoted tenancy", InterventionKind::Enforcement, always),
        ("management-transfer", "Management transfer", InterventionKind::Support, always),
        ("police-referral", "Referral to the police", InterventionKind::Referral, always),
        (
            "marac-referral",
            "Referral to a multi-agency risk assessment conference",
            InterventionKind::Referral,
            always,
        ),
        ("victim-support-referral", "Referral to victim support", InterventionKind::Referral, always),
        ("target-hardening", "Target hardening", InterventionKind::Support, always),
        ("witness-support", "Witness support", InterventionKind::Support, always),
    ]
    .into_iter()
    .map(|(code, name, kind, from)| InterventionType {
        code: Code::trusted(code),
        display_name: name.to_owned(),
        kind,
        effective_from: from,
        effective_to: None,
    })
    .collect()
}

/// How a mediation ended (or has not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediationOutcome {
    Inappropriate,
    Unsuccessful,
    Successful,
    Ongoing,
}

/// Who referred a case to mediation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediationReferrer {
    Officer,
    Warden,
    Police,
    /// The parties themselves.
    Parties,
}

/// Mediation, considered in every case: referred, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mediation {
    Referred { by: MediationReferrer, stage: String, outcome: Option<MediationOutcome> },
    NotReferred { reason: String },
}

impl Mediation {
    /// Whether the record answers the question at all.
    pub fn is_considered(&self) -> bool {
        match self {
            Self::Referred { stage, .. } => !stage.trim().is_empty(),
            Self::NotReferred { reason } => !reason.trim().is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_are_new_entries_pointing_at_the_latest_version() {
        let first = DiaryEntryId::generate();
        let correction = DiaryEntryId::generate();
        let mut diary = vec![EntryRef { id: first, corrects: None }];
        assert_eq!(check_correction(&diary, first), Ok(()));
        diary.push(EntryRef { id: correction, corrects: Some(first) });
        assert_eq!(check_correction(&diary, first), Err(CorrectionError::AlreadyCorrected));
        assert_eq!(check_correction(&diary, correction), Ok(()));
        assert_eq!(check_correction(&diary, DiaryEntryId::generate()), Err(CorrectionError::NotInThisCase));
    }

    #[test]
    fn intervention_types_are_valid_over_a_date_range() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let types = default_interventions();
        let injunction = types.iter().find(|t| t.code.as_str() == "injunction").unwrap();
        assert!(!injunction.available_on(date(2014, 10, 19)));
        assert!(injunction.available_on(date(2026, 12, 5)));
        assert!(injunction.is_enforcement());
        // An older power, retired when the 2014 Act replaced it.
        let retired = InterventionType {
            effective_from: date(2000, 1, 1),
            effective_to: Some(date(2014, 10, 19)),
            ..injunction.clone()
        };
        assert!(retired.available_on(date(2014, 10, 19)));
        assert!(!retired.available_on(date(2014, 10, 20)));
        let referrals = types.iter().filter(|t| t.kind == InterventionKind::Referral).count();
        assert_eq!(referrals, 3);
    }

    #[test]
    fn mediation_is_considered_only_with_a_stage_or_a_reason() {
        let referred = Mediation::Referred {
            by: MediationReferrer::Police,
            stage: "after first warning".into(),
            outcome: None,
        };
        assert!(referred.is_considered());
        assert!(!Mediation::NotReferred { reason: " ".into() }.is_considered());
        assert!(Mediation::NotReferred { reason: "violence: mediation unsafe".into() }.is_considered());
    }
}
