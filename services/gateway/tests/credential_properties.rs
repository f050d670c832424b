//! Property tests of the credential parser: arbitrary headers never panic it,
//! only tokens of the exact shape parse, and every well-formed token does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use involve_gateway::domain::credentials::{CredentialId, PresentedToken, parse_credential_name};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_text_never_panics_and_parses_only_in_shape(text in "inv_.{0,90}|.{0,120}") {
        if let Some(token) = PresentedToken::parse(&text) {
            prop_assert_eq!(text.len(), 4 + 32 + 1 + 43);
            prop_assert!(text.starts_with("inv_"));
            prop_assert_eq!(&text[4..36], token.id.as_str());
        }
    }

    #[test]
    fn every_well_formed_token_parses_to_its_id(id in "[0-9a-f]{32}", secret in "[A-Za-z0-9_-]{43}") {
        let token = PresentedToken::parse(&format!("inv_{id}_{secret}")).unwrap();
        prop_assert_eq!(token.id.as_str(), id.as_str());
    }

    #[test]
    fn one_character_off_is_not_a_token(id in "[0-9a-f]{32}", secret in "[A-Za-z0-9_-]{42}", extra in "[A-Za-z0-9_-]{2}") {
        prop_assert!(PresentedToken::parse(&format!("inv_{id}_{secret}")).is_none(), "too short");
        prop_assert!(PresentedToken::parse(&format!("inv_{id}_{secret}{extra}")).is_none(), "too long");
        // Upper-case hex is not an id this gateway issues.
        let upper = id.to_uppercase();
        let shouted = format!("inv_{upper}_{secret}x");
        prop_assert!(upper == id || PresentedToken::parse(&shouted).is_none());
    }

    #[test]
    fn credential_names_parse_only_when_well_formed(organisation in "[a-z-]{1,20}", id in "[0-9a-f]{32}|.{0,40}") {
        let name = format!("organisations/{organisation}/credentials/{id}");
        match parse_credential_name(&name) {
            Some((parsed_organisation, parsed)) => {
                prop_assert_eq!(parsed_organisation, organisation);
                prop_assert_eq!(Some(parsed), CredentialId::parse(&id));
            }
            None => prop_assert!(CredentialId::parse(&id).is_none()),
        }
    }
}
