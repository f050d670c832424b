//! Property tests of the field validators and of request decoding: whatever a
//! caller sends, validation answers with a value (never a panic), and what it
//! accepts is canonical (validating it again changes nothing) and within bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use contracts::involve::profiles::v1 as pb;
use involve_profiles as profiles;
use profiles::domain::validate;
use proptest::prelude::*;
use prost::Message as _;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters(text in ".{0,120}", max in 1_usize..100) {
        if let Ok(Some(kept)) = validate::optional_text("f", &text, max) {
            prop_assert_eq!(kept.trim(), kept.as_str());
            prop_assert!(kept.chars().count() <= max);
            prop_assert!(!kept.chars().any(char::is_control));
            prop_assert_eq!(validate::optional_text("f", &kept, max), Ok(Some(kept)));
        }
    }

    #[test]
    fn postcodes_are_canonical_once_accepted(text in "[ a-zA-Z0-9]{0,10}|.{0,12}") {
        if let Ok(Some(canonical)) = validate::postcode("p", &text) {
            prop_assert!(canonical.len() <= 8);
            prop_assert_eq!(canonical.matches(' ').count(), 1);
            prop_assert_eq!(validate::postcode("p", &canonical), Ok(Some(canonical.clone())));
            prop_assert_eq!(validate::postcode_key(&canonical), validate::postcode_key(&text));
        }
    }

    #[test]
    fn every_shape_of_uk_postcode_is_accepted(
        outward in "[A-Z][0-9]|[A-Z][0-9]{2}|[A-Z]{2}[0-9]|[A-Z]{2}[0-9]{2}|[A-Z][0-9][A-Z]|[A-Z]{2}[0-9][A-Z]",
        inward in "[0-9][A-Z]{2}",
        spaced in any::<bool>(),
    ) {
        let written = if spaced { format!("{outward} {inward}") } else { format!("{outward}{inward}").to_lowercase() };
        prop_assert_eq!(validate::postcode("p", &written), Ok(Some(format!("{outward} {inward}"))));
    }

    #[test]
    fn accepted_emails_have_one_at_and_no_spaces(text in "[a-z0-9.@ -]{0,40}|.{0,80}") {
        if let Ok(Some(email)) = validate::email("e", &text) {
            prop_assert_eq!(email.matches('@').count(), 1);
            prop_assert!(!email.chars().any(char::is_whitespace));
            prop_assert!(email.len() <= validate::MAX_EMAIL_LEN);
        }
    }

    #[test]
    fn accepted_phones_have_seven_to_fifteen_digits(text in "[+0-9 ()-]{0,32}|.{0,40}") {
        if let Ok(Some(phone)) = validate::phone("t", &text) {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            prop_assert!((7..=15).contains(&digits));
            prop_assert_eq!(validate::phone("t", &phone), Ok(Some(phone)));
        }
    }

    #[test]
    fn uprns_are_digits_without_leading_zeros(text in "[0-9]{0,14}|.{0,16}") {
        if let Ok(Some(uprn)) = validate::uprn("u", &text) {
            prop_assert!(!uprn.is_empty() && uprn.len() <= 12);
            prop_assert!(uprn.chars().all(|c| c.is_ascii_digit()) && !uprn.starts_with('0'));
            prop_assert_eq!(validate::uprn("u", &uprn), Ok(Some(uprn)));
        }
    }

    #[test]
    fn search_terms_never_carry_wildcards(text in ".{0,60}") {
        if let Ok(Some(term)) = validate::search_term("s", &text) {
            prop_assert!(!term.contains('%') && !term.contains('_') && !term.contains('\\'));
        }
    }

    #[test]
    fn arbitrary_bytes_decode_and_validate_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = profiles::api::decode_and_validate(&bytes, today());
    }

    #[test]
    fn arbitrary_customers_validate_without_panicking(
        given in ".{0,120}",
        family in ".{0,120}",
        email in ".{0,60}",
        postcode in ".{0,12}",
        uprn in ".{0,14}",
        tenure in ".{0,40}",
        landlord in ".{0,40}",
        request_id in ".{0,40}",
        year in -5000_i32..5000,
        month in -2_i32..15,
        day in -2_i32..34,
        lines in proptest::collection::vec(".{0,120}", 0..8),
    ) {
        let customer = pb::Customer {
            given_name: given,
            family_name: family,
            tenure,
            landlord_organisation: landlord,
            date_of_birth: Some(contracts::google::r#type::Date { year, month, day }),
            contact: Some(pb::ContactDetails { email, ..Default::default() }),
            property: Some(pb::Property { postcode, uprn, address_lines: lines, ..Default::default() }),
            ..Default::default()
        };
        let request = pb::CreateCustomerRequest { customer: Some(customer), request_id, ..Default::default() };
        let _ = profiles::api::decode_and_validate(&request.encode_to_vec(), today());
    }
}

#[test]
fn a_valid_request_passes_and_a_bad_one_names_its_fields() {
    let valid = pb::CreateCustomerRequest {
        customer: Some(pb::Customer {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            tenure: "leaseholder".into(),
            contact: Some(pb::ContactDetails { email: "ada@example.org".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(profiles::api::decode_and_validate(&valid.encode_to_vec(), today()), Ok(()));
    let mut bad = valid;
    bad.request_id = "not-a-uuid".into();
    bad.customer.as_mut().unwrap().contact.as_mut().unwrap().email = "nope".into();
    let fields: Vec<String> = profiles::api::decode_and_validate(&bad.encode_to_vec(), today())
        .unwrap_err()
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    assert_eq!(fields, ["request_id", "customer.contact.email"]);
    assert!(profiles::api::decode_and_validate(&[0xff, 0xff, 0xff], today()).is_err());
}
