//! Credentials: how their secrets look, how they are stored, when they are valid.
//!
//! A secret reads `inv_{credential id}_{43 characters}`: the id lets the gateway find
//! the one stored hash to check, and the 256 random bits make guessing hopeless.
//! Only an Argon2id hash of the random part is stored, salted per credential.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

const PREFIX: &str = "inv_";
/// Rotation grace periods longer than this are refused.
pub const MAX_GRACE_DAYS: i64 = 30;

/// A credential's id: 32 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialId(String);

impl CredentialId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 32 && text.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
            .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `organisations/{organisation}/credentials/{credential}`.
pub fn credential_name(organisation_id: &str, id: &str) -> String {
    format!("organisations/{organisation_id}/credentials/{id}")
}

/// Splits a credential name into organisation id and credential id.
pub fn parse_credential_name(name: &str) -> Option<(String, CredentialId)> {
    let rest = name.strip_prefix("organisations/")?;
    let (organisation, credential) = rest.split_once("/credentials/")?;
    Some((organisation.to_owned(), CredentialId::parse(credential)?))
}

/// A freshly drawn secret, before it is shown once and hashed.
pub struct NewSecret {
    /// What the caller sends as `authorization: Bearer <token>`.
    pub token: String,
    /// The stored Argon2id hash (PHC string) of the random part.
    pub hash: String,
}

impl fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewSecret(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the system's random source failed")]
    Random(#[from] getrandom::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Draws a secret for credential `id` and hashes it.
pub fn new_secret(id: &CredentialId) -> Result<NewSecret, SecretError> {
    let mut random = [0_u8; 32];
    getrandom::fill(&mut random)?;
    let secret = URL_SAFE_NO_PAD.encode(random);
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| SecretError::Hash(err.to_string()))?;
    let hash = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|err| SecretError::Hash(err.to_string()))?
        .to_string();
    Ok(NewSecret { token: format!("{PREFIX}{id}_{secret}"), hash })
}

/// A presented bearer token, split but not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub id: CredentialId,
    secret: String,
}

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedToken").field("id", &self.id).finish_non_exhaustive()
    }
}

impl PresentedToken {
    /// Parses `inv_{id}_{secret}`; `None` when it cannot be one of ours.
    pub fn parse(token: &str) -> Option<Self> {
        let rest = token.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let id = CredentialId::parse(id)?;
        let valid_secret =
            secret.len() == 43 && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid_secret.then(|| Self { id, secret: secret.to_owned() })
    }

    /// Whether the secret matches a stored hash. Deliberately slow.
    pub fn matches(&self, hash: &str) -> bool {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            argon2::Argon2::default().verify_password(self.secret.as_bytes(), &parsed).is_ok()
        })
    }
}

/// Where a credential stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    Active,
    Expired,
    Revoked,
}

pub fn state_at(
    revoke_time: Option<DateTime<Utc>>,
    expire_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> CredentialState {
    if revoke_time.is_some_and(|revoked| revoked <= now) {
        CredentialState::Revoked
    } else if expire_time.is_some_and(|expires| expires <= now) {
        CredentialState::Expired
    } else {
        CredentialState::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_secret_verifies_and_others_do_not() {
        let id = CredentialId::generate();
        let secret = new_secret(&id).unwrap();
        let presented = PresentedToken::parse(&secret.token).unwrap();
        assert_eq!(presented.id, id);
        assert!(presented.matches(&secret.hash));
        let other = new_secret(&id).unwrap();
        assert!(!PresentedToken::parse(&other.token).unwrap().matches(&secret.hash));
        assert!(!secret.hash.contains(&secret.token[37..]), "the stored hash does not hold the secret");
    }

    #[test]
    fn malformed_tokens_are_not_parsed() {
        let id = CredentialId::generate();
        for bad in [
            String::new(),
            "Bearer x".to_owned(),
            format!("inv_{id}"),
            format!("inv_{id}_short"),
            format!("inv_NOTHEX_{}", "a".repeat(43)),
            format!("xyz_{id}_{}", "a".repeat(43)),
        ] {
            assert!(PresentedToken::parse(&bad).is_none(), "{bad}");
        }
        assert!(PresentedToken::parse(&format!("inv_{id}_{}", "a".repeat(43))).is_some());
    }

    #[test]
    fn states_follow_revocation_then_expiry() {
        let now = Utc::now();
        let past = now - chrono::Duration::seconds(1);
        let future = now + chrono::Duration::seconds(60);
        assert_eq!(state_at(None, None, now), CredentialState::Active);
        assert_eq!(state_at(None, Some(future), now), CredentialState::Active);
        assert_eq!(state_at(None, Some(past), now), CredentialState::Expired);
        assert_eq!(state_at(Some(past), Some(past), now), CredentialState::Revoked);
    }

    #[test]
    fn credential_names_round_trip() {
        let id = CredentialId::generate();
        let name = credential_name("riverside", id.as_str());
        assert_eq!(parse_credential_name(&name), Some(("riverside".to_owned(), id)));
        assert_eq!(parse_credential_name("organisations/riverside/credentials/nope"), None);
    }
}
