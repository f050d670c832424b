//! Who sees which case, and how much of it. A landlord sees the cases its own
//! customers are parties to, with the other parties' personal data withheld
//! unless a sharing decision covers it; neighbourhood officers, managers and the
//! enforcement team see every case in their areas; an external partner (the
//! police) sees only the cases shared with it under a recorded agreement. Anyone
//! else sees none: a case it may not see is NOT_FOUND, never PERMISSION_DENIED.

use std::collections::BTreeSet;

use involve_core::{Capability, Role};

/// The caller, as case access needs it.
#[derive(Clone, Copy, Debug)]
pub struct Viewer<'a> {
    /// `organisations/{id}`.
    pub organisation: &'a str,
    pub role: Role,
    /// When set, only cases in these areas.
    pub areas: Option<&'a [String]>,
}

/// A case, as access needs it.
#[derive(Clone, Debug, Default)]
pub struct CaseReach {
    /// The landlord whose case it is (the one that opened it or took it over).
    pub owner: String,
    pub area: Option<String>,
    /// The landlords of the customers who are parties to it.
    pub party_landlords: BTreeSet<String>,
    /// Organisations a recorded sharing decision opened the whole case to.
    pub shared_with: BTreeSet<String>,
}

/// How much of a case a viewer gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Nothing: answered NOT_FOUND.
    Hidden,
    /// The case, with the personal data of parties who are not the viewer's own
    /// customers withheld.
    OwnPartiesOnly,
    /// The whole case.
    Full,
}

impl View {
    pub fn is_visible(self) -> bool {
        self != Self::Hidden
    }
}

fn in_areas(viewer: &Viewer<'_>, case: &CaseReach) -> bool {
    viewer.areas.is_none_or(|areas| {
        case.area.as_ref().is_some_and(|area| areas.iter().any(|allowed| allowed == area))
    })
}

/// What `viewer` may see of `case`.
pub fn view(viewer: &Viewer<'_>, case: &CaseReach) -> View {
    let shared = case.shared_with.contains(viewer.organisation);
    if viewer.role.may(Capability::ReadSharedCases) {
        return if shared { View::Full } else { View::Hidden };
    }
    if !viewer.role.may(Capability::WorkCases) || !in_areas(viewer, case) {
        return View::Hidden;
    }
    if viewer.role.sees_every_landlord() {
        return View::Full;
    }
    if case.owner == viewer.organisation || shared {
        View::Full
    } else if case.party_landlords.contains(viewer.organisation) {
        View::OwnPartiesOnly
    } else {
        View::Hidden
    }
}

/// Whether `viewer` may change `case` (diary, contacts, interventions): only a
/// caseworker who sees all of it. Partners read the cases their customers are
/// in; the owner and the partnership's officers work them.
pub fn may_work(viewer: &Viewer<'_>, case: &CaseReach) -> bool {
    viewer.role.may(Capability::WorkCases) && view(viewer, case) == View::Full
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> CaseReach {
        CaseReach {
            owner: "organisations/riverside".into(),
            area: Some("north".into()),
            party_landlords: ["organisations/riverside".to_owned(), "organisations/hillside".to_owned()]
                .into(),
            shared_with: BTreeSet::new(),
        }
    }

    fn viewer(organisation: &str, role: Role, areas: Option<&[String]>) -> View {
        view(&Viewer { organisation, role, areas }, &case())
    }

    #[test]
    fn landlords_see_cases_their_customers_are_in_and_others_see_none() {
        assert_eq!(viewer("organisations/riverside", Role::PartnerIntegration, None), View::Full);
        assert_eq!(viewer("organisations/hillside", Role::PartnerIntegration, None), View::OwnPartiesOnly);
        assert_eq!(viewer("organisations/valley", Role::PartnerIntegration, None), View::Hidden);
        let mut shared = case();
        shared.shared_with.insert("organisations/hillside".into());
        let hillside =
            Viewer { organisation: "organisations/hillside", role: Role::PartnerIntegration, areas: None };
        assert_eq!(view(&hillside, &shared), View::Full);
        assert!(!may_work(&hillside, &case()));
    }

    #[test]
    fn officers_see_their_areas_and_the_police_only_what_was_shared() {
        let north = ["north".to_owned()];
        let south = ["south".to_owned()];
        assert_eq!(viewer("organisations/council", Role::NeighbourhoodOfficer, Some(&north)), View::Full);
        assert_eq!(viewer("organisations/council", Role::NeighbourhoodOfficer, Some(&south)), View::Hidden);
        assert_eq!(viewer("organisations/council", Role::Manager, None), View::Full);
        assert_eq!(viewer("organisations/police", Role::ExternalPartner, None), View::Hidden);
        let mut shared = case();
        shared.shared_with.insert("organisations/police".into());
        let police =
            Viewer { organisation: "organisations/police", role: Role::ExternalPartner, areas: None };
        assert_eq!(view(&police, &shared), View::Full);
        assert!(!may_work(&police, &shared), "read-only");
        for role in [Role::TenantInspector, Role::Operator, Role::TenantParticipationOfficer] {
            assert_eq!(viewer("organisations/council", role, None), View::Hidden, "{role:?}");
        }
    }
}
