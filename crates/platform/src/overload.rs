//! Refusing calls beyond a fixed number in flight, instead of queueing them.
//!
//! A queue in front of a saturated server only adds memory and latency: every
//! waiting call holds its request, and by the time it is served its caller may
//! have given up. So once `server.concurrency_limit` calls are in flight, the
//! next one is answered at once with UNAVAILABLE (reason `OVERLOADED`) and a
//! `RetryInfo`; gRPC clients treat that as safe to retry with backoff. A call
//! counts until its response body ends, so a long stream holds its place for
//! as long as it runs.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry::metrics::Counter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::ApiError;
use crate::body::{BodyEnd, OnBodyEnd, WatchedBody};

/// The error domain of refusals made by the server itself.
pub const SERVER_ERROR_DOMAIN: &str = "involve.dev";
/// How long an overloaded server asks callers to wait.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// Builds [`InFlightLimit`] services sharing one limit.
#[derive(Clone, Debug)]
pub struct InFlightLimitLayer {
    permits: Arc<Semaphore>,
    shed: Counter<u64>,
}

impl InFlightLimitLayer {
    pub fn new(limit: usize) -> Self {
        let shed = opentelemetry::global::meter("involve")
            .u64_counter("rpc.server.shed")
            .with_description("Calls refused because the server had its limit of calls in flight")
            .build();
        Self { permits: Arc::new(Semaphore::new(limit)), shed }
    }

    /// Calls that may start now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

impl<S> Layer<S> for InFlightLimitLayer {
    type Service = InFlightLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlightLimit { inner, layer: self.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct InFlightLimit<S> {
    inner: S,
    layer: InFlightLimitLayer,
}

impl<S> Service<http::Request<Body>> for InFlightLimit<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Ok(permit) = Arc::clone(&self.layer.permits).try_acquire_owned() else {
            self.layer.shed.add(1, &[]);
            tracing::debug!(path = request.uri().path(), "over the limit of calls in flight; refused");
            let refusal = overloaded();
            return Box::pin(std::future::ready(Ok(refusal)));
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Body::new(WatchedBody::new(body, FreesPlace(permit)))))
        })
    }
}

fn overloaded() -> http::Response<Body> {
    let status: Status = ApiError::Unavailable { reason: "OVERLOADED", retry_after: RETRY_AFTER }
        .into_status(SERVER_ERROR_DOMAIN);
    status.into_http()
}

/// A call's place in flight, freed when its response ends (or is dropped
/// unfinished, when the caller goes away).
struct FreesPlace(OwnedSemaphorePermit);

impl OnBodyEnd for FreesPlace {
    fn on_end(self, _end: BodyEnd<'_>) {
        drop(self.0);
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    fn ok_service() -> impl Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future = std::future::Ready<Result<http::Response<Body>, Infallible>>,
    > + Clone {
        tower::service_fn(|_request: http::Request<Body>| {
            std::future::ready(Ok(http::Response::new(Body::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"done"),
            )))))
        })
    }

    fn grpc_status(response: &http::Response<Body>) -> Option<&str> {
        response.headers().get("grpc-status").and_then(|value| value.to_str().ok())
    }

    #[tokio::test]
    async fn calls_past_the_limit_are_refused_until_a_body_ends() {
        let layer = InFlightLimitLayer::new(1);
        let service = layer.layer(ok_service());

        let first = service.clone().oneshot(http::Request::new(Body::empty())).await.unwrap();
        assert_eq!(grpc_status(&first), None, "the first call is served");
        assert_eq!(layer.available(), 0, "its body still holds the place");

        let second = service.clone().oneshot(http::Request::new(Body::empty())).await.unwrap();
        assert_eq!(grpc_status(&second), Some("14"), "UNAVAILABLE while the first is in flight");

        let body = first.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"done");
        assert_eq!(layer.available(), 1, "a finished body frees its place");
        let third = service.oneshot(http::Request::new(Body::empty())).await.unwrap();
        assert_eq!(grpc_status(&third), None);
    }
}
