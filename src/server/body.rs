//! Request bodies: announced sizes above `REQUEST_BYTES_MAX` are refused
//! before any byte is read (413); a body must arrive within
//! `BODY_READ_TIMEOUT` (408); and the bodies held in memory at once (read,
//! then parsed and handled) are at most `REQUEST_BYTES_IN_FLIGHT_MAX`, so a
//! burst of large uploads waits for room instead of growing the process
//! without bound (503 if no room frees up within the timeout).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::{AppState, REQUEST_BYTES_MAX};

/// How long a client may take to send a request body, by default.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Most request-body bytes held in memory at once, over all requests.
pub const REQUEST_BYTES_IN_FLIGHT_MAX: usize = 256 << 20;

/// The budget of body bytes, counted in KiB.
pub(crate) fn budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(REQUEST_BYTES_IN_FLIGHT_MAX >> 10))
}

fn error(status: StatusCode, message: String) -> Response {
    ApiError { status, message }.into_response()
}

pub(crate) async fn limit_body(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let declared =
        match req.headers().get(header::CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok())) {
            None => None,
            Some(Some(n)) => Some(n),
            Some(None) => return error(StatusCode::BAD_REQUEST, "Bad Request: invalid Content-Length".into()),
        };
    if declared.is_some_and(|n| n > REQUEST_BYTES_MAX as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {} bytes, limit {REQUEST_BYTES_MAX}", declared.unwrap_or_default()),
        );
    }
    // Without a length (chunked), reserve the most a body may be.
    let reserve = declared.map_or(REQUEST_BYTES_MAX, |n| n as usize);
    if reserve == 0 {
        return next.run(req).await;
    }
    let kib = reserve.div_ceil(1024) as u32;
    let permit = match tokio::time::timeout(s.body_read_timeout, s.body_budget.clone().acquire_many_owned(kib)).await {
        Ok(Ok(p)) => p,
        _ => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("server busy: {REQUEST_BYTES_IN_FLIGHT_MAX} bytes of request bodies in memory; retry"),
            )
        }
    };
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(s.body_read_timeout, axum::body::to_bytes(body, REQUEST_BYTES_MAX)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("Bad Request: request body: {e}")),
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {:?}", s.body_read_timeout),
            )
        }
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    drop(permit);
    response
}
