//! Which roles may call which services. Services still apply their own finer
//! rules (scopes, equality data); this is the coarse gate at the edge.

use platform::Role;

/// The gateway's own administration service.
pub const ADMIN_SERVICE: &str = "involve.gateway.v1.PartnerAdmin";

/// Services anyone may call without a credential.
pub fn is_public(service: &str) -> bool {
    service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.")
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
    fn health_and_reflection_are_public() {
        assert!(is_public("grpc.health.v1.Health"));
        assert!(is_public("grpc.reflection.v1alpha.ServerReflection"));
        assert!(!is_public("involve.profiles.v1.CustomerProfiles"));
    }
}
