//! Which roles may call which services. Services still apply their own finer
//! rules (scopes, equality data); this is the coarse gate at the edge.

use platform::Role;

/// The gateway's own administration service.
pub const ADMIN_SERVICE: &str = "involve.gateway.v1.PartnerAdmin";

/// Services anyone may call without a credential.
pub fn is_public(service: &str) -> bool {
    service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.")
}

/// The roles each kind of organisation may be issued, one row per kind (the
/// codes `PartnerAdmin` stores). Roles that see the whole partnership (tenant
/// participation officers, operators, and neighbourhood officers, whose areas
/// cut across every landlord) belong to the council and its arm's-length
/// organisation only; a landlord's own systems get `PARTNER_INTEGRATION`.
pub const ROLES_BY_ORGANISATION_KIND: &[(&str, &[Role])] = &[
    ("council", &Role::ALL),
    ("arms-length-organisation", &Role::ALL),
    ("housing-association", &[Role::PartnerIntegration]),
    ("private-landlord-body", &[Role::PartnerIntegration]),
];

/// Whether an organisation of `kind` may hold a credential of `role`; an
/// unknown kind may hold none.
pub fn kind_allows(kind: &str, role: Role) -> bool {
    ROLES_BY_ORGANISATION_KIND
        .iter()
        .find(|(row_kind, _)| *row_kind == kind)
        .is_some_and(|(_, roles)| roles.contains(&role))
}

/// Whether `role` may call `service` at all.
pub fn allows(role: Role, service: &str) -> bool {
    match role {
        Role::Operator => true,
        Role::PartnerIntegration | Role::NeighbourhoodOfficer | Role::TenantParticipationOfficer => {
            service != ADMIN_SERVICE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_operators_administer() {
        for role in Role::ALL {
            assert_eq!(allows(role, ADMIN_SERVICE), role == Role::Operator);
            assert!(allows(role, "involve.profiles.v1.CustomerProfiles"));
        }
    }

    #[test]
    fn partnership_wide_roles_belong_to_councils_and_their_almos() {
        for kind in ["council", "arms-length-organisation"] {
            assert!(Role::ALL.into_iter().all(|role| kind_allows(kind, role)), "{kind}");
        }
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
