//! Request bodies: JSON whatever the `Content-Type` says (`curl -d` sends
//! `application/x-www-form-urlencoded`, some clients send nothing), with every way a
//! body can be wrong turned into a 4xx error that says what is wrong.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};

/// Parses a body read by axum (which enforces the size limit) as JSON of type `T`.
pub(crate) fn json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Error> {
    let bytes = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
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
