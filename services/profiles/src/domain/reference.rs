//! Reference data: tenures, areas and the characteristic categories are rows an
//! operator can extend, not enums in code. A record may only use codes that exist;
//! retired codes stay readable on records that already hold them but are refused
//! on anything new.

use std::collections::{BTreeMap, HashMap};

use platform::FieldViolation;

use super::customer::{CustomerDetails, EqualityAnswer, EqualityField};

pub use involve_core::Code;

/// The reference sets this service knows. Their values are data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReferenceSet {
    Tenures,
    Areas,
    Languages,
    AccessibilityNeeds,
    Vulnerabilities,
    Relationships,
    InvolvementTopics,
    InvolvementMethods,
    Ethnicities,
    Disabilities,
    Sexes,
    GenderIdentities,
    AgeBands,
    Religions,
    SexualOrientations,
    CaringResponsibilities,
}

impl ReferenceSet {
    pub const ALL: [Self; 16] = [
        Self::Tenures,
        Self::Areas,
        Self::Languages,
        Self::AccessibilityNeeds,
        Self::Vulnerabilities,
        Self::Relationships,
        Self::InvolvementTopics,
        Self::InvolvementMethods,
        Self::Ethnicities,
        Self::Disabilities,
        Self::Sexes,
        Self::GenderIdentities,
        Self::AgeBands,
        Self::Religions,
        Self::SexualOrientations,
        Self::CaringResponsibilities,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Self::Tenures => "tenures",
            Self::Areas => "areas",
            Self::Languages => "languages",
            Self::AccessibilityNeeds => "accessibility-needs",
            Self::Vulnerabilities => "vulnerabilities",
            Self::Relationships => "relationships",
            Self::InvolvementTopics => "involvement-topics",
            Self::InvolvementMethods => "involvement-methods",
            Self::Ethnicities => "ethnicities",
            Self::Disabilities => "disabilities",
            Self::Sexes => "sexes",
            Self::GenderIdentities => "gender-identities",
            Self::AgeBands => "age-bands",
            Self::Religions => "religions",
            Self::SexualOrientations => "sexual-orientations",
            Self::CaringResponsibilities => "caring-responsibilities",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|set| set.id() == id)
    }

    /// `referenceSets/{set}`.
    pub fn from_name(name: &str) -> Option<Self> {
        name.strip_prefix("referenceSets/").and_then(Self::from_id)
    }

    pub fn name(self) -> String {
        format!("referenceSets/{}", self.id())
    }

    /// The set an equality question's answers come from.
    pub fn for_equality(field: EqualityField) -> Self {
        match field {
            EqualityField::Ethnicity => Self::Ethnicities,
            EqualityField::Disability => Self::Disabilities,
            EqualityField::Sex => Self::Sexes,
            EqualityField::GenderIdentity => Self::GenderIdentities,
            EqualityField::AgeBand => Self::AgeBands,
            EqualityField::Religion => Self::Religions,
            EqualityField::SexualOrientation => Self::SexualOrientations,
            EqualityField::CaringResponsibilities => Self::CaringResponsibilities,
        }
    }

    /// Codes no set may define, because equality answers use them as words.
    pub fn is_reserved(code: &Code) -> bool {
        [EqualityAnswer::NOT_COLLECTED, EqualityAnswer::PREFER_NOT_TO_SAY].contains(&code.as_str())
    }
}

/// One value of a reference set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceValue {
    pub set: ReferenceSet,
    pub code: Code,
    pub display_name: String,
    pub retired: bool,
}

/// A snapshot of every reference set, for validating records.
#[derive(Clone, Debug, Default)]
pub struct ReferenceData {
    /// set -> code -> retired
    sets: HashMap<ReferenceSet, BTreeMap<Code, bool>>,
}

impl ReferenceData {
    pub fn from_values(values: impl IntoIterator<Item = ReferenceValue>) -> Self {
        let mut sets: HashMap<ReferenceSet, BTreeMap<Code, bool>> = HashMap::new();
        for value in values {
            sets.entry(value.set).or_default().insert(value.code, value.retired);
        }
        Self { sets }
    }

    /// Checks one code; `held` says whether the record already had it, in which case
    /// a retired code is still accepted.
    pub fn check(&self, set: ReferenceSet, code: &Code, held: bool, field: &str) -> Option<FieldViolation> {
        match self.sets.get(&set).and_then(|codes| codes.get(code)) {
            None => Some(FieldViolation::new(
                field,
                "UNKNOWN_CODE",
                format!("\"{code}\" is not in the {} reference set", set.id()),
            )),
            Some(true) if !held => Some(FieldViolation::new(
                field,
                "RETIRED_CODE",
                format!("\"{code}\" is retired from the {} reference set", set.id()),
            )),
            Some(_) => None,
        }
    }

    /// Every reference code in `details`, checked. `previous` is what the record
    /// held before this change (retired codes it already had remain acceptable).
    /// Paths are relative to the customer message.
    pub fn check_details(
        &self,
        details: &CustomerDetails,
        previous: Option<&CustomerDetails>,
    ) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        let mut check_one = |set, code: &Code, held: bool, field: String| {
            violations.extend(self.check(set, code, held, &field));
        };
        if let Some(area) = &details.area {
            let held = previous.is_some_and(|p| p.area.as_ref() == Some(area));
            check_one(ReferenceSet::Areas, area, held, "area".into());
        }
        if let Some(language) = &details.communication_needs.preferred_language {
            let held =
                previous.is_some_and(|p| p.communication_needs.preferred_language.as_ref() == Some(language));
            check_one(
                ReferenceSet::Languages,
                language,
                held,
                "communication_needs.preferred_language".into(),
            );
        }
        // Each list of codes, with what the record held in it before.
        struct CodeList<'a> {
            set: ReferenceSet,
            field: &'a str,
            codes: &'a [Code],
            held: Option<&'a [Code]>,
        }
        let lists = [
            CodeList {
                set: ReferenceSet::AccessibilityNeeds,
                field: "accessibility_needs",
                codes: &details.accessibility_needs,
                held: previous.map(|p| p.accessibility_needs.as_slice()),
            },
            CodeList {
                set: ReferenceSet::Vulnerabilities,
                field: "vulnerabilities",
                codes: &details.vulnerabilities,
                held: previous.map(|p| p.vulnerabilities.as_slice()),
            },
            CodeList {
                set: ReferenceSet::InvolvementTopics,
                field: "involvement_interests.topics",
                codes: &details.involvement_interests.topics,
                held: previous.map(|p| p.involvement_interests.topics.as_slice()),
            },
            CodeList {
                set: ReferenceSet::InvolvementMethods,
                field: "involvement_interests.methods",
                codes: &details.involvement_interests.methods,
                held: previous.map(|p| p.involvement_interests.methods.as_slice()),
            },
        ];
        for list in lists {
            for (index, code) in list.codes.iter().enumerate() {
                let held = list.held.is_some_and(|held| held.contains(code));
                check_one(list.set, code, held, format!("{}[{index}]", list.field));
            }
        }
        for (index, member) in details.household.members.iter().enumerate() {
            if let Some(relationship) = &member.relationship {
                let held = previous.is_some_and(|p| {
                    p.household.members.iter().any(|m| m.relationship.as_ref() == Some(relationship))
                });
                check_one(
                    ReferenceSet::Relationships,
                    relationship,
                    held,
                    format!("household.members[{index}].relationship"),
                );
            }
        }
        for field in EqualityField::ALL {
            if let EqualityAnswer::Answered(code) = details.equality.answer(field) {
                let held =
                    previous.is_some_and(|p| p.equality.answer(field) == details.equality.answer(field));
                check_one(
                    ReferenceSet::for_equality(field),
                    code,
                    held,
                    format!("equality.{}.value", field.field_name()),
                );
            }
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ReferenceData {
        ReferenceData::from_values([
            ReferenceValue {
                set: ReferenceSet::Areas,
                code: Code::trusted("north"),
                display_name: "North".into(),
                retired: false,
            },
            ReferenceValue {
                set: ReferenceSet::Areas,
                code: Code::trusted("old-town"),
                display_name: "Old Town".into(),
                retired: true,
            },
            ReferenceValue {
                set: ReferenceSet::Ethnicities,
                code: Code::trusted("white-british"),
                display_name: "White British".into(),
                retired: false,
            },
        ])
    }

    #[test]
    fn codes_have_a_strict_shape() {
        assert!(Code::parse("housing-association-tenant").is_ok());
        for bad in ["", "Upper", "with space", "-lead", "trail-", &"x".repeat(65)] {
            assert!(Code::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn unknown_and_retired_codes_are_refused_on_new_records() {
        let data = data();
        let details = CustomerDetails { area: Some(Code::trusted("south")), ..CustomerDetails::default() };
        assert_eq!(data.check_details(&details, None)[0].reason, "UNKNOWN_CODE");
        let details = CustomerDetails { area: Some(Code::trusted("old-town")), ..CustomerDetails::default() };
        assert_eq!(data.check_details(&details, None)[0].reason, "RETIRED_CODE");
        // ...but a record that already holds the retired code keeps it.
        assert!(data.check_details(&details, Some(&details)).is_empty());
    }

    #[test]
    fn equality_answers_are_checked_against_their_own_set() {
        let data = data();
        let mut details = CustomerDetails::default();
        details.equality.ethnicity = EqualityAnswer::Answered(Code::trusted("north"));
        let violations = data.check_details(&details, None);
        assert_eq!(violations[0].field, "equality.ethnicity.value");
        details.equality.ethnicity = EqualityAnswer::Answered(Code::trusted("white-british"));
        assert!(data.check_details(&details, None).is_empty());
    }

    #[test]
    fn reserved_words_cannot_become_codes() {
        assert!(ReferenceSet::is_reserved(&Code::trusted("prefer-not-to-say")));
        assert!(!ReferenceSet::is_reserved(&Code::trusted("white-british")));
    }

    #[test]
    fn set_names_round_trip() {
        for set in ReferenceSet::ALL {
            assert_eq!(ReferenceSet::from_name(&set.name()), Some(set));
        }
    }
}
