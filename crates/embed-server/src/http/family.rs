//! Route families and the shape each gives its errors, so a client library raises its own
//! exception types: OpenAI's `{"error": {"message", "type", ...}}`, TEI's `{"error",
//! "error_type"}`, Ollama's `{"error"}`, llama.cpp's OpenAI-like object with a numeric
//! `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Error, ErrorKind};

/// Which API a route belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    OpenAi,
    Tei,
    Ollama,
    LlamaCpp,
    Ops,
}

/// The message of a refusal, kept on the response for the request log.
#[derive(Clone, Debug)]
pub(crate) struct ErrorNote(pub String);

impl Family {
    /// The family of a path, for answers given before a handler runs (401, 404, 413).
    pub fn of_path(path: &str) -> Family {
        match path {
            "/v1/embeddings" | "/embeddings" | "/v1/models" => Family::OpenAi,
            "/embedding" => Family::LlamaCpp,
            "/health" | "/livez" | "/readyz" | "/metrics" | "/openapi.json" => Family::Ops,
            p if p.starts_with("/v1/") => Family::OpenAi,
            p if p.starts_with("/api/") => Family::Ollama,
            _ => Family::Tei,
        }
    }

    /// The status for an error of `kind` in this family.
    pub fn status(self, kind: ErrorKind) -> StatusCode {
        match kind {
            // TEI answers validation problems with 422, an empty input with 400.
            ErrorKind::InvalidRequest | ErrorKind::InputTooLong | ErrorKind::TooManyInputs
                if self == Family::Tei =>
            {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorKind::InvalidRequest
            | ErrorKind::InputTooLong
            | ErrorKind::TooManyInputs
            | ErrorKind::EmptyInput => StatusCode::BAD_REQUEST,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Bind
            | ErrorKind::Model
            | ErrorKind::Config
            | ErrorKind::Runtime
            | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error response: this family's body, the status, `Retry-After` when there is
    /// one.
    pub fn error(self, e: &Error) -> Response {
        let status = self.status(e.kind());
        let message = e.detail();
        let body = match self {
            Family::OpenAi | Family::LlamaCpp => {
                let kind = match status.as_u16() {
                    401 => "authentication_error",
                    408 => "timeout_error",
                    404 | 405 => "not_found_error",
                    429 => "rate_limit_error",
                    503 => "unavailable_error",
                    s if s >= 500 => "server_error",
                    _ => "invalid_request_error",
                };
                let code = if self == Family::LlamaCpp {
                    json!(status.as_u16())
                } else {
                    json!(null)
                };
                json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
            }
            Family::Tei => {
                let kind = match e.kind() {
                    ErrorKind::EmptyInput => "Empty",
                    ErrorKind::Overloaded | ErrorKind::PayloadTooLarge => "Overloaded",
                    ErrorKind::Unavailable => "Unhealthy",
                    ErrorKind::Unauthorized => "Unauthorized",
                    ErrorKind::NotFound | ErrorKind::MethodNotAllowed => "NotFound",
                    ErrorKind::Internal
                    | ErrorKind::Model
                    | ErrorKind::Bind
                    | ErrorKind::Runtime
                    | ErrorKind::Config => "Backend",
                    _ => "Validation",
                };
                json!({"error": message, "error_type": kind})
            }
            Family::Ollama | Family::Ops => json!({"error": message}),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = e.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorNote(message));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_problem_is_a_4xx_in_every_family() {
        let kinds = [
            ErrorKind::InvalidRequest,
            ErrorKind::EmptyInput,
            ErrorKind::InputTooLong,
            ErrorKind::TooManyInputs,
            ErrorKind::PayloadTooLarge,
            ErrorKind::Unauthorized,
            ErrorKind::Overloaded,
            ErrorKind::RequestTimeout,
        ];
        for f in [
            Family::OpenAi,
            Family::Tei,
            Family::Ollama,
            Family::LlamaCpp,
            Family::Ops,
        ] {
            for k in kinds {
                assert!(f.status(k).is_client_error(), "{f:?} {k:?}");
            }
        }
    }

    #[test]
    fn paths_map_to_their_family() {
        assert_eq!(Family::of_path("/v1/embeddings"), Family::OpenAi);
        assert_eq!(Family::of_path("/api/embed"), Family::Ollama);
        assert_eq!(Family::of_path("/embed"), Family::Tei);
        assert_eq!(Family::of_path("/"), Family::Tei);
        assert_eq!(Family::of_path("/embedding"), Family::LlamaCpp);
    }
}
