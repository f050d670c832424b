//! `update_mask` for `UpdateCustomer` (AIP-134, AIP-161): which top-level fields
//! of the customer a request replaces. Applied by an explicit match per field.

use contracts::involve::profiles::v1 as pb;
use platform::FieldViolation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    ExternalReference,
    Title,
    GivenName,
    FamilyName,
    PreferredName,
    DateOfBirth,
    Contact,
    PreferredContactChannel,
    CommunicationNeeds,
    AccessibilityNeeds,
    Household,
    Property,
    Area,
    Vulnerabilities,
    InvolvementInterests,
    ContactConsent,
    Equality,
}

impl Path {
    const ALL: [Self; 17] = [
        Self::ExternalReference,
        Self::Title,
        Self::GivenName,
        Self::FamilyName,
        Self::PreferredName,
        Self::DateOfBirth,
        Self::Contact,
        Self::PreferredContactChannel,
        Self::CommunicationNeeds,
        Self::AccessibilityNeeds,
        Self::Household,
        Self::Property,
        Self::Area,
        Self::Vulnerabilities,
        Self::InvolvementInterests,
        Self::ContactConsent,
        Self::Equality,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::ExternalReference => "external_reference",
            Self::Title => "title",
            Self::GivenName => "given_name",
            Self::FamilyName => "family_name",
            Self::PreferredName => "preferred_name",
            Self::DateOfBirth => "date_of_birth",
            Self::Contact => "contact",
            Self::PreferredContactChannel => "preferred_contact_channel",
            Self::CommunicationNeeds => "communication_needs",
            Self::AccessibilityNeeds => "accessibility_needs",
            Self::Household => "household",
            Self::Property => "property",
            Self::Area => "area",
            Self::Vulnerabilities => "vulnerabilities",
            Self::InvolvementInterests => "involvement_interests",
            Self::ContactConsent => "contact_consent",
            Self::Equality => "equality",
        }
    }

    /// Whether the request message sets this field (for an empty mask).
    fn populated(self, message: &pb::Customer) -> bool {
        match self {
            Self::ExternalReference => !message.external_reference.is_empty(),
            Self::Title => !message.title.is_empty(),
            Self::GivenName => !message.given_name.is_empty(),
            Self::FamilyName => !message.family_name.is_empty(),
            Self::PreferredName => !message.preferred_name.is_empty(),
            Self::DateOfBirth => message.date_of_birth.is_some(),
            Self::Contact => message.contact.is_some(),
            Self::PreferredContactChannel => message.preferred_contact_channel != 0,
            Self::CommunicationNeeds => message.communication_needs.is_some(),
            Self::AccessibilityNeeds => !message.accessibility_needs.is_empty(),
            Self::Household => message.household.is_some(),
            Self::Property => message.property.is_some(),
            Self::Area => !message.area.is_empty(),
            Self::Vulnerabilities => !message.vulnerabilities.is_empty(),
            Self::InvolvementInterests => message.involvement_interests.is_some(),
            Self::ContactConsent => message.contact_consent.is_some(),
            Self::Equality => message.equality.as_ref().is_some_and(|equality| !equality.withheld),
        }
    }
}

/// The fields to replace. An absent or empty mask means every field the request
/// sets; `*` means every updatable field (equality excepted for callers who may
/// not see it, so their full replace keeps what is held).
pub(crate) fn paths(
    mask: Option<&prost_types::FieldMask>,
    message: &pb::Customer,
    show_equality: bool,
) -> Result<Vec<Path>, Vec<FieldViolation>> {
    let requested = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if requested.is_empty() {
        return Ok(Path::ALL.into_iter().filter(|path| path.populated(message)).collect());
    }
    if requested == ["*"] {
        return Ok(Path::ALL.into_iter().filter(|path| *path != Path::Equality || show_equality).collect());
    }
    let mut paths = Vec::new();
    let mut violations = Vec::new();
    for (index, requested) in requested.iter().enumerate() {
        let field = format!("update_mask.paths[{index}]");
        match requested.as_str() {
            "tenure" | "landlord_organisation" => violations.push(FieldViolation::new(
                field,
                "USE_CHANGE_TENURE",
                format!("{requested} changes only through ChangeTenure, which keeps the history"),
            )),
            "name" | "tenure_history" | "state" | "create_time" | "update_time" | "delete_time" | "etag" => {
                violations.push(FieldViolation::new(
                    field,
                    "OUTPUT_ONLY",
                    format!("{requested} is set by the service"),
                ))
            }
            "*" => {
                violations.push(FieldViolation::new(field, "INVALID_WILDCARD", "`*` must be the only path"))
            }
            other => match Path::ALL.into_iter().find(|path| path.name() == other) {
                Some(path) if !paths.contains(&path) => paths.push(path),
                Some(_) => {}
                None => violations.push(FieldViolation::new(
                    field,
                    "UNKNOWN_PATH",
                    format!("{other:?} is not an updatable top-level field of Customer"),
                )),
            },
        }
    }
    if violations.is_empty() { Ok(paths) } else { Err(violations) }
}

/// Copies the masked fields of `source` over `target`.
pub(crate) fn apply(paths: &[Path], source: pb::Customer, target: &mut pb::Customer) {
    let mut source = source;
    for path in paths {
        match path {
            Path::ExternalReference => {
                target.external_reference = std::mem::take(&mut source.external_reference)
            }
            Path::Title => target.title = std::mem::take(&mut source.title),
            Path::GivenName => target.given_name = std::mem::take(&mut source.given_name),
            Path::FamilyName => target.family_name = std::mem::take(&mut source.family_name),
            Path::PreferredName => target.preferred_name = std::mem::take(&mut source.preferred_name),
            Path::DateOfBirth => target.date_of_birth = source.date_of_birth.take(),
            Path::Contact => target.contact = source.contact.take(),
            Path::PreferredContactChannel => {
                target.preferred_contact_channel = source.preferred_contact_channel
            }
            Path::CommunicationNeeds => target.communication_needs = source.communication_needs.take(),
            Path::AccessibilityNeeds => {
                target.accessibility_needs = std::mem::take(&mut source.accessibility_needs)
            }
            Path::Household => target.household = source.household.take(),
            Path::Property => target.property = source.property.take(),
            Path::Area => target.area = std::mem::take(&mut source.area),
            Path::Vulnerabilities => target.vulnerabilities = std::mem::take(&mut source.vulnerabilities),
            Path::InvolvementInterests => target.involvement_interests = source.involvement_interests.take(),
            Path::ContactConsent => target.contact_consent = source.contact_consent.take(),
            Path::Equality => target.equality = source.equality.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() }
    }

    #[test]
    fn empty_mask_means_fields_that_are_set() {
        let message = pb::Customer { title: "Dr".into(), area: "north".into(), ..Default::default() };
        assert_eq!(paths(None, &message, true).unwrap(), vec![Path::Title, Path::Area]);
    }

    #[test]
    fn wildcard_keeps_withheld_equality() {
        let all = paths(Some(&mask(&["*"])), &pb::Customer::default(), false).unwrap();
        assert!(!all.contains(&Path::Equality));
        let all = paths(Some(&mask(&["*"])), &pb::Customer::default(), true).unwrap();
        assert!(all.contains(&Path::Equality));
    }

    #[test]
    fn bad_paths_are_named() {
        let violations =
            paths(Some(&mask(&["tenure", "etag", "shoe_size"])), &pb::Customer::default(), true).unwrap_err();
        let reasons: Vec<&str> = violations.iter().map(|v| v.reason).collect();
        assert_eq!(reasons, ["USE_CHANGE_TENURE", "OUTPUT_ONLY", "UNKNOWN_PATH"]);
        assert_eq!(violations[2].field, "update_mask.paths[2]");
    }

    #[test]
    fn apply_copies_only_masked_fields() {
        let mut target = pb::Customer { title: "Mr".into(), given_name: "Al".into(), ..Default::default() };
        let source = pb::Customer { title: "Dr".into(), given_name: "Bo".into(), ..Default::default() };
        apply(&[Path::Title], source, &mut target);
        assert_eq!((target.title.as_str(), target.given_name.as_str()), ("Dr", "Al"));
    }
}
