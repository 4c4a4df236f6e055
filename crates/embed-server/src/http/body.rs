//! Request bodies: JSON whatever the `Content-Type` says (`curl -d` sends
//! `application/x-www-form-urlencoded`, some clients send nothing), with every way a
//! body can be wrong turned into a 4xx error that says what is wrong; and the rules a
//! body is held to while it arrives: a deadline to arrive whole by (so a client that
//! dribbles its body cannot hold a connection and its buffer for long), and an announced
//! length within the limit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use serde::de::DeserializeOwned;
use tokio::time::Sleep;

use crate::error::{Error, ErrorKind};
use crate::metrics;

/// Parses a body read by axum (which enforces the size limit) as JSON of type `T`.
pub(crate) fn json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Error> {
    let bytes = body.map_err(|e| {
        let refused = refusal(&e);
        if refused == Some(BodyRefused::TimedOut) {
            metrics::rejected("body_timeout");
            Error::new(
                ErrorKind::RequestTimeout,
                "the request body did not arrive in time",
            )
        } else if refused == Some(BodyRefused::TooLarge)
            || e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE
        {
            Error::new(
                ErrorKind::PayloadTooLarge,
                "the request body is larger than the server accepts",
            )
        } else {
            Error::new(
                ErrorKind::InvalidRequest,
                "the request body could not be read",
            )
            .with_source(e)
        }
    })?;
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "the request body is empty: send a JSON object",
            ));
        }
        // serde would read a list as the fields in order: refuse it plainly.
        Some(b) if *b != b'{' => {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                "the request body must be a JSON object",
            ));
        }
        Some(_) => {}
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_data() {
            "the request body has a wrong field"
        } else {
            "the request body is not valid JSON"
        };
        Error::new(ErrorKind::InvalidRequest, what).with_source(e)
    })
}

/// What every request body is held to before a handler reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyRules {
    /// From the end of the headers to the body's last byte.
    pub timeout: Duration,
    /// The body limit, so a `Content-Length` over it is refused before a byte is read.
    pub max_bytes: usize,
}

/// Holds every request body to `rules`: it must arrive whole within the timeout (counted
/// from now: its headers are in), and one that announces more than the limit fails at
/// once instead of after the client has sent the limit's worth.
pub(crate) async fn guard(State(rules): State<BodyRules>, req: Request, next: Next) -> Response {
    let req = req.map(|body| Body::new(GuardedBody::new(body, rules)));
    next.run(req).await
}

/// A body that fails with [`BodyRefused`] once its deadline passes, or at its first
/// read if it announced more than the limit.
struct GuardedBody {
    inner: Body,
    announced_too_much: bool,
    deadline: Pin<Box<Sleep>>,
}

impl GuardedBody {
    fn new(inner: Body, rules: BodyRules) -> Self {
        GuardedBody {
            announced_too_much: inner.size_hint().lower() > rules.max_bytes as u64,
            inner,
            deadline: Box::pin(tokio::time::sleep(rules.timeout)),
        }
    }
}

/// Why a [`GuardedBody`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRefused {
    TimedOut,
    TooLarge,
}

impl fmt::Display for BodyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyRefused::TimedOut => "the request body did not arrive in time",
            BodyRefused::TooLarge => "the request body is larger than the server accepts",
        })
    }
}

impl std::error::Error for BodyRefused {}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.announced_too_much {
            return Poll::Ready(Some(Err(axum::Error::new(BodyRefused::TooLarge))));
        }
        // Data already here is taken first; the deadline only cuts a wait.
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyRefused::TimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.announced_too_much && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether, and why, a [`GuardedBody`] refused the body a rejection is about.
fn refusal(e: &BytesRejection) -> Option<BodyRefused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<BodyRefused>() {
            return Some(*r);
        }
        cause = c.source();
    }
    None
}
