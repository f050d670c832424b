//! Which roles may call which services. Services still apply their own finer
//! rules (scopes, equality data); this is the coarse gate at the edge.

use involve_core::Capability;
use platform::Role;

/// The gateway's own administration service.
pub const ADMIN_SERVICE: &str = "involve.gateway.v1.PartnerAdmin";

/// Services anyone may call without a credential.
pub fn is_public(service: &str) -> bool {
    service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.")
}

/// The council's and its arm's-length organisation's own staff and systems.
const PARTNERSHIP_ROLES: &[Role] = &[
    Role::PartnerIntegration,
    Role::NeighbourhoodOfficer,
    Role::TenantParticipationOfficer,
    Role::Operator,
    Role::Manager,
    Role::EnforcementOfficer,
    Role::TenantInspector,
];

/// The roles each kind of organisation may be issued, one row per kind (the
/// codes `PartnerAdmin` stores). Roles that see the whole partnership (tenant
/// participation officers, operators, and the officers, managers and enforcement
/// team whose areas cut across every landlord) and the tenant inspectors the
/// partnership appoints belong to the council and its arm's-length organisation
/// only; a landlord's own systems get `PARTNER_INTEGRATION`; an external agency
/// (the police) gets `EXTERNAL_PARTNER` and nothing else.
pub const ROLES_BY_ORGANISATION_KIND: &[(&str, &[Role])] = &[
    ("council", PARTNERSHIP_ROLES),
    ("arms-length-organisation", PARTNERSHIP_ROLES),
    ("housing-association", &[Role::PartnerIntegration]),
    ("private-landlord-body", &[Role::PartnerIntegration]),
    ("external-agency", &[Role::ExternalPartner]),
];

/// Whether an organisation of `kind` may hold a credential of `role`; an
/// unknown kind may hold none.
pub fn kind_allows(kind: &str, role: Role) -> bool {
    ROLES_BY_ORGANISATION_KIND
        .iter()
        .find(|(row_kind, _)| *row_kind == kind)
        .is_some_and(|(_, roles)| roles.contains(&role))
}

/// The customer profiles service.
const PROFILES_SERVICE: &str = "involve.profiles.v1.CustomerProfiles";

/// Whether `role` may call `service` at all.
pub fn allows(role: Role, service: &str) -> bool {
    if service == ADMIN_SERVICE {
        return role.may(Capability::AdministerPartnership);
    }
    match role {
        // A service identity calls its peers directly, never through the edge.
        Role::Service => false,
        // Only the cases shared with it: no service that holds customers' records.
        Role::ExternalPartner => service != PROFILES_SERVICE,
        Role::PartnerIntegration
        | Role::NeighbourhoodOfficer
        | Role::TenantParticipationOfficer
        | Role::Operator
        | Role::Manager
        | Role::EnforcementOfficer
        | Role::TenantInspector => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_operators_administer_and_external_partners_never_reach_profiles() {
        for role in Role::ALL {
            assert_eq!(allows(role, ADMIN_SERVICE), role == Role::Operator);
            assert_eq!(allows(role, PROFILES_SERVICE), role != Role::ExternalPartner, "{role:?}");
        }
        // No credential holds a service identity, and the edge would not forward it.
        assert!(!allows(Role::Service, PROFILES_SERVICE) && !allows(Role::Service, ADMIN_SERVICE));
        assert!(ROLES_BY_ORGANISATION_KIND.iter().all(|(_, roles)| !roles.contains(&Role::Service)));
    }

    #[test]
    fn partnership_wide_roles_belong_to_councils_and_their_almos() {
        for kind in ["council", "arms-length-organisation"] {
            for role in Role::ALL {
                assert_eq!(kind_allows(kind, role), role != Role::ExternalPartner, "{kind} {role:?}");
            }
        }
        assert!(kind_allows("external-agency", Role::ExternalPartner));
        assert!(Role::ALL.into_iter().filter(|role| kind_allows("external-agency", *role)).count() == 1);
        for kind in ["housing-association", "private-landlord-body"] {
            assert!(kind_allows(kind, Role::PartnerIntegration));
            for role in [Role::NeighbourhoodOfficer, Role::TenantParticipationOfficer, Role::Operator] {
                assert!(!kind_allows(kind, role), "{kind} {role:?}");
            }
        }
        assert!(!kind_allows("martian", Role::PartnerIntegration));
    }

    #[test]
    fn health_and_reflection_are_public() {
        assert!(is_public("grpc.health.v1.Health"));
        assert!(is_public("grpc.reflection.v1alpha.ServerReflection"));
        assert!(!is_public("involve.profiles.v1.CustomerProfiles"));
    }
}
