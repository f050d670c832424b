//! Who is calling: organisation, role, optional area restriction, and how that
//! knowledge travels from the gateway to the services.
//!
//! A service never authenticates anybody itself: the gateway does, and hands the
//! resulting [`Principal`] over. In all-in-one mode the gateway calls the services
//! in-process and puts the principal in the request's extensions, which nothing on
//! a network can forge. In distributed mode it sends the principal in request
//! metadata with an HMAC signature over the principal, the method, an expiry and
//! a nonce drawn for that one call; each service verifies it with the shared
//! secret, remembers the nonce until the expiry, and refuses anything else, so a
//! header captured from one forwarded call cannot be replayed for another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use persistence::Actor;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tower::{Layer, Service};

use crate::ApiError;

/// The signed principal, set by the gateway in distributed mode.
pub const PRINCIPAL_HEADER: &str = "x-involve-principal";
/// Its signature.
pub const SIGNATURE_HEADER: &str = "x-involve-principal-signature";
/// Response metadata a service sets to name the resource a call touched, for the
/// gateway's audit of the call.
pub const RESOURCE_HEADER: &str = "x-involve-resource";
/// Response metadata a service sets when a call read or wrote special-category data.
pub const SPECIAL_CATEGORY_HEADER: &str = "x-involve-special-category";
/// Why a caller says it is calling; recorded in the audit log (see [`crate::purpose`]).
pub use crate::purpose::PURPOSE_HEADER;
/// How long a signed principal stays valid: long enough for clock skew between
/// hosts, short enough that a captured one is soon useless.
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(120);

pub use involve_core::Role;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `organisations/{id}`.
    pub organisation: String,
    pub role: Role,
    /// The credential or person; recorded in the audit log.
    pub subject: String,
    /// When set, only these area codes.
    pub areas: Option<Vec<String>>,
}

type HmacSha256 = Hmac<Sha256>;

/// The secret the gateway and the services of a distributed deployment share:
/// the one principals are signed with, and any others also accepted when
/// verifying, so the secret is rotated without a moment in which one process
/// refuses another's signatures (see [`HandoffKey::accepting`]).
#[derive(Clone)]
pub struct HandoffKey {
    signing: Arc<[u8]>,
    also_accepted: Arc<[Arc<[u8]>]>,
}

impl std::fmt::Debug for HandoffKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandoffKey(..)")
    }
}

/// A principal serialised once, to be signed for many calls cheaply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedPrincipal(String);

/// A principal whose signature verified, with what binds it to one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPrincipal {
    pub principal: Principal,
    /// Drawn by the gateway for this call alone.
    pub nonce: String,
    /// Unix seconds after which the signature is refused.
    pub expires: u64,
}

/// A per-call nonce: a prefix drawn once per process and a counter, so two
/// calls (from any gateway) never share one and drawing it costs no syscall.
fn next_nonce() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut random = [0_u8; 12];
        if getrandom::fill(&mut random).is_err() {
            // No random source: the clock still keeps processes apart.
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos());
            random.copy_from_slice(&nanos.to_le_bytes()[..12]);
        }
        URL_SAFE_NO_PAD.encode(random)
    });
    format!("{prefix}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl HandoffKey {
    pub fn from_secret(secret: &str) -> Self {
        Self { signing: Arc::from(secret.as_bytes()), also_accepted: Arc::from([]) }
    }

    /// This key, verifying signatures made with any of `secrets` too (it still
    /// signs with its own). A rotation first adds the new secret here on every
    /// process, then signs with it and keeps the old one here until signatures
    /// made with it have expired, then drops it.
    #[must_use]
    pub fn accepting<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        self.also_accepted = secrets.into_iter().map(|secret| Arc::from(secret.as_bytes())).collect();
        self
    }

    fn mac(&self, method: &str, payload: &str) -> HmacSha256 {
        Self::mac_with(&self.signing, method, payload)
    }

    fn mac_with(secret: &[u8], method: &str, payload: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(method.as_bytes());
        mac.update(b"\n");
        mac.update(payload.as_bytes());
        mac
    }

    /// Serialises `principal` once for [`HandoffKey::sign_prepared`].
    pub fn prepare(&self, principal: &Principal) -> PreparedPrincipal {
        PreparedPrincipal(URL_SAFE_NO_PAD.encode(serde_json::to_vec(principal).unwrap_or_default()))
    }

    /// The two header values that carry `principal` on one call to `method`
    /// (the request path without its leading slash).
    pub fn sign(&self, principal: &Principal, method: &str) -> (String, String) {
        self.sign_prepared(&self.prepare(principal), method)
    }

    /// As [`HandoffKey::sign`], for a principal serialised before: a fresh
    /// nonce and expiry, and one MAC.
    pub fn sign_prepared(&self, principal: &PreparedPrincipal, method: &str) -> (String, String) {
        let expires = unix_now().saturating_add(SIGNATURE_LIFETIME.as_secs());
        let payload = format!("{}.{expires}.{}", principal.0, next_nonce());
        let signature = URL_SAFE_NO_PAD.encode(self.mac(method, &payload).finalize().into_bytes());
        (payload, signature)
    }

    /// The principal the headers carry, if they were signed with this key for this
    /// method and have not expired. Whether the nonce was seen before is the
    /// caller's to check ([`PrincipalLayer`] does).
    pub fn verify(
        &self,
        payload: &str,
        signature: &str,
        method: &str,
    ) -> Result<VerifiedPrincipal, &'static str> {
        let signature =
            URL_SAFE_NO_PAD.decode(signature).map_err(|_| "the principal signature is malformed")?;
        let signed_with_a_known_secret = std::iter::once(&self.signing)
            .chain(self.also_accepted.iter())
            .any(|secret| Self::mac_with(secret, method, payload).verify_slice(&signature).is_ok());
        if !signed_with_a_known_secret {
            return Err("the principal signature does not match");
        }
        let mut parts = payload.splitn(3, '.');
        let (Some(encoded), Some(expires), Some(nonce)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("the signed principal is malformed");
        };
        let expires: u64 = expires.parse().map_err(|_| "the signed principal is malformed")?;
        let body = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| "the signed principal is malformed")?;
        let principal: Principal =
            serde_json::from_slice(&body).map_err(|_| "the signed principal is malformed")?;
        if expires < unix_now() {
            return Err("the signed principal has expired");
        }
        if nonce.is_empty() {
            return Err("the signed principal is malformed");
        }
        Ok(VerifiedPrincipal { principal, nonce: nonce.to_owned(), expires })
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// Nonces seen, each until its signature expires: a header presented twice is
/// refused the second time.
#[derive(Debug)]
struct ReplayCache {
    seen: Mutex<ReplayEntries>,
}

#[derive(Debug)]
struct ReplayEntries {
    expires_by_nonce: HashMap<String, u64>,
    /// Size at which expired nonces are next swept (doubling, so sweeps cost
    /// O(1) a call on average).
    sweep_at: usize,
}

/// Nonces held before expired ones are first swept.
const REPLAY_SWEEP_MIN: usize = 4_096;
/// Unexpired nonces held at most (two minutes of about eight thousand calls a
/// second); past it calls are refused rather than memory grown.
const REPLAY_MAX: usize = 1_000_000;

impl ReplayCache {
    fn new() -> Self {
        Self {
            seen: Mutex::new(ReplayEntries { expires_by_nonce: HashMap::new(), sweep_at: REPLAY_SWEEP_MIN }),
        }
    }

    /// Remembers `nonce`; `Err` with a reason and code when it was seen before
    /// or there is no room to remember it.
    fn admit(&self, nonce: &str, expires: u64) -> Result<(), PrincipalRejected> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.expires_by_nonce.contains_key(nonce) {
            return Err(PrincipalRejected {
                reason: "PRINCIPAL_REPLAYED",
                message: "this signed principal was used before: each is good for one call",
            });
        }
        if seen.expires_by_nonce.len() >= seen.sweep_at {
            let now = unix_now();
            seen.expires_by_nonce.retain(|_, expires| *expires >= now);
            seen.sweep_at = (seen.expires_by_nonce.len() * 2).max(REPLAY_SWEEP_MIN);
        }
        if seen.expires_by_nonce.len() >= REPLAY_MAX {
            return Err(PrincipalRejected {
                reason: "PRINCIPAL_MISSING",
                message: "too many signed principals to remember: try again shortly",
            });
        }
        seen.expires_by_nonce.insert(nonce.to_owned(), expires);
        Ok(())
    }
}

/// Where a service takes its callers from.
#[derive(Clone, Debug)]
pub enum PrincipalSource {
    /// All-in-one: the in-process gateway places the principal in the request's
    /// extensions. Requests from a network cannot carry extensions.
    InProcess,
    /// Distributed: only principals signed with this key are accepted.
    Signed(HandoffKey),
}

/// The RPC a request calls (`involve.profiles.v1.CustomerProfiles/GetCustomer`),
/// taken from its path by [`PrincipalLayer`]: servers get no `GrpcMethod`.
#[derive(Clone, Debug)]
struct CalledMethod(String);

/// Why a request has no principal, left in its extensions by [`PrincipalLayer`].
#[derive(Clone, Copy, Debug)]
struct PrincipalRejected {
    reason: &'static str,
    message: &'static str,
}

/// Establishes each request's [`Principal`] from its [`PrincipalSource`].
#[derive(Clone, Debug)]
pub struct PrincipalLayer {
    source: PrincipalSource,
    /// Shared by every service this layer builds (every connection).
    replays: Arc<ReplayCache>,
}

impl PrincipalLayer {
    pub fn new(source: PrincipalSource) -> Self {
        Self { source, replays: Arc::new(ReplayCache::new()) }
    }
}

impl<S> Layer<S> for PrincipalLayer {
    type Service = PrincipalService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PrincipalService { inner, source: self.source.clone(), replays: Arc::clone(&self.replays) }
    }
}

#[derive(Clone, Debug)]
pub struct PrincipalService<S> {
    inner: S,
    source: PrincipalSource,
    replays: Arc<ReplayCache>,
}

impl<S, B> Service<http::Request<B>> for PrincipalService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        if let PrincipalSource::Signed(key) = &self.source {
            request.extensions_mut().remove::<Principal>();
            let header = |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok());
            let missing = |message| PrincipalRejected { reason: "PRINCIPAL_MISSING", message };
            let verified = match (header(PRINCIPAL_HEADER), header(SIGNATURE_HEADER)) {
                (Some(payload), Some(signature)) => key.verify(payload, signature, &method).map_err(missing),
                (None, _) | (_, None) => Err(missing("this service accepts calls only through the gateway")),
            };
            let admitted = verified.and_then(|verified| {
                self.replays.admit(&verified.nonce, verified.expires).map(|()| verified.principal)
            });
            match admitted {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                }
                Err(rejected) => {
                    request.extensions_mut().insert(rejected);
                }
            }
        }
        request.extensions_mut().insert(CalledMethod(method));
        self.inner.call(request)
    }
}

/// Everything a handler needs to know about the call besides its message.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    /// `involve.profiles.v1.CustomerProfiles/GetCustomer`.
    pub method: String,
    /// A code from [`crate::purpose::PURPOSES`], or [`crate::purpose::NOT_STATED`].
    pub purpose: &'static str,
}

impl RequestContext {
    /// The caller of `request`, or UNAUTHENTICATED; INVALID_ARGUMENT when the
    /// stated purpose is not a known code.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, ApiError> {
        let extensions = request.extensions();
        let principal = match extensions.get::<Principal>() {
            Some(principal) => principal.clone(),
            None => {
                let rejected = extensions.get::<PrincipalRejected>().copied().unwrap_or(PrincipalRejected {
                    reason: "PRINCIPAL_MISSING",
                    message: "this call needs an authenticated caller",
                });
                return Err(ApiError::Unauthenticated {
                    reason: rejected.reason,
                    message: rejected.message.to_owned(),
                });
            }
        };
        let method = extensions.get::<CalledMethod>().map(|method| method.0.clone()).unwrap_or_default();
        let stated = match request.metadata().get(PURPOSE_HEADER).map(|value| value.to_str()) {
            None => None,
            Some(Ok(text)) => Some(text),
            // Not ASCII: certainly not a code.
            Some(Err(_)) => Some("\u{fffd}"),
        };
        let purpose = crate::purpose::parse(stated).map_err(ApiError::invalid)?;
        Ok(Self { principal, method, purpose })
    }

    /// The caller as the audit log records them, with the trace of the span
    /// current where it is called: the call's, in the handler.
    pub fn actor(&self) -> Actor {
        Actor {
            organisation: self.principal.organisation.clone(),
            role: self.principal.role.as_str().to_owned(),
            subject: self.principal.subject.clone(),
            method: self.method.clone(),
            purpose: self.purpose.to_owned(),
            trace_id: crate::telemetry::current_trace_id(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            organisation: "organisations/riverside".into(),
            role: Role::NeighbourhoodOfficer,
            subject: "organisations/riverside/credentials/c1".into(),
            areas: Some(vec!["north".into()]),
        }
    }

    #[test]
    fn a_signed_principal_round_trips() {
        let key = HandoffKey::from_secret("shared");
        let (payload, signature) = key.sign(&principal(), "involve.profiles.v1.CustomerProfiles/GetCustomer");
        let verified = key.verify(&payload, &signature, "involve.profiles.v1.CustomerProfiles/GetCustomer");
        assert_eq!(verified.map(|verified| verified.principal), Ok(principal()));
    }

    #[test]
    fn signatures_bind_the_key_the_method_and_the_payload() {
        let key = HandoffKey::from_secret("shared");
        let (payload, signature) = key.sign(&principal(), "a/B");
        assert!(key.verify(&payload, &signature, "a/C").is_err(), "another method");
        assert!(HandoffKey::from_secret("other").verify(&payload, &signature, "a/B").is_err(), "another key");
        let (other_payload, _) = key.sign(&Principal { role: Role::Operator, ..principal() }, "a/B");
        assert!(key.verify(&other_payload, &signature, "a/B").is_err(), "a swapped payload");
        assert!(key.verify(&payload, "garbage", "a/B").is_err());
    }

    #[test]
    fn a_key_being_rotated_accepts_the_other_secret_and_signs_with_its_own() {
        let old = HandoffKey::from_secret("old-secret");
        let new = HandoffKey::from_secret("new-secret");
        let new_accepting_old = HandoffKey::from_secret("new-secret").accepting(["old-secret"]);
        let old_accepting_new = HandoffKey::from_secret("old-secret").accepting(["new-secret"]);
        let (payload, signature) = old.sign(&principal(), "a/B");
        assert!(new_accepting_old.verify(&payload, &signature, "a/B").is_ok(), "old signatures still verify");
        assert!(new.verify(&payload, &signature, "a/B").is_err(), "until the old secret is dropped");
        let (payload, signature) = new_accepting_old.sign(&principal(), "a/B");
        assert!(new.verify(&payload, &signature, "a/B").is_ok(), "it signs with its own secret");
        assert!(
            old_accepting_new.verify(&payload, &signature, "a/B").is_ok(),
            "and the first step accepts it"
        );
        assert!(old.verify(&payload, &signature, "a/B").is_err());
        let stranger = HandoffKey::from_secret("stranger").accepting(["another"]);
        let (payload, signature) = stranger.sign(&principal(), "a/B");
        assert!(new_accepting_old.verify(&payload, &signature, "a/B").is_err(), "no other secret verifies");
    }

    #[test]
    fn every_signature_carries_its_own_nonce() {
        let key = HandoffKey::from_secret("shared");
        let prepared = key.prepare(&principal());
        let (first, _) = key.sign_prepared(&prepared, "a/B");
        let (second, second_signature) = key.sign_prepared(&prepared, "a/B");
        assert_ne!(first, second);
        let verified = key.verify(&second, &second_signature, "a/B").unwrap();
        assert_eq!(verified.principal, principal());
        // A payload whose nonce is changed no longer matches its signature.
        let tampered = format!("{}x", second);
        assert!(key.verify(&tampered, &second_signature, "a/B").is_err());
    }

    #[tokio::test]
    async fn a_signed_principal_is_good_for_one_call() {
        use tower::ServiceExt as _;

        let key = HandoffKey::from_secret("shared");
        let layer = PrincipalLayer::new(PrincipalSource::Signed(key.clone()));
        let service = layer.layer(tower::service_fn(|request: http::Request<()>| async move {
            let request = tonic::Request::from_http(request);
            Ok::<_, std::convert::Infallible>(RequestContext::of(&request).map(|ctx| ctx.principal))
        }));
        let (payload, signature) = key.sign(&principal(), "a/B");
        let call = || {
            http::Request::builder()
                .uri("/a/B")
                .header(PRINCIPAL_HEADER, payload.as_str())
                .header(SIGNATURE_HEADER, signature.as_str())
                .body(())
                .unwrap()
        };
        assert_eq!(service.clone().oneshot(call()).await.unwrap().unwrap(), principal());
        let replayed = service.clone().oneshot(call()).await.unwrap().unwrap_err();
        assert!(
            matches!(replayed, ApiError::Unauthenticated { reason: "PRINCIPAL_REPLAYED", .. }),
            "{replayed:?}"
        );
        // Another layer (another process) shares nothing, but each call signs anew.
        let (payload, signature) = key.sign(&principal(), "a/B");
        let fresh = http::Request::builder()
            .uri("/a/B")
            .header(PRINCIPAL_HEADER, payload.as_str())
            .header(SIGNATURE_HEADER, signature.as_str())
            .body(())
            .unwrap();
        assert!(service.oneshot(fresh).await.unwrap().is_ok());
    }

    #[test]
    fn the_replay_cache_sweeps_expired_nonces() {
        let cache = ReplayCache::new();
        for index in 0..(REPLAY_SWEEP_MIN * 3) {
            // Already expired: swept as the map grows.
            cache.admit(&index.to_string(), 0).unwrap();
        }
        assert!(cache.seen.lock().unwrap().expires_by_nonce.len() <= REPLAY_SWEEP_MIN + 1);
    }
}
