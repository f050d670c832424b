//! How the domain's enums are stored: stable lower-case codes, read back strictly
//! (an unknown code in a row is corrupt data, never a default).

use crate::domain::case::{Channel, PartyRole};
use crate::domain::casework::InterventionKind;
use crate::domain::triage::{Priority, Route};

macro_rules! codes {
    ($write:ident, $read:ident, $type:ty, { $($variant:path => $code:literal),+ $(,)? }) => {
        pub fn $write(value: $type) -> &'static str {
            match value {
                $($variant => $code),+
            }
        }

        pub fn $read(code: &str) -> Option<$type> {
            match code {
                $($code => Some($variant),)+
                _ => None,
            }
        }
    };
}

codes!(priority, parse_priority, Priority, {
    Priority::Routine => "routine",
    Priority::High => "high",
    Priority::Urgent => "urgent",
});

codes!(route, parse_route, Route, {
    Route::Neighbourhood => "neighbourhood",
    Route::Enforcement => "enforcement",
});

codes!(intervention_kind, parse_intervention_kind, InterventionKind, {
    InterventionKind::Early => "early",
    InterventionKind::Mediation => "mediation",
    InterventionKind::Enforcement => "enforcement",
    InterventionKind::Referral => "referral",
    InterventionKind::Support => "support",
});

codes!(party_role, parse_party_role, PartyRole, {
    PartyRole::Complainant => "complainant",
    PartyRole::AllegedPerpetrator => "alleged_perpetrator",
    PartyRole::Victim => "victim",
    PartyRole::Witness => "witness",
});

codes!(channel, parse_channel, Channel, {
    Channel::Phone => "phone",
    Channel::ContactCentre => "contact_centre",
    Channel::Office => "office",
    Channel::Email => "email",
    Channel::Online => "online",
    Channel::OutOfHours => "out_of_hours",
    Channel::PartnerReferral => "partner_referral",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_what_was_written() {
        for value in [Priority::Routine, Priority::High, Priority::Urgent] {
            assert_eq!(parse_priority(priority(value)), Some(value));
        }
        for value in
            [PartyRole::Complainant, PartyRole::AllegedPerpetrator, PartyRole::Victim, PartyRole::Witness]
        {
            assert_eq!(parse_party_role(party_role(value)), Some(value));
        }
        assert_eq!(parse_channel(channel(Channel::OutOfHours)), Some(Channel::OutOfHours));
        assert_eq!(parse_route("police"), None);
    }
}
