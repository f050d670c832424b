//! The customer record and its parts.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::reference::Code;

involve_core::uuid_resource_id!(
    /// A customer's id; its resource name is `customers/{uuid}`.
    pub CustomerId,
    "customers"
);

pub use involve_core::OrganisationName;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactChannel {
    Email,
    Phone,
    TextMessage,
    Letter,
    InPerson,
    VideoCall,
}

impl ContactChannel {
    pub const ALL: [Self; 6] =
        [Self::Email, Self::Phone, Self::TextMessage, Self::Letter, Self::InPerson, Self::VideoCall];

    pub fn code(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::TextMessage => "text-message",
            Self::Letter => "letter",
            Self::InPerson => "in-person",
            Self::VideoCall => "video-call",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.code() == code)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDetails {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunicationNeeds {
    pub preferred_language: Option<Code>,
    pub interpreter: bool,
    pub large_print: bool,
    pub braille: bool,
    pub british_sign_language: bool,
    pub easy_read: bool,
}

impl CommunicationNeeds {
    pub fn any_recorded(&self) -> bool {
        *self != Self::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    pub adults: u32,
    pub children: u32,
    pub members: Vec<HouseholdMember>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdMember {
    pub display_name: String,
    pub relationship: Option<Code>,
    pub date_of_birth: Option<NaiveDate>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    pub uprn: Option<String>,
    pub address_lines: Vec<String>,
    pub town: Option<String>,
    pub postcode: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvolvementInterests {
    pub topics: Vec<Code>,
    pub methods: Vec<Code>,
}

/// The UK GDPR article 9 condition equality data is held under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LawfulBasis {
    ExplicitConsent,
    EqualityMonitoring,
    SubstantialPublicInterest,
}

impl LawfulBasis {
    pub const ALL: [Self; 3] =
        [Self::ExplicitConsent, Self::EqualityMonitoring, Self::SubstantialPublicInterest];

    pub fn code(self) -> &'static str {
        match self {
            Self::ExplicitConsent => "explicit-consent",
            Self::EqualityMonitoring => "equality-monitoring",
            Self::SubstantialPublicInterest => "substantial-public-interest",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|basis| basis.code() == code)
    }
}

/// One equality question's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EqualityAnswer {
    #[default]
    NotCollected,
    PreferNotToSay,
    Answered(Code),
}

impl EqualityAnswer {
    pub const NOT_COLLECTED: &'static str = "not-collected";
    pub const PREFER_NOT_TO_SAY: &'static str = "prefer-not-to-say";

    /// How the answer is stored and counted: a code, or one of the two reserved words.
    pub fn storage_code(&self) -> &str {
        match self {
            Self::NotCollected => Self::NOT_COLLECTED,
            Self::PreferNotToSay => Self::PREFER_NOT_TO_SAY,
            Self::Answered(code) => code.as_str(),
        }
    }

    pub fn from_storage_code(text: &str) -> Self {
        match text {
            Self::NOT_COLLECTED | "" => Self::NotCollected,
            Self::PREFER_NOT_TO_SAY => Self::PreferNotToSay,
            other => Self::Answered(Code::trusted(other)),
        }
    }

    /// Anything but "not collected" is a recorded answer.
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Self::NotCollected)
    }
}

/// The equality questions, in the order they appear on `EqualityInformation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EqualityField {
    Ethnicity,
    Disability,
    Sex,
    GenderIdentity,
    AgeBand,
    Religion,
    SexualOrientation,
    CaringResponsibilities,
}

impl EqualityField {
    pub const ALL: [Self; 8] = [
        Self::Ethnicity,
        Self::Disability,
        Self::Sex,
        Self::GenderIdentity,
        Self::AgeBand,
        Self::Religion,
        Self::SexualOrientation,
        Self::CaringResponsibilities,
    ];

    /// The proto field name.
    pub fn field_name(self) -> &'static str {
        match self {
            Self::Ethnicity => "ethnicity",
            Self::Disability => "disability",
            Self::Sex => "sex",
            Self::GenderIdentity => "gender_identity",
            Self::AgeBand => "age_band",
            Self::Religion => "religion",
            Self::SexualOrientation => "sexual_orientation",
            Self::CaringResponsibilities => "caring_responsibilities",
        }
    }
}

/// Equality monitoring answers: special-category data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EqualityInformation {
    pub lawful_basis: Option<LawfulBasis>,
    pub ethnicity: EqualityAnswer,
    pub disability: EqualityAnswer,
    pub sex: EqualityAnswer,
    pub gender_identity: EqualityAnswer,
    pub age_band: EqualityAnswer,
    pub religion: EqualityAnswer,
    pub sexual_orientation: EqualityAnswer,
    pub caring_responsibilities: EqualityAnswer,
}

impl EqualityInformation {
    pub fn answer(&self, field: EqualityField) -> &EqualityAnswer {
        match field {
            EqualityField::Ethnicity => &self.ethnicity,
            EqualityField::Disability => &self.disability,
            EqualityField::Sex => &self.sex,
            EqualityField::GenderIdentity => &self.gender_identity,
            EqualityField::AgeBand => &self.age_band,
            EqualityField::Religion => &self.religion,
            EqualityField::SexualOrientation => &self.sexual_orientation,
            EqualityField::CaringResponsibilities => &self.caring_responsibilities,
        }
    }

    pub fn answer_mut(&mut self, field: EqualityField) -> &mut EqualityAnswer {
        match field {
            EqualityField::Ethnicity => &mut self.ethnicity,
            EqualityField::Disability => &mut self.disability,
            EqualityField::Sex => &mut self.sex,
            EqualityField::GenderIdentity => &mut self.gender_identity,
            EqualityField::AgeBand => &mut self.age_band,
            EqualityField::Religion => &mut self.religion,
            EqualityField::SexualOrientation => &mut self.sexual_orientation,
            EqualityField::CaringResponsibilities => &mut self.caring_responsibilities,
        }
    }

    /// Whether any answer (even "prefer not to say") is held.
    pub fn any_recorded(&self) -> bool {
        EqualityField::ALL.into_iter().any(|field| self.answer(field).is_recorded())
    }
}

/// Everything about a customer a caller can set through create, update or import.
/// Tenure and landlord are not here: they change only through a tenure change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerDetails {
    pub external_reference: Option<String>,
    pub title: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub contact: ContactDetails,
    pub preferred_contact_channel: Option<ContactChannel>,
    pub communication_needs: CommunicationNeeds,
    pub accessibility_needs: Vec<Code>,
    pub household: Household,
    pub property: Property,
    pub area: Option<Code>,
    pub vulnerabilities: Vec<Code>,
    pub involvement_interests: InvolvementInterests,
    pub contact_consent: bool,
    pub equality: EqualityInformation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerState {
    Active,
    Deleted,
    /// Personal data removed for good; only aggregate codes remain.
    Erased,
}

impl CustomerState {
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deleted => "deleted",
            Self::Erased => "erased",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Active, Self::Deleted, Self::Erased].into_iter().find(|state| state.code() == code)
    }
}

/// One period of one tenure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenurePeriod {
    pub tenure: Code,
    pub landlord: Option<OrganisationName>,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub reason: Option<String>,
    pub record_time: DateTime<Utc>,
}

/// A stored customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: CustomerId,
    pub landlord: Option<OrganisationName>,
    pub tenure: Code,
    pub details: CustomerDetails,
    pub tenure_history: Vec<TenurePeriod>,
    pub state: CustomerState,
    pub consent_time: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_names_round_trip() {
        let id = CustomerId::generate();
        assert_eq!(CustomerId::from_name(&id.name()), Some(id));
        assert_eq!(CustomerId::from_name("customers/nope"), None);
        assert_eq!(CustomerId::from_name(&id.uuid().to_string()), None);
    }

    #[test]
    fn organisation_names_are_checked() {
        assert!("organisations/riverside-ha".parse::<OrganisationName>().is_ok());
        assert!("organisations/".parse::<OrganisationName>().is_err());
        assert!("organisations/Riverside".parse::<OrganisationName>().is_err());
        assert!("riverside".parse::<OrganisationName>().is_err());
    }

    #[test]
    fn equality_answers_store_as_codes() {
        for answer in [
            EqualityAnswer::NotCollected,
            EqualityAnswer::PreferNotToSay,
            EqualityAnswer::Answered(Code::trusted("white-british")),
        ] {
            assert_eq!(EqualityAnswer::from_storage_code(answer.storage_code()), answer);
        }
        assert!(!EqualityAnswer::NotCollected.is_recorded());
        assert!(EqualityAnswer::PreferNotToSay.is_recorded());
    }
}
