//! Property tests of page tokens: a token round-trips for its own query, and is
//! refused when altered in any byte or replayed against any other query.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use involve_persistence::{PageToken, PageTokenError, PageTokenKey};
use proptest::prelude::*;

fn key() -> PageTokenKey {
    PageTokenKey::from_secret(b"property tests")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tokens_round_trip_for_their_own_query(cursor in ".{0,64}", fingerprint in ".{0,64}", size in 1_i32..500) {
        let key = key();
        let tokens = PageToken::for_query(&key, fingerprint);
        let token = tokens.encode(&cursor);
        let page = tokens.request::<String>(size, &token).unwrap();
        prop_assert_eq!(page.after, Some(cursor));
        prop_assert_eq!(page.size, u64::try_from(size).unwrap());
    }

    #[test]
    fn an_altered_token_is_refused(cursor in any::<u64>(), index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_-]") {
        let key = key();
        let tokens = PageToken::for_query(&key, "ListCustomers|riverside");
        let token = tokens.encode(&cursor);
        let at = index.index(token.len());
        let mut altered = token.clone();
        altered.replace_range(at..=at, &replacement);
        prop_assume!(altered != token);
        prop_assert_eq!(tokens.request::<u64>(10, &altered).unwrap_err(), PageTokenError::Invalid);
    }

    #[test]
    fn a_token_is_refused_for_any_other_query(cursor in any::<u64>(), first in ".{0,32}", second in ".{0,32}") {
        prop_assume!(first != second);
        let key = key();
        let token = PageToken::for_query(&key, first).encode(&cursor);
        let other = PageToken::for_query(&key, second);
        prop_assert_eq!(other.request::<u64>(10, &token).unwrap_err(), PageTokenError::Invalid);
    }

    #[test]
    fn arbitrary_tokens_are_refused_without_panicking(token in ".{1,200}") {
        let key = key();
        let tokens = PageToken::for_query(&key, "q");
        prop_assert!(tokens.request::<String>(10, &token).is_err());
    }

    #[test]
    fn page_sizes_are_coerced_into_range(size in any::<i32>()) {
        let key = key();
        let tokens = PageToken::for_query(&key, "q");
        match tokens.request::<u64>(size, "") {
            Ok(page) => prop_assert!((1..=500).contains(&page.size)),
            Err(err) => {
                prop_assert!(size < 0);
                prop_assert_eq!(err, PageTokenError::NegativePageSize);
            }
        }
    }
}
