//! A service's instances as the gateway sees them: round-robin over the ones
//! believed up, and a failed connection takes an instance out of rotation for a
//! while. A request that never reached an instance is safely sent to the next;
//! request bodies are buffered for that only when they are a single message
//! (client-streaming calls cannot be replayed and fail UNAVAILABLE instead).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use platform::principal::{PRINCIPAL_HEADER, SIGNATURE_HEADER};
use platform::{HandoffKey, Principal};
use tonic::body::Body;
use tower::ServiceExt as _;

/// How long an instance that refused a connection sits out before it is tried again.
const SIT_OUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Instance {
    address: String,
    channel: tonic::transport::Channel,
    down_until: Mutex<Option<Instant>>,
}

impl Instance {
    fn is_up(&self, now: Instant) -> bool {
        self.down_until.lock().map_or(true, |until| until.is_none_or(|until| until <= now))
    }

    fn mark_down(&self, now: Instant) {
        if let Ok(mut until) = self.down_until.lock() {
            *until = Some(now + SIT_OUT);
        }
    }
}

/// Signatures are reused for this long; they are valid for two minutes.
const SIGNATURE_REUSE: Duration = Duration::from_secs(60);
/// Cached signatures kept before the cache is cleared.
const SIGNATURE_CACHE_MAX: usize = 10_000;

/// A signed principal ready to send, and when it was signed.
#[derive(Debug, Clone)]
struct Signed {
    principal: Principal,
    payload: http::HeaderValue,
    signature: http::HeaderValue,
    at: Instant,
}

/// Every instance of one service.
#[derive(Debug)]
pub struct Upstream {
    instances: Vec<Instance>,
    next: AtomicUsize,
    key: HandoffKey,
    /// (subject, method) -> a recent signature: signing serialises and MACs the
    /// principal, which is wasted work on every call of a busy credential.
    signatures: Mutex<HashMap<(String, String), Signed>>,
}

#[derive(Debug, thiserror::Error)]
#[error("no instance of the service could be reached")]
pub struct Unreachable;

impl Upstream {
    /// Lazily connected channels to `addresses` (`http://host:port`).
    pub fn new(addresses: &[String], key: HandoffKey) -> Result<Self, tonic::transport::Error> {
        Self::with_tls(addresses, key, None)
    }

    /// As [`Upstream::new`]; `https://` addresses are reached over TLS with
    /// `tls` (which names the CA their certificates must chain to; the host of
    /// the address is the name checked). `http://` addresses ignore it.
    pub fn with_tls(
        addresses: &[String],
        key: HandoffKey,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Result<Self, tonic::transport::Error> {
        let instances = addresses
            .iter()
            .map(|address| {
                let mut endpoint = tonic::transport::Endpoint::from_shared(address.clone())?
                    .connect_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(30));
                if let Some(tls) = &tls
                    && address.starts_with("https://")
                {
                    endpoint = endpoint.tls_config(tls.clone())?;
                }
                let channel = endpoint.connect_lazy();
                Ok(Instance { address: address.clone(), channel, down_until: Mutex::new(None) })
            })
            .collect::<Result<Vec<_>, tonic::transport::Error>>()?;
        Ok(Self { instances, next: AtomicUsize::new(0), key, signatures: Mutex::new(HashMap::new()) })
    }

    /// Instances in the order to try them: those up first, round-robin.
    fn order(&self) -> Vec<&Instance> {
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.instances.len();
        let rotated = (0..count).map(|offset| &self.instances[(start + offset) % count]);
        let (up, down): (Vec<&Instance>, Vec<&Instance>) = rotated.partition(|instance| instance.is_up(now));
        up.into_iter().chain(down).collect()
    }

    /// Forwards `request` for `principal`, signing it for the service.
    pub async fn call(
        &self,
        request: http::Request<Body>,
        principal: &Principal,
        method: &str,
        replayable: bool,
    ) -> Result<http::Response<Body>, Unreachable> {
        let (mut parts, body) = request.into_parts();
        if let Some(signed) = self.signed(principal, method) {
            parts.headers.insert(PRINCIPAL_HEADER, signed.payload);
            parts.headers.insert(SIGNATURE_HEADER, signed.signature);
        }
        if !replayable {
            let instance = self.order().into_iter().next().ok_or(Unreachable)?;
            return self.send(instance, http::Request::from_parts(parts, body)).await.ok_or(Unreachable);
        }
        let bytes: Bytes = body.collect().await.map_err(|_| Unreachable)?.to_bytes();
        for instance in self.order() {
            let mut attempt = http::Request::new(Body::new(http_body_util::Full::new(bytes.clone())));
            *attempt.method_mut() = parts.method.clone();
            *attempt.uri_mut() = parts.uri.clone();
            *attempt.version_mut() = parts.version;
            *attempt.headers_mut() = parts.headers.clone();
            if let Some(response) = self.send(instance, attempt).await {
                return Ok(response);
            }
        }
        Err(Unreachable)
    }

    /// The principal signed for `method`, reusing a recent signature.
    fn signed(&self, principal: &Principal, method: &str) -> Option<Signed> {
        let now = Instant::now();
        let key = (principal.subject.clone(), method.to_owned());
        let mut cache = self.signatures.lock().ok()?;
        if let Some(signed) = cache.get(&key)
            && &signed.principal == principal
            && now.duration_since(signed.at) < SIGNATURE_REUSE
        {
            return Some(signed.clone());
        }
        let (payload, signature) = self.key.sign(principal, method);
        let signed = Signed {
            principal: principal.clone(),
            payload: payload.parse().ok()?,
            signature: signature.parse().ok()?,
            at: now,
        };
        if cache.len() >= SIGNATURE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, signed.clone());
        Some(signed)
    }

    async fn send(&self, instance: &Instance, request: http::Request<Body>) -> Option<http::Response<Body>> {
        match instance.channel.clone().oneshot(request).await {
            Ok(response) => Some(response),
            Err(err) => {
                tracing::warn!(address = %instance.address, error = %err, "instance unreachable; sitting it out");
                instance.mark_down(Instant::now());
                None
            }
        }
    }
}
