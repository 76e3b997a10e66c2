//! API errors and the response envelope Qdrant clients expect:
//! `{"result": …, "status": "ok", "time": seconds}` on success and
//! `{"status": {"error": "…"}, "time": seconds}` with a 4xx/5xx status on error.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use crate::Error;

/// An error answered to the client.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// A request outside the supported subset of the Qdrant API.
    pub fn unsupported(what: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!("Unsupported by vego: {what}"))
    }

    /// The same status with another message.
    pub fn with_message(self, message: impl Into<String>) -> ApiError {
        ApiError { message: message.into(), ..self }
    }

    pub fn collection_not_found(name: &str) -> ApiError {
        ApiError::not_found(format!("Not found: Collection `{name}` doesn't exist!"))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::InvalidArgument(_) | Error::DimensionMismatch { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound(_) | Error::CollectionNotFound(_) => StatusCode::NOT_FOUND,
            Error::AlreadyExists(_) | Error::Conflict { .. } => StatusCode::CONFLICT,
            // The write path is poisoned or the database is shutting down:
            // the client may retry against a restarted server.
            Error::Closed | Error::Poisoned(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            Error::CollectionNotFound(name) => format!("Not found: Collection `{name}` doesn't exist!"),
            Error::InvalidArgument(m) => format!("Wrong input: {m}"),
            _ => e.to_string(),
        };
        ApiError { status, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            eprintln!("vego serve: {} {}", self.status, self.message);
        }
        (self.status, axum::Json(json!({ "status": { "error": self.message }, "time": 0.0 }))).into_response()
    }
}

/// A successful answer in Qdrant's envelope.
pub(crate) fn ok(result: Json, started: Instant) -> Response {
    let body = json!({ "result": result, "status": "ok", "time": started.elapsed().as_secs_f64() });
    axum::Json(body).into_response()
}

/// What every handler returns.
pub(crate) type ApiResult = Result<Response, ApiError>;
