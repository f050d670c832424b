//! Request ids (AIP-155): a UUID a client sends with a create, so a retry is
//! recognised as the same request.

use std::fmt;

use crate::FieldViolation;

/// A request id in its canonical form (lowercase, hyphenated), however it was sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// `None` when no id was sent; a violation of `field` when it is not a UUID.
    pub fn parse_optional(field: &str, text: &str) -> Result<Option<Self>, FieldViolation> {
        if text.is_empty() {
            return Ok(None);
        }
        uuid::Uuid::parse_str(text)
            .map(|uuid| Some(Self(uuid.as_hyphenated().to_string())))
            .map_err(|_| FieldViolation::new(field, "INVALID_FORMAT", format!("{field} must be a UUID")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_canonical_uuids() {
        let id = RequestId::parse_optional("request_id", "5F0C6D1E-3C1B-4C51-9A43-2F0A6B7C9D10").unwrap();
        assert_eq!(id.unwrap().as_str(), "5f0c6d1e-3c1b-4c51-9a43-2f0a6b7c9d10");
        assert_eq!(RequestId::parse_optional("request_id", ""), Ok(None));
        let err = RequestId::parse_optional("request_id", "nope").unwrap_err();
        assert_eq!((err.field.as_str(), err.reason), ("request_id", "INVALID_FORMAT"));
    }
}
