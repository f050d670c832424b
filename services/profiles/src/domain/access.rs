//! Who may do what with profiles, beyond the row scope the store enforces.
//!
//! | role                          | equality data | export / erase | reference data | profile map counts |
//! |-------------------------------|---------------|----------------|----------------|--------------------|
//! | PARTNER_INTEGRATION           | own customers | own customers  | read           | under 5 suppressed |
//! | NEIGHBOURHOOD_OFFICER         | withheld      | no             | read           | exact              |
//! | TENANT_PARTICIPATION_OFFICER  | yes           | no             | read           | exact              |
//! | OPERATOR                      | export only   | yes            | read and add   | exact              |

use platform::Role;

/// Counts below this are withheld from roles that could identify people by them.
pub const SMALL_COUNT_THRESHOLD: i64 = 5;

/// Whether equality answers are returned on reads (every such read is audited).
pub fn may_read_equality(role: Role) -> bool {
    match role {
        Role::PartnerIntegration | Role::TenantParticipationOfficer => true,
        Role::NeighbourhoodOfficer | Role::Operator => false,
    }
}

/// Whether equality answers may be written. Writing what you may not read back
/// would make the data unverifiable, so the rule is the same.
pub fn may_write_equality(role: Role) -> bool {
    may_read_equality(role)
}

/// Subject-access exports and erasures: data-protection requests.
pub fn may_handle_data_protection_requests(role: Role) -> bool {
    match role {
        Role::PartnerIntegration | Role::Operator => true,
        Role::NeighbourhoodOfficer | Role::TenantParticipationOfficer => false,
    }
}

pub fn may_manage_reference_data(role: Role) -> bool {
    matches!(role, Role::Operator)
}

/// Whether small cells of a profile map are suppressed for this role.
pub fn suppresses_small_counts(role: Role) -> bool {
    match role {
        Role::PartnerIntegration => true,
        Role::NeighbourhoodOfficer | Role::TenantParticipationOfficer | Role::Operator => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn officers_never_see_equality_data() {
        assert!(!may_read_equality(Role::NeighbourhoodOfficer));
        assert!(!may_write_equality(Role::NeighbourhoodOfficer));
        assert!(may_read_equality(Role::TenantParticipationOfficer));
    }

    #[test]
    fn only_operators_extend_reference_data() {
        for role in Role::ALL {
            assert_eq!(may_manage_reference_data(role), role == Role::Operator);
        }
    }
}
