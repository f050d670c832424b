//! Why a caller says it is calling (`x-involve-purpose`), recorded in the audit
//! log beside every read and write of personal data.
//!
//! A purpose is a code from one fixed reference set, never free text: free text in
//! an audit row is a place for personal data to hide ("called about Mrs Smith's
//! complaint"), and the audit log outlives erasure. An unknown code is refused.

use crate::FieldViolation;

/// Request metadata naming the purpose.
pub const PURPOSE_HEADER: &str = "x-involve-purpose";

/// Recorded when a call states no purpose.
pub const NOT_STATED: &str = "not-stated";

/// The purposes a caller may state, with what each covers.
pub const PURPOSES: &[(&str, &str)] = &[
    ("system-integration", "a landlord's own systems keeping their copy in step"),
    ("tenancy-management", "managing a customer's tenancy, lease or housing"),
    ("customer-contact", "contacting or answering a customer"),
    ("customer-involvement", "involving customers: mechanisms, consultations, participation"),
    ("asb-casework", "working an anti-social behaviour case"),
    ("safeguarding", "protecting a vulnerable person"),
    ("equality-monitoring", "monitoring equality and representativeness"),
    ("performance-monitoring", "compact, service-standard and regulatory measures"),
    ("data-quality", "checking and correcting records"),
    ("subject-access-request", "answering a data subject's request for their data"),
    ("erasure-request", "answering a data subject's request to erase their data"),
    ("audit-review", "reviewing the audit log"),
    ("system-administration", "operating the suite"),
];

/// The purpose stated in a header value (absent or blank: [`NOT_STATED`]).
pub fn parse(value: Option<&str>) -> Result<&'static str, FieldViolation> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(NOT_STATED);
    };
    PURPOSES.iter().map(|(code, _)| *code).find(|code| *code == value).ok_or_else(|| {
        let codes: Vec<&str> = PURPOSES.iter().map(|(code, _)| *code).collect();
        FieldViolation::new(
            PURPOSE_HEADER,
            "UNKNOWN_PURPOSE",
            format!("{PURPOSE_HEADER} must be one of: {}", codes.join(", ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_are_accepted_and_missing_ones_are_not_stated() {
        assert_eq!(parse(Some("asb-casework")), Ok("asb-casework"));
        assert_eq!(parse(Some(" data-quality ")), Ok("data-quality"));
        assert_eq!(parse(None), Ok(NOT_STATED));
        assert_eq!(parse(Some("  ")), Ok(NOT_STATED));
    }

    #[test]
    fn free_text_is_refused_and_never_echoed() {
        let err = parse(Some("visit to Mrs Smith at 4 Elm Road")).unwrap_err();
        assert_eq!(err.reason, "UNKNOWN_PURPOSE");
        assert!(!err.description.contains("Smith"), "the refusal does not repeat what was sent");
    }

    #[test]
    fn codes_are_unique_lowercase_codes() {
        let mut codes: Vec<&str> = PURPOSES.iter().map(|(code, _)| *code).collect();
        assert!(codes.iter().all(|code| code.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), PURPOSES.len());
    }
}
