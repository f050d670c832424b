//! Who may do what with profiles, beyond the row scope the store enforces. The
//! yes/no answers come from the one role table, [`Role::may`]; this module adds
//! the profiles-specific parts (which map a caller sees, and how exactly).
//!
//! | role                          | customers | equality data | export / erase | import        | reference data | profile map                                  |
//! |-------------------------------|-----------|---------------|----------------|---------------|----------------|----------------------------------------------|
//! | PARTNER_INTEGRATION           | own       | own customers | own customers  | own customers | read           | own: exact; partnership: rounded; others: no |
//! | NEIGHBOURHOOD_OFFICER, MANAGER, ENFORCEMENT_OFFICER | its areas | withheld | no | no    | read           | its areas, rounded                           |
//! | TENANT_PARTICIPATION_OFFICER  | all       | yes           | no             | no            | read           | partnership, exact                           |
//! | OPERATOR                      | all       | export only   | yes            | any landlord  | read and add   | partnership, rounded                         |
//! | TENANT_INSPECTOR              | no        | no            | no             | no            | read           | partnership, rounded                         |
//! | EXTERNAL_PARTNER              | no (refused at the gateway)                                                                             |
//! | SERVICE (scheduled work)      | no        | no            | no             | no            | read           | partnership, rounded                         |
//!
//! Equality groups (`CountEqualityGroups`) are counted only for a service of the
//! suite named in [`EQUALITY_GROUP_COUNTERS`], as its own identity (`SERVICE`,
//! which no credential can hold, so no partner or officer reaches it through the
//! gateway), acting for a person whose role reads performance figures; always
//! rounded, whoever that person is.
//!
//! An area restriction on a credential narrows every one of these.

use involve_core::Capability;
use persistence::Scope;
use platform::{Principal, Role};

use super::profile_map::Disclosure;
use super::{Code, Customer, OrganisationName};

/// A call refused by a rule here: a stable reason and what to tell the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub reason: &'static str,
    pub message: &'static str,
}

const fn refused(reason: &'static str, message: &'static str) -> Refused {
    Refused { reason, message }
}

/// The customers a caller may see: every landlord's for roles that see the whole
/// partnership, otherwise its own organisation's (none, for an organisation that
/// is no landlord); an area restriction on the credential narrows either.
pub fn customer_scope(principal: &Principal) -> Scope {
    let scope = if principal.role.sees_every_landlord() {
        Scope::partnership()
    } else {
        Scope::organisation(principal.organisation.clone())
    };
    match &principal.areas {
        Some(areas) => scope.with_areas(areas.clone()),
        None => scope,
    }
}

/// Reading or changing customer records at all.
pub fn require_customers(role: Role) -> Result<(), Refused> {
    if may_manage_customers(role) {
        Ok(())
    } else {
        Err(refused("ROLE_NOT_PERMITTED", "your role may not read or change customer records"))
    }
}

/// Recording equality answers (on a create or an update that carries them).
pub fn require_equality_writer(role: Role) -> Result<(), Refused> {
    if may_write_equality(role) {
        Ok(())
    } else {
        Err(refused("EQUALITY_NOT_PERMITTED", "your role may not record equality information"))
    }
}

/// The landlord of a customer `principal` creates: a partner creates customers
/// of its own, so naming none means its own organisation.
pub fn landlord_of_new_customer(
    principal: &Principal,
    named: Option<OrganisationName>,
) -> Result<Option<OrganisationName>, Refused> {
    match (principal.role, named) {
        (Role::PartnerIntegration, None) => principal
            .organisation
            .parse()
            .map(Some)
            .map_err(|_| refused("ORGANISATION_INVALID", "your organisation name is not valid")),
        (_, named) => Ok(named),
    }
}

/// `OUTSIDE_SCOPE` with `message` unless a customer of `landlord` in `area` is
/// inside `scope`.
fn within(
    scope: &Scope,
    landlord: Option<&OrganisationName>,
    area: Option<&Code>,
    message: &'static str,
) -> Result<(), Refused> {
    if scope.admits(landlord.map(OrganisationName::as_str), area.map(Code::as_str)) {
        Ok(())
    } else {
        Err(refused("OUTSIDE_SCOPE", message))
    }
}

/// A new customer must fall inside the creator's scope.
pub fn admit_new(
    scope: &Scope,
    landlord: Option<&OrganisationName>,
    area: Option<&Code>,
) -> Result<(), Refused> {
    within(scope, landlord, area, "you may only create customers of your own organisation and areas")
}

/// An update may not move a customer out of the caller's areas.
pub fn admit_move(
    scope: &Scope,
    landlord: Option<&OrganisationName>,
    area: Option<&Code>,
) -> Result<(), Refused> {
    within(scope, landlord, area, "you may not move a customer outside your areas")
}

/// A partner may end its own tenancy or keep it, never hand a customer to
/// another landlord.
pub fn admit_tenure_landlord(
    principal: &Principal,
    landlord: Option<&OrganisationName>,
) -> Result<(), Refused> {
    if principal.role == Role::PartnerIntegration
        && landlord.is_some_and(|landlord| landlord.as_str() != principal.organisation)
    {
        return Err(refused(
            "OUTSIDE_SCOPE",
            "a partner may only record tenures with its own organisation or with none",
        ));
    }
    Ok(())
}

/// Whether `principal` is shown `customer`'s equality answers: never when its role
/// may not read them, and not after a tenure change moved the customer out of
/// its scope.
pub fn shows_equality(principal: &Principal, customer: &Customer) -> bool {
    let area = customer.details.area.as_ref();
    may_read_equality(principal.role)
        && within(&customer_scope(principal), customer.landlord.as_ref(), area, "").is_ok()
}

/// Capabilities checked at the door of a call, with the refusal each gives.
pub fn require(role: Role, capability: Capability, message: &'static str) -> Result<(), Refused> {
    if role.may(capability) { Ok(()) } else { Err(refused("ROLE_NOT_PERMITTED", message)) }
}

/// Whether customer records may be read and changed at all (in the caller's scope).
pub fn may_manage_customers(role: Role) -> bool {
    role.may(Capability::ManageCustomers)
}

/// Whether equality answers are returned on reads (every such read is audited).
pub fn may_read_equality(role: Role) -> bool {
    role.may(Capability::ReadEqualityAnswers)
}

/// Whether equality answers may be written. Writing what you may not read back
/// would make the data unverifiable, so the rule is the same.
pub fn may_write_equality(role: Role) -> bool {
    may_read_equality(role)
}

/// Subject-access exports and erasures: data-protection requests.
pub fn may_handle_data_protection_requests(role: Role) -> bool {
    role.may(Capability::HandleDataProtectionRequests)
}

pub fn may_manage_reference_data(role: Role) -> bool {
    role.may(Capability::ManageReferenceData)
}

/// Whether a role may stream imports. Import is a landlord's bulk sync of its own
/// customer base (partners) or a data migration run by the partnership (operators);
/// officers change customers one at a time, where every change is checked and audited
/// on its own.
pub fn may_import(role: Role) -> bool {
    role.may(Capability::ImportCustomers)
}

/// The services that may have equality groups counted: each profiles people in
/// its own records (ASB: complainants, victims, perpetrators) and publishes only
/// aggregates. A service identity's subject is `services/{name}`.
pub const EQUALITY_GROUP_COUNTERS: &[&str] = &["services/asb"];

/// How `principal` (a service) may have equality groups counted for a person of
/// role `requested_for`: only protected, and only for a counting service acting
/// for someone entitled to performance figures.
pub fn equality_groups_view(principal: &Principal, requested_for: Role) -> Result<Disclosure, Refused> {
    if principal.role != Role::Service || !EQUALITY_GROUP_COUNTERS.contains(&principal.subject.as_str()) {
        return Err(refused(
            "ROLE_NOT_PERMITTED",
            "equality groups are counted only for a service of the suite that profiles its own records",
        ));
    }
    if requested_for == Role::Service || !requested_for.may(Capability::ReadPerformance) {
        return Err(refused(
            "REQUESTED_FOR_NOT_PERMITTED",
            "the person the service acts for may not read performance figures",
        ));
    }
    // Protected for everyone: the sets come from another service's records, which
    // no caller could check against the answers behind them.
    Ok(Disclosure::RoundedToBase5)
}

/// Whose customers a profile map counts, and how its figures are published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapView {
    pub scope: Scope,
    pub disclosure: Disclosure,
}

/// Why a profile map is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnotherLandlordsMap;

/// The map `principal` may see when asking for `landlord`'s customers (or the
/// whole partnership, for `None`). Counts are exact only for callers who may read
/// every record and every equality answer behind them anyway: a partner mapping
/// its own customers, and tenant participation officers. Everyone else gets
/// protected aggregates, officers only of their own patch.
pub fn profile_map_view(
    principal: &Principal,
    landlord: Option<&OrganisationName>,
) -> Result<MapView, AnotherLandlordsMap> {
    let own_scope = customer_scope(principal);
    let areas_only = Scope { organisation: None, areas: own_scope.areas.clone() };
    if !principal.role.may(Capability::ReadProfileMaps) {
        return Err(AnotherLandlordsMap);
    }
    let view = match principal.role {
        Role::PartnerIntegration => match landlord {
            Some(landlord) if landlord.as_str() == principal.organisation => {
                MapView { scope: own_scope, disclosure: Disclosure::Exact }
            }
            Some(_) => return Err(AnotherLandlordsMap),
            None => MapView { scope: areas_only, disclosure: Disclosure::RoundedToBase5 },
        },
        Role::TenantParticipationOfficer => MapView { scope: own_scope, disclosure: Disclosure::Exact },
        Role::NeighbourhoodOfficer | Role::Operator | Role::Manager | Role::EnforcementOfficer => {
            MapView { scope: own_scope, disclosure: Disclosure::RoundedToBase5 }
        }
        // Aggregates of the partnership (within its areas), never any record.
        Role::TenantInspector | Role::Service => {
            MapView { scope: areas_only, disclosure: Disclosure::RoundedToBase5 }
        }
        Role::ExternalPartner => return Err(AnotherLandlordsMap),
    };
    Ok(view)
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

    fn principal(role: Role, areas: Option<&[&str]>) -> Principal {
        Principal {
            organisation: "organisations/riverside".into(),
            role,
            subject: "organisations/riverside/credentials/c".into(),
            areas: areas.map(|areas| areas.iter().map(|area| (*area).to_owned()).collect()),
        }
    }

    #[test]
    fn partners_map_their_own_customers_exactly_and_the_partnership_protected() {
        let partner = principal(Role::PartnerIntegration, None);
        let own: OrganisationName = "organisations/riverside".parse().unwrap();
        let other: OrganisationName = "organisations/hillside".parse().unwrap();
        let view = profile_map_view(&partner, Some(&own)).unwrap();
        assert_eq!(
            view,
            MapView { scope: Scope::organisation("organisations/riverside"), disclosure: Disclosure::Exact }
        );
        assert_eq!(profile_map_view(&partner, Some(&other)), Err(AnotherLandlordsMap));
        let wide = profile_map_view(&partner, None).unwrap();
        assert_eq!(wide, MapView { scope: Scope::partnership(), disclosure: Disclosure::RoundedToBase5 });
    }

    #[test]
    fn officers_map_only_their_patch_and_only_protected() {
        let officer = principal(Role::NeighbourhoodOfficer, Some(&["east"]));
        let other: OrganisationName = "organisations/hillside".parse().unwrap();
        for landlord in [None, Some(&other)] {
            let view = profile_map_view(&officer, landlord).unwrap();
            assert_eq!(view.scope.areas, Some(vec!["east".to_owned()]));
            assert_eq!(view.disclosure, Disclosure::RoundedToBase5);
        }
        let restricted_partner = principal(Role::PartnerIntegration, Some(&["east"]));
        assert_eq!(
            profile_map_view(&restricted_partner, None).unwrap().scope.areas,
            Some(vec!["east".to_owned()])
        );
    }

    #[test]
    fn inspectors_see_protected_maps_and_no_customers() {
        let inspector = principal(Role::TenantInspector, None);
        assert!(!may_manage_customers(Role::TenantInspector));
        let view = profile_map_view(&inspector, None).unwrap();
        assert_eq!(view, MapView { scope: Scope::partnership(), disclosure: Disclosure::RoundedToBase5 });
        assert!(profile_map_view(&principal(Role::ExternalPartner, None), None).is_err());
    }

    #[test]
    fn partners_see_their_own_customers_and_officers_their_areas() {
        let partner = principal(Role::PartnerIntegration, None);
        assert_eq!(customer_scope(&partner), Scope::organisation("organisations/riverside"));
        assert_eq!(customer_scope(&principal(Role::Operator, None)), Scope::partnership());
        assert_eq!(
            customer_scope(&principal(Role::NeighbourhoodOfficer, Some(&["north"]))),
            Scope::partnership().with_areas(vec!["north".into()])
        );
    }

    #[test]
    fn a_partner_creates_its_own_customers_and_keeps_tenures_to_itself() {
        let partner = principal(Role::PartnerIntegration, None);
        let own: OrganisationName = "organisations/riverside".parse().unwrap();
        let other: OrganisationName = "organisations/hillside".parse().unwrap();
        assert_eq!(landlord_of_new_customer(&partner, None), Ok(Some(own.clone())));
        assert_eq!(landlord_of_new_customer(&partner, Some(other.clone())), Ok(Some(other.clone())));
        let operator = principal(Role::Operator, None);
        assert_eq!(landlord_of_new_customer(&operator, None), Ok(None));
        assert!(admit_tenure_landlord(&partner, Some(&own)).is_ok());
        assert!(admit_tenure_landlord(&partner, None).is_ok());
        assert_eq!(admit_tenure_landlord(&partner, Some(&other)).unwrap_err().reason, "OUTSIDE_SCOPE");
        assert!(admit_tenure_landlord(&operator, Some(&other)).is_ok());
        // ... and the scope refuses the other landlord's customer it named.
        assert!(admit_new(&customer_scope(&partner), Some(&other), None).is_err());
        assert!(admit_new(&customer_scope(&partner), Some(&own), None).is_ok());
    }

    #[test]
    fn only_partners_and_operators_import() {
        for role in Role::ALL {
            assert_eq!(
                may_import(role),
                matches!(role, Role::PartnerIntegration | Role::Operator),
                "{role:?}"
            );
        }
    }

    #[test]
    fn only_the_counting_services_count_equality_groups_and_always_protected() {
        let asb = Principal {
            organisation: "services/asb".into(),
            role: Role::Service,
            subject: "services/asb".into(),
            areas: None,
        };
        assert_eq!(equality_groups_view(&asb, Role::TenantInspector), Ok(Disclosure::RoundedToBase5));
        assert_eq!(
            equality_groups_view(&asb, Role::TenantParticipationOfficer),
            Ok(Disclosure::RoundedToBase5)
        );
        let refused_for = equality_groups_view(&asb, Role::ExternalPartner).unwrap_err();
        assert_eq!(refused_for.reason, "REQUESTED_FOR_NOT_PERMITTED");
        assert!(equality_groups_view(&asb, Role::Service).is_err());
        let other =
            Principal { subject: "services/caller".into(), organisation: "services/caller".into(), ..asb };
        assert_eq!(equality_groups_view(&other, Role::Manager).unwrap_err().reason, "ROLE_NOT_PERMITTED");
        for role in Role::ALL {
            assert!(equality_groups_view(&principal(role, None), Role::Manager).is_err(), "{role:?}");
        }
    }

    #[test]
    fn only_operators_extend_reference_data() {
        for role in Role::ALL {
            assert_eq!(may_manage_reference_data(role), role == Role::Operator);
        }
    }
}
