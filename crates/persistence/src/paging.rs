//! Keyset paging with opaque, signed page tokens (AIP-158).
//!
//! A token carries the sort key of the last row served. It is signed with HMAC over
//! the token body *and* a fingerprint of the query that produced it, so a token is
//! refused when it was altered or when it is replayed against a different query
//! (other filters, another collection). Tokens grant no authority: the store still
//! applies the caller's scope to every page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of MAC kept in a token: 128 bits is ample against forgery.
const MAC_LEN: usize = 16;

/// The page size a List gets when the request says 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Larger requests are quietly read as this (AIP-158 "coerce down").
pub const MAX_PAGE_SIZE: u64 = 500;

/// The key page tokens are signed with. Every instance serving the same data must
/// share it, or a token from one instance is refused by another. It may also
/// accept tokens of other keys (see [`PageTokenKey::accepting`]), so the secret
/// is rotated without refusing the next page of a listing in progress.
#[derive(Clone)]
pub struct PageTokenKey {
    signing: [u8; 32],
    also_accepted: std::sync::Arc<[[u8; 32]]>,
}

impl std::fmt::Debug for PageTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokenKey(..)")
    }
}

impl PageTokenKey {
    /// A key for this process only (tokens die with it).
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut key = [0_u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self { signing: key, also_accepted: std::sync::Arc::from([]) })
    }

    /// A key derived from a configured secret, shared by every instance.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self { signing: Self::derive(secret), also_accepted: std::sync::Arc::from([]) }
    }

    /// This key, also accepting tokens signed with keys derived from `secrets`
    /// (as [`PageTokenKey::from_secret`] derives them); it still signs with its own.
    #[must_use]
    pub fn accepting<'a>(mut self, secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
        self.also_accepted = secrets.into_iter().map(Self::derive).collect();
        self
    }

    fn derive(secret: &[u8]) -> [u8; 32] {
        use sha2::Digest as _;
        Sha256::digest(secret).into()
    }

    fn mac(&self, fingerprint: &str, body: &[u8]) -> HmacSha256 {
        Self::mac_with(&self.signing, fingerprint, body)
    }

    /// Whether `tag` is the MAC of `body` under this key or one it also accepts.
    fn verifies(&self, fingerprint: &str, body: &[u8], tag: &[u8]) -> bool {
        std::iter::once(&self.signing)
            .chain(self.also_accepted.iter())
            .any(|key| Self::mac_with(key, fingerprint, body).verify_truncated_left(tag).is_ok())
    }

    fn mac_with(key: &[u8; 32], fingerprint: &str, body: &[u8]) -> HmacSha256 {
        // new_from_slice only fails for key lengths HMAC cannot take; SHA-256 takes any.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(&(fingerprint.len() as u64).to_be_bytes());
        mac.update(fingerprint.as_bytes());
        mac.update(body);
        mac
    }
}

/// A validated page request: how many rows, and where to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest<C> {
    pub size: u64,
    pub after: Option<C>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    #[error("page_size must not be negative")]
    NegativePageSize,
    #[error("page_token is not one this service issued for this query")]
    Invalid,
}

/// Encodes and checks page tokens for one query.
#[derive(Debug)]
pub struct PageToken<'a> {
    key: &'a PageTokenKey,
    fingerprint: String,
}

impl<'a> PageToken<'a> {
    /// `fingerprint` names the query: the method plus every filter that shapes it.
    /// Prefer [`PageToken::for_filter`], which cannot leave a filter out.
    pub fn for_query(key: &'a PageTokenKey, fingerprint: impl Into<String>) -> Self {
        Self { key, fingerprint: fingerprint.into() }
    }

    /// Tokens bound to `method`, the `caller` and the whole `filter` struct, as
    /// serialised: every field of the filter is part of the query, so a filter
    /// added later cannot be forgotten here and a token never crosses queries.
    pub fn for_filter(
        key: &'a PageTokenKey,
        method: &str,
        caller: &impl Serialize,
        filter: &impl Serialize,
    ) -> Self {
        // Plain data serialises without fail; an empty string would still bind the method.
        let caller = serde_json::to_string(caller).unwrap_or_default();
        let filter = serde_json::to_string(filter).unwrap_or_default();
        Self { key, fingerprint: format!("{method}\n{caller}\n{filter}") }
    }

    /// Reads `page_size` and `page_token` as the request sent them.
    pub fn request<C: DeserializeOwned>(
        &self,
        page_size: i32,
        page_token: &str,
    ) -> Result<PageRequest<C>, PageTokenError> {
        let size = match u64::try_from(page_size) {
            Err(_) => return Err(PageTokenError::NegativePageSize),
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) => size.min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() { None } else { Some(self.decode(page_token)?) };
        Ok(PageRequest { size, after })
    }

    pub fn encode<C: Serialize>(&self, cursor: &C) -> String {
        // A cursor is made of plain values; serialising one cannot fail.
        let body = serde_json::to_vec(cursor).unwrap_or_default();
        let tag = self.key.mac(&self.fingerprint, &body).finalize().into_bytes();
        let mut token = body;
        token.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(token)
    }

    fn decode<C: DeserializeOwned>(&self, token: &str) -> Result<C, PageTokenError> {
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| PageTokenError::Invalid)?;
        let split = raw.len().checked_sub(MAC_LEN).ok_or(PageTokenError::Invalid)?;
        let (body, tag) = raw.split_at(split);
        if !self.key.verifies(&self.fingerprint, body, tag) {
            return Err(PageTokenError::Invalid);
        }
        serde_json::from_slice(body).map_err(|_| PageTokenError::Invalid)
    }
}

/// Splits a fetched page of `size + 1` rows into the page and its next token.
pub fn finish_page<T, C: Serialize>(
    mut rows: Vec<T>,
    size: u64,
    token: &PageToken<'_>,
    cursor_of: impl Fn(&T) -> C,
) -> (Vec<T>, String) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if rows.len() > size {
        rows.truncate(size);
        let next = rows.last().map(|row| token.encode(&cursor_of(row))).unwrap_or_default();
        (rows, next)
    } else {
        (rows, String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageTokenKey {
        PageTokenKey::from_secret(b"test")
    }

    #[test]
    fn page_size_rules() {
        let key = key();
        let token = PageToken::for_query(&key, "q");
        assert_eq!(token.request::<u32>(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(token.request::<u32>(10, "").unwrap().size, 10);
        assert_eq!(token.request::<u32>(100_000, "").unwrap().size, MAX_PAGE_SIZE);
        assert_eq!(token.request::<u32>(-1, ""), Err(PageTokenError::NegativePageSize));
    }

    #[test]
    fn a_rotated_key_still_reads_the_tokens_of_the_key_it_accepts() {
        let old = PageTokenKey::from_secret(b"old");
        let new = PageTokenKey::from_secret(b"new").accepting([b"old".as_slice()]);
        let issued_before = PageToken::for_query(&old, "q").encode(&7_u32);
        assert_eq!(PageToken::for_query(&new, "q").request::<u32>(5, &issued_before).unwrap().after, Some(7));
        let issued_after = PageToken::for_query(&new, "q").encode(&8_u32);
        let without_old = PageTokenKey::from_secret(b"new");
        assert_eq!(
            PageToken::for_query(&without_old, "q").request::<u32>(5, &issued_after).unwrap().after,
            Some(8)
        );
        assert_eq!(
            PageToken::for_query(&without_old, "q").request::<u32>(5, &issued_before),
            Err(PageTokenError::Invalid),
            "once the old secret is dropped its tokens are refused"
        );
        assert_eq!(
            PageToken::for_query(&new, "other").request::<u32>(5, &issued_before),
            Err(PageTokenError::Invalid)
        );
    }

    #[test]
    fn token_round_trips_for_the_same_query() {
        let key = key();
        let token = PageToken::for_query(&key, "list:tenure=a");
        let encoded = token.encode(&("k", 42_u32));
        let request = token.request::<(String, u32)>(5, &encoded).unwrap();
        assert_eq!(request.after, Some(("k".to_owned(), 42)));
    }

    #[test]
    fn tokens_bind_every_field_of_the_filter_and_the_caller() {
        #[derive(Serialize)]
        struct Filter {
            tenure: Option<&'static str>,
            area: Option<&'static str>,
        }
        let key = key();
        let issued =
            PageToken::for_filter(&key, "List", &"riverside", &Filter { tenure: Some("a"), area: None })
                .encode(&1_u32);
        let same =
            PageToken::for_filter(&key, "List", &"riverside", &Filter { tenure: Some("a"), area: None });
        assert!(same.request::<u32>(5, &issued).is_ok());
        for other in [
            PageToken::for_filter(&key, "List", &"riverside", &Filter { tenure: Some("a"), area: Some("x") }),
            PageToken::for_filter(&key, "List", &"hillside", &Filter { tenure: Some("a"), area: None }),
            PageToken::for_filter(&key, "Other", &"riverside", &Filter { tenure: Some("a"), area: None }),
        ] {
            assert_eq!(other.request::<u32>(5, &issued), Err(PageTokenError::Invalid));
        }
    }

    #[test]
    fn token_is_refused_by_another_query() {
        let key = key();
        let encoded = PageToken::for_query(&key, "list:tenure=a").encode(&1_u32);
        let other = PageToken::for_query(&key, "list:tenure=b");
        assert_eq!(other.request::<u32>(5, &encoded), Err(PageTokenError::Invalid));
    }

    #[test]
    fn tampered_or_garbage_tokens_are_refused() {
        let key = key();
        let token = PageToken::for_query(&key, "q");
        let encoded = token.encode(&1_u32);
        let mut raw = URL_SAFE_NO_PAD.decode(&encoded).unwrap();
        raw[0] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(token.request::<u32>(5, &tampered), Err(PageTokenError::Invalid));
        assert_eq!(token.request::<u32>(5, "not a token!"), Err(PageTokenError::Invalid));
        assert_eq!(token.request::<u32>(5, "YQ"), Err(PageTokenError::Invalid));
    }

    #[test]
    fn tokens_from_another_key_are_refused() {
        let (a, b) = (key(), PageTokenKey::from_secret(b"other"));
        let encoded = PageToken::for_query(&a, "q").encode(&1_u32);
        assert_eq!(PageToken::for_query(&b, "q").request::<u32>(5, &encoded), Err(PageTokenError::Invalid));
    }

    #[test]
    fn finish_page_emits_a_token_only_when_more_rows_exist() {
        let key = key();
        let token = PageToken::for_query(&key, "q");
        let (rows, next) = finish_page(vec![1, 2, 3], 2, &token, |row| *row);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(token.request::<i32>(2, &next).unwrap().after, Some(2));
        let (rows, next) = finish_page(vec![1, 2], 2, &token, |row| *row);
        assert_eq!(rows, vec![1, 2]);
        assert!(next.is_empty());
    }
}
