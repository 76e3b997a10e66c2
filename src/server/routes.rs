//! The routes of the Qdrant API subset, the service endpoints, and the
//! answers for everything else.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde_json::json;

use super::error::ApiError;
use super::{auth, body, collections, points, query, updates, AppState, REQUEST_BYTES_MAX};

/// The Qdrant API version whose subset this server speaks (what `GET /`
/// reports; clients compare it with their own). Checked with qdrant-client 1.20.0.
pub const QDRANT_API_VERSION: &str = "1.20.0";

pub(crate) fn router(state: AppState) -> Router {
    let c = "/collections/{name}";
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(health))
        .route("/metrics", get(metrics))
        .route("/collections", get(collections::list))
        .route(c, get(collections::info).put(collections::create).delete(collections::delete))
        .route(&format!("{c}/exists"), get(collections::exists))
        .route(&format!("{c}/index"), put(collections::create_payload_index))
        .route(&format!("{c}/index/{{field}}"), delete(collections::delete_payload_index))
        .route(&format!("{c}/points"), post(points::retrieve).put(points::upsert))
        .route(&format!("{c}/points/{{id}}"), get(points::get_one))
        .route(&format!("{c}/points/delete"), post(points::delete))
        .route(&format!("{c}/points/payload"), post(updates::set_payload).put(updates::overwrite_payload))
        .route(&format!("{c}/points/payload/delete"), post(updates::delete_payload))
        .route(&format!("{c}/points/payload/clear"), post(updates::clear_payload))
        .route(&format!("{c}/points/batch"), post(updates::batch))
        .route(&format!("{c}/points/count"), post(points::count))
        .route(&format!("{c}/points/scroll"), post(points::scroll))
        .route(&format!("{c}/points/query"), post(query::query))
        .route(&format!("{c}/points/query/batch"), post(query::query_batch))
        .route(&format!("{c}/points/search"), post(query::search))
        .route(&format!("{c}/points/search/batch"), post(query::search_batch))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), body::limit_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key))
        .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .with_state(state)
}

async fn root() -> impl IntoResponse {
    axum::Json(json!({ "title": "vego", "version": QDRANT_API_VERSION, "vego_version": env!("CARGO_PKG_VERSION") }))
}

async fn health() -> &'static str {
    "healthz check passed"
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.db.metrics_text())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("Unsupported by vego or unknown endpoint: {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("Unsupported by vego: {method} {}", uri.path()),
    }
}
