//! The HTTP side: `POST /v1/batch`, `POST /v1/track`, `GET /healthz`.
//! Authentication (Basic auth user = write key, or `writeKey` in the body),
//! gzip bodies, Segment's size limits, and graceful shutdown on SIGTERM.

use crate::ingest::{self, Parsed, Rejection, MAX_BATCH_BYTES};
use crate::store::Store;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::json;
use std::io::Read;
use std::sync::Arc;

pub struct AppState {
    pub store: Store,
    pub write_keys: Vec<String>,
}

/// Compressed bodies may be larger than the 500 KB limit is for JSON; the
/// limit is applied again after decompression.
const MAX_WIRE_BYTES: usize = 4 * MAX_BATCH_BYTES;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/track", post(track))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_WIRE_BYTES))
        .with_state(state)
}

fn answer(status: StatusCode, error: &str) -> Response {
    (
        status,
        axum::Json(json!({ "success": false, "error": error })),
    )
        .into_response()
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(
        text.split_once(':')
            .map(|(u, _)| u)
            .unwrap_or(&text)
            .to_string(),
    )
}

fn decoded_body(headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, String> {
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(&body[..]).take(MAX_BATCH_BYTES as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| format!("body is not valid gzip: {e}"))?;
    Ok(out)
}

async fn handle(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Bytes,
    parse: fn(&[u8]) -> Result<Parsed, Rejection>,
) -> Response {
    let header_key = basic_user(&headers);
    if !state.write_keys.is_empty() && header_key.is_none() && !body_may_carry_key(&headers, &body)
    {
        return answer(StatusCode::UNAUTHORIZED, "missing write key");
    }
    let bytes = match decoded_body(&headers, &body) {
        Ok(b) => b,
        Err(why) => return answer(StatusCode::BAD_REQUEST, &why),
    };
    let parsed = match parse(&bytes) {
        Ok(p) => p,
        Err(Rejection::Malformed(why)) => return answer(StatusCode::BAD_REQUEST, &why),
        Err(Rejection::TooLarge(why)) => return answer(StatusCode::PAYLOAD_TOO_LARGE, &why),
    };
    if !state.write_keys.is_empty() {
        let key = header_key.or(parsed.write_key);
        if !key.is_some_and(|k| state.write_keys.iter().any(|known| same_key(known, &k))) {
            return answer(StatusCode::UNAUTHORIZED, "wrong or missing write key");
        }
    }
    match state.store.insert(parsed.rows).await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({ "success": true }))).into_response(),
        Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// Compares keys in time independent of where they differ.
fn same_key(known: &str, given: &str) -> bool {
    known.len() == given.len()
        && known
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Without an Authorization header the key can only be in the body; a body
/// that does not even mention it is refused before parsing.
fn body_may_carry_key(headers: &HeaderMap, body: &Bytes) -> bool {
    headers.contains_key("content-encoding") || body.windows(8).any(|w| w == b"writeKey")
}

async fn batch(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(state, headers, body, ingest::parse_batch).await
}

async fn track(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(state, headers, body, ingest::parse_track).await
}

/// Serves until SIGTERM or SIGINT, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
