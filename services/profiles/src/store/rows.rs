//! Converting between domain customers and their rows.

use chrono::{DateTime, NaiveDate, Utc};
use persistence::StoreError;
use sea_orm::{Set, TryIntoModel as _};
use serde::{Deserialize, Serialize};

use super::entities::{customers, tenure_periods};
use crate::domain::validate::postcode_key;
use crate::domain::{
    Code, CommunicationNeeds, ContactChannel, ContactDetails, Customer, CustomerDetails, CustomerId,
    CustomerState, EqualityAnswer, EqualityInformation, Household, InvolvementInterests, LawfulBasis,
    OrganisationName, Property, TenurePeriod,
};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Address {
    lines: Vec<String>,
    town: Option<String>,
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::corrupt)
}

fn from_json<T: for<'de> Deserialize<'de>>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::corrupt(format!("customers.{column}: {err}")))
}

/// The JSON of each nested part left at its default: most customers record no
/// communication needs, household, vulnerabilities or interests, and a page of
/// them would otherwise parse the same few texts again and again.
struct DefaultJson {
    communication_needs: String,
    household: String,
    involvement_interests: String,
}

static DEFAULT_JSON: std::sync::LazyLock<DefaultJson> = std::sync::LazyLock::new(|| DefaultJson {
    communication_needs: to_json(&CommunicationNeeds::default()).unwrap_or_default(),
    household: to_json(&Household::default()).unwrap_or_default(),
    involvement_interests: to_json(&InvolvementInterests::default()).unwrap_or_default(),
});

/// `text` parsed as `T`, without parsing when it is `default`'s JSON.
fn from_json_or_default<T: for<'de> Deserialize<'de> + Default>(
    column: &str,
    text: &str,
    default: &str,
) -> Result<T, StoreError> {
    if !default.is_empty() && text == default { Ok(T::default()) } else { from_json(column, text) }
}

/// A list of codes: `[]`, the usual case, without parsing.
fn codes_from_json(column: &str, text: &str) -> Result<Vec<Code>, StoreError> {
    from_json_or_default(column, text, "[]")
}

pub(super) fn organisation(text: Option<String>) -> Result<Option<OrganisationName>, StoreError> {
    text.map(|text| {
        OrganisationName::try_from(text).map_err(|err| StoreError::corrupt(format!("organisation {err}")))
    })
    .transpose()
}

/// The lower-cased words a name search matches the start of.
pub(super) fn name_key(details: &CustomerDetails) -> String {
    let mut key = String::new();
    for part in [Some(&details.given_name), Some(&details.family_name), details.preferred_name.as_ref()]
        .into_iter()
        .flatten()
    {
        key.push(' ');
        key.push_str(&part.to_lowercase());
    }
    key
}

/// Everything a row holds about a customer, apart from its identity and bookkeeping.
pub(super) struct RowParts<'a> {
    pub landlord: Option<&'a OrganisationName>,
    pub tenure: &'a Code,
    pub details: &'a CustomerDetails,
    pub consent_time: Option<DateTime<Utc>>,
}

/// Fills every data column of `row` from the domain record.
pub(super) fn write_details(row: &mut customers::ActiveModel, parts: RowParts<'_>) -> Result<(), StoreError> {
    let RowParts { landlord, tenure, details, consent_time } = parts;
    let CustomerDetails {
        external_reference,
        title,
        given_name,
        family_name,
        preferred_name,
        date_of_birth,
        contact,
        preferred_contact_channel,
        communication_needs,
        accessibility_needs,
        household,
        property,
        area,
        vulnerabilities,
        involvement_interests,
        contact_consent,
        equality,
    } = details;
    row.landlord_organisation = Set(landlord.map(|org| org.as_str().to_owned()));
    row.external_reference = Set(external_reference.clone());
    row.title = Set(title.clone());
    row.given_name = Set(given_name.clone());
    row.family_name = Set(family_name.clone());
    row.preferred_name = Set(preferred_name.clone());
    row.name_key = Set(name_key(details));
    row.date_of_birth = Set(*date_of_birth);
    row.email = Set(contact.email.clone());
    row.phone = Set(contact.phone.clone());
    row.mobile = Set(contact.mobile.clone());
    row.preferred_contact_channel = Set(preferred_contact_channel.map(|c| c.code().to_owned()));
    row.preferred_language = Set(communication_needs.preferred_language.as_ref().map(|c| c.to_string()));
    row.communication_needs = Set(to_json(communication_needs)?);
    row.accessibility_needs = Set(to_json(accessibility_needs)?);
    row.household = Set(to_json(household)?);
    row.tenure = Set(tenure.to_string());
    row.uprn = Set(property.uprn.clone());
    row.address =
        Set(to_json(&Address { lines: property.address_lines.clone(), town: property.town.clone() })?);
    row.postcode = Set(property.postcode.clone());
    row.postcode_key = Set(property.postcode.as_deref().map(postcode_key));
    row.area = Set(area.as_ref().map(ToString::to_string));
    row.vulnerabilities = Set(to_json(vulnerabilities)?);
    row.involvement_interests = Set(to_json(involvement_interests)?);
    row.contact_consent = Set(*contact_consent);
    row.consent_time = Set(consent_time);
    row.equality_lawful_basis = Set(equality.lawful_basis.map(|basis| basis.code().to_owned()));
    row.eq_ethnicity = Set(equality.ethnicity.storage_code().to_owned());
    row.eq_disability = Set(equality.disability.storage_code().to_owned());
    row.eq_sex = Set(equality.sex.storage_code().to_owned());
    row.eq_gender_identity = Set(equality.gender_identity.storage_code().to_owned());
    row.eq_age_band = Set(equality.age_band.storage_code().to_owned());
    row.eq_religion = Set(equality.religion.storage_code().to_owned());
    row.eq_sexual_orientation = Set(equality.sexual_orientation.storage_code().to_owned());
    row.eq_caring_responsibilities = Set(equality.caring_responsibilities.storage_code().to_owned());
    Ok(())
}

/// A complete new row.
pub(super) fn new_row(
    id: CustomerId,
    parts: RowParts<'_>,
    now: DateTime<Utc>,
) -> Result<customers::ActiveModel, StoreError> {
    let mut row = customers::ActiveModel {
        id: Set(id.uuid()),
        state: Set(CustomerState::Active.code().to_owned()),
        create_time: Set(now),
        update_time: Set(now),
        delete_time: Set(None),
        version: Set(1),
        encoded: Set(None),
        encoded_equality: Set(None),
        equality_recorded: Set(false),
        encoding_format: Set(None),
        ..Default::default()
    };
    write_details(&mut row, parts)?;
    Ok(row)
}

/// Keeps in `row` its customer's wire encoding (`crate::encoding`), made from
/// `customer`: what the row holds once written.
pub(super) fn seal(row: &mut customers::ActiveModel, customer: Customer) {
    let encoding = crate::encoding::encode(customer);
    row.encoded = Set(Some(encoding.body));
    row.encoded_equality = Set(Some(encoding.equality));
    row.equality_recorded = Set(encoding.equality_recorded);
    row.encoding_format = Set(Some(crate::encoding::FORMAT));
}

/// Readies a change to a stored row for its compare-and-set write over `version`:
/// the next version, written `now`, and sealed with the customer it then is, whose
/// tenure periods are `history` (as they are once the same transaction commits).
/// Returns that customer: exactly what a read returns once the write commits (times
/// are whole microseconds), so the write answers with it rather than reading back.
pub(super) fn seal_next_version(
    row: &mut customers::ActiveModel,
    version: i64,
    now: DateTime<Utc>,
    mut history: Vec<tenure_periods::Model>,
) -> Result<Customer, StoreError> {
    row.version = Set(version + 1);
    row.update_time = Set(now);
    // Oldest first, as every read returns them.
    history.sort_by_key(|period| period.start_date);
    let customer = customer_from_row(row.clone().try_into_model()?, history)?;
    seal(row, customer.clone());
    Ok(customer)
}

/// A customer's stored periods as they are once a change commits: `close` (a
/// period and the day it ends) applied, and the `added` periods after them.
pub(super) fn periods_after(
    mut stored: Vec<tenure_periods::Model>,
    close: Option<(uuid::Uuid, NaiveDate)>,
    added: &[tenure_periods::ActiveModel],
) -> Result<Vec<tenure_periods::Model>, StoreError> {
    if let Some((closed, end)) = close {
        stored.iter_mut().filter(|period| period.id == closed).for_each(|period| period.end_date = Some(end));
    }
    for period in added {
        stored.push(period.clone().try_into_model()?);
    }
    Ok(stored)
}

/// One row of a customer joined with its tenure periods: the customer (its
/// history still empty), and one of its periods when it has any.
pub(super) type JoinedRow = (Customer, Option<TenurePeriod>);

/// A customer row as [`customer_from_parts`] reads it: the texts a customer
/// keeps, owned; the ones it only parses (codes, states, JSON parts), borrowed,
/// whether from a sea-orm model or straight from a SQLite row, so a page of
/// customers does not allocate a string per parsed column only to drop it.
pub(super) struct CustomerRow<'a> {
    pub id: uuid::Uuid,
    pub landlord_organisation: Option<String>,
    pub external_reference: Option<String>,
    pub title: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_contact_channel: Option<&'a str>,
    pub communication_needs: &'a str,
    pub accessibility_needs: &'a str,
    pub household: &'a str,
    pub tenure: &'a str,
    pub uprn: Option<String>,
    pub address: &'a str,
    pub postcode: Option<String>,
    pub area: Option<&'a str>,
    pub vulnerabilities: &'a str,
    pub involvement_interests: &'a str,
    pub contact_consent: bool,
    pub consent_time: Option<DateTime<Utc>>,
    pub equality_lawful_basis: Option<&'a str>,
    /// The eight answers in [`EQUALITY_COLUMNS`] order.
    pub equality: [&'a str; 8],
    pub state: &'a str,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    pub version: i64,
}

/// The equality answers' columns, in the order of [`CustomerRow::equality`].
pub(super) const EQUALITY_COLUMNS: [customers::Column; 8] = [
    customers::Column::EqEthnicity,
    customers::Column::EqDisability,
    customers::Column::EqSex,
    customers::Column::EqGenderIdentity,
    customers::Column::EqAgeBand,
    customers::Column::EqReligion,
    customers::Column::EqSexualOrientation,
    customers::Column::EqCaringResponsibilities,
];

/// A customer from its sea-orm model and its tenure periods.
pub(super) fn customer_from_row(
    row: customers::Model,
    history: Vec<tenure_periods::Model>,
) -> Result<Customer, StoreError> {
    let customers::Model {
        id,
        landlord_organisation,
        external_reference,
        title,
        given_name,
        family_name,
        preferred_name,
        name_key: _,
        date_of_birth,
        email,
        phone,
        mobile,
        preferred_contact_channel,
        preferred_language: _,
        communication_needs,
        accessibility_needs,
        household,
        tenure,
        uprn,
        address,
        postcode,
        postcode_key: _,
        area,
        vulnerabilities,
        involvement_interests,
        contact_consent,
        consent_time,
        equality_lawful_basis,
        eq_ethnicity,
        eq_disability,
        eq_sex,
        eq_gender_identity,
        eq_age_band,
        eq_religion,
        eq_sexual_orientation,
        eq_caring_responsibilities,
        state,
        create_time,
        update_time,
        delete_time,
        version,
        encoded: _,
        encoded_equality: _,
        equality_recorded: _,
        encoding_format: _,
    } = row;
    let mut customer = customer_from_parts(CustomerRow {
        id,
        landlord_organisation,
        external_reference,
        title,
        given_name,
        family_name,
        preferred_name,
        date_of_birth,
        email,
        phone,
        mobile,
        preferred_contact_channel: preferred_contact_channel.as_deref(),
        communication_needs: &communication_needs,
        accessibility_needs: &accessibility_needs,
        household: &household,
        tenure: &tenure,
        uprn,
        address: &address,
        postcode,
        area: area.as_deref(),
        vulnerabilities: &vulnerabilities,
        involvement_interests: &involvement_interests,
        contact_consent,
        consent_time,
        equality_lawful_basis: equality_lawful_basis.as_deref(),
        equality: [
            &eq_ethnicity,
            &eq_disability,
            &eq_sex,
            &eq_gender_identity,
            &eq_age_band,
            &eq_religion,
            &eq_sexual_orientation,
            &eq_caring_responsibilities,
        ],
        state: &state,
        create_time,
        update_time,
        delete_time,
        version,
    })?;
    customer.tenure_history = history.into_iter().map(period_from_row).collect::<Result<_, _>>()?;
    Ok(customer)
}

/// A customer, without its tenure history, from its row's parts.
pub(super) fn customer_from_parts(row: CustomerRow<'_>) -> Result<Customer, StoreError> {
    // Every field is read once below; `CustomerRow`'s literals (one per database)
    // are what make each column's reading explicit.
    let address: Address = from_json("address", row.address)?;
    let defaults = &*DEFAULT_JSON;
    let [ethnicity, disability, sex, gender_identity, age_band, religion, sexual_orientation, caring] =
        row.equality.map(EqualityAnswer::from_storage_code);
    let details = CustomerDetails {
        external_reference: row.external_reference,
        title: row.title,
        given_name: row.given_name,
        family_name: row.family_name,
        preferred_name: row.preferred_name,
        date_of_birth: row.date_of_birth,
        contact: ContactDetails { email: row.email, phone: row.phone, mobile: row.mobile },
        preferred_contact_channel: row.preferred_contact_channel.and_then(ContactChannel::from_code),
        communication_needs: from_json_or_default(
            "communication_needs",
            row.communication_needs,
            &defaults.communication_needs,
        )?,
        accessibility_needs: codes_from_json("accessibility_needs", row.accessibility_needs)?,
        household: from_json_or_default("household", row.household, &defaults.household)?,
        property: Property {
            uprn: row.uprn,
            address_lines: address.lines,
            town: address.town,
            postcode: row.postcode,
        },
        area: row.area.map(Code::trusted),
        vulnerabilities: codes_from_json("vulnerabilities", row.vulnerabilities)?,
        involvement_interests: from_json_or_default(
            "involvement_interests",
            row.involvement_interests,
            &defaults.involvement_interests,
        )?,
        contact_consent: row.contact_consent,
        equality: EqualityInformation {
            lawful_basis: row.equality_lawful_basis.and_then(LawfulBasis::from_code),
            ethnicity,
            disability,
            sex,
            gender_identity,
            age_band,
            religion,
            sexual_orientation,
            caring_responsibilities: caring,
        },
    };
    let state = row.state;
    Ok(Customer {
        id: CustomerId::from_uuid(row.id),
        landlord: organisation(row.landlord_organisation)?,
        tenure: Code::trusted(row.tenure),
        details,
        tenure_history: Vec::new(),
        state: CustomerState::from_code(state)
            .ok_or_else(|| StoreError::corrupt(format!("state {state:?}")))?,
        consent_time: row.consent_time,
        create_time: row.create_time,
        update_time: row.update_time,
        delete_time: row.delete_time,
        version: row.version,
    })
}

pub(super) fn period_row(customer: CustomerId, period: &TenurePeriod) -> tenure_periods::ActiveModel {
    tenure_periods::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        customer_id: Set(customer.uuid()),
        tenure: Set(period.tenure.to_string()),
        landlord_organisation: Set(period.landlord.as_ref().map(|org| org.as_str().to_owned())),
        start_date: Set(period.start_date),
        end_date: Set(period.end_date),
        reason: Set(period.reason.clone()),
        record_time: Set(period.record_time),
    }
}

pub(super) fn period_from_row(row: tenure_periods::Model) -> Result<TenurePeriod, StoreError> {
    Ok(TenurePeriod {
        tenure: Code::trusted(&row.tenure),
        landlord: organisation(row.landlord_organisation)?,
        start_date: row.start_date,
        end_date: row.end_date,
        reason: row.reason,
        record_time: row.record_time,
    })
}

/// The first tenure period of a new customer.
pub(super) fn first_period(
    tenure: &Code,
    landlord: Option<&OrganisationName>,
    start: NaiveDate,
    now: DateTime<Utc>,
) -> TenurePeriod {
    TenurePeriod {
        tenure: tenure.clone(),
        landlord: landlord.cloned(),
        start_date: start,
        end_date: None,
        reason: None,
        record_time: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for default parts answers what parsing would.
    #[test]
    fn default_parts_read_as_parsed() {
        let defaults = &*DEFAULT_JSON;
        let parsed: CommunicationNeeds = from_json("c", &defaults.communication_needs).unwrap();
        assert_eq!(parsed, CommunicationNeeds::default());
        let parsed: Household = from_json("h", &defaults.household).unwrap();
        assert_eq!(parsed, Household::default());
        let parsed: InvolvementInterests = from_json("i", &defaults.involvement_interests).unwrap();
        assert_eq!(parsed, InvolvementInterests::default());
        assert_eq!(to_json(&Vec::<Code>::new()).unwrap(), "[]");
        assert!(!defaults.household.is_empty());
        let codes = codes_from_json("v", "[\"a\",\"b\"]").unwrap();
        assert_eq!(codes, vec![Code::trusted("a"), Code::trusted("b")]);
    }
}
