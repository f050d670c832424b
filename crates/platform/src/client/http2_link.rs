//! HTTP/2 connections to one plaintext instance (one per core), driven through
//! `h2` itself for single-message calls.
//!
//! A tonic `Channel` reaches hyper's client through a `Buffer` worker task, and
//! hyper hands every request to its connection task and spawns a task per call
//! to pipe the body and another to wait for the answer: four task hand-offs a
//! call, each a wake-up on the two cores the service shares. A unary call's
//! request is already buffered whole here (it may be resent) and its answer is
//! read whole, so the calling task can open the stream, write the one message
//! and read the answer itself; only the connection's own task is left between
//! it and the socket. Streams, and `https://` instances (whose TLS the channel
//! brings), keep the channel.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use tonic::body::Body;

use super::upstream::Failure;

/// How long a connection attempt may take before the instance counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an open connection is pinged, and how long a ping may go
/// unanswered before the connection is dropped (its calls fail, the next
/// call reconnects): tonic's channel pinged as often.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Receive windows: a whole answer of the default 4 MiB message limit fits
/// without waiting on a window update, as with hyper's client defaults.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// The connection in use, and whether its task still drives it.
#[derive(Clone)]
struct Live {
    sender: SendRequest<Bytes>,
    open: Arc<AtomicBool>,
}

/// Lazily opened, self-healing HTTP/2 connections to one `http://` instance.
#[derive(Debug)]
pub(super) struct Http2Link {
    /// `host:port`, resolved at each connect (a name may move).
    host_port: String,
    authority: http::uri::Authority,
    /// Connections, used in turn (see [`connections_per_instance`]).
    live: Vec<Mutex<Option<Live>>>,
    next: AtomicUsize,
    /// Held while a connection is opened, so a burst of calls opens one at a time.
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("open", &self.open.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// What a failed call on the link says about where it got to.
enum Attempt {
    /// Failed before its stream was opened on a connection made earlier,
    /// which has gone: worth one more try on a fresh connection.
    Stale,
    Failed(Failure),
}

impl Http2Link {
    /// A link to `address` if it is a plaintext `http://host:port` URL; `None`
    /// for anything the channel should handle (TLS).
    pub(super) fn for_address(address: &str) -> Option<Self> {
        let uri: http::Uri = address.parse().ok()?;
        if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
            return None;
        }
        let authority = uri.authority()?.clone();
        let port = authority.port_u16().unwrap_or(80);
        Some(Self {
            host_port: format!("{}:{port}", authority.host()),
            authority,
            live: (0..connections_per_instance()).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Sends one buffered request (`parts` and its whole `body`) and reads the
    /// whole answer, refusing one over `limit` bytes. A connection found closed
    /// before the stream was opened is replaced once: nothing was sent on it.
    pub(super) async fn unary(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        limit: usize,
    ) -> Result<http::Response<Body>, Failure> {
        // One connection for the call and its retry: the retry replaces the very
        // connection found closed.
        let slot = &self.live[self.next.fetch_add(1, Ordering::Relaxed) % self.live.len()];
        for _ in 0..2 {
            let (live, reused) = self.connection(slot).await?;
            match self.exchange(&live, parts, body.clone(), limit).await {
                Ok(response) => return Ok(response),
                Err(Attempt::Stale) if reused => forget(slot, &live),
                Err(Attempt::Stale) => {
                    forget(slot, &live);
                    return Err(Failure::NeverReached);
                }
                Err(Attempt::Failed(failure)) => return Err(failure),
            }
        }
        Err(Failure::NeverReached)
    }

    async fn exchange(
        &self,
        live: &Live,
        parts: &http::request::Parts,
        body: Bytes,
        limit: usize,
    ) -> Result<http::Response<Body>, Attempt> {
        // `ready` waits for a stream slot (the server's concurrency limit) and
        // fails only when the connection is gone: nothing has been sent yet.
        let mut sender = live.sender.clone().ready().await.map_err(|_| Attempt::Stale)?;
        let mut request = http::Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = self.uri_for(&parts.uri).map_err(|_| Attempt::Failed(Failure::NeverReached))?;
        *request.headers_mut() = parts.headers.clone();
        // gRPC servers refuse a request that does not accept trailers.
        request.headers_mut().insert(http::header::TE, http::HeaderValue::from_static("trailers"));
        let (response, mut stream) = sender.send_request(request, false).map_err(|_| Attempt::Stale)?;
        stream.send_data(body, true).map_err(|err| Attempt::Failed(failure_of(&err)))?;
        let response = response.await.map_err(|err| Attempt::Failed(failure_of(&err)))?;
        let (parts, mut received) = response.into_parts();
        let mut data = BytesMut::new();
        while let Some(chunk) = received.data().await {
            let chunk = chunk.map_err(|err| Attempt::Failed(failure_of(&err)))?;
            // The bytes are ours now: let the server send more.
            let _ = received.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > limit {
                tracing::warn!(authority = %self.authority, limit, "an answer passed the message limit");
                return Err(Attempt::Failed(Failure::MaybeReached));
            }
            data.extend_from_slice(&chunk);
        }
        let trailers = received.trailers().await.map_err(|err| Attempt::Failed(failure_of(&err)))?;
        Ok(whole_response(parts, data.freeze(), trailers))
    }

    /// `uri`'s path and query on this instance.
    fn uri_for(&self, uri: &http::Uri) -> Result<http::Uri, http::Error> {
        let mut builder =
            http::Uri::builder().scheme(http::uri::Scheme::HTTP).authority(self.authority.clone());
        if let Some(path) = uri.path_and_query() {
            builder = builder.path_and_query(path.clone());
        }
        builder.build()
    }

    /// The open connection in `slot`, or a new one; `true` when it was opened earlier.
    async fn connection(&self, slot: &Mutex<Option<Live>>) -> Result<(Live, bool), Failure> {
        if let Some(live) = current(slot) {
            return Ok((live, true));
        }
        let _connecting = self.connecting.lock().await;
        if let Some(live) = current(slot) {
            return Ok((live, true));
        }
        let live = self.connect().await?;
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(live.clone());
        }
        Ok((live, false))
    }

    /// Nothing is sent before the connection is up, so every failure here
    /// means the call never reached the instance.
    async fn connect(&self) -> Result<Live, Failure> {
        let socket = self.in_time("connecting to", tokio::net::TcpStream::connect(&self.host_port)).await?;
        // Answers are small and latency-bound: never wait for a delayed ACK.
        let _ = socket.set_nodelay(true);
        let handshake = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(socket);
        let (sender, connection) = self.in_time("the HTTP/2 handshake with", handshake).await?;
        let open = Arc::new(AtomicBool::new(true));
        tokio::spawn(drive(connection, Arc::clone(&open), self.host_port.clone()));
        Ok(Live { sender, open })
    }

    /// `step` of opening a connection, given [`CONNECT_TIMEOUT`].
    async fn in_time<T, E: std::fmt::Display>(
        &self,
        step: &str,
        future: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(CONNECT_TIMEOUT, future).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(err)) => {
                tracing::warn!(address = %self.host_port, error = %err, "{step} the instance failed");
                Err(Failure::NeverReached)
            }
            Err(_) => {
                tracing::warn!(address = %self.host_port, "{step} the instance timed out");
                Err(Failure::NeverReached)
            }
        }
    }
}

/// The connection in `slot` while its task still drives it.
fn current(slot: &Mutex<Option<Live>>) -> Option<Live> {
    let slot = slot.lock().ok()?;
    slot.as_ref().filter(|live| live.open.load(Ordering::Acquire)).cloned()
}

/// Empties `slot` of `live` unless another call has already replaced it.
fn forget(slot: &Mutex<Option<Live>>, live: &Live) {
    if let Ok(mut slot) = slot.lock()
        && slot.as_ref().is_some_and(|current| Arc::ptr_eq(&current.open, &live.open))
    {
        *slot = None;
    }
}

/// Connections to one instance: one per core the process may use. A connection's
/// frames are all read and written by its one task; with a single connection
/// that task carried every call to the instance, and the instance's server one
/// task likewise. Two on two cores: +10 - 12% calls through the distributed
/// gateway, and less CPU per call on both sides (`scripts/bench --suite gateway`).
fn connections_per_instance() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Runs the connection until it ends or stops answering pings, then marks it
/// closed. Dropping it fails the calls still on it, so none waits forever on
/// a peer that vanished without closing its socket.
async fn drive(
    mut connection: h2::client::Connection<tokio::net::TcpStream, Bytes>,
    open: Arc<AtomicBool>,
    address: String,
) {
    let ping_pong = connection.ping_pong();
    let keepalive = async move {
        let Some(mut ping_pong) = ping_pong else { return std::future::pending::<()>().await };
        loop {
            tokio::time::sleep(KEEPALIVE_INTERVAL).await;
            match tokio::time::timeout(KEEPALIVE_TIMEOUT, ping_pong.ping(h2::Ping::opaque())).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
        }
    };
    tokio::select! {
        ended = &mut connection => {
            if let Err(err) = ended {
                tracing::debug!(%address, error = %err, "connection to the instance ended");
            }
        }
        () = keepalive => {
            tracing::warn!(%address, "the instance stopped answering pings; connection dropped");
        }
    }
    open.store(false, Ordering::Release);
}

/// A stream refused by the server (`REFUSED_STREAM`, or past a `GOAWAY`) was
/// never processed (RFC 9113 §8.7); anything else may have been.
fn failure_of(err: &h2::Error) -> Failure {
    if err.reason() == Some(h2::Reason::REFUSED_STREAM) {
        Failure::NeverReached
    } else {
        Failure::MaybeReached
    }
}

/// An answer whose body has been read whole: its one message, then its trailers.
pub(super) fn whole_response(
    parts: http::response::Parts,
    data: Bytes,
    trailers: Option<http::HeaderMap>,
) -> http::Response<Body> {
    let frames =
        [(!data.is_empty()).then(|| http_body::Frame::data(data)), trailers.map(http_body::Frame::trailers)]
            .into_iter()
            .flatten()
            .map(Ok::<_, std::convert::Infallible>);
    let body = http_body_util::StreamBody::new(tokio_stream::iter(frames));
    http::Response::from_parts(parts, Body::new(body))
}
