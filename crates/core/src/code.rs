//! Reference codes: tenures, areas, characteristic categories and every other
//! reference set hold their values as rows keyed by a code.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A reference code: 1 to 64 lowercase letters, digits and hyphens, not starting
/// or ending with a hyphen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Code(String);

impl Code {
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let valid = !text.is_empty()
            && text.len() <= Self::MAX_LEN
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err("must be 1 to 64 lowercase letters, digits or hyphens")
        }
    }

    /// A code read back from our own storage, which only ever holds parsed codes.
    pub fn trusted(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_lowercase_words_joined_by_hyphens() {
        assert!(Code::parse("housing-association-tenant").is_ok());
        for bad in ["", "Upper", "-lead", "trail-", "sp ace", &"x".repeat(65)] {
            assert!(Code::parse(bad).is_err(), "{bad}");
        }
    }
}
