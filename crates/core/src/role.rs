//! Who a caller is, as far as permissions go, and what each role may do in every
//! service: one table, [`Role::may`]. Services add their finer rules (scope by
//! landlord and area, protected aggregates) on top of it.

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
    /// A manager or senior officer: triage, case quality reviews, closure sign-off.
    Manager,
    /// The tenancy enforcement team: serious cases and legal remedies.
    EnforcementOfficer,
    /// A tenant scrutiny member or inspector: performance and inspections, no
    /// personal data.
    TenantInspector,
    /// An external partner such as the police: read-only, and only the cases
    /// shared with it under a recorded agreement.
    ExternalPartner,
    /// A service of the suite acting for itself (scheduled work such as compact
    /// measurement runs), never for a person: aggregates only. No credential
    /// can hold it: it is not in [`Role::ALL`], [`Role::parse`] does not accept
    /// it and the contracts have no value for it; only a service's own client
    /// (`platform::client`) puts it in a principal.
    Service,
}

/// What a role may do. Each service checks the capabilities of its own RPCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    // Customer profiles.
    /// Read and change customer records (in the caller's scope).
    ManageCustomers,
    /// Read individual equality answers (every read audited).
    ReadEqualityAnswers,
    /// Stream bulk imports of customers.
    ImportCustomers,
    /// Subject-access exports and erasures.
    HandleDataProtectionRequests,
    /// Profile maps (protected aggregates unless the caller may read every answer).
    ReadProfileMaps,
    /// Add reference values.
    ManageReferenceData,
    // Anti-social behaviour cases.
    /// Report incidents and work cases (diary, contacts, interventions).
    WorkCases,
    /// Triage: categories, risk, priority, route; assign cases.
    TriageCases,
    /// Monthly case quality reviews and closure sign-off.
    ReviewCases,
    /// Enforcement remedies (notices, injunctions, possession).
    TakeEnforcementAction,
    /// Read the cases shared with the caller's organisation, and nothing else.
    ReadSharedCases,
    // Performance, involvement and scrutiny.
    /// Service standards, compact indicators and other aggregate performance.
    ReadPerformance,
    /// Record inspections, reality checks and their findings.
    RecordInspections,
    // The gateway.
    /// Organisations, credentials and the gateway's audit.
    AdministerPartnership,
}

impl Role {
    /// Every role a credential may hold: everything but [`Role::Service`].
    pub const ALL: [Role; 8] = [
        Self::PartnerIntegration,
        Self::NeighbourhoodOfficer,
        Self::TenantParticipationOfficer,
        Self::Operator,
        Self::Manager,
        Self::EnforcementOfficer,
        Self::TenantInspector,
        Self::ExternalPartner,
    ];

    /// The name used in contracts (`involve.common.v1.Role`, without its prefix),
    /// on the command line and in stored credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerIntegration => "PARTNER_INTEGRATION",
            Self::NeighbourhoodOfficer => "NEIGHBOURHOOD_OFFICER",
            Self::TenantParticipationOfficer => "TENANT_PARTICIPATION_OFFICER",
            Self::Operator => "OPERATOR",
            Self::Manager => "MANAGER",
            Self::EnforcementOfficer => "ENFORCEMENT_OFFICER",
            Self::TenantInspector => "TENANT_INSPECTOR",
            Self::ExternalPartner => "EXTERNAL_PARTNER",
            Self::Service => "SERVICE",
        }
    }

    /// Parses a role name, case-insensitively, with or without the contracts'
    /// `ROLE_` prefix: only the roles of [`Role::ALL`], so a stored credential
    /// or a command line can never name [`Role::Service`].
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix("ROLE_").or_else(|| text.strip_prefix("role_")).unwrap_or(text);
        Self::ALL.into_iter().find(|role| role.as_str().eq_ignore_ascii_case(text))
    }

    /// What each role may do, in every service: the one table (documented in the
    /// README as "Roles").
    pub fn may(self, capability: Capability) -> bool {
        use Capability as C;
        let allowed: &[Capability] = match self {
            Self::PartnerIntegration => &[
                C::ManageCustomers,
                C::ReadEqualityAnswers,
                C::ImportCustomers,
                C::HandleDataProtectionRequests,
                C::ReadProfileMaps,
                C::WorkCases,
                C::ReadPerformance,
            ],
            Self::NeighbourhoodOfficer => {
                &[C::ManageCustomers, C::ReadProfileMaps, C::WorkCases, C::ReadPerformance]
            }
            Self::TenantParticipationOfficer => {
                &[C::ManageCustomers, C::ReadEqualityAnswers, C::ReadProfileMaps, C::ReadPerformance]
            }
            Self::Operator => &[
                C::ManageCustomers,
                C::ImportCustomers,
                C::HandleDataProtectionRequests,
                C::ReadProfileMaps,
                C::ManageReferenceData,
                C::ReadPerformance,
                C::AdministerPartnership,
            ],
            Self::Manager => &[
                C::ManageCustomers,
                C::ReadProfileMaps,
                C::WorkCases,
                C::TriageCases,
                C::ReviewCases,
                C::ReadPerformance,
            ],
            Self::EnforcementOfficer => &[
                C::ManageCustomers,
                C::ReadProfileMaps,
                C::WorkCases,
                C::TakeEnforcementAction,
                C::ReadPerformance,
            ],
            Self::TenantInspector => &[C::ReadProfileMaps, C::ReadPerformance, C::RecordInspections],
            Self::ExternalPartner => &[C::ReadSharedCases],
            // What scheduled work needs today: compact measurement runs read
            // aggregates. A right added here is given to every service identity.
            Self::Service => &[C::ReadProfileMaps, C::ReadPerformance],
        };
        allowed.contains(&capability)
    }

    /// Whether the role sees customers across every landlord (within any areas its
    /// credential is limited to), rather than its own organisation's alone.
    pub fn sees_every_landlord(self) -> bool {
        match self {
            Self::PartnerIntegration | Self::TenantInspector | Self::ExternalPartner => false,
            // Its aggregates span the partnership; it holds no right to any record.
            Self::Service => true,
            Self::NeighbourhoodOfficer
            | Self::TenantParticipationOfficer
            | Self::Operator
            | Self::Manager
            | Self::EnforcementOfficer => true,
        }
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

    #[test]
    fn no_personal_data_for_inspectors_and_only_shared_cases_for_external_partners() {
        for capability in [
            Capability::ManageCustomers,
            Capability::ReadEqualityAnswers,
            Capability::ImportCustomers,
            Capability::HandleDataProtectionRequests,
            Capability::WorkCases,
        ] {
            assert!(!Role::TenantInspector.may(capability), "{capability:?}");
            assert!(!Role::ExternalPartner.may(capability), "{capability:?}");
        }
        assert!(Role::ExternalPartner.may(Capability::ReadSharedCases));
        assert!(Role::ALL.iter().filter(|role| role.may(Capability::ReadSharedCases)).count() == 1);
    }

    #[test]
    fn a_service_identity_is_no_credential_role_and_reads_aggregates_only() {
        assert!(!Role::ALL.contains(&Role::Service));
        assert_eq!(Role::parse("SERVICE"), None);
        assert_eq!(Role::parse("ROLE_SERVICE"), None);
        for capability in [
            Capability::ManageCustomers,
            Capability::ReadEqualityAnswers,
            Capability::ImportCustomers,
            Capability::HandleDataProtectionRequests,
            Capability::ManageReferenceData,
            Capability::WorkCases,
            Capability::TriageCases,
            Capability::ReviewCases,
            Capability::TakeEnforcementAction,
            Capability::ReadSharedCases,
            Capability::RecordInspections,
            Capability::AdministerPartnership,
        ] {
            assert!(!Role::Service.may(capability), "{capability:?}");
        }
        assert!(Role::Service.may(Capability::ReadPerformance));
        assert!(Role::Service.may(Capability::ReadProfileMaps));
    }

    #[test]
    fn only_operators_administer_and_only_managers_review_cases() {
        for role in Role::ALL {
            assert_eq!(role.may(Capability::AdministerPartnership), role == Role::Operator, "{role:?}");
            assert_eq!(role.may(Capability::ReviewCases), role == Role::Manager, "{role:?}");
            assert_eq!(
                role.may(Capability::TakeEnforcementAction),
                role == Role::EnforcementOfficer,
                "{role:?}"
            );
        }
    }
}
