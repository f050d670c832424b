//! Authenticating bearer credentials without a database round trip or a slow
//! hash on the hot path, and without letting either be used to exhaust the
//! gateway.
//!
//! - Every instance keeps the unrevoked credentials in memory and re-reads them
//!   every `credential_refresh_secs`, so a revocation or rotation made through
//!   any gateway instance reaches every other one within that time (and this
//!   one at once). If the database cannot be read for three refreshes, the copy
//!   is no longer trusted and every call reads its credential afresh.
//! - A secret is checked against its Argon2id hash once; after that only the
//!   SHA-256 of the presented token is looked up, together with the hash it
//!   matched, so a rotated secret stops matching without a second slow check.
//! - Slow checks are few at a time (each Argon2id check holds 19 MiB for tens
//!   of milliseconds), and callers waiting for one re-look in the cache first,
//!   so a burst presenting one new secret costs one check, not one per call.
//! - Failed attempts are limited per peer address; once spent, a peer's
//!   unverified tokens are refused with RESOURCE_EXHAUSTED before any lookup,
//!   while its already-verified tokens keep working.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use persistence::StoreError;
use platform::{Principal, Role};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::domain::credentials::{CredentialState, PresentedToken, credential_name, state_at};
use crate::domain::rate_limit::RateLimiter;
use crate::store::{Store, credentials};

/// Verified secrets kept before those that no longer match are swept.
const VERIFIED_SWEEP_AT: usize = 10_000;
/// Refreshes that may fail in a row before the in-memory copy is distrusted.
const REFRESHES_TRUSTED: u32 = 3;

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
    #[error("too many failed sign-in attempts from this address")]
    TooManyFailures { retry_after: Duration },
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
            Self::TooManyFailures { .. } => "TOO_MANY_FAILED_ATTEMPTS",
            Self::Unavailable(_) => "CREDENTIALS_UNAVAILABLE",
        }
    }

    /// Whether this counts against the caller's address as a failed attempt.
    fn is_failed_attempt(&self) -> bool {
        matches!(self, Self::Invalid | Self::Revoked | Self::Expired)
    }
}

/// How the authenticator behaves.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How often the credentials are re-read.
    pub refresh: Duration,
    /// Calls a minute for credentials that set no limit of their own.
    pub default_rate_limit: u32,
    /// Failed attempts a minute allowed from one peer address.
    pub failed_attempts_per_minute: u32,
}

/// A credential as the edge uses it, derived once per read of its row.
#[derive(Debug)]
struct KnownCredential {
    caller: Authenticated,
    secret_hash: String,
    previous_secret_hash: Option<String>,
    previous_secret_expire_time: Option<DateTime<Utc>>,
    expire_time: Option<DateTime<Utc>>,
    revoke_time: Option<DateTime<Utc>>,
}

impl KnownCredential {
    /// `None` for a row whose role this build does not know.
    fn from_row(row: credentials::Model, default_rate_limit: u32) -> Option<Self> {
        let role = Role::parse(&row.role)?;
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
            credential_id: row.id,
            rate_limit_per_minute: u32::try_from(row.rate_limit_per_minute)
                .ok()
                .filter(|limit| *limit > 0)
                .unwrap_or(default_rate_limit),
        };
        Some(Self {
            caller,
            secret_hash: row.secret_hash,
            previous_secret_hash: row.previous_secret_hash,
            previous_secret_expire_time: row.previous_secret_expire_time,
            expire_time: row.expire_time,
            revoke_time: row.revoke_time,
        })
    }

    /// The rotated-out secret's hash while its grace period lasts.
    fn previous_hash_at(&self, now: DateTime<Utc>) -> Option<&str> {
        self.previous_secret_hash
            .as_deref()
            .filter(|_| self.previous_secret_expire_time.is_some_and(|until| until > now))
    }

    /// Whether a secret that matched `hash` is still this credential's secret.
    fn accepts(&self, hash: &str, now: DateTime<Utc>) -> bool {
        hash == self.secret_hash || self.previous_hash_at(now) == Some(hash)
    }

    /// The caller, for a secret verified before against `hash`.
    fn caller_for_verified(&self, hash: &str, now: DateTime<Utc>) -> Result<Authenticated, AuthError> {
        if self.accepts(hash, now) { Ok(self.caller.clone()) } else { Err(AuthError::Invalid) }
    }

    /// The hashes a presented secret may be checked against at `now`.
    fn candidate_hashes(&self, now: DateTime<Utc>) -> Vec<String> {
        std::iter::once(self.secret_hash.as_str())
            .chain(self.previous_hash_at(now))
            .map(str::to_owned)
            .collect()
    }
}

/// The credentials as last read in full.
#[derive(Debug, Default)]
struct Snapshot {
    by_id: HashMap<String, Arc<KnownCredential>>,
    /// When the last full read finished.
    refreshed: Option<Instant>,
    /// Bumped by every local change, so a read that began before the change is
    /// not installed over it.
    generation: u64,
}

/// A call's place in the queue to check one token: the token's lock, dropped
/// from the map when the last call holding it is done (or cancelled).
struct CheckingToken<'a> {
    auth: &'a Authenticator,
    digest: [u8; 32],
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> CheckingToken<'a> {
    fn new(auth: &'a Authenticator, digest: [u8; 32]) -> Self {
        let mut checking = auth.checking.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(checking.entry(digest).or_default());
        drop(checking);
        Self { auth, digest, lock }
    }
}

impl Drop for CheckingToken<'_> {
    fn drop(&mut self) {
        let mut checking = self.auth.checking.lock().unwrap_or_else(PoisonError::into_inner);
        // Held by the map and by this call only: nobody else is waiting.
        if Arc::strong_count(&self.lock) == 2 {
            checking.remove(&self.digest);
        }
    }
}

/// A presented token already checked: the credential and the hash it matched.
#[derive(Debug, Clone)]
struct Verified {
    credential_id: String,
    hash: String,
}

#[derive(Debug)]
pub struct Authenticator {
    store: Arc<Store>,
    settings: AuthSettings,
    snapshot: RwLock<Snapshot>,
    /// SHA-256 of a presented token -> what it was verified against.
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// Tokens being checked now, each with the lock its checkers queue on.
    checking: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    slow_checks: Semaphore,
    /// Argon2id checks run so far.
    hash_checks: AtomicU64,
    failures: RateLimiter,
}

impl Authenticator {
    /// An authenticator with nothing read yet; [`Authenticator::refresh`] or
    /// [`Authenticator::spawn_refresher`] fills it.
    pub fn new(store: Arc<Store>, settings: AuthSettings) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            store,
            settings,
            snapshot: RwLock::new(Snapshot::default()),
            verified: Mutex::new(HashMap::new()),
            checking: Mutex::new(HashMap::new()),
            slow_checks: Semaphore::new(parallelism),
            hash_checks: AtomicU64::new(0),
            failures: RateLimiter::default(),
        }
    }

    /// Re-reads the credentials every `refresh` until the authenticator is dropped.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let every = self.settings.refresh;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(auth) = weak.upgrade() else { break };
                if let Err(err) = auth.refresh().await {
                    tracing::warn!(error = %err, "cannot re-read credentials; keeping the copy from before");
                }
            }
        })
    }

    /// Reads every unrevoked credential and replaces the in-memory copy.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let generation = self.read_snapshot().generation;
        let rows = self.store.unrevoked_credentials().await?;
        let by_id: HashMap<String, Arc<KnownCredential>> = rows
            .into_iter()
            .filter_map(|row| KnownCredential::from_row(row, self.settings.default_rate_limit))
            .map(|known| (known.caller.credential_id.clone(), Arc::new(known)))
            .collect();
        {
            let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
            if snapshot.generation != generation {
                // Changed here while reading: the next refresh will see the change.
                return Ok(());
            }
            snapshot.by_id = by_id;
            snapshot.refreshed = Some(Instant::now());
        }
        self.sweep_verified(true);
        Ok(())
    }

    /// Who the `authorization` header names, or why not. `peer` is the caller's
    /// address, which failed attempts count against.
    pub async fn authenticate(
        &self,
        header: Option<&http::HeaderValue>,
        peer: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        let header = header.ok_or(AuthError::Missing)?.to_str().map_err(|_| AuthError::Malformed)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?
            .trim();
        let presented = PresentedToken::parse(token).ok_or(AuthError::Malformed)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let peer = peer.map(|address| address.to_string());
        let result = self.recognise(&presented, &digest, peer.as_deref()).await;
        if let (Err(err), Some(peer)) = (&result, &peer)
            && err.is_failed_attempt()
        {
            // Counting only; the refusal itself comes before the next lookup.
            let _ = self.failures.check(peer, self.settings.failed_attempts_per_minute, Instant::now());
        }
        result
    }

    async fn recognise(
        &self,
        presented: &PresentedToken,
        digest: &[u8; 32],
        peer: Option<&str>,
    ) -> Result<Authenticated, AuthError> {
        let id = presented.id.as_str();
        let verified_hash = self.verified_hash(digest, id);
        if verified_hash.is_none()
            && let Some(peer) = peer
        {
            self.failures
                .peek(peer, self.settings.failed_attempts_per_minute, Instant::now())
                .map_err(|retry_after| AuthError::TooManyFailures { retry_after })?;
        }
        let known = self.known(id).await?.ok_or(AuthError::Invalid)?;
        let now = Utc::now();
        match state_at(known.revoke_time, known.expire_time, now) {
            CredentialState::Revoked => return Err(AuthError::Revoked),
            CredentialState::Expired => return Err(AuthError::Expired),
            CredentialState::Active => {}
        }
        if let Some(hash) = verified_hash {
            // Verified before: still good only while that hash is the secret's.
            return known.caller_for_verified(&hash, now);
        }

        // One check per token at a time; whoever waited finds its result.
        let checking = CheckingToken::new(self, *digest);
        let _held = checking.lock.lock().await;
        if let Some(hash) = self.verified_hash(digest, id) {
            return known.caller_for_verified(&hash, now);
        }
        let Ok(_permit) = self.slow_checks.acquire().await else { return Err(AuthError::Invalid) };
        self.hash_checks.fetch_add(1, Ordering::Relaxed);
        let candidates = known.candidate_hashes(now);
        let secret = presented.clone();
        // Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let matched =
            tokio::task::spawn_blocking(move || candidates.into_iter().find(|hash| secret.matches(hash)))
                .await
                .map_err(|_| AuthError::Invalid)?
                .ok_or(AuthError::Invalid)?;
        self.remember(*digest, Verified { credential_id: id.to_owned(), hash: matched });
        Ok(known.caller.clone())
    }

    /// The credential `id`, from memory while the copy is trusted, else read now.
    async fn known(&self, id: &str) -> Result<Option<Arc<KnownCredential>>, AuthError> {
        let generation = {
            let snapshot = self.read_snapshot();
            if self.trusts(&snapshot)
                && let Some(known) = snapshot.by_id.get(id)
            {
                return Ok(Some(Arc::clone(known)));
            }
            snapshot.generation
        };
        // Not in memory: issued since the last refresh, revoked, or never existed.
        let Some(row) = self.store.credential(id).await.map_err(AuthError::Unavailable)? else {
            return Ok(None);
        };
        let Some(known) = KnownCredential::from_row(row, self.settings.default_rate_limit).map(Arc::new)
        else {
            return Ok(None);
        };
        if known.revoke_time.is_none() {
            let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
            if snapshot.generation == generation {
                snapshot.by_id.insert(id.to_owned(), Arc::clone(&known));
            }
        }
        Ok(Some(known))
    }

    fn trusts(&self, snapshot: &Snapshot) -> bool {
        snapshot.refreshed.is_some_and(|at| at.elapsed() < self.settings.refresh * REFRESHES_TRUSTED)
    }

    fn read_snapshot(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn verified_hash(&self, digest: &[u8; 32], credential_id: &str) -> Option<String> {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified
            .get(digest)
            .filter(|entry| entry.credential_id == credential_id)
            .map(|entry| entry.hash.clone())
    }

    fn remember(&self, digest: [u8; 32], entry: Verified) {
        let full = self.verified.lock().unwrap_or_else(PoisonError::into_inner).len() >= VERIFIED_SWEEP_AT;
        if full {
            self.sweep_verified(false);
        }
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).insert(digest, entry);
    }

    /// Forgets verified secrets that their credential no longer accepts; when
    /// `only_changed` is false and that frees nothing, forgets them all.
    fn sweep_verified(&self, only_changed: bool) {
        let snapshot = self.read_snapshot();
        let now = Utc::now();
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.retain(|_, entry| {
            snapshot.by_id.get(&entry.credential_id).is_some_and(|known| known.accepts(&entry.hash, now))
        });
        if !only_changed && verified.len() >= VERIFIED_SWEEP_AT {
            verified.clear();
        }
    }

    /// How many secrets have been checked against their slow hash.
    pub fn hash_checks(&self) -> u64 {
        self.hash_checks.load(Ordering::Relaxed)
    }

    /// Forgets a credential after it changed on this gateway (rotation,
    /// revocation), so the change takes effect on the next call.
    pub fn invalidate(&self, credential_id: &str) {
        let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        snapshot.by_id.remove(credential_id);
        snapshot.generation += 1;
        drop(snapshot);
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, entry| entry.credential_id != credential_id);
    }
}

#[cfg(test)]
mod tests {
    use platform::Role;

    use super::*;

    const LOOPBACK: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    async fn store(dir: &tempfile::TempDir) -> Arc<Store> {
        let settings = persistence::DatabaseSettings {
            url: format!("sqlite://{}", dir.path().join("gateway.db").display()),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        };
        let store = Store::new(persistence::connect(&settings, "gateway").await.unwrap());
        store.migrate().await.unwrap();
        Arc::new(store)
    }

    fn authenticator(store: &Arc<Store>) -> Arc<Authenticator> {
        let settings = AuthSettings {
            refresh: Duration::from_secs(60),
            default_rate_limit: 600,
            failed_attempts_per_minute: 60,
        };
        Arc::new(Authenticator::new(Arc::clone(store), settings))
    }

    /// A store holding one credential, and an authenticator that has read it.
    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<Store>,
        auth: Arc<Authenticator>,
        name: String,
        secret: String,
    }

    async fn fixture(organisation: &str, role: Role) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let (name, secret) = crate::bootstrap_credential(&store, organisation, role, "tests").await.unwrap();
        let auth = authenticator(&store);
        auth.refresh().await.unwrap();
        Fixture { _dir: dir, store, auth, name, secret }
    }

    fn bearer(secret: &str) -> http::HeaderValue {
        format!("Bearer {secret}").parse().unwrap()
    }

    #[tokio::test]
    async fn a_burst_presenting_one_new_secret_costs_one_slow_check() {
        let Fixture { _dir, auth, secret, .. } = fixture("council", Role::Operator).await;
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (auth, header) = (Arc::clone(&auth), bearer(&secret));
            calls.spawn(async move {
                auth.authenticate(Some(&header), LOOPBACK).await.map(|caller| caller.principal.role)
            });
        }
        while let Some(result) = calls.join_next().await {
            assert_eq!(result.unwrap().unwrap(), Role::Operator);
        }
        assert_eq!(auth.hash_checks(), 1);
    }

    #[tokio::test]
    async fn a_revocation_made_elsewhere_arrives_with_the_next_refresh() {
        let Fixture { _dir, store, auth: this, name, secret } =
            fixture("riverside", Role::PartnerIntegration).await;
        let other = authenticator(&store);
        let header = bearer(&secret);
        this.authenticate(Some(&header), LOOPBACK).await.unwrap();

        // Revoked through another gateway instance: this one still has its copy...
        let (_, id) = crate::domain::credentials::parse_credential_name(&name).unwrap();
        store.revoke_credential(id.as_str(), Utc::now()).await.unwrap();
        other.invalidate(id.as_str());
        assert!(
            other
                .authenticate(Some(&header), LOOPBACK)
                .await
                .is_err_and(|err| matches!(err, AuthError::Revoked))
        );
        this.authenticate(Some(&header), LOOPBACK).await.expect("until it refreshes");
        // ...until its next refresh.
        this.refresh().await.unwrap();
        let err = this.authenticate(Some(&header), LOOPBACK).await.unwrap_err();
        assert!(matches!(err, AuthError::Revoked), "{err:?}");
    }

    #[tokio::test]
    async fn failed_attempts_are_limited_per_address_without_locking_out_verified_callers() {
        let Fixture { _dir, auth, secret, .. } = fixture("riverside", Role::PartnerIntegration).await;
        auth.authenticate(Some(&bearer(&secret)), LOOPBACK).await.unwrap();

        // 60 a minute: a burst of ten, then one a second.
        let forged = bearer(&format!("{}{}", &secret[..37], "A".repeat(43)));
        for _ in 0..10 {
            let err = auth.authenticate(Some(&forged), LOOPBACK).await.unwrap_err();
            assert!(matches!(err, AuthError::Invalid), "{err:?}");
        }
        let err = auth.authenticate(Some(&forged), LOOPBACK).await.unwrap_err();
        let AuthError::TooManyFailures { retry_after } = err else { panic!("{err:?}") };
        assert!(retry_after <= Duration::from_secs(1));
        assert_eq!(auth.hash_checks(), 11, "refused attempts cost no slow check");

        auth.authenticate(Some(&bearer(&secret)), LOOPBACK).await.expect("a verified secret still works");
        let elsewhere = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7)));
        let err = auth.authenticate(Some(&forged), elsewhere).await.unwrap_err();
        assert!(matches!(err, AuthError::Invalid), "other addresses are unaffected: {err:?}");
    }
}
