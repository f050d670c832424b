//! The customers the benchmark imports, as proto messages and as raw rows with
//! the same content.

use chrono::Utc;
use contracts::involve::profiles::v1 as pb;
use profiles::domain::{CommunicationNeeds, Household, InvolvementInterests};
use profiles::store::entities::customers;
use sea_orm::Set;

const TENURES: [&str; 4] = ["council-tenant", "housing-association-tenant", "leaseholder", "shared-owner"];

fn names(index: u64) -> (String, String) {
    (format!("Given{index}"), format!("Family{}", index % 9_973))
}

pub(crate) fn postcode(index: u64) -> String {
    format!("EX{} {}AB", 1 + index % 20, index % 10)
}

/// Row `index` as `ImportCustomers` receives it.
pub(crate) fn import_row(index: u64, prefix: &str) -> pb::ImportCustomersRequest {
    let (given, family) = names(index);
    pb::ImportCustomersRequest {
        customer: Some(pb::Customer {
            external_reference: format!("{prefix}-{index}"),
            given_name: given.clone(),
            family_name: family.clone(),
            tenure: TENURES[(index % 4) as usize].into(),
            contact: Some(pb::ContactDetails {
                email: format!("{}.{}@example.org", given.to_lowercase(), family.to_lowercase()),
                phone: "020 7946 0958".into(),
                mobile: String::new(),
            }),
            property: Some(pb::Property {
                uprn: format!("{}", 100_000_000 + index),
                address_lines: vec![format!("{} Example Street", index % 300)],
                town: "Exampleton".into(),
                postcode: postcode(index),
            }),
            ..pb::Customer::default()
        }),
    }
}

/// The same customer as a row of the `customers` table.
pub(crate) fn raw_row(index: u64, prefix: &str) -> anyhow::Result<customers::ActiveModel> {
    let (given, family) = names(index);
    let now = Utc::now();
    let empty_list = "[]".to_owned();
    Ok(customers::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        landlord_organisation: Set(Some("organisations/bench".into())),
        external_reference: Set(Some(format!("{prefix}-{index}"))),
        title: Set(None),
        name_key: Set(format!(" {} {}", given.to_lowercase(), family.to_lowercase())),
        email: Set(Some(format!("{}.{}@example.org", given.to_lowercase(), family.to_lowercase()))),
        given_name: Set(given),
        family_name: Set(family),
        preferred_name: Set(None),
        date_of_birth: Set(None),
        phone: Set(Some("020 7946 0958".into())),
        mobile: Set(None),
        preferred_contact_channel: Set(None),
        preferred_language: Set(None),
        communication_needs: Set(serde_json::to_string(&CommunicationNeeds::default())?),
        accessibility_needs: Set(empty_list.clone()),
        household: Set(serde_json::to_string(&Household::default())?),
        tenure: Set(TENURES[(index % 4) as usize].into()),
        uprn: Set(Some(format!("{}", 100_000_000 + index))),
        address: Set(
            serde_json::json!({"lines": [format!("{} Example Street", index % 300)], "town": "Exampleton"})
                .to_string(),
        ),
        postcode_key: Set(Some(postcode(index).replace(' ', ""))),
        postcode: Set(Some(postcode(index))),
        area: Set(None),
        vulnerabilities: Set(empty_list),
        involvement_interests: Set(serde_json::to_string(&InvolvementInterests::default())?),
        contact_consent: Set(false),
        consent_time: Set(None),
        equality_lawful_basis: Set(None),
        eq_ethnicity: Set("not-collected".into()),
        eq_disability: Set("not-collected".into()),
        eq_sex: Set("not-collected".into()),
        eq_gender_identity: Set("not-collected".into()),
        eq_age_band: Set("not-collected".into()),
        eq_religion: Set("not-collected".into()),
        eq_sexual_orientation: Set("not-collected".into()),
        eq_caring_responsibilities: Set("not-collected".into()),
        state: Set("active".into()),
        create_time: Set(now),
        update_time: Set(now),
        delete_time: Set(None),
        version: Set(1),
        // The import also keeps each customer's wire encoding; the raw insert does
        // not, so the ratio counts that work against the import.
        encoded: Set(None),
        encoded_equality: Set(None),
        equality_recorded: Set(false),
        encoding_format: Set(None),
    })
}
