//! `/reports/`: the published site served read-only by `serve`, and the
//! schedule that republishes it.
//!
//! Only what `publish` writes can be reached: a path may use letters,
//! digits, `.`, `-`, `_` and `/` (so no percent-encoding, backslash or NUL
//! gets through), no segment may start with `.` (no `..`, no hidden or
//! temporary files), only `.html`, `.json` and `.csv` files are served, at
//! most two levels deep, and symbolic links are never followed. A directory
//! is served through its `index.html`, never listed.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const PREFIX: &str = "/reports";

/// Routes for `/reports` and everything under it.
pub fn router(site: PathBuf) -> Router {
    let site = Arc::new(site);
    Router::new()
        .route(PREFIX, get(|| async { redirect(&format!("{PREFIX}/")) }))
        .route(&format!("{PREFIX}/"), get(file))
        .route(&format!("{PREFIX}/{{*rest}}"), get(file))
        .with_state(site)
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, to.to_string())],
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    match ext {
        "html" => Some("text/html; charset=utf-8"),
        "json" => Some("application/json"),
        "csv" => Some("text/csv; charset=utf-8"),
        _ => None,
    }
}

/// The segments of a request path under `/reports/`, if it is one this
/// module may serve; the last is empty for a directory (`…/`).
pub fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
    {
        return None;
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let (last, dirs) = parts.split_last()?;
    if parts.len() > 3 || dirs.iter().any(|d| d.is_empty() || d.starts_with('.')) {
        return None;
    }
    if last.starts_with('.') {
        return None;
    }
    Some(parts)
}

fn plain(path: &Path) -> Option<std::fs::Metadata> {
    std::fs::symlink_metadata(path).ok()
}

async fn file(
    State(site): State<Arc<PathBuf>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(parts) = segments(uri.path()) else {
        return not_found();
    };
    let mut path = site.as_ref().clone();
    for dir in &parts[..parts.len() - 1] {
        path.push(dir);
        if !plain(&path).is_some_and(|m| m.file_type().is_dir()) {
            return not_found();
        }
    }
    let last = parts[parts.len() - 1];
    let name = if last.is_empty() {
        "index.html"
    } else {
        if plain(&path.join(last)).is_some_and(|m| m.file_type().is_dir()) {
            return redirect(&format!("{}/", uri.path()));
        }
        last
    };
    path.push(name);
    let Some(kind) = content_type(name) else {
        return not_found();
    };
    let Some(meta) = plain(&path).filter(|m| m.file_type().is_file()) else {
        return not_found();
    };
    let read = path.clone();
    let Ok(Ok(body)) = tokio::task::spawn_blocking(move || std::fs::read(read)).await else {
        return not_found();
    };
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut h);
        format!("\"{:016x}-{:x}\"", h.finish(), body.len())
    };
    let last_modified = httpdate(modified);
    let mut response = if not_modified(&headers, &etag, modified) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        r
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    for (name, value) in [
        (header::ETAG, etag.as_str()),
        (header::LAST_MODIFIED, last_modified.as_str()),
        (header::CACHE_CONTROL, "public, no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    response
}

/// RFC 9110 §13.1: If-None-Match wins over If-Modified-Since.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    };
    since.is_some_and(|s| seconds(modified) <= s.timestamp())
}

fn httpdate(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `--publish-every`: `90s`, `30m`, `1h`, `2d` or a number of seconds.
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let bad = || format!("'{text}' is not a duration like 30m, 1h or 3600");
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(format!(
            "--publish-every must be at least one second, not '{text}'"
        ));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_site_paths_are_accepted() {
        assert_eq!(segments("/reports/"), Some(vec![""]));
        assert_eq!(segments("/reports/index.html"), Some(vec!["index.html"]));
        assert_eq!(
            segments("/reports/2026-Q4/report.csv"),
            Some(vec!["2026-Q4", "report.csv"])
        );
        for bad in [
            "/reports/../Cargo.toml",
            "/reports/%2e%2e/x",
            "/reports/2026-Q4/../../etc/passwd",
            "/reports//etc/passwd",
            "/reports/.hidden",
            "/reports/a/b/c/d.html",
            "/reports/a\\b",
            "/reports/index.html.tmp-1",
            "/reportsx/index.html",
            "/reports/./index.html",
        ] {
            let ok = segments(bad).is_some_and(|p| {
                p.last()
                    .is_some_and(|l| content_type(l).is_some() || l.is_empty())
            });
            assert!(!ok, "{bad} accepted: {:?}", segments(bad));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_every("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_every("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_every("30m").unwrap(), Duration::from_secs(1800));
        for bad in ["", "0", "h", "1w", "-1h", "1.5h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
