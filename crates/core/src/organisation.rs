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

/// Checks an organisation id without copying it.
fn check_id(id: &str) -> Result<(), &'static str> {
    let valid = !id.is_empty()
        && id.len() <= 63
        && id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if valid {
        Ok(())
    } else {
        Err("the organisation id must be 1 to 63 lowercase letters, digits or hyphens")
    }
}

impl FromStr for OrganisationId {
    type Err = &'static str;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        check_id(id)?;
        Ok(Self(id.to_owned()))
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
        check_name(text)?;
        Ok(Self(text.to_owned()))
    }
}

fn check_name(text: &str) -> Result<(), &'static str> {
    check_id(text.strip_prefix(PREFIX).ok_or("must look like organisations/{id}")?)
}

/// A text that is not an organisation name, handed back with the reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {why}")]
pub struct NotAnOrganisationName {
    pub text: String,
    pub why: &'static str,
}

/// Keeps the text it checked: names read back from a store are parsed per row.
impl TryFrom<String> for OrganisationName {
    type Error = NotAnOrganisationName;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match check_name(&text) {
            Ok(()) => Ok(Self(text)),
            Err(why) => Err(NotAnOrganisationName { text, why }),
        }
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
        for bad in
            ["riverside", "organisations/", "organisations/Upper", "organisations/a/b", "organisations/é"]
        {
            assert!(bad.parse::<OrganisationName>().is_err(), "{bad}");
            assert!(OrganisationName::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        let long = format!("organisations/{}", "a".repeat(63));
        assert_eq!(OrganisationName::try_from(long.clone()).map(|name| name.id().as_str().len()), Ok(63));
        assert!(format!("{long}a").parse::<OrganisationName>().is_err());
    }
}
