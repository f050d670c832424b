//! Response bodies that say how they ended.
//!
//! A gRPC call is over when its response body ends, not when its handler
//! returns: a stream goes on, and the final status travels in the trailers.
//! Whatever must happen at the end of a call (freeing its place in flight,
//! auditing its status) wraps the body in a [`WatchedBody`].

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;

/// How a response body ended.
#[derive(Debug)]
pub enum BodyEnd<'a> {
    /// With trailers: the gRPC status is in them.
    Trailers(&'a http::HeaderMap),
    /// With an error while streaming.
    Error(&'a Status),
    /// With no more frames and no trailers (a trailers-only response).
    Finished,
    /// Dropped before its end: the caller went away.
    Dropped,
}

impl BodyEnd<'_> {
    /// The gRPC status code the body ended with, falling back to `headers_code`
    /// (a trailers-only response carries it in the headers) when it has none.
    pub fn code(&self, headers_code: Option<tonic::Code>) -> tonic::Code {
        match self {
            Self::Trailers(trailers) => grpc_status(trailers).unwrap_or(tonic::Code::Unknown),
            Self::Error(status) => status.code(),
            Self::Finished => headers_code.unwrap_or(tonic::Code::Ok),
            Self::Dropped => headers_code.unwrap_or(tonic::Code::Cancelled),
        }
    }
}

/// The `grpc-status` in a header map, if any.
pub fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

/// Told once, when a watched body ends.
pub trait OnBodyEnd: Send + 'static {
    fn on_end(self, end: BodyEnd<'_>);
}

/// A response body that tells its watcher how it ended, exactly once: when
/// its last frame is polled (before that frame is written, so a caller that
/// has seen its call end never finds its effects still pending), or when it
/// is dropped unfinished.
pub struct WatchedBody<W: OnBodyEnd> {
    inner: Body,
    watcher: Option<W>,
}

impl<W: OnBodyEnd> std::fmt::Debug for WatchedBody<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedBody").field("ended", &self.watcher.is_none()).finish_non_exhaustive()
    }
}

impl<W: OnBodyEnd> WatchedBody<W> {
    pub fn new(inner: Body, watcher: W) -> Self {
        Self { inner, watcher: Some(watcher) }
    }

    fn end(&mut self, end: BodyEnd<'_>) {
        if let Some(watcher) = self.watcher.take() {
            watcher.on_end(end);
        }
    }
}

impl<W: OnBodyEnd + Unpin> http_body::Body for WatchedBody<W> {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    self.end(BodyEnd::Trailers(trailers));
                }
            }
            Poll::Ready(Some(Err(status))) => self.end(BodyEnd::Error(status)),
            Poll::Ready(None) => self.end(BodyEnd::Finished),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<W: OnBodyEnd> Drop for WatchedBody<W> {
    fn drop(&mut self) {
        self.end(BodyEnd::Dropped);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt as _;

    use super::*;

    struct Record(Arc<Mutex<Vec<tonic::Code>>>);

    impl OnBodyEnd for Record {
        fn on_end(self, end: BodyEnd<'_>) {
            self.0.lock().unwrap().push(end.code(None));
        }
    }

    #[tokio::test]
    async fn the_watcher_hears_the_end_once() {
        let ends = Arc::new(Mutex::new(Vec::new()));
        let finished = WatchedBody::new(Body::empty(), Record(Arc::clone(&ends)));
        finished.collect().await.unwrap();
        let abandoned = WatchedBody::new(
            Body::new(http_body_util::Full::new(Bytes::from_static(b"x"))),
            Record(Arc::clone(&ends)),
        );
        drop(abandoned);
        assert_eq!(*ends.lock().unwrap(), [tonic::Code::Ok, tonic::Code::Cancelled]);
    }
}
