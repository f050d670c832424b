//! A service's instances as a caller on another host sees them (the gateway's
//! edge, or a service calling a peer): round-robin over the ones believed up,
//! and a failed connection takes an instance out of rotation for a while.
//!
//! A call is sent to a second instance only when resending cannot do it twice:
//! when the first certainly never received it (the connection was refused), or
//! when its request carries a `request_id`, which makes the service answer a
//! repeat with the first answer. Anything else that failed after it may have
//! reached an instance answers `UNAVAILABLE`, so the client retries with its
//! own `request_id`. Only single-message requests are buffered for a resend,
//! and never more than `server.max_message_bytes` of one (client-streaming
//! calls cannot be resent).
//!
//! Each call is signed for itself: a fresh nonce and expiry over a principal
//! serialised once per credential, so a captured header is good for one call.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::http2_link::{Http2Link, whole_response};
use crate::principal::{PRINCIPAL_HEADER, PreparedPrincipal, SIGNATURE_HEADER};
use crate::{HandoffKey, Principal};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use tonic::body::Body;
use tower::ServiceExt as _;

/// How long an instance that refused a connection sits out before it is tried again.
const SIT_OUT: Duration = Duration::from_secs(5);
/// Serialised principals kept before the cache is cleared.
const PREPARED_CACHE_MAX: usize = 10_000;

#[derive(Debug)]
struct Instance {
    address: String,
    /// Streams, and every call to an `https://` instance.
    channel: tonic::transport::Channel,
    /// Single-message calls to an `http://` instance (see [`Http2Link`]).
    link: Option<Http2Link>,
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

/// Every instance of one service.
#[derive(Debug)]
pub struct Upstream {
    instances: Vec<Instance>,
    next: AtomicUsize,
    key: HandoffKey,
    /// Largest request buffered for a resend.
    max_message_bytes: usize,
    /// Subject -> its principal serialised: serialising on every call of a
    /// busy credential is wasted work; signing is one MAC.
    prepared: Mutex<HashMap<String, (Principal, PreparedPrincipal)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no instance of the service could be reached")]
    Unreachable,
    #[error("the call failed after it may have reached an instance")]
    MaybeReached,
    #[error("the request is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the caller's request ended in an error")]
    RequestFailed,
}

/// What a failed send says about the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection was refused: the instance never saw the call.
    NeverReached,
    /// Anything else: it may have seen it.
    MaybeReached,
}

/// Whether an error from a channel proves the call never left: only a refused
/// (or unroutable) connection does, found anywhere in the error's chain.
pub fn classify(err: &(dyn StdError + 'static)) -> Failure {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            ) {
                return Failure::NeverReached;
            }
        }
        current = err.source();
    }
    Failure::MaybeReached
}

/// Whether a buffered unary gRPC request (one length-prefixed frame) holds a
/// non-empty top-level string field `field`: the `request_id` that makes a
/// resend safe. Compressed or malformed frames count as holding none.
pub fn carries_request_id(frame: &[u8], field: u32) -> bool {
    let Some((&0, rest)) = frame.split_first() else { return false };
    let Some((length, message)) = rest.split_first_chunk::<4>() else { return false };
    let Ok(length) = usize::try_from(u32::from_be_bytes(*length)) else { return false };
    message.get(..length).is_some_and(|message| has_non_empty_field(message, field))
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A top-level protobuf wire-format scan: skip every field by its wire type
/// until `field` is found length-delimited and non-empty.
fn has_non_empty_field(mut message: &[u8], field: u32) -> bool {
    while !message.is_empty() {
        let Some(tag) = read_varint(&mut message) else { return false };
        let number = tag >> 3;
        let skip = match tag & 7 {
            0 => match read_varint(&mut message) {
                Some(_) => 0,
                None => return false,
            },
            1 => 8,
            2 => {
                let Some(length) = read_varint(&mut message).and_then(|len| usize::try_from(len).ok()) else {
                    return false;
                };
                if number == u64::from(field) {
                    return length > 0 && message.len() >= length;
                }
                length
            }
            5 => 4,
            // Groups (3, 4) are not in our contracts; anything else is malformed.
            _ => return false,
        };
        let Some(rest) = message.get(skip..) else { return false };
        message = rest;
    }
    false
}

impl Upstream {
    /// Lazily connected channels to `addresses` (`http://host:port`).
    pub fn new(
        addresses: &[String],
        key: HandoffKey,
        max_message_bytes: usize,
    ) -> Result<Self, tonic::transport::Error> {
        Self::with_tls(addresses, key, max_message_bytes, None)
    }

    /// As [`Upstream::new`]; `https://` addresses are reached over TLS with
    /// `tls` (which names the CA their certificates must chain to; the host of
    /// the address is the name checked). `http://` addresses ignore it.
    pub fn with_tls(
        addresses: &[String],
        key: HandoffKey,
        max_message_bytes: usize,
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
                let link = Http2Link::for_address(address);
                Ok(Instance { address: address.clone(), channel, link, down_until: Mutex::new(None) })
            })
            .collect::<Result<Vec<_>, tonic::transport::Error>>()?;
        Ok(Self {
            instances,
            next: AtomicUsize::new(0),
            key,
            max_message_bytes,
            prepared: Mutex::new(HashMap::new()),
        })
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

    /// Forwards `request` for `principal`, signed for this call. `request_id_field`
    /// is the field number of the method's top-level `request_id`, if it has one;
    /// `None` for `replayable` means a stream, sent once as it comes.
    pub async fn call(
        &self,
        request: http::Request<Body>,
        principal: &Principal,
        method: &str,
        replayable: bool,
        request_id_field: Option<u32>,
    ) -> Result<http::Response<Body>, UpstreamError> {
        let (mut parts, body) = request.into_parts();
        let (payload, signature) = self.key.sign_prepared(&self.prepared(principal), method);
        if let (Ok(payload), Ok(signature)) = (payload.parse(), signature.parse()) {
            parts.headers.insert(PRINCIPAL_HEADER, payload);
            parts.headers.insert(SIGNATURE_HEADER, signature);
        }
        if !replayable {
            let instance = self.order().into_iter().next().ok_or(UpstreamError::Unreachable)?;
            return self.send(instance, http::Request::from_parts(parts, body)).await.map_err(|failure| {
                match failure {
                    Failure::NeverReached => UpstreamError::Unreachable,
                    Failure::MaybeReached => UpstreamError::MaybeReached,
                }
            });
        }
        let bytes = self.buffer(body).await?;
        let resendable = request_id_field.is_some_and(|field| carries_request_id(&bytes, field));
        let mut outcome = UpstreamError::Unreachable;
        for instance in self.order() {
            let answer = match &instance.link {
                Some(link) => {
                    link.unary(&parts, bytes.clone(), self.frame_limit()).await.inspect_err(|failure| {
                        tracing::warn!(address = %instance.address, ?failure, "instance failed; sitting it out");
                        instance.mark_down(Instant::now());
                    })
                }
                None => {
                    let mut attempt = http::Request::new(Body::new(http_body_util::Full::new(bytes.clone())));
                    *attempt.method_mut() = parts.method.clone();
                    *attempt.uri_mut() = parts.uri.clone();
                    *attempt.version_mut() = parts.version;
                    *attempt.headers_mut() = parts.headers.clone();
                    match self.send(instance, attempt).await {
                        Ok(response) => self.read_whole(instance, response).await,
                        Err(failure) => Err(failure),
                    }
                }
            };
            match answer {
                Ok(response) => return Ok(response),
                Err(Failure::NeverReached) => {}
                Err(Failure::MaybeReached) if resendable => outcome = UpstreamError::MaybeReached,
                Err(Failure::MaybeReached) => return Err(UpstreamError::MaybeReached),
            }
        }
        Err(outcome)
    }

    /// The most bytes one message may take on the wire: `max_message_bytes`
    /// and its five-byte gRPC frame prefix.
    fn frame_limit(&self) -> usize {
        self.max_message_bytes.saturating_add(5)
    }

    /// The request's bytes, refused once they pass `max_message_bytes` plus
    /// the frame's five-byte prefix, before the rest is read.
    async fn buffer(&self, body: Body) -> Result<Bytes, UpstreamError> {
        match http_body_util::Limited::new(body, self.frame_limit()).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                Err(UpstreamError::TooLarge { limit: self.max_message_bytes })
            }
            Err(_) => Err(UpstreamError::RequestFailed),
        }
    }

    /// A single-message response read whole before it is passed on, so an
    /// instance that dies between its headers and the end of its body is a
    /// failure this call can resend, or answer `UNAVAILABLE`, instead of a
    /// stream broken in the caller's hands (`INTERNAL`, and no way to know
    /// whether to retry). Bounded as requests are: a service encodes no more.
    async fn read_whole(
        &self,
        instance: &Instance,
        response: http::Response<Body>,
    ) -> Result<http::Response<Body>, Failure> {
        let (parts, body) = response.into_parts();
        let collected = match http_body_util::Limited::new(body, self.frame_limit()).collect().await {
            Ok(collected) => collected,
            Err(err) => {
                tracing::warn!(address = %instance.address, error = %err, "instance failed mid-response; sitting it out");
                instance.mark_down(Instant::now());
                return Err(Failure::MaybeReached);
            }
        };
        let trailers = collected.trailers().cloned();
        Ok(whole_response(parts, collected.to_bytes(), trailers))
    }

    /// `principal` serialised, once per subject while it stays the same.
    fn prepared(&self, principal: &Principal) -> PreparedPrincipal {
        let Ok(mut cache) = self.prepared.lock() else { return self.key.prepare(principal) };
        if let Some((cached, prepared)) = cache.get(&principal.subject)
            && cached == principal
        {
            return prepared.clone();
        }
        let prepared = self.key.prepare(principal);
        if cache.len() >= PREPARED_CACHE_MAX {
            cache.clear();
        }
        cache.insert(principal.subject.clone(), (principal.clone(), prepared.clone()));
        prepared
    }

    async fn send(
        &self,
        instance: &Instance,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Failure> {
        match instance.channel.clone().oneshot(request).await {
            Ok(response) => Ok(response),
            Err(err) => {
                let failure = classify(&err);
                tracing::warn!(address = %instance.address, error = %err, ?failure, "instance failed; sitting it out");
                instance.mark_down(Instant::now());
                Err(failure)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(message);
        framed
    }

    #[test]
    fn a_request_id_is_found_among_other_fields() {
        use contracts::involve::profiles::v1 as pb;
        use prost::Message as _;

        let with = pb::CreateCustomerRequest {
            customer: Some(pb::Customer { given_name: "A".into(), ..Default::default() }),
            request_id: "7f0c0a52-2b1e-4a39-9e0b-000000000001".into(),
            ..Default::default()
        };
        assert!(carries_request_id(&frame(&with.encode_to_vec()), 2));
        let without = pb::CreateCustomerRequest { request_id: String::new(), ..with };
        assert!(!carries_request_id(&frame(&without.encode_to_vec()), 2));
        // Field 2 nested inside the customer does not count.
        assert!(!carries_request_id(&frame(&without.encode_to_vec()), 3));
        // Every wire type is skipped: varint 1, fixed64 3, fixed32 4, then field 2.
        let mixed = [0x08, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4, 0x12, 1, b'x'];
        assert!(carries_request_id(&frame(&mixed), 2));
    }

    #[test]
    fn malformed_frames_carry_no_request_id() {
        let good = [0x12, 3, b'a', b'b', b'c'];
        for bad in [
            Vec::new(),
            vec![0, 0, 0],
            // Compressed: cannot be read without decompressing.
            {
                let mut compressed = frame(&good);
                compressed[0] = 1;
                compressed
            },
            // The frame says more bytes than there are.
            {
                let mut short = frame(&good);
                short[4] = 99;
                short
            },
            // A length running past the end.
            frame(&[0x12, 9, b'a']),
            // A varint that never ends.
            frame(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            // A group, and an undefined wire type.
            frame(&[0x0b, 0x12, 1, b'a']),
            frame(&[0x0f, 0x12, 1, b'a']),
            // Truncated fixed-width fields.
            frame(&[0x09, 1, 2]),
            frame(&[0x0d, 1]),
        ] {
            assert!(!carries_request_id(&bad, 2), "{bad:?}");
        }
        assert!(carries_request_id(&frame(&good), 2));
    }

    /// An instance that answers every call OK, counts them, and keeps the
    /// last call's headers (what someone on the hop could capture). Its answers
    /// have a body of that many bytes, then trailers; none for 0 (trailers-only).
    #[derive(Clone)]
    struct Answering(std::sync::Arc<AtomicUsize>, std::sync::Arc<Mutex<http::HeaderMap>>, usize);

    impl tonic::server::NamedService for Answering {
        const NAME: &'static str = "involve.profiles.v1.CustomerProfiles";
    }

    impl tower::Service<http::Request<Body>> for Answering {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<http::Response<Body>, std::convert::Infallible>>;

        fn poll_ready(
            &mut self,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Body>) -> Self::Future {
            self.0.fetch_add(1, Ordering::SeqCst);
            *self.1.lock().unwrap() = request.headers().clone();
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let mut response = if self.2 == 0 {
                let mut response = http::Response::new(Body::empty());
                response.headers_mut().extend(trailers);
                response
            } else {
                let frames = [
                    http_body::Frame::data(Bytes::from(vec![7_u8; self.2])),
                    http_body::Frame::trailers(trailers),
                ]
                .map(Ok::<_, std::convert::Infallible>);
                http::Response::new(Body::new(http_body_util::StreamBody::new(tokio_stream::iter(frames))))
            };
            response.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
            std::future::ready(Ok(response))
        }
    }

    async fn answering_instance() -> (String, std::sync::Arc<AtomicUsize>) {
        let (address, calls, _) = recording_instance().await;
        (address, calls)
    }

    async fn recording_instance()
    -> (String, std::sync::Arc<AtomicUsize>, std::sync::Arc<Mutex<http::HeaderMap>>) {
        instance_answering(0).await
    }

    /// An [`Answering`] instance whose answers carry `body` bytes.
    async fn instance_answering(
        body: usize,
    ) -> (String, std::sync::Arc<AtomicUsize>, std::sync::Arc<Mutex<http::HeaderMap>>) {
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let headers = std::sync::Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let instance = Answering(std::sync::Arc::clone(&calls), std::sync::Arc::clone(&headers), body);
        let router = tonic::transport::Server::builder().add_service(instance);
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(router.serve_with_incoming(incoming));
        (format!("http://{address}"), calls, headers)
    }

    /// An instance that takes each connection and drops it: it may have seen the call.
    async fn dropping_instance() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        format!("http://{address}")
    }

    fn refusing_instance() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}")
    }

    fn create_request(request_id: &str) -> http::Request<Body> {
        use contracts::involve::profiles::v1 as pb;
        use prost::Message as _;

        let message = pb::CreateCustomerRequest { request_id: request_id.into(), ..Default::default() };
        let mut request = http::Request::new(Body::new(http_body_util::Full::new(Bytes::from(frame(
            &message.encode_to_vec(),
        )))));
        *request.uri_mut() = "/involve.profiles.v1.CustomerProfiles/CreateCustomer".parse().unwrap();
        *request.method_mut() = http::Method::POST;
        request.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
        request
    }

    fn principal() -> Principal {
        Principal {
            organisation: "organisations/riverside".into(),
            role: crate::Role::PartnerIntegration,
            subject: "organisations/riverside/credentials/c".into(),
            areas: None,
        }
    }

    const METHOD: &str = "involve.profiles.v1.CustomerProfiles/CreateCustomer";

    #[tokio::test]
    async fn a_call_goes_to_a_second_instance_only_when_that_cannot_do_it_twice() {
        let key = HandoffKey::from_secret("shared");
        let (answering, calls) = answering_instance().await;

        // The first instance may have seen it, and there is no request_id: UNAVAILABLE.
        let upstream =
            Upstream::new(&[dropping_instance().await, answering.clone()], key.clone(), 1 << 20).unwrap();
        let err = upstream.call(create_request(""), &principal(), METHOD, true, Some(2)).await.unwrap_err();
        assert!(matches!(err, UpstreamError::MaybeReached), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "not sent twice");

        // With a request_id the service answers a repeat with the first answer: resent.
        let upstream =
            Upstream::new(&[dropping_instance().await, answering.clone()], key.clone(), 1 << 20).unwrap();
        upstream.call(create_request("r-1"), &principal(), METHOD, true, Some(2)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A refused connection never reached anybody: resent, request_id or not.
        let upstream = Upstream::new(&[refusing_instance(), answering], key, 1 << 20).unwrap();
        upstream.call(create_request(""), &principal(), METHOD, true, Some(2)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn headers_captured_from_a_forwarded_call_cannot_be_replayed() {
        use crate::RequestContext;
        use crate::principal::{PrincipalLayer, PrincipalSource};
        use tower::Layer as _;

        let key = HandoffKey::from_secret("shared");
        let (address, _, captured) = recording_instance().await;
        let upstream = Upstream::new(&[address], key.clone(), 1 << 20).unwrap();
        for _ in 0..2 {
            upstream.call(create_request("r-1"), &principal(), METHOD, true, Some(2)).await.unwrap();
        }
        let captured = captured.lock().unwrap().clone();

        // A service verifying with the same key.
        let service = PrincipalLayer::new(PrincipalSource::Signed(key)).layer(tower::service_fn(
            |request: http::Request<()>| async move {
                let request = tonic::Request::from_http(request);
                Ok::<_, std::convert::Infallible>(
                    RequestContext::of(&request)
                        .map(|ctx| ctx.principal)
                        .map_err(|err| err.into_status("test")),
                )
            },
        ));
        let replay = || {
            let mut request = http::Request::builder().uri(format!("/{METHOD}")).body(()).unwrap();
            for name in [PRINCIPAL_HEADER, SIGNATURE_HEADER] {
                request.headers_mut().insert(name, captured.get(name).unwrap().clone());
            }
            request
        };
        // The last forwarded call's headers, presented to a service that has not
        // seen them: accepted once...
        assert_eq!(service.clone().oneshot(replay()).await.unwrap().unwrap(), principal());
        // ...and never again.
        let err = service.oneshot(replay()).await.unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert!(format!("{err:?}").contains("PRINCIPAL_REPLAYED"), "{err:?}");
    }

    /// Serves `Answering` on `address` until `stop` fires, then closes its
    /// connections (HTTP/2 `GOAWAY`) and returns.
    async fn serve_until(
        listener: tokio::net::TcpListener,
        calls: std::sync::Arc<AtomicUsize>,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let instance = Answering(calls, std::sync::Arc::default(), 0);
        tonic::transport::Server::builder()
            .add_service(instance)
            .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), async {
                let _ = stop.await;
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_restarted_instance_is_reached_on_a_new_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let first = tokio::spawn(serve_until(listener, std::sync::Arc::clone(&calls), stopped));
        let upstream =
            Upstream::new(&[format!("http://{address}")], HandoffKey::from_secret("shared"), 1 << 20)
                .unwrap();
        upstream.call(create_request(""), &principal(), METHOD, true, Some(2)).await.unwrap();

        // The instance goes away, closing the connection the call used...
        stop.send(()).unwrap();
        first.await.unwrap();
        // ...and comes back on the same address. The closed connection is
        // noticed (its task ends on the peer's GOAWAY, or the next stream
        // cannot be opened on it) and replaced.
        let (_keep, running) = tokio::sync::oneshot::channel();
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        tokio::spawn(serve_until(listener, std::sync::Arc::clone(&calls), running));
        upstream.call(create_request(""), &principal(), METHOD, true, Some(2)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_request_over_the_limit_is_refused_before_it_is_sent() {
        let (answering, calls) = answering_instance().await;
        let upstream = Upstream::new(&[answering], HandoffKey::from_secret("shared"), 16).unwrap();
        let err = upstream
            .call(create_request(&"r".repeat(64)), &principal(), METHOD, true, Some(2))
            .await
            .unwrap_err();
        assert!(matches!(err, UpstreamError::TooLarge { limit: 16 }), "{err:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_answer_is_passed_on_whole_and_one_over_the_limit_is_not() {
        let (address, _, _) = instance_answering(64).await;
        let key = HandoffKey::from_secret("shared");

        // Within the limit: the body and the trailers arrive as the instance sent them.
        let upstream = Upstream::new(std::slice::from_ref(&address), key.clone(), 1 << 20).unwrap();
        let response = upstream.call(create_request(""), &principal(), METHOD, true, Some(2)).await.unwrap();
        let collected = response.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().and_then(|t| t.get("grpc-status")).unwrap(), "0");
        assert_eq!(collected.to_bytes(), Bytes::from(vec![7_u8; 64]));

        // Over it (a 64-byte body against a 16-byte message, plus its 5-byte prefix):
        // a failure after the call may have arrived, not a truncated answer.
        let upstream = Upstream::new(&[address], key, 16).unwrap();
        let err = upstream.call(create_request(""), &principal(), METHOD, true, Some(2)).await.unwrap_err();
        assert!(matches!(err, UpstreamError::MaybeReached), "{err:?}");
    }

    #[tokio::test]
    async fn only_a_refused_connection_proves_a_call_never_left() {
        // Nothing listens on a port just released.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{closed}")).unwrap().connect_lazy();
        let err = channel.oneshot(http::Request::new(Body::empty())).await.unwrap_err();
        assert_eq!(classify(&err), Failure::NeverReached, "{err:?}");

        // A server that takes the connection and drops it may have seen the call.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{open}")).unwrap().connect_lazy();
        let err = channel.oneshot(http::Request::new(Body::empty())).await.unwrap_err();
        assert_eq!(classify(&err), Failure::MaybeReached, "{err:?}");

        let plain = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone");
        assert_eq!(classify(&plain), Failure::MaybeReached);
    }
}
