//! A bare tonic pass-through proxy for `CustomerProfiles`: the floor for any
//! gateway on this machine. It terminates a partner's HTTP/2 call and makes
//! another to the service, as the gateway does, and nothing else: no
//! authentication, rate limit, audit, telemetry or resend. What it costs per
//! call is what the hop itself costs, so the distributed gateway's ratio to
//! direct calls can be read against the ratio a hop allows at all.
//!
//! It runs as a process of its own (this binary, started with `--bare-proxy`),
//! so its CPU time is counted apart from the load generator's.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::transport::Channel;

/// The calls it forwards: the one service the gateway comparison calls.
#[derive(Clone)]
struct PassThrough {
    /// One connection per core, used in turn, as the gateway keeps them.
    channels: Arc<[Channel]>,
    next: Arc<AtomicUsize>,
}

impl tonic::server::NamedService for PassThrough {
    const NAME: &'static str = "involve.profiles.v1.CustomerProfiles";
}

impl tower::Service<http::Request<Body>> for PassThrough {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        let channel = self.channels[slot].clone();
        Box::pin(async move {
            match tower::ServiceExt::oneshot(channel, request).await {
                Ok(response) => Ok(response),
                Err(err) => Ok(tonic::Status::unavailable(err.to_string()).into_http()),
            }
        })
    }
}

/// Serves the proxy on `listen`, forwarding to `upstream`, until killed.
pub(crate) async fn serve(listen: &str, upstream: &str) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut channels = Vec::with_capacity(cores);
    for _ in 0..cores {
        channels.push(Channel::from_shared(upstream.to_owned())?.tcp_nodelay(true).connect().await?);
    }
    let proxy = PassThrough { channels: channels.into(), next: Arc::new(AtomicUsize::new(0)) };
    // Health, so the benchmark can wait for it as for any server.
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health)
        .add_service(proxy)
        .serve(listen.parse()?)
        .await?;
    Ok(())
}
