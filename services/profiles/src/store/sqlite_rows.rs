//! Customers and their tenure periods read from SQLite rows by column index,
//! without sea-orm's values and active models (see `persistence::sqlite_rows`).
//!
//! The entities in [`super::entities`] stay the one definition of the columns:
//! sea-orm builds the statement from them (selecting every column in declaration
//! order, as on PostgreSQL), each field here is read at `Column::X as usize`, and
//! [`check_joined`] confirms for every statement that the names at those indexes
//! are the entity's. A row becomes a customer through the same
//! [`customer_from_parts`] as a sea-orm model does on PostgreSQL; the texts it only
//! parses (codes, states, JSON parts) are borrowed from the row, not copied.

use persistence::StoreError;
use persistence::sqlite_rows::{self as cells, Decoder, Row, expect_columns};
use sea_orm::{IdenStatic as _, Iterable as _};

use super::entities::{customers, tenure_periods};
use super::rows::{CustomerRow, EQUALITY_COLUMNS, JoinedRow, customer_from_parts, organisation};
use super::{ENCODED_COLUMNS, EncodedRow};
use crate::domain::{Code, Customer, TenurePeriod};

/// The rows of `with_periods`: every column of `customers` (`A_…`), then every
/// column of `tenure_periods` (`B_…`, NULL for a customer without periods).
pub(super) const CUSTOMERS_WITH_PERIODS: Decoder<JoinedRow> = Decoder { columns: check_joined, row: joined };

/// Where the period's columns start: the last customer column is `encoding_format`.
const PERIODS_AT: usize = customers::Column::EncodingFormat as usize + 1;
const COLUMNS: usize = PERIODS_AT + tenure_periods::Column::RecordTime as usize + 1;

fn check_joined(names: &[&str]) -> Result<(), StoreError> {
    if names.len() != COLUMNS {
        return Err(StoreError::corrupt(format!(
            "a customer with periods has {COLUMNS} columns, the statement {}",
            names.len()
        )));
    }
    expect_columns(names, 0, "A_", customers::Column::iter().map(|column| column.as_str()))?;
    expect_columns(names, PERIODS_AT, "B_", tenure_periods::Column::iter().map(|column| column.as_str()))
}

fn joined(row: &Row<'_>) -> Result<JoinedRow, StoreError> {
    let period = if cells::is_null(row, PERIODS_AT + tenure_periods::Column::Id as usize)? {
        None
    } else {
        Some(period(row, PERIODS_AT)?)
    };
    Ok((customer(row)?, period))
}

fn customer(row: &Row<'_>) -> Result<Customer, StoreError> {
    use customers::Column as C;
    let at = |column: C| column as usize;
    let text = |column: C| cells::text(row, at(column));
    let optional_text = |column: C| cells::optional_text(row, at(column));
    let parsed = |column: C| cells::text_ref(row, at(column));
    let optional_parsed = |column: C| cells::optional_text_ref(row, at(column));
    let [ethnicity, disability, sex, gender_identity, age_band, religion, sexual_orientation, caring] =
        EQUALITY_COLUMNS;
    customer_from_parts(CustomerRow {
        id: cells::uuid(row, at(C::Id))?,
        landlord_organisation: optional_text(C::LandlordOrganisation)?,
        external_reference: optional_text(C::ExternalReference)?,
        title: optional_text(C::Title)?,
        given_name: text(C::GivenName)?,
        family_name: text(C::FamilyName)?,
        preferred_name: optional_text(C::PreferredName)?,
        date_of_birth: cells::optional_date(row, at(C::DateOfBirth))?,
        email: optional_text(C::Email)?,
        phone: optional_text(C::Phone)?,
        mobile: optional_text(C::Mobile)?,
        preferred_contact_channel: optional_parsed(C::PreferredContactChannel)?,
        communication_needs: parsed(C::CommunicationNeeds)?,
        accessibility_needs: parsed(C::AccessibilityNeeds)?,
        household: parsed(C::Household)?,
        tenure: parsed(C::Tenure)?,
        uprn: optional_text(C::Uprn)?,
        address: parsed(C::Address)?,
        postcode: optional_text(C::Postcode)?,
        area: optional_parsed(C::Area)?,
        vulnerabilities: parsed(C::Vulnerabilities)?,
        involvement_interests: parsed(C::InvolvementInterests)?,
        contact_consent: cells::flag(row, at(C::ContactConsent))?,
        consent_time: cells::optional_time(row, at(C::ConsentTime))?,
        equality_lawful_basis: optional_parsed(C::EqualityLawfulBasis)?,
        equality: [
            parsed(ethnicity)?,
            parsed(disability)?,
            parsed(sex)?,
            parsed(gender_identity)?,
            parsed(age_band)?,
            parsed(religion)?,
            parsed(sexual_orientation)?,
            parsed(caring)?,
        ],
        state: parsed(C::State)?,
        create_time: cells::time(row, at(C::CreateTime))?,
        update_time: cells::time(row, at(C::UpdateTime))?,
        delete_time: cells::optional_time(row, at(C::DeleteTime))?,
        version: cells::big_int(row, at(C::Version))?,
    })
}

/// The period whose columns start at `offset`.
fn period(row: &Row<'_>, offset: usize) -> Result<TenurePeriod, StoreError> {
    use tenure_periods::Column as C;
    let at = |column: C| offset + column as usize;
    Ok(TenurePeriod {
        tenure: Code::trusted(cells::text_ref(row, at(C::Tenure))?),
        landlord: organisation(cells::optional_text(row, at(C::LandlordOrganisation))?)?,
        start_date: cells::date(row, at(C::StartDate))?,
        end_date: cells::optional_date(row, at(C::EndDate))?,
        reason: cells::optional_text(row, at(C::Reason))?,
        record_time: cells::time(row, at(C::RecordTime))?,
    })
}

/// The rows of a page of stored encodings (`CustomerPage::encoded_query`).
pub(super) const ENCODED_CUSTOMERS: Decoder<EncodedRow> = Decoder { columns: check_encoded, row: encoded };

fn check_encoded(names: &[&str]) -> Result<(), StoreError> {
    if names.len() != ENCODED_COLUMNS.len() {
        return Err(StoreError::corrupt(format!(
            "a page of encodings has {} columns, the statement {}",
            ENCODED_COLUMNS.len(),
            names.len()
        )));
    }
    expect_columns(names, 0, "", ENCODED_COLUMNS.iter().map(|column| column.as_str()))
}

fn encoded(row: &Row<'_>) -> Result<EncodedRow, StoreError> {
    Ok(EncodedRow {
        id: cells::uuid(row, 0)?,
        encoded: cells::optional_blob(row, 1)?,
        encoded_equality: cells::optional_blob(row, 2)?,
        equality_recorded: cells::flag(row, 3)?,
        encoding_format: cells::optional_big_int(row, 4)?.and_then(|format| i32::try_from(format).ok()),
    })
}
