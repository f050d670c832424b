//! The one mapping between [`Role`] and its contract, `involve.common.v1.Role`.

use contracts::involve::common::v1 as common;

use crate::Role;

/// The contract's value for `role`; `ROLE_UNSPECIFIED` for [`Role::Service`],
/// which no credential holds and the contracts therefore do not name.
pub fn to_proto(role: Role) -> common::Role {
    match role {
        Role::Service => common::Role::Unspecified,
        Role::PartnerIntegration => common::Role::PartnerIntegration,
        Role::NeighbourhoodOfficer => common::Role::NeighbourhoodOfficer,
        Role::TenantParticipationOfficer => common::Role::TenantParticipationOfficer,
        Role::Operator => common::Role::Operator,
        Role::Manager => common::Role::Manager,
        Role::EnforcementOfficer => common::Role::EnforcementOfficer,
        Role::TenantInspector => common::Role::TenantInspector,
        Role::ExternalPartner => common::Role::ExternalPartner,
    }
}

/// The role a contract value names; `None` for `ROLE_UNSPECIFIED`.
pub fn from_proto(role: common::Role) -> Option<Role> {
    Some(match role {
        common::Role::Unspecified => return None,
        common::Role::PartnerIntegration => Role::PartnerIntegration,
        common::Role::NeighbourhoodOfficer => Role::NeighbourhoodOfficer,
        common::Role::TenantParticipationOfficer => Role::TenantParticipationOfficer,
        common::Role::Operator => Role::Operator,
        common::Role::Manager => Role::Manager,
        common::Role::EnforcementOfficer => Role::EnforcementOfficer,
        common::Role::TenantInspector => Role::TenantInspector,
        common::Role::ExternalPartner => Role::ExternalPartner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_contract() {
        for role in Role::ALL {
            assert_eq!(from_proto(to_proto(role)), Some(role));
            assert_eq!(to_proto(role).as_str_name(), format!("ROLE_{}", role.as_str()));
        }
        assert_eq!(from_proto(common::Role::Unspecified), None);
        assert_eq!(to_proto(Role::Service), common::Role::Unspecified, "no credential may hold it");
    }
}
