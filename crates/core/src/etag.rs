//! Etags derived from a row's version counter (AIP-154).
//!
//! The version is bumped on every write; the etag is its quoted decimal form. A
//! request may omit the etag (last writer wins) or send one, which must match.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Etag(i64);

/// Something sent as an etag that this suite never issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an etag this service issued")]
pub struct EtagParseError;

impl Etag {
    pub fn from_version(version: i64) -> Self {
        Self(version)
    }

    pub fn version(self) -> i64 {
        self.0
    }

    /// Parses what a client sent back. `None` for an empty string (no check asked);
    /// `Err` for anything that was never an etag of ours.
    pub fn parse_optional(text: &str) -> Result<Option<Self>, EtagParseError> {
        if text.is_empty() {
            return Ok(None);
        }
        let digits = text.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')).ok_or(EtagParseError)?;
        digits.parse::<i64>().map(|version| Some(Self(version))).map_err(|_| EtagParseError)
    }

    /// Whether a client-supplied etag (if any) still matches this one.
    pub fn admits(self, supplied: Option<Etag>) -> bool {
        supplied.is_none_or(|supplied| supplied == self)
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_and_match() {
        let etag = Etag::from_version(7);
        assert_eq!(etag.to_string(), "\"7\"");
        assert_eq!(Etag::parse_optional("\"7\""), Ok(Some(etag)));
        assert_eq!(Etag::parse_optional(""), Ok(None));
        assert!(Etag::parse_optional("7").is_err());
        assert!(etag.admits(None) && etag.admits(Some(etag)));
        assert!(!etag.admits(Some(Etag::from_version(6))));
    }
}
