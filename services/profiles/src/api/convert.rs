//! Proto messages to domain values and back. Proto types stop here: everything
//! past this module is plain Rust. Conversions collect every violation of a
//! message, so one response names every bad field.

use chrono::NaiveDate;
use contracts::involve::profiles::v1 as pb;
use platform::FieldViolation;
pub(crate) use platform::wire::{
    audit_event_to_proto, date_from_proto, date_to_proto, optional_code as code,
    optional_organisation as organisation, required_code, timestamp, unknown_enum, violation_to_proto,
};

use crate::domain::validate::{
    self, MAX_ADDRESS_LINE_LEN, MAX_ADDRESS_LINES, MAX_HOUSEHOLD_MEMBERS, MAX_LIST_LEN,
};
use crate::domain::{
    Code, CommunicationNeeds, ContactChannel, ContactDetails, Customer, CustomerDetails, CustomerState,
    EqualityAnswer, EqualityField, EqualityInformation, Household, HouseholdMember, InvolvementInterests,
    LawfulBasis, Property, TenurePeriod,
};

pub(crate) use involve_core::Violations;

fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") }
}

fn codes(violations: &mut Violations, field: &str, texts: &[String]) -> Vec<Code> {
    if let Err(violation) = validate::list_len(field, texts.len(), MAX_LIST_LEN) {
        violations.push(violation);
        return Vec::new();
    }
    let mut parsed: Vec<Code> = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let field = format!("{field}[{index}]");
        match code(&field, text) {
            Ok(Some(code)) if !parsed.contains(&code) => parsed.push(code),
            // Duplicates collapse; a list of codes is a set.
            Ok(Some(_)) => {}
            Ok(None) => violations.push(FieldViolation::required(field)),
            Err(violation) => violations.push(violation),
        }
    }
    parsed
}

fn contact_channel(field: &str, value: i32) -> Result<Option<ContactChannel>, FieldViolation> {
    use pb::ContactChannel as P;
    match P::try_from(value).map_err(|_| unknown_enum(field, value))? {
        P::Unspecified => Ok(None),
        P::Email => Ok(Some(ContactChannel::Email)),
        P::Phone => Ok(Some(ContactChannel::Phone)),
        P::TextMessage => Ok(Some(ContactChannel::TextMessage)),
        P::Letter => Ok(Some(ContactChannel::Letter)),
        P::InPerson => Ok(Some(ContactChannel::InPerson)),
        P::VideoCall => Ok(Some(ContactChannel::VideoCall)),
    }
}

fn contact_channel_to_proto(channel: Option<ContactChannel>) -> pb::ContactChannel {
    match channel {
        None => pb::ContactChannel::Unspecified,
        Some(ContactChannel::Email) => pb::ContactChannel::Email,
        Some(ContactChannel::Phone) => pb::ContactChannel::Phone,
        Some(ContactChannel::TextMessage) => pb::ContactChannel::TextMessage,
        Some(ContactChannel::Letter) => pb::ContactChannel::Letter,
        Some(ContactChannel::InPerson) => pb::ContactChannel::InPerson,
        Some(ContactChannel::VideoCall) => pb::ContactChannel::VideoCall,
    }
}

fn lawful_basis(field: &str, value: i32) -> Result<Option<LawfulBasis>, FieldViolation> {
    use pb::LawfulBasis as P;
    match P::try_from(value).map_err(|_| unknown_enum(field, value))? {
        P::Unspecified => Ok(None),
        P::ExplicitConsent => Ok(Some(LawfulBasis::ExplicitConsent)),
        P::EqualityMonitoring => Ok(Some(LawfulBasis::EqualityMonitoring)),
        P::SubstantialPublicInterest => Ok(Some(LawfulBasis::SubstantialPublicInterest)),
    }
}

fn lawful_basis_to_proto(basis: Option<LawfulBasis>) -> pb::LawfulBasis {
    match basis {
        None => pb::LawfulBasis::Unspecified,
        Some(LawfulBasis::ExplicitConsent) => pb::LawfulBasis::ExplicitConsent,
        Some(LawfulBasis::EqualityMonitoring) => pb::LawfulBasis::EqualityMonitoring,
        Some(LawfulBasis::SubstantialPublicInterest) => pb::LawfulBasis::SubstantialPublicInterest,
    }
}

fn equality_answer(
    field: &str,
    answer: Option<&pb::EqualityAnswer>,
) -> Result<EqualityAnswer, FieldViolation> {
    use pb::equality_answer::Response as P;
    let Some(pb::EqualityAnswer { response, value }) = answer else {
        return Ok(EqualityAnswer::NotCollected);
    };
    let response_field = path(field, "response");
    let value_field = path(field, "value");
    let response = P::try_from(*response).map_err(|_| unknown_enum(&response_field, *response))?;
    let must_be_empty = |answer: EqualityAnswer| {
        if value.is_empty() {
            Ok(answer)
        } else {
            Err(FieldViolation::new(&value_field, "UNEXPECTED_VALUE", "a value is only given with ANSWERED"))
        }
    };
    match response {
        P::Unspecified | P::NotCollected => must_be_empty(EqualityAnswer::NotCollected),
        P::PreferNotToSay => must_be_empty(EqualityAnswer::PreferNotToSay),
        P::Answered => Ok(EqualityAnswer::Answered(required_code(&value_field, value)?)),
    }
}

fn equality_answer_to_proto(answer: &EqualityAnswer) -> pb::EqualityAnswer {
    use pb::equality_answer::Response as P;
    match answer {
        EqualityAnswer::NotCollected => {
            pb::EqualityAnswer { response: P::NotCollected.into(), value: String::new() }
        }
        EqualityAnswer::PreferNotToSay => {
            pb::EqualityAnswer { response: P::PreferNotToSay.into(), value: String::new() }
        }
        EqualityAnswer::Answered(code) => {
            pb::EqualityAnswer { response: P::Answered.into(), value: code.to_string() }
        }
    }
}

fn equality(
    violations: &mut Violations,
    field: &str,
    message: Option<&pb::EqualityInformation>,
) -> EqualityInformation {
    let Some(message) = message else { return EqualityInformation::default() };
    let pb::EqualityInformation {
        lawful_basis: basis,
        ethnicity,
        disability,
        sex,
        gender_identity,
        age_band,
        religion,
        sexual_orientation,
        caring_responsibilities,
        withheld: _,
    } = message;
    let mut info = EqualityInformation {
        lawful_basis: violations.take(lawful_basis(&path(field, "lawful_basis"), *basis), None),
        ..EqualityInformation::default()
    };
    let answers = [
        (EqualityField::Ethnicity, ethnicity),
        (EqualityField::Disability, disability),
        (EqualityField::Sex, sex),
        (EqualityField::GenderIdentity, gender_identity),
        (EqualityField::AgeBand, age_band),
        (EqualityField::Religion, religion),
        (EqualityField::SexualOrientation, sexual_orientation),
        (EqualityField::CaringResponsibilities, caring_responsibilities),
    ];
    for (equality_field, answer) in answers {
        let answer_path = path(field, equality_field.field_name());
        *info.answer_mut(equality_field) =
            violations.take(equality_answer(&answer_path, answer.as_ref()), EqualityAnswer::NotCollected);
    }
    if info.any_recorded() && info.lawful_basis.is_none() {
        violations.push(FieldViolation::new(
            path(field, "lawful_basis"),
            "LAWFUL_BASIS_REQUIRED",
            "equality information is held only with a recorded lawful basis",
        ));
    }
    info
}

/// Reads every settable field of a customer message. `prefix` is the message's
/// path in the request (`customer`); `today` bounds dates of birth.
pub(crate) fn customer_details(
    message: &pb::Customer,
    prefix: &str,
    today: NaiveDate,
) -> Result<CustomerDetails, Vec<FieldViolation>> {
    let (details, violations) = read_customer(message, prefix, today);
    violations.into_result(details)
}

/// As [`customer_details`], but always returns what could be read (bad fields
/// left empty) beside the violations, so later checks (reference codes) can
/// report their findings in the same response.
pub(crate) fn read_customer(
    message: &pb::Customer,
    prefix: &str,
    today: NaiveDate,
) -> (CustomerDetails, Violations) {
    let pb::Customer {
        name: _,
        landlord_organisation: _,
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
        tenure: _,
        tenure_history: _,
        property,
        area,
        vulnerabilities,
        involvement_interests,
        contact_consent,
        equality: equality_message,
        state: _,
        create_time: _,
        update_time: _,
        delete_time: _,
        etag: _,
    } = message;
    let field = |name: &str| path(prefix, name);
    let mut v = Violations::default();

    let date_of_birth =
        v.take(date_from_proto(&field("date_of_birth"), date_of_birth.as_ref()), None).and_then(|date| {
            v.take(validate::date_of_birth(&field("date_of_birth"), date, today).map(Some), None)
        });

    let contact = contact.clone().unwrap_or_default();
    let contact = ContactDetails {
        email: v.take(validate::email(&field("contact.email"), &contact.email), None),
        phone: v.take(validate::phone(&field("contact.phone"), &contact.phone), None),
        mobile: v.take(validate::phone(&field("contact.mobile"), &contact.mobile), None),
    };

    let needs = communication_needs.clone().unwrap_or_default();
    let communication_needs = CommunicationNeeds {
        preferred_language: v
            .take(code(&field("communication_needs.preferred_language"), &needs.preferred_language), None),
        interpreter: needs.interpreter,
        large_print: needs.large_print,
        braille: needs.braille,
        british_sign_language: needs.british_sign_language,
        easy_read: needs.easy_read,
    };

    let household_message = household.clone().unwrap_or_default();
    let count = |v: &mut Violations, name: &str, value: i32| -> u32 {
        let name = field(name);
        v.take(
            u32::try_from(value).ok().filter(|n| *n <= 50).ok_or_else(|| {
                FieldViolation::new(&name, "OUT_OF_RANGE", format!("{name} must be between 0 and 50"))
            }),
            0,
        )
    };
    let adults = count(&mut v, "household.adults", household_message.adults);
    let children = count(&mut v, "household.children", household_message.children);
    let members_field = field("household.members");
    v.take(validate::list_len(&members_field, household_message.members.len(), MAX_HOUSEHOLD_MEMBERS), ());
    let members = household_message
        .members
        .iter()
        .take(MAX_HOUSEHOLD_MEMBERS)
        .enumerate()
        .map(|(index, member)| {
            let member_field = format!("{members_field}[{index}]");
            let pb::HouseholdMember { display_name, relationship, date_of_birth } = member;
            HouseholdMember {
                display_name: v.take(
                    validate::required_text(
                        &path(&member_field, "display_name"),
                        display_name,
                        validate::MAX_NAME_LEN,
                    ),
                    String::new(),
                ),
                relationship: v.take(code(&path(&member_field, "relationship"), relationship), None),
                date_of_birth: v
                    .take(
                        date_from_proto(&path(&member_field, "date_of_birth"), date_of_birth.as_ref()),
                        None,
                    )
                    .and_then(|date| {
                        v.take(
                            validate::date_of_birth(&path(&member_field, "date_of_birth"), date, today)
                                .map(Some),
                            None,
                        )
                    }),
            }
        })
        .collect();

    let property = property.clone().unwrap_or_default();
    let lines_field = field("property.address_lines");
    v.take(validate::list_len(&lines_field, property.address_lines.len(), MAX_ADDRESS_LINES), ());
    let address_lines = property
        .address_lines
        .iter()
        .take(MAX_ADDRESS_LINES)
        .enumerate()
        .filter_map(|(index, line)| {
            v.take(
                validate::optional_text(&format!("{lines_field}[{index}]"), line, MAX_ADDRESS_LINE_LEN),
                None,
            )
        })
        .collect();
    let property = Property {
        uprn: v.take(validate::uprn(&field("property.uprn"), &property.uprn), None),
        address_lines,
        town: v.take(
            validate::optional_text(&field("property.town"), &property.town, MAX_ADDRESS_LINE_LEN),
            None,
        ),
        postcode: v.take(validate::postcode(&field("property.postcode"), &property.postcode), None),
    };

    let interests = involvement_interests.clone().unwrap_or_default();
    let involvement_interests = InvolvementInterests {
        topics: codes(&mut v, &field("involvement_interests.topics"), &interests.topics),
        methods: codes(&mut v, &field("involvement_interests.methods"), &interests.methods),
    };

    let details = CustomerDetails {
        external_reference: v
            .take(validate::external_reference(&field("external_reference"), external_reference), None),
        title: v.take(validate::optional_text(&field("title"), title, validate::MAX_TITLE_LEN), None),
        given_name: v.take(
            validate::required_text(&field("given_name"), given_name, validate::MAX_NAME_LEN),
            String::new(),
        ),
        family_name: v.take(
            validate::required_text(&field("family_name"), family_name, validate::MAX_NAME_LEN),
            String::new(),
        ),
        preferred_name: v.take(
            validate::optional_text(&field("preferred_name"), preferred_name, validate::MAX_NAME_LEN),
            None,
        ),
        date_of_birth,
        contact,
        preferred_contact_channel: v
            .take(contact_channel(&field("preferred_contact_channel"), *preferred_contact_channel), None),
        communication_needs,
        accessibility_needs: codes(&mut v, &field("accessibility_needs"), accessibility_needs),
        household: Household { adults, children, members },
        property,
        area: v.take(code(&field("area"), area), None),
        vulnerabilities: codes(&mut v, &field("vulnerabilities"), vulnerabilities),
        involvement_interests,
        contact_consent: contact_consent.as_ref().is_some_and(|consent| consent.consented),
        equality: equality(&mut v, &field("equality"), equality_message.as_ref()),
    };
    (details, v)
}

/// The message for a customer. Equality answers are left out, and marked
/// withheld, unless `show_equality`.
pub(crate) fn customer_to_proto(customer: &Customer, show_equality: bool) -> pb::Customer {
    customer_into_proto(customer.clone(), show_equality)
}

/// The customer as a message, its strings moved rather than copied: a page of
/// customers is read, converted and encoded once each.
pub(crate) fn customer_into_proto(customer: Customer, show_equality: bool) -> pb::Customer {
    let Customer {
        id,
        landlord,
        tenure,
        details,
        tenure_history,
        state,
        consent_time,
        create_time,
        update_time,
        delete_time,
        version,
    } = customer;
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
    let code = |code: Code| code.as_str().to_owned();
    let codes = |values: Vec<Code>| values.into_iter().map(code).collect::<Vec<_>>();
    let equality = if show_equality {
        pb::EqualityInformation {
            lawful_basis: lawful_basis_to_proto(equality.lawful_basis).into(),
            ethnicity: Some(equality_answer_to_proto(&equality.ethnicity)),
            disability: Some(equality_answer_to_proto(&equality.disability)),
            sex: Some(equality_answer_to_proto(&equality.sex)),
            gender_identity: Some(equality_answer_to_proto(&equality.gender_identity)),
            age_band: Some(equality_answer_to_proto(&equality.age_band)),
            religion: Some(equality_answer_to_proto(&equality.religion)),
            sexual_orientation: Some(equality_answer_to_proto(&equality.sexual_orientation)),
            caring_responsibilities: Some(equality_answer_to_proto(&equality.caring_responsibilities)),
            withheld: false,
        }
    } else {
        pb::EqualityInformation { withheld: true, ..pb::EqualityInformation::default() }
    };
    pb::Customer {
        name: id.name(),
        landlord_organisation: landlord.as_ref().map(|org| org.as_str().to_owned()).unwrap_or_default(),
        external_reference: external_reference.unwrap_or_default(),
        title: title.unwrap_or_default(),
        given_name,
        family_name,
        preferred_name: preferred_name.unwrap_or_default(),
        date_of_birth: date_of_birth.map(date_to_proto),
        contact: Some(pb::ContactDetails {
            email: contact.email.unwrap_or_default(),
            phone: contact.phone.unwrap_or_default(),
            mobile: contact.mobile.unwrap_or_default(),
        }),
        preferred_contact_channel: contact_channel_to_proto(preferred_contact_channel).into(),
        communication_needs: Some(pb::CommunicationNeeds {
            preferred_language: communication_needs.preferred_language.map(code).unwrap_or_default(),
            interpreter: communication_needs.interpreter,
            large_print: communication_needs.large_print,
            braille: communication_needs.braille,
            british_sign_language: communication_needs.british_sign_language,
            easy_read: communication_needs.easy_read,
        }),
        accessibility_needs: codes(accessibility_needs),
        household: Some(pb::Household {
            adults: i32::try_from(household.adults).unwrap_or(i32::MAX),
            children: i32::try_from(household.children).unwrap_or(i32::MAX),
            members: household
                .members
                .into_iter()
                .map(|member| pb::HouseholdMember {
                    display_name: member.display_name,
                    relationship: member.relationship.map(code).unwrap_or_default(),
                    date_of_birth: member.date_of_birth.map(date_to_proto),
                })
                .collect(),
        }),
        tenure: code(tenure),
        tenure_history: tenure_history.into_iter().map(period_into_proto).collect(),
        property: Some(pb::Property {
            uprn: property.uprn.unwrap_or_default(),
            address_lines: property.address_lines,
            town: property.town.unwrap_or_default(),
            postcode: property.postcode.unwrap_or_default(),
        }),
        area: area.map(code).unwrap_or_default(),
        vulnerabilities: codes(vulnerabilities),
        involvement_interests: Some(pb::InvolvementInterests {
            topics: codes(involvement_interests.topics),
            methods: codes(involvement_interests.methods),
        }),
        contact_consent: Some(pb::ContactConsent {
            consented: contact_consent,
            decision_time: consent_time.map(timestamp),
        }),
        equality: Some(equality),
        state: match state {
            CustomerState::Active => pb::customer::State::Active,
            // Erased customers are never returned; if one were, it is gone as far as callers go.
            CustomerState::Deleted | CustomerState::Erased => pb::customer::State::Deleted,
        }
        .into(),
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
        delete_time: delete_time.map(timestamp),
        etag: persistence::Etag::from_version(version).to_string(),
    }
}

fn period_into_proto(period: TenurePeriod) -> pb::TenurePeriod {
    pb::TenurePeriod {
        tenure: period.tenure.as_str().to_owned(),
        landlord_organisation: period
            .landlord
            .as_ref()
            .map(|org| org.as_str().to_owned())
            .unwrap_or_default(),
        start_date: Some(date_to_proto(period.start_date)),
        end_date: period.end_date.map(date_to_proto),
        reason: period.reason.unwrap_or_default(),
        record_time: Some(timestamp(period.record_time)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use contracts::google::r#type::Date;

    use super::*;
    use crate::domain::CustomerId;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn minimal() -> pb::Customer {
        pb::Customer { given_name: "Ada".into(), family_name: "Lovelace".into(), ..pb::Customer::default() }
    }

    #[test]
    fn reads_a_minimal_customer() {
        let details = customer_details(&minimal(), "customer", today()).unwrap();
        assert_eq!(details.given_name, "Ada");
        assert_eq!(details.equality, EqualityInformation::default());
    }

    #[test]
    fn reports_every_bad_field_with_its_path() {
        let message = pb::Customer {
            given_name: String::new(),
            contact: Some(pb::ContactDetails { email: "nope".into(), ..Default::default() }),
            property: Some(pb::Property { uprn: "12x".into(), postcode: "XX".into(), ..Default::default() }),
            preferred_contact_channel: 99,
            ..minimal()
        };
        let fields: Vec<String> = customer_details(&message, "customer", today())
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        for expected in [
            "customer.given_name",
            "customer.contact.email",
            "customer.property.uprn",
            "customer.property.postcode",
            "customer.preferred_contact_channel",
        ] {
            assert!(fields.contains(&expected.to_owned()), "{expected} missing from {fields:?}");
        }
    }

    #[test]
    fn equality_needs_a_lawful_basis() {
        let message = pb::Customer {
            equality: Some(pb::EqualityInformation {
                ethnicity: Some(pb::EqualityAnswer {
                    response: pb::equality_answer::Response::PreferNotToSay.into(),
                    value: String::new(),
                }),
                ..Default::default()
            }),
            ..minimal()
        };
        let violations = customer_details(&message, "customer", today()).unwrap_err();
        assert_eq!(violations[0].reason, "LAWFUL_BASIS_REQUIRED");
    }

    #[test]
    fn round_trips_through_the_domain() {
        use pb::equality_answer::Response;
        let answer = |response: Response, value: &str| {
            Some(pb::EqualityAnswer { response: response.into(), value: value.into() })
        };
        // Every settable field, each already in its canonical form.
        let sent = pb::Customer {
            external_reference: "RS-1".into(),
            title: "Ms".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            preferred_name: "Ada L".into(),
            date_of_birth: Some(Date { year: 1980, month: 2, day: 29 }),
            contact: Some(pb::ContactDetails {
                email: "ada@example.org".into(),
                phone: "020 7946 0958".into(),
                mobile: "07700 900 123".into(),
            }),
            preferred_contact_channel: pb::ContactChannel::Email.into(),
            communication_needs: Some(pb::CommunicationNeeds {
                preferred_language: "pl".into(),
                interpreter: true,
                large_print: true,
                braille: true,
                british_sign_language: true,
                easy_read: true,
            }),
            accessibility_needs: vec!["wheelchair-user".into()],
            household: Some(pb::Household {
                adults: 2,
                children: 1,
                members: vec![pb::HouseholdMember {
                    display_name: "Byron".into(),
                    relationship: "partner".into(),
                    date_of_birth: Some(Date { year: 1979, month: 1, day: 22 }),
                }],
            }),
            property: Some(pb::Property {
                uprn: "100023336956".into(),
                address_lines: vec!["1 Example Street".into(), "Flat 2".into()],
                town: "Exampleton".into(),
                postcode: "SW1A 1AA".into(),
            }),
            area: "east".into(),
            vulnerabilities: vec!["hoarding".into()],
            involvement_interests: Some(pb::InvolvementInterests {
                topics: vec!["repairs".into()],
                methods: vec!["online".into()],
            }),
            contact_consent: Some(pb::ContactConsent { consented: true, decision_time: None }),
            equality: Some(pb::EqualityInformation {
                lawful_basis: pb::LawfulBasis::EqualityMonitoring.into(),
                ethnicity: answer(Response::Answered, "white-british"),
                disability: answer(Response::PreferNotToSay, ""),
                sex: answer(Response::Answered, "female"),
                gender_identity: answer(Response::NotCollected, ""),
                age_band: answer(Response::Answered, "45-54"),
                religion: answer(Response::Answered, "no-religion"),
                sexual_orientation: answer(Response::PreferNotToSay, ""),
                caring_responsibilities: answer(Response::Answered, "yes"),
                withheld: false,
            }),
            ..minimal()
        };
        let details = customer_details(&sent, "customer", today()).unwrap();
        let now = Utc::now();
        let customer = Customer {
            id: CustomerId::generate(),
            landlord: None,
            tenure: Code::trusted("leaseholder"),
            details,
            tenure_history: Vec::new(),
            state: CustomerState::Active,
            consent_time: None,
            create_time: now,
            update_time: now,
            delete_time: None,
            version: 1,
        };
        let back = customer_to_proto(&customer, true);
        let expected = pb::Customer {
            name: customer.id.name(),
            tenure: "leaseholder".into(),
            state: back.state,
            create_time: back.create_time,
            update_time: back.update_time,
            etag: "\"1\"".into(),
            ..sent
        };
        assert_eq!(back, expected, "every field survives the trip through the domain");

        // Without the right to read equality answers, none come back.
        let withheld = customer_to_proto(&customer, false).equality.unwrap();
        assert!(withheld.withheld && withheld.ethnicity.is_none());
    }

    #[test]
    fn input_is_made_canonical() {
        let message = pb::Customer {
            property: Some(pb::Property { postcode: "sw1a1aa".into(), ..Default::default() }),
            accessibility_needs: vec!["wheelchair-user".into(), "wheelchair-user".into()],
            ..minimal()
        };
        let details = customer_details(&message, "customer", today()).unwrap();
        assert_eq!(details.accessibility_needs.len(), 1, "duplicates are dropped");
        assert_eq!(details.property.postcode.as_deref(), Some("SW1A 1AA"));
    }
}
