//! Property tests of principal signing: what the gateway signs verifies to the
//! same principal for the same method only, every call gets its own nonce, and
//! any change to the signed headers, or arbitrary headers, is refused (never a panic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use involve_platform::{HandoffKey, Principal, Role};
use proptest::prelude::*;

fn principal() -> impl Strategy<Value = Principal> {
    (
        "organisations/[a-z-]{1,20}",
        proptest::sample::select(Role::ALL.to_vec()),
        ".{0,40}",
        proptest::option::of(proptest::collection::vec("[a-z-]{1,12}", 0..4)),
    )
        .prop_map(|(organisation, role, subject, areas)| Principal {
            organisation,
            role,
            subject,
            areas,
        })
}

fn key() -> HandoffKey {
    HandoffKey::from_secret("property-tests-signing-secret")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_signed_principal_verifies_for_its_method_only(principal in principal(), method in "[a-zA-Z./]{1,60}", other in "[a-zA-Z./]{1,60}") {
        let key = key();
        let (payload, signature) = key.sign(&principal, &method);
        let verified = key.verify(&payload, &signature, &method).unwrap();
        prop_assert_eq!(&verified.principal, &principal);
        if other != method {
            prop_assert!(key.verify(&payload, &signature, &other).is_err());
        }
        prop_assert!(HandoffKey::from_secret("another-secret-entirely").verify(&payload, &signature, &method).is_err());
    }

    #[test]
    fn every_call_gets_its_own_nonce(principal in principal()) {
        let key = key();
        let prepared = key.prepare(&principal);
        let (first, first_signature) = key.sign_prepared(&prepared, "a/B");
        let (second, second_signature) = key.sign_prepared(&prepared, "a/B");
        let first = key.verify(&first, &first_signature, "a/B").unwrap();
        let second = key.verify(&second, &second_signature, "a/B").unwrap();
        prop_assert_ne!(first.nonce, second.nonce);
        prop_assert_eq!(first.principal, second.principal);
    }

    #[test]
    fn any_altered_character_is_refused(
        principal in principal(),
        in_payload in any::<bool>(),
        index in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let key = key();
        let (payload, signature) = key.sign(&principal, "a/B");
        let (mut payload_altered, mut signature_altered) = (payload.clone(), signature.clone());
        let target = if in_payload { &mut payload_altered } else { &mut signature_altered };
        let at = index.index(target.len());
        target.replace_range(at..=at, &replacement);
        prop_assume!(payload_altered != payload || signature_altered != signature);
        prop_assert!(key.verify(&payload_altered, &signature_altered, "a/B").is_err());
    }

    #[test]
    fn arbitrary_headers_are_refused_without_panicking(payload in ".{0,200}", signature in ".{0,80}") {
        prop_assert!(key().verify(&payload, &signature, "a/B").is_err());
    }
}
