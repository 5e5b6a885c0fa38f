//! The HTTP side: `POST /v1/batch`, `POST /v1/track`, `GET /healthz`.
//! Authentication (Basic auth user = write key, or `writeKey` in the body),
//! gzip bodies, Segment's size limits, one log line per request on stderr,
//! and graceful shutdown on SIGTERM. It sees the storage only through
//! `store::Store`, whichever backend that is.

use crate::ingest::{self, Parsed, Rejection, MAX_BATCH_BYTES};
use crate::store::{Health, Store};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
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
    /// No per-request log lines.
    pub quiet: bool,
}

/// How many events a request carried, for its log line.
#[derive(Clone, Copy)]
struct Events(usize);

/// Compressed bodies may be larger than the 500 KB limit is for JSON; the
/// limit is applied again after decompression.
const MAX_WIRE_BYTES: usize = 4 * MAX_BATCH_BYTES;

pub fn router(state: Arc<AppState>) -> Router {
    let quiet = state.quiet;
    let router = Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/track", post(track))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_WIRE_BYTES))
        .with_state(state);
    if quiet {
        router
    } else {
        router.layer(middleware::from_fn(log_request))
    }
}

/// 200 "ok" when writes can be committed; 503 with the reason otherwise
/// (ingest answers 503 too, so clients keep their events and retry).
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.health().await {
        Health::Ok => (StatusCode::OK, "ok\n").into_response(),
        Health::Unavailable(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {why}\n"),
        )
            .into_response(),
    }
}

/// One line per request on stderr: method, path, status, events, time; so
/// an operator sees a client's 401s and 400s without a debugger.
async fn log_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let events = response.extensions().get::<Events>().map_or(0, |e| e.0);
    eprintln!(
        "cfdev-collector: {method} {path} {} events={events} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
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
    let events = Events(parsed.rows.len());
    let mut response = match state.store.insert(parsed.rows).await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({ "success": true }))).into_response(),
        Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, &e.0),
    };
    response.extensions_mut().insert(events);
    response
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
    serve_router(listener, router(state)).await
}

/// `serve` for a router the caller extended (the published site, `/reports/`).
pub async fn serve_router(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
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
