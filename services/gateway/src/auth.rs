//! Authenticating bearer credentials, with a short-lived cache so the slow hash is
//! checked once per secret per `credential_cache_secs`, not on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use persistence::StoreError;
use platform::{Principal, Role};
use sha2::{Digest as _, Sha256};

use crate::domain::credentials::{CredentialState, PresentedToken, credential_name, state_at};
use crate::store::Store;

/// Entries kept before expired ones are swept.
const CACHE_SWEEP_AT: usize = 10_000;

/// A caller the gateway has recognised.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Principal,
    /// `organisations/{organisation}/credentials/{credential}`.
    pub credential: String,
    pub credential_id: String,
    pub rate_limit_per_minute: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this call needs `authorization: Bearer <credential>`")]
    Missing,
    #[error("the authorization header does not hold an Involve credential")]
    Malformed,
    #[error("the credential is not valid")]
    Invalid,
    #[error("the credential has been revoked")]
    Revoked,
    #[error("the credential has expired")]
    Expired,
    #[error("credentials cannot be checked right now")]
    Unavailable(#[source] StoreError),
}

impl AuthError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "CREDENTIALS_MISSING",
            Self::Malformed => "CREDENTIALS_MALFORMED",
            Self::Invalid => "CREDENTIALS_INVALID",
            Self::Revoked => "CREDENTIALS_REVOKED",
            Self::Expired => "CREDENTIALS_EXPIRED",
            Self::Unavailable(_) => "CREDENTIALS_UNAVAILABLE",
        }
    }
}

#[derive(Clone, Debug)]
struct CacheEntry {
    caller: Authenticated,
    checked: Instant,
    /// The credential's own expiry.
    expire_time: Option<DateTime<Utc>>,
    /// When this secret stops working because it was rotated out.
    secret_valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct Authenticator {
    store: Arc<Store>,
    ttl: Duration,
    default_rate_limit: u32,
    /// SHA-256 of the presented token -> who it is.
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
}

impl Authenticator {
    pub fn new(store: Arc<Store>, ttl: Duration, default_rate_limit: u32) -> Self {
        Self { store, ttl, default_rate_limit, cache: Mutex::new(HashMap::new()) }
    }

    /// Who the `authorization` header names, or why not.
    pub async fn authenticate(&self, header: Option<&http::HeaderValue>) -> Result<Authenticated, AuthError> {
        let header = header.ok_or(AuthError::Missing)?.to_str().map_err(|_| AuthError::Malformed)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?
            .trim();
        let presented = PresentedToken::parse(token).ok_or(AuthError::Malformed)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Utc::now();

        let cached = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(&digest).cloned();
        if let Some(entry) = cached.filter(|entry| entry.checked.elapsed() < self.ttl) {
            if entry.expire_time.is_some_and(|expires| expires <= now) {
                return Err(AuthError::Expired);
            }
            if entry.secret_valid_until.is_some_and(|until| until <= now) {
                return Err(AuthError::Invalid);
            }
            return Ok(entry.caller);
        }

        let row = self
            .store
            .credential(presented.id.as_str())
            .await
            .map_err(AuthError::Unavailable)?
            .ok_or(AuthError::Invalid)?;
        match state_at(row.revoke_time, row.expire_time, now) {
            CredentialState::Revoked => return Err(AuthError::Revoked),
            CredentialState::Expired => return Err(AuthError::Expired),
            CredentialState::Active => {}
        }
        // Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let (current, previous) = (row.secret_hash.clone(), row.previous_secret_hash.clone());
        let previous_until = row.previous_secret_expire_time;
        let checked = tokio::task::spawn_blocking(move || {
            if presented.matches(&current) {
                Some(None)
            } else if previous_until.is_some_and(|until| until > now)
                && previous.as_deref().is_some_and(|hash| presented.matches(hash))
            {
                Some(previous_until)
            } else {
                None
            }
        })
        .await
        .map_err(|_| AuthError::Invalid)?;
        let Some(secret_valid_until) = checked else { return Err(AuthError::Invalid) };

        let role = Role::parse(&row.role).ok_or(AuthError::Invalid)?;
        let areas: Option<Vec<String>> =
            row.areas.as_deref().and_then(|areas| serde_json::from_str(areas).ok());
        let credential = credential_name(&row.organisation_id, &row.id);
        let caller = Authenticated {
            principal: Principal {
                organisation: format!("organisations/{}", row.organisation_id),
                role,
                subject: credential.clone(),
                areas,
            },
            credential,
            credential_id: row.id.clone(),
            rate_limit_per_minute: u32::try_from(row.rate_limit_per_minute)
                .ok()
                .filter(|limit| *limit > 0)
                .unwrap_or(self.default_rate_limit),
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_SWEEP_AT {
            let ttl = self.ttl;
            cache.retain(|_, entry| entry.checked.elapsed() < ttl);
        }
        cache.insert(
            digest,
            CacheEntry {
                caller: caller.clone(),
                checked: Instant::now(),
                expire_time: row.expire_time,
                secret_valid_until,
            },
        );
        Ok(caller)
    }

    /// Drops every cached secret of a credential, so a rotation or revocation on
    /// this gateway takes effect on the next call.
    pub fn invalidate(&self, credential_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, entry| entry.caller.credential_id != credential_id);
    }
}
