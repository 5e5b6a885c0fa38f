//! Delivery of the spool to a Segment-compatible endpoint
//! (`POST {base}/v1/batch`). Runs detached in the background (the cf command
//! never waits on the network), one at a time under `delivery.lock`, with hard
//! time limits. Events leave the spool only after a 2xx (or a definitive
//! refusal), so a killed delivery loses nothing; a resend after a crash
//! carries the same messageIds, which the store deduplicates.

use crate::config::Config;
use crate::fsutil;
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::state;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

mod process;

pub use process::BACKGROUND_COMMAND;
use process::{spawn_detached, DeliveryLock, FINAL_FLAG};

pub const MAX_BATCH_BYTES: usize = 500 * 1024;
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const BACKGROUND_LIMIT: Duration = Duration::from_secs(30);
const FINAL_LIMIT: Duration = Duration::from_secs(5);
/// A spool this full is delivered without waiting for the interval.
const EAGER_PENDING: u64 = 500;
const MAX_BACKOFF_SECS: u64 = 6 * 3600;

/// Where events go.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base: String,
    pub write_key: Option<String>,
}

impl Endpoint {
    /// `CFDEV_SHIM_ENDPOINT`/`CFDEV_SHIM_WRITE_KEY`, else the stored ones.
    pub fn configured(settings: &Settings, config: &Config) -> Option<Endpoint> {
        if let Some(base) = &settings.endpoint {
            return Some(Endpoint {
                base: base.clone(),
                write_key: settings.write_key.clone(),
            });
        }
        let base = config.endpoint()?.to_string();
        let write_key = settings
            .write_key
            .clone()
            .or_else(|| config.write_key().map(String::from));
        Some(Endpoint { base, write_key })
    }

    pub fn from_paths(settings: &Settings, paths: &StatePaths) -> Option<Endpoint> {
        Endpoint::configured(
            settings,
            &Config::load(&paths.config_file()).unwrap_or_default(),
        )
    }

    pub fn batch_url(&self) -> String {
        format!("{}/v1/batch", self.base.trim_end_matches('/'))
    }
}

/// Checks a URL before it is stored.
pub fn validate_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(()),
        _ => Err(format!(
            "'{url}' must be an http:// or https:// URL with a host"
        )),
    }
}

/// Whether a backoff is in force. A retry time further ahead than any
/// backoff we set means the clock jumped back: it is ignored, not obeyed.
fn backing_off(paths: &StatePaths, now: SystemTime) -> bool {
    let limit = now + Duration::from_secs(MAX_BACKOFF_SECS + 60);
    fsutil::mtime(&paths.retry_stamp()).is_some_and(|t| t > now && t <= limit)
}

/// Hot path, after an event was spooled: a couple of stats decide whether a
/// background delivery is due; if so it is started detached and we return.
pub fn start_background_if_due(
    settings: &Settings,
    paths: &StatePaths,
    config: &Config,
    pending: u64,
) {
    if Endpoint::configured(settings, config).is_none() {
        return;
    }
    let now = SystemTime::now();
    if backing_off(paths, now) {
        return;
    }
    let interval = settings.flush_interval;
    let due = pending >= EAGER_PENDING
        || interval.is_zero()
        || match fsutil::mtime(&paths.last_attempt_stamp()) {
            // The period starts with the first recorded event.
            None => {
                let _ = fsutil::touch_at(&paths.last_attempt_stamp(), now);
                false
            }
            Some(last) => now.duration_since(last).map_or(true, |age| age >= interval),
        };
    if due {
        if let Err(e) = spawn_detached(&[]) {
            state::note_problem(paths, &format!("could not start background delivery: {e}"));
        }
    }
}

/// Entry of the detached delivery process.
pub fn background_main(settings: &Settings, args: &[OsString]) -> crate::exit::Outcome {
    let final_run = args.iter().any(|a| a == FINAL_FLAG);
    let Some(paths) = settings.paths.clone() else {
        return crate::exit::Outcome::Exit(0);
    };
    if final_run {
        run_final(settings, &paths);
        return crate::exit::Outcome::Exit(0);
    }
    #[cfg(unix)]
    // SAFETY: a hard stop: whatever happens, this process is gone after the limit.
    unsafe {
        libc::alarm(BACKGROUND_LIMIT.as_secs() as u32 + 2);
    }
    let Some(endpoint) = Endpoint::from_paths(settings, &paths) else {
        return crate::exit::Outcome::Exit(0);
    };
    let deadline = Instant::now() + BACKGROUND_LIMIT;
    // Re-check after releasing the lock: events spooled while we held it
    // spawned deliveries that found the lock taken and left.
    loop {
        let Ok(Some(lock)) = DeliveryLock::try_acquire(&paths.delivery_lock()) else {
            break;
        };
        let report = deliver(&paths, &endpoint, deadline, false);
        drop(lock);
        let more = Spool::new(&paths).pending_count().unwrap_or(0) > 0;
        if !report.ok() || !more || Instant::now() >= deadline {
            break;
        }
    }
    crate::exit::Outcome::Exit(0)
}

/// Telemetry turned off: one short attempt to send what is pending (the
/// `Telemetry Off` event included), then delete everything, whatever happened.
pub fn final_delivery_then_clear(settings: &Settings, paths: &StatePaths) {
    if Endpoint::from_paths(settings, paths).is_none() {
        return clear_all(paths);
    }
    if let Err(e) = spawn_detached(&[FINAL_FLAG]) {
        state::note_problem(paths, &format!("could not start the final delivery: {e}"));
        clear_all(paths);
    }
}

fn clear_all(paths: &StatePaths) {
    if let Err(e) = Spool::new(paths).clear() {
        state::note_problem(paths, &format!("could not delete pending events: {e}"));
    }
}

fn run_final(settings: &Settings, paths: &StatePaths) {
    let deadline = Instant::now() + FINAL_LIMIT;
    let watchdog_paths = paths.clone();
    std::thread::spawn(move || {
        std::thread::sleep(FINAL_LIMIT);
        clear_all(&watchdog_paths);
        std::process::exit(0);
    });
    if let Some(endpoint) = Endpoint::from_paths(settings, paths) {
        while Instant::now() < deadline {
            if let Ok(Some(lock)) = DeliveryLock::try_acquire(&paths.delivery_lock()) {
                deliver(paths, &endpoint, deadline, true);
                drop(lock);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    clear_all(paths);
}

/// `cfdev-shim flush`: foreground, ignoring backoff.
pub fn flush(settings: &Settings, paths: &StatePaths) -> Result<String, String> {
    let spool = Spool::new(paths);
    let pending = spool
        .pending_count()
        .map_err(|e| format!("cannot read the spool: {e}"))?;
    let Some(endpoint) = Endpoint::from_paths(settings, paths) else {
        return if pending == 0 {
            Ok("nothing pending".into())
        } else {
            Err(format!(
                "{pending} events pending but no endpoint is configured \
                 (cfdev-shim telemetry endpoint URL, or CFDEV_SHIM_ENDPOINT)"
            ))
        };
    };
    let deadline = Instant::now() + BACKGROUND_LIMIT;
    let lock = match DeliveryLock::acquire_within(&paths.delivery_lock(), BACKGROUND_LIMIT) {
        Ok(Some(lock)) => lock,
        Ok(None) => return Err("another delivery is still running".into()),
        Err(e) => {
            return Err(format!(
                "cannot lock {}: {e}",
                paths.delivery_lock().display()
            ))
        }
    };
    let report = deliver(paths, &endpoint, deadline, true);
    drop(lock);
    let left = spool.pending_count().unwrap_or(0);
    if left == 0 {
        Ok(report.summary())
    } else {
        Err(format!("{left} events still pending: {}", report.summary()))
    }
}

/// What one delivery run did.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: u64,
    pub dropped: u64,
    pub failure: Option<String>,
}

impl Report {
    fn ok(&self) -> bool {
        self.failure.is_none()
    }

    pub fn summary(&self) -> String {
        let mut text = format!("delivered {} events", self.delivered);
        if self.dropped > 0 {
            text.push_str(&format!(
                ", dropped {} refused by the endpoint",
                self.dropped
            ));
        }
        if let Some(why) = &self.failure {
            text.push_str(&format!("; stopped: {why}"));
        }
        text
    }
}

/// How the endpoint answered one batch.
enum Answer {
    Accepted,
    /// 413: too large (split and retry).
    TooLarge,
    /// Other 4xx: will never be accepted.
    Refused,
    /// 429, 5xx, network: try again later.
    Retry {
        why: String,
        after: Option<u64>,
    },
}

/// One event as spooled: its messageId and its JSON line, sent verbatim.
type Item<'a> = (&'a str, &'a str);

fn post(endpoint: &Endpoint, batch: &[Item], deadline: Instant) -> Answer {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Answer::Retry {
            why: "time limit reached".into(),
            after: None,
        };
    }
    let mut body =
        String::with_capacity(batch.iter().map(|(_, raw)| raw.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"batch\":[");
    for (i, (_, raw)) in batch.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(raw);
    }
    body.push_str(&format!(
        "],\"sentAt\":\"{}\"}}",
        crate::event::now_timestamp()
    ));
    let mut request = attohttpc::post(endpoint.batch_url())
        .connect_timeout(CONNECT_TIMEOUT.min(remaining))
        .read_timeout(REQUEST_TIMEOUT.min(remaining))
        .timeout(REQUEST_TIMEOUT.min(remaining))
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            concat!("cfdev-shim/", env!("CARGO_PKG_VERSION")),
        )
        .follow_redirects(false);
    if let Some(key) = &endpoint.write_key {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        request = request.header("Authorization", format!("Basic {token}"));
    }
    match request.text(body).send() {
        Ok(response) => {
            let status = response.status().as_u16();
            let after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            match status {
                200..=299 => Answer::Accepted,
                413 => Answer::TooLarge,
                429 | 500..=599 => Answer::Retry {
                    why: format!("HTTP {status}"),
                    after,
                },
                _ => Answer::Refused,
            }
        }
        Err(e) => Answer::Retry {
            why: format!("network error: {e}"),
            after: None,
        },
    }
}

/// Sends `batch`, halving on 413; fills `done` with messageIds that may leave
/// the spool. Returns a retryable failure, if one stopped it.
fn send(
    endpoint: &Endpoint,
    batch: &[Item],
    deadline: Instant,
    done: &mut HashSet<String>,
    report: &mut Report,
) -> Option<(String, Option<u64>)> {
    let ids =
        |events: &[Item]| -> Vec<String> { events.iter().map(|(id, _)| id.to_string()).collect() };
    match post(endpoint, batch, deadline) {
        Answer::Accepted => {
            report.delivered += batch.len() as u64;
            done.extend(ids(batch));
            None
        }
        Answer::TooLarge if batch.len() > 1 => {
            let (left, right) = batch.split_at(batch.len() / 2);
            send(endpoint, left, deadline, done, report)
                .or_else(|| send(endpoint, right, deadline, done, report))
        }
        Answer::TooLarge | Answer::Refused => {
            report.dropped += batch.len() as u64;
            done.extend(ids(batch));
            None
        }
        Answer::Retry { why, after } => Some((why, after)),
    }
}

/// Delivers pending events until the spool is empty, the endpoint asks us to
/// wait, or the deadline passes. Records the attempt in the state.
fn deliver(
    paths: &StatePaths,
    endpoint: &Endpoint,
    deadline: Instant,
    ignore_backoff: bool,
) -> Report {
    let mut report = Report::default();
    let now = SystemTime::now();
    if !ignore_backoff && backing_off(paths, now) {
        return report;
    }
    let _ = fsutil::touch_at(&paths.last_attempt_stamp(), now);
    let spool = Spool::new(paths);
    let mut oversize = 0u64;
    let mut retry: Option<(String, Option<u64>)> = None;
    loop {
        let contents = match spool.read() {
            Ok(c) => c,
            Err(e) => {
                report.failure = Some(format!("cannot read the spool: {e}"));
                break;
            }
        };
        if contents.events.is_empty() {
            if contents.corrupt > 0 {
                let _ = spool.remove(&HashSet::new());
            }
            break;
        }
        let mut done = HashSet::new();
        let items: Vec<Item> = contents
            .events
            .iter()
            .zip(&contents.raw)
            .map(|(event, raw)| {
                (
                    event
                        .get("messageId")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    raw.as_str(),
                )
            })
            .collect();
        let mut next = 0;
        while next < items.len() && retry.is_none() && Instant::now() < deadline {
            let mut batch: Vec<Item> = Vec::new();
            let mut size = 64;
            while let Some(&(id, raw)) = items.get(next) {
                if raw.len() > MAX_EVENT_BYTES {
                    oversize += 1;
                    done.insert(id.to_string());
                    next += 1;
                    continue;
                }
                if size + raw.len() + 1 > MAX_BATCH_BYTES {
                    break;
                }
                size += raw.len() + 1;
                batch.push((id, raw));
                next += 1;
            }
            if !batch.is_empty() {
                retry = send(endpoint, &batch, deadline, &mut done, &mut report);
            }
        }
        let progressed = !done.is_empty();
        if progressed {
            if let Err(e) = spool.remove(&done) {
                report.failure = Some(format!("cannot update the spool: {e}"));
                break;
            }
        }
        if retry.is_some() || !progressed || Instant::now() >= deadline {
            break;
        }
    }
    if let Some((why, _)) = &retry {
        report.failure = Some(why.clone());
    }
    record_attempt(paths, &report, oversize, retry.and_then(|(_, after)| after));
    report
}

fn record_attempt(paths: &StatePaths, report: &Report, oversize: u64, retry_after: Option<u64>) {
    let now = SystemTime::now();
    let mut next_retry = None;
    let _ = state::update(paths, |s| {
        state::add_dropped(s, state::DropReason::Oversize, oversize);
        state::add_dropped(s, state::DropReason::Rejected, report.dropped);
        let failures = if report.ok() {
            0
        } else {
            s.get("consecutive_failures")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                + 1
        };
        s.insert("consecutive_failures".into(), Value::from(failures));
        s.insert(
            "last_attempt".into(),
            json!({ "at": crate::event::now_timestamp(), "ok": report.ok(), "result": report.summary() }),
        );
        if failures > 0 {
            let base = 30u64
                .saturating_mul(1 << failures.min(12))
                .min(MAX_BACKOFF_SECS);
            let jitter = u64::from(crate::identity::random_bytes::<1>()[0]) * base / 1024;
            let wait = retry_after
                .unwrap_or(0)
                .max(base + jitter)
                .min(MAX_BACKOFF_SECS);
            let at = now + Duration::from_secs(wait);
            s.insert("next_attempt".into(), Value::from(format_time(at)));
            next_retry = Some(at);
        } else {
            s.remove("next_attempt");
        }
    });
    match next_retry {
        Some(at) => {
            let _ = fsutil::touch_at(&paths.retry_stamp(), at);
        }
        None => {
            let _ = std::fs::remove_file(paths.retry_stamp());
        }
    }
}

pub fn format_time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
