//! Authenticating bearer credentials without a database round trip or a slow
//! hash on the hot path, and without letting either be used to exhaust the
//! gateway or to lock anybody else out.
//!
//! - Every instance keeps the unrevoked credentials in memory and re-reads them
//!   every `credential_refresh_secs`, so a revocation or rotation made through
//!   any gateway instance reaches every other one within that time (and this
//!   one at once). If the database cannot be read for three refreshes in a row,
//!   the copy is no longer trusted and every call reads its credential afresh.
//! - A token whose credential id is unknown, malformed or revoked is refused
//!   `CREDENTIALS_INVALID` without a slow check. Ids not in memory are looked up
//!   once and remembered as absent (bounded, for one refresh interval), so a
//!   flood of made-up ids costs at most one indexed read per id per interval.
//! - A secret is checked against its Argon2id hash once; after that only the
//!   SHA-256 of the presented token is looked up, together with the hash it
//!   matched, so a rotated secret stops matching without a second slow check.
//! - Slow checks are limited per credential id: each takes one of that
//!   credential's failed-check allowance *before* it runs (and gives it back
//!   when the secret matches), so guessing at one credential, however
//!   concurrently, cannot burn the CPU; once spent, that credential's
//!   unverified tokens are refused `RESOURCE_EXHAUSTED`, while tokens already
//!   verified keep working. Nothing is limited per address: behind a load
//!   balancer one sender's garbage would otherwise lock out every partner.
//! - A revoked or expired credential's status is told only to a caller whose
//!   secret verified; anyone else hears `CREDENTIALS_INVALID`, so the answer is
//!   no oracle for which credential ids exist.
//! - Slow checks are few at a time (each Argon2id check holds 19 MiB for tens
//!   of milliseconds), and callers waiting for one re-look in the cache first,
//!   so a burst presenting one new secret costs one check, not one per call.

use std::collections::HashMap;
use std::hash::Hash;
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
use crate::domain::records::Credential;
use crate::store::Store;

/// Verified secrets kept before those that no longer match are swept.
const VERIFIED_SWEEP_AT: usize = 10_000;
/// Ids remembered as absent (unknown or revoked) before the stale ones are swept.
const ABSENT_SWEEP_AT: usize = 10_000;
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
    #[error("too many failed attempts at this credential")]
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
}

/// How the authenticator behaves.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How often the credentials are re-read.
    pub refresh: Duration,
    /// Calls a minute for credentials that set no limit of their own.
    pub default_rate_limit: u32,
    /// Failed slow checks a minute allowed per credential id.
    pub failed_checks_per_minute: u32,
    /// Expiry and grace periods are checked against its `now`, failed checks
    /// counted by its `instant`.
    pub clock: platform::clock::SharedClock,
}

/// Why a stored credential cannot be used at all.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("its role {0:?} is not one this build knows")]
    Role(String),
    #[error("its areas cannot be read")]
    Areas,
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
    /// Refuses a row whose role this build does not know or whose area
    /// restriction cannot be read: unreadable areas must never turn into
    /// "no restriction" (fail closed).
    fn from_row(row: Credential, default_rate_limit: u32) -> Result<Self, Unusable> {
        let role = Role::parse(&row.role).ok_or_else(|| Unusable::Role(row.role.clone()))?;
        let areas: Option<Vec<String>> = match row.areas.as_deref() {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|_| Unusable::Areas)?),
        };
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
        Ok(Self {
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

    /// The caller, for a secret that verified against `hash`: only now may the
    /// credential's revocation or expiry be told.
    fn caller_for_verified(&self, hash: &str, now: DateTime<Utc>) -> Result<Authenticated, AuthError> {
        if !self.accepts(hash, now) {
            return Err(AuthError::Invalid);
        }
        match state_at(self.revoke_time, self.expire_time, now) {
            CredentialState::Revoked => Err(AuthError::Revoked),
            CredentialState::Expired => Err(AuthError::Expired),
            CredentialState::Active => Ok(self.caller.clone()),
        }
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

/// An id looked up and not found usable: unknown, unusable, or revoked (kept,
/// so a caller whose secret verified before can be told it is revoked).
#[derive(Debug)]
struct Absent {
    checked: Instant,
    revoked: Option<Arc<KnownCredential>>,
}

/// Locks by key, one queue per key, dropped with its last holder: how calls
/// presenting one token (or one unknown id) wait for the first one's answer.
#[derive(Debug)]
struct Turns<K: Hash + Eq + Clone> {
    queues: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K: Hash + Eq + Clone> Default for Turns<K> {
    fn default() -> Self {
        Self { queues: Mutex::new(HashMap::new()) }
    }
}

/// A call's place in one key's queue; leaving it removes the queue when
/// nobody else is in it (also when the call is cancelled).
struct Turn<'a, K: Hash + Eq + Clone> {
    turns: &'a Turns<K>,
    key: K,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a, K: Hash + Eq + Clone> Turn<'a, K> {
    fn new(turns: &'a Turns<K>, key: K) -> Self {
        let mut queues = turns.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(queues.entry(key.clone()).or_default());
        drop(queues);
        Self { turns, key, lock }
    }
}

impl<K: Hash + Eq + Clone> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        let mut queues = self.turns.queues.lock().unwrap_or_else(PoisonError::into_inner);
        // Held by the map and by this call only: nobody else is waiting.
        if Arc::strong_count(&self.lock) == 2 {
            queues.remove(&self.key);
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
    /// Ids not in the snapshot that were looked up and found unusable.
    absent: Mutex<HashMap<String, Absent>>,
    /// Ids being looked up now.
    looking_up: Turns<String>,
    /// SHA-256 of a presented token -> what it was verified against.
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// Tokens being checked now.
    checking: Turns<[u8; 32]>,
    slow_checks: Semaphore,
    /// Argon2id checks run so far.
    hash_checks: AtomicU64,
    /// Database reads of single credentials so far.
    lookups: AtomicU64,
    /// Failed slow checks, per credential id.
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
            absent: Mutex::new(HashMap::new()),
            looking_up: Turns::default(),
            verified: Mutex::new(HashMap::new()),
            checking: Turns::default(),
            slow_checks: Semaphore::new(parallelism),
            hash_checks: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
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
        let default_rate_limit = self.settings.default_rate_limit;
        let by_id: HashMap<String, Arc<KnownCredential>> = rows
            .into_iter()
            .filter_map(|row| {
                let id = row.id.clone();
                KnownCredential::from_row(row, default_rate_limit)
                    .inspect_err(|err| tracing::warn!(credential = %id, error = %err, "credential refused"))
                    .ok()
            })
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
        self.recognise(&presented, &digest).await
    }

    async fn recognise(
        &self,
        presented: &PresentedToken,
        digest: &[u8; 32],
    ) -> Result<Authenticated, AuthError> {
        let id = presented.id.as_str();
        let known = self.known(id).await?.ok_or(AuthError::Invalid)?;
        let now = self.settings.clock.now();
        if let Some(hash) = self.verified_hash(digest, id) {
            // Verified before: still good only while that hash is the secret's.
            return known.caller_for_verified(&hash, now);
        }
        if known.revoke_time.is_some() {
            // Never verified here, and never will be: not worth a slow check.
            return Err(AuthError::Invalid);
        }

        // One check per token at a time; whoever waited finds its result.
        let turn = Turn::new(&self.checking, *digest);
        let _held = turn.lock.lock().await;
        if let Some(hash) = self.verified_hash(digest, id) {
            return known.caller_for_verified(&hash, now);
        }
        // The attempt is counted before it runs, so no number of concurrent
        // guesses gets more checks than the allowance.
        self.failures
            .check(id, self.settings.failed_checks_per_minute, self.settings.clock.instant())
            .map_err(|retry_after| AuthError::TooManyFailures { retry_after })?;
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
        // Only failures are limited.
        self.failures.refund(id);
        self.remember(*digest, Verified { credential_id: id.to_owned(), hash: matched.clone() });
        known.caller_for_verified(&matched, now)
    }

    /// The credential `id` (revoked ones included), from memory while the copy
    /// is trusted, else read now; `None` when there is no usable credential.
    async fn known(&self, id: &str) -> Result<Option<Arc<KnownCredential>>, AuthError> {
        if let Some(known) = self.in_memory(id) {
            return Ok(Some(known));
        }
        if let Some(absent) = self.absent_now(id) {
            return Ok(absent);
        }
        // Calls presenting one id not in memory share one read.
        let turn = Turn::new(&self.looking_up, id.to_owned());
        let _held = turn.lock.lock().await;
        if let Some(known) = self.in_memory(id) {
            return Ok(Some(known));
        }
        if let Some(absent) = self.absent_now(id) {
            return Ok(absent);
        }
        let generation = self.read_snapshot().generation;
        // Not in memory: issued since the last refresh, revoked, or never existed.
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let row = self.store.credential(id).await.map_err(AuthError::Unavailable)?;
        let known = row.and_then(|row| {
            KnownCredential::from_row(row, self.settings.default_rate_limit)
                .inspect_err(|err| tracing::warn!(credential = %id, error = %err, "credential refused"))
                .ok()
                .map(Arc::new)
        });
        match &known {
            Some(known) if known.revoke_time.is_none() => {
                let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
                if snapshot.generation == generation {
                    snapshot.by_id.insert(id.to_owned(), Arc::clone(known));
                }
            }
            Some(_) | None => self.remember_absent(id, known.clone()),
        }
        Ok(known)
    }

    fn in_memory(&self, id: &str) -> Option<Arc<KnownCredential>> {
        let snapshot = self.read_snapshot();
        if self.trusts(&snapshot) { snapshot.by_id.get(id).map(Arc::clone) } else { None }
    }

    /// What a recent lookup found for `id`, if it found nothing usable.
    fn absent_now(&self, id: &str) -> Option<Option<Arc<KnownCredential>>> {
        let absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
        absent
            .get(id)
            .filter(|entry| entry.checked.elapsed() < self.settings.refresh)
            .map(|entry| entry.revoked.clone())
    }

    fn remember_absent(&self, id: &str, revoked: Option<Arc<KnownCredential>>) {
        let mut absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
        if absent.len() >= ABSENT_SWEEP_AT {
            let fresh_for = self.settings.refresh;
            absent.retain(|_, entry| entry.checked.elapsed() < fresh_for);
            if absent.len() >= ABSENT_SWEEP_AT {
                // A flood of fresh made-up ids: forgetting them costs a re-read each, no more.
                absent.clear();
            }
        }
        absent.insert(id.to_owned(), Absent { checked: Instant::now(), revoked });
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

    /// Forgets verified secrets that their credential no longer accepts (those
    /// of credentials not in memory, revoked ones among them, are kept so their
    /// holders can be told); when `only_changed` is false and that leaves the
    /// map full, forgets them all.
    fn sweep_verified(&self, only_changed: bool) {
        let snapshot = self.read_snapshot();
        let now = self.settings.clock.now();
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.retain(|_, entry| {
            snapshot.by_id.get(&entry.credential_id).is_none_or(|known| known.accepts(&entry.hash, now))
        });
        if !only_changed && verified.len() >= VERIFIED_SWEEP_AT {
            verified.clear();
        }
    }

    /// How many secrets have been checked against their slow hash.
    pub fn hash_checks(&self) -> u64 {
        self.hash_checks.load(Ordering::Relaxed)
    }

    /// How many single credentials have been read from the database.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Forgets a credential after it changed on this gateway (rotation,
    /// revocation), so the change takes effect on the next call. Secrets
    /// verified before stay known: a rotated-out one no longer matches its
    /// credential's hashes, and a revoked one is told it is revoked.
    pub fn invalidate(&self, credential_id: &str) {
        let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        snapshot.by_id.remove(credential_id);
        snapshot.generation += 1;
        drop(snapshot);
        self.absent.lock().unwrap_or_else(PoisonError::into_inner).remove(credential_id);
    }
}

#[cfg(test)]
mod tests {
    use platform::Role;

    use super::*;

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
            failed_checks_per_minute: 60,
            clock: platform::clock::system(),
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

    /// The credential's secret with its random part replaced.
    fn forged(secret: &str, fill: char) -> http::HeaderValue {
        bearer(&format!("{}{}", &secret[..37], fill.to_string().repeat(43)))
    }

    fn random_id_token(index: usize) -> http::HeaderValue {
        bearer(&format!("inv_{index:032x}_{}", "A".repeat(43)))
    }

    #[tokio::test]
    async fn a_burst_presenting_one_new_secret_costs_one_slow_check() {
        let Fixture { _dir, auth, secret, .. } = fixture("council", Role::Operator).await;
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (auth, header) = (Arc::clone(&auth), bearer(&secret));
            calls.spawn(
                async move { auth.authenticate(Some(&header)).await.map(|caller| caller.principal.role) },
            );
        }
        while let Some(result) = calls.join_next().await {
            assert_eq!(result.unwrap().unwrap(), Role::Operator);
        }
        assert_eq!(auth.hash_checks(), 1);
    }

    #[tokio::test]
    async fn revocation_is_told_only_to_a_secret_that_verified() {
        let Fixture { _dir, store, auth: this, name, secret } =
            fixture("riverside", Role::PartnerIntegration).await;
        let other = authenticator(&store);
        let header = bearer(&secret);
        this.authenticate(Some(&header)).await.unwrap();

        // Revoked through another gateway instance: this one still has its copy...
        let (_, id) = crate::domain::credentials::parse_credential_name(&name).unwrap();
        store.revoke_credential(id.as_str(), Utc::now()).await.unwrap();
        other.invalidate(id.as_str());
        // ...the other never verified the secret, so it says no more than "invalid",
        // and spends no slow check on a revoked credential.
        let err = other.authenticate(Some(&header)).await.unwrap_err();
        assert!(matches!(err, AuthError::Invalid), "{err:?}");
        assert_eq!(other.hash_checks(), 0);
        this.authenticate(Some(&header)).await.expect("until it refreshes");
        // After its next refresh this one, which verified the secret, tells its holder.
        this.refresh().await.unwrap();
        let err = this.authenticate(Some(&header)).await.unwrap_err();
        assert!(matches!(err, AuthError::Revoked), "{err:?}");
        let err = this.authenticate(Some(&forged(&secret, 'A'))).await.unwrap_err();
        assert!(matches!(err, AuthError::Invalid), "a wrong secret learns nothing: {err:?}");
    }

    #[tokio::test]
    async fn slow_checks_are_limited_per_credential_without_locking_out_anyone_else() {
        let Fixture { _dir, store, auth, secret, .. } = fixture("riverside", Role::PartnerIntegration).await;
        auth.authenticate(Some(&bearer(&secret))).await.unwrap();
        let checks_before = auth.hash_checks();

        // 60 failures a minute: a burst of ten, then one a second; however
        // concurrent, no guess gets past the allowance.
        let mut guesses = tokio::task::JoinSet::new();
        for index in 0..40 {
            // Forty different wrong secrets for one credential id.
            let header = bearer(&format!("{}{}{index:02}", &secret[..37], "A".repeat(41)));
            let auth = Arc::clone(&auth);
            guesses.spawn(async move { auth.authenticate(Some(&header)).await.unwrap_err() });
        }
        let mut limited = 0;
        while let Some(err) = guesses.join_next().await {
            match err.unwrap() {
                AuthError::Invalid => {}
                AuthError::TooManyFailures { retry_after } => {
                    assert!(retry_after <= Duration::from_secs(1));
                    limited += 1;
                }
                other @ (AuthError::Missing
                | AuthError::Malformed
                | AuthError::Revoked
                | AuthError::Expired
                | AuthError::Unavailable(_)) => panic!("{other:?}"),
            }
        }
        assert_eq!(auth.hash_checks() - checks_before, 10, "the allowance, checked and counted at once");
        assert_eq!(limited, 30);

        auth.authenticate(Some(&bearer(&secret))).await.expect("a verified secret still works");
        // Another credential, new since the last refresh and presented by the same
        // sender, is served: nothing counts against an address.
        let (_, other) = crate::bootstrap_credential(&store, "riverside", Role::PartnerIntegration, "other")
            .await
            .unwrap();
        for index in 0..100 {
            let err = auth.authenticate(Some(&random_id_token(index))).await.unwrap_err();
            assert!(matches!(err, AuthError::Invalid), "{err:?}");
        }
        auth.authenticate(Some(&bearer(&other))).await.expect("a new credential is served");
    }

    #[tokio::test]
    async fn unknown_ids_cost_no_slow_check_and_one_lookup_per_refresh() {
        let Fixture { _dir, auth, .. } = fixture("riverside", Role::PartnerIntegration).await;
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let auth = Arc::clone(&auth);
            calls.spawn(async move { auth.authenticate(Some(&random_id_token(7))).await.unwrap_err() });
        }
        while let Some(err) = calls.join_next().await {
            assert!(matches!(err.unwrap(), AuthError::Invalid));
        }
        assert_eq!(auth.hash_checks(), 0);
        assert_eq!(auth.lookups(), 1, "one read for one unknown id");
        for index in 0..(ABSENT_SWEEP_AT + 5) {
            let _ = auth.authenticate(Some(&random_id_token(1000 + index))).await;
        }
        assert!(auth.absent.lock().unwrap().len() <= ABSENT_SWEEP_AT, "memory stays bounded");
    }

    #[tokio::test]
    async fn the_offline_tool_issues_only_what_the_organisation_kind_allows() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let landlord = crate::domain::records::Organisation {
            id: "meadow-ha".into(),
            display_name: "Meadow".into(),
            kind: "housing-association".into(),
            create_time: Utc::now(),
        };
        store.create_organisation(landlord).await.unwrap();
        let err =
            crate::bootstrap_credential(&store, "meadow-ha", Role::Operator, "tests").await.unwrap_err();
        assert!(matches!(err, crate::GatewayError::RoleNotAllowed { .. }), "{err:?}");
        crate::bootstrap_credential(&store, "meadow-ha", Role::PartnerIntegration, "tests").await.unwrap();
        // A new organisation is made a council, which may hold any role.
        crate::bootstrap_credential(&store, "council", Role::Operator, "tests").await.unwrap();
    }

    #[test]
    fn unreadable_areas_are_refused_not_unrestricted() {
        let row = |areas: Option<&str>| Credential {
            id: "0".repeat(32),
            organisation_id: "council".into(),
            display_name: String::new(),
            role: "NEIGHBOURHOOD_OFFICER".into(),
            areas: areas.map(str::to_owned),
            rate_limit_per_minute: 0,
            expire_time: None,
            secret_hash: String::new(),
            previous_secret_hash: None,
            previous_secret_expire_time: None,
            rotate_time: None,
            revoke_time: None,
            create_time: Utc::now(),
        };
        assert!(matches!(KnownCredential::from_row(row(Some("east")), 1), Err(Unusable::Areas)));
        assert!(matches!(KnownCredential::from_row(row(Some("{\"a\":1}")), 1), Err(Unusable::Areas)));
        let east = KnownCredential::from_row(row(Some("[\"east\"]")), 1).unwrap();
        assert_eq!(east.caller.principal.areas, Some(vec!["east".to_owned()]));
        assert_eq!(KnownCredential::from_row(row(None), 1).unwrap().caller.principal.areas, None);
    }
}
