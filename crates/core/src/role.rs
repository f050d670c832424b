//! Who a caller is, as far as permissions go. Each service decides what a role may
//! do with its own resources; the roles themselves are defined once, here.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A partner landlord's own systems: its own customers and cases.
    PartnerIntegration,
    /// A neighbourhood (housing) officer: every landlord's customers in its areas.
    NeighbourhoodOfficer,
    /// A tenant participation officer: involvement across the partnership.
    TenantParticipationOfficer,
    /// Runs the suite: credentials, reference data, data-protection requests.
    Operator,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Self::PartnerIntegration,
        Self::NeighbourhoodOfficer,
        Self::TenantParticipationOfficer,
        Self::Operator,
    ];

    /// The name used in contracts (`involve.common.v1.Role`, without its prefix),
    /// on the command line and in stored credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerIntegration => "PARTNER_INTEGRATION",
            Self::NeighbourhoodOfficer => "NEIGHBOURHOOD_OFFICER",
            Self::TenantParticipationOfficer => "TENANT_PARTICIPATION_OFFICER",
            Self::Operator => "OPERATOR",
        }
    }

    /// Parses a role name, case-insensitively, with or without the contracts'
    /// `ROLE_` prefix.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix("ROLE_").or_else(|| text.strip_prefix("role_")).unwrap_or(text);
        Self::ALL.into_iter().find(|role| role.as_str().eq_ignore_ascii_case(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_by_name_in_any_case_and_with_the_contract_prefix() {
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("ROLE_PARTNER_INTEGRATION"), Some(Role::PartnerIntegration));
        assert_eq!(Role::parse("KING"), None);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
