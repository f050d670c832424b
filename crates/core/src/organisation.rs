//! Organisations: the council, its arm's-length organisation, partner landlords.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const PREFIX: &str = "organisations/";

/// An organisation's id: 1 to 63 lowercase letters, digits or hyphens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrganisationId(String);

impl OrganisationId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `organisations/{id}`.
    pub fn name(&self) -> OrganisationName {
        OrganisationName(format!("{PREFIX}{}", self.0))
    }
}

impl FromStr for OrganisationId {
    type Err = &'static str;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        let valid = !id.is_empty()
            && id.len() <= 63
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err("the organisation id must be 1 to 63 lowercase letters, digits or hyphens")
        }
    }
}

impl fmt::Display for OrganisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `organisations/{id}`: a landlord or other partner organisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrganisationName(String);

impl OrganisationName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id part of the name.
    pub fn id(&self) -> OrganisationId {
        OrganisationId(self.0.strip_prefix(PREFIX).unwrap_or(&self.0).to_owned())
    }
}

impl FromStr for OrganisationName {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let id = text.strip_prefix(PREFIX).ok_or("must look like organisations/{id}")?;
        Ok(id.parse::<OrganisationId>()?.name())
    }
}

impl fmt::Display for OrganisationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        let name: OrganisationName = "organisations/riverside-ha".parse().unwrap();
        assert_eq!(name.id().as_str(), "riverside-ha");
        assert_eq!(name.id().name(), name);
        for bad in ["riverside", "organisations/", "organisations/Upper", "organisations/a/b"] {
            assert!(bad.parse::<OrganisationName>().is_err(), "{bad}");
        }
    }
}
