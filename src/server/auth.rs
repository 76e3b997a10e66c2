//! API-key check: with a key configured, every request must carry it as
//! `api-key: KEY` or `Authorization: Bearer KEY`, else 401.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

pub(crate) async fn require_key(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match &s.api_key {
        Some(key) if !carries_key(req.headers(), key) => ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "Must provide a valid API key (header api-key or Authorization: Bearer)".into(),
        }
        .into_response(),
        _ => next.run(req).await,
    }
}

fn carries_key(headers: &HeaderMap, key: &str) -> bool {
    let given = headers.get("api-key").and_then(|v| v.to_str().ok()).or_else(|| {
        let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
        auth.strip_prefix("Bearer ")
    });
    given.is_some_and(|g| same(g.as_bytes(), key.as_bytes()))
}

/// Equality in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_in_either_header() {
        let mut h = HeaderMap::new();
        assert!(!carries_key(&h, "k1"));
        h.insert("api-key", "k1".parse().unwrap());
        assert!(carries_key(&h, "k1"));
        assert!(!carries_key(&h, "k2"));
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer k1".parse().unwrap());
        assert!(carries_key(&h, "k1"));
        assert!(!carries_key(&h, "k"));
    }
}
