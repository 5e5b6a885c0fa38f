//! Delivery of the spool to a Segment-compatible endpoint
//! (`POST {base}/v1/batch`, SPEC §6). Runs detached in the background (the
//! cf command never waits on the network), one at a time under
//! `delivery.lock`, with hard time limits. Events leave the spool only after
//! a 2xx (or a definitive refusal), so a killed delivery loses nothing; a
//! resend after a crash carries the same messageIds, which the store
//! deduplicates. Configuration mistakes keep the events and are reported.
//!
//! This file runs deliveries; `policy` decides (pure functions), `transport`
//! makes the requests, `endpoint` holds the endpoint rules, `process` starts
//! and stops the detached deliverer, `history` keeps what happened,
//! `opt_out` is what turning telemetry off does to delivery.

mod endpoint;
mod history;
mod opt_out;
mod policy;
mod process;
mod transport;

pub use endpoint::{mask_secret, normalise as check_endpoint, Endpoint, EndpointSource};
pub use history::{DeliveryState, ProblemSeen};
pub use opt_out::{turn_off, FinalEvent, TurnedOff};
pub use policy::ConfigProblem;
pub use process::BACKGROUND_COMMAND;

use crate::config::Config;
use crate::consent;
use crate::fsutil;
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::state::{self, Attempt, DropReason};
use policy::{Due, Verdict};
use process::{spawn_detached, DeliveryLock, FINAL_FLAG};
use serde_json::Value;
use std::collections::HashSet;
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

/// A background delivery gives up after this long, whatever happens.
const BACKGROUND_LIMIT: Duration = Duration::from_secs(30);

/// The endpoint in use, from the settings (`CFDEV_SHIM_ENDPOINT`,
/// `CFDEV_SHIM_WRITE_KEY`) over the config (see `endpoint::configured`).
pub fn configured_endpoint(
    settings: &Settings,
    config: &Config,
) -> Result<Option<(Endpoint, EndpointSource)>, String> {
    endpoint::configured(
        settings.endpoint.as_deref(),
        settings.write_key.as_deref(),
        config,
    )
}

impl Endpoint {
    /// The endpoint in use, if any and valid (for the consent prompt).
    pub fn configured(settings: &Settings, config: &Config) -> Option<Endpoint> {
        configured_endpoint(settings, config)
            .ok()
            .flatten()
            .map(|(e, _)| e)
    }
}

fn load_config(paths: &StatePaths) -> Config {
    Config::load(&paths.config_file()).unwrap_or_default()
}

/// Events may be sent only while telemetry is on (not off, undecided or
/// paused), re-read at each batch so a delivery that outlives an opt-out
/// sends nothing more.
fn sending_allowed(settings: &Settings, paths: &StatePaths) -> bool {
    consent::effective(settings, &Config::load(&paths.config_file()))
        .0
        .captures()
}

/// Hot path, after an event was spooled: a couple of stats decide whether a
/// background delivery is due; if so it is started detached and we return.
pub fn start_background_if_due(
    settings: &Settings,
    paths: &StatePaths,
    config: &Config,
    pending: u64,
) {
    // An invalid endpoint is shown by `status`; there is nothing to start.
    let Ok(Some(_)) = configured_endpoint(settings, config) else {
        return;
    };
    let now = SystemTime::now();
    if policy::backing_off(fsutil::mtime(&paths.retry_stamp()), now) {
        return;
    }
    let last = fsutil::mtime(&paths.last_attempt_stamp());
    match policy::due(pending, settings.flush_interval, last, now) {
        Due::NotYet => {}
        Due::StartInterval => {
            let _ = fsutil::touch_at(&paths.last_attempt_stamp(), now);
        }
        Due::Now => {
            if let Err(e) = spawn_detached(&[]) {
                state::note_problem(paths, &format!("could not start background delivery: {e}"));
            }
        }
    }
}

/// Entry of the detached delivery process.
pub fn background_main(settings: &Settings, args: &[OsString]) -> crate::exit::Outcome {
    let exit = crate::exit::Outcome::Exit(0);
    let Some(paths) = settings.paths.as_ref() else {
        return exit;
    };
    if args.iter().any(|a| a == FINAL_FLAG) {
        opt_out::send_final(settings, paths);
        return exit;
    }
    #[cfg(unix)]
    // SAFETY: a hard stop: whatever happens, this process is gone after the limit.
    unsafe {
        libc::alarm(BACKGROUND_LIMIT.as_secs() as u32 + 2);
    }
    let Ok(Some((endpoint, _))) = configured_endpoint(settings, &load_config(paths)) else {
        return exit;
    };
    let deadline = Instant::now() + BACKGROUND_LIMIT;
    // Re-check after releasing the lock: events spooled while we held it
    // spawned deliveries that found the lock taken and left.
    loop {
        let Ok(Some(lock)) = DeliveryLock::try_acquire(&paths.delivery_lock()) else {
            break;
        };
        let report = deliver(settings, paths, &endpoint, deadline, false);
        drop(lock);
        let more = Spool::new(paths).pending_count().unwrap_or(0) > 0;
        if !report.ok() || !more || Instant::now() >= deadline {
            break;
        }
    }
    exit
}

/// `cfdev-shim flush`: foreground, ignoring backoff. `Err` when anything is
/// left pending, with why (a configuration problem names the HTTP status
/// and what to fix).
pub fn flush(settings: &Settings, paths: &StatePaths) -> Result<String, String> {
    let spool = Spool::new(paths);
    let pending = spool
        .pending_count()
        .map_err(|e| format!("cannot read the spool: {e}"))?;
    let endpoint = match configured_endpoint(settings, &load_config(paths)) {
        Ok(Some((endpoint, _))) => endpoint,
        Ok(None) if pending == 0 => return Ok("nothing pending".into()),
        Ok(None) => {
            return Err(format!(
                "{pending} events pending but no endpoint is configured \
                 (cfdev-shim telemetry endpoint URL, or CFDEV_SHIM_ENDPOINT)"
            ))
        }
        Err(problem) => return Err(format!("{pending} events kept: {problem}")),
    };
    if !sending_allowed(settings, paths) {
        return match pending {
            0 => Ok("nothing pending".into()),
            _ => Err(format!(
                "{pending} events pending but telemetry is not on: nothing is sent"
            )),
        };
    }
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
    let report = deliver(
        settings,
        paths,
        &endpoint,
        Instant::now() + BACKGROUND_LIMIT,
        true,
    );
    drop(lock);
    let left = spool.pending_count().unwrap_or(0);
    match &report.stop {
        Some(Stop::Misconfigured(problem)) => {
            Err(format!("{left} events kept: {}", problem.describe()))
        }
        _ if left == 0 => Ok(report.summary()),
        _ => Err(format!("{left} events still pending: {}", report.summary())),
    }
}

/// Why a delivery run stopped before the spool was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Try again later (429, 5xx, network, time limit).
    Retry { why: String, after: Option<u64> },
    /// The operator must fix the endpoint configuration.
    Misconfigured(ConfigProblem),
    /// Telemetry was turned off meanwhile.
    ConsentWithdrawn,
    /// The spool could not be read or rewritten.
    Spool(String),
}

/// What one delivery run did.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: u64,
    pub rejected: u64,
    pub oversize: u64,
    pub stop: Option<Stop>,
}

impl Report {
    fn ok(&self) -> bool {
        self.stop.is_none()
    }

    fn count_drop(&mut self, reason: DropReason, n: u64) {
        match reason {
            DropReason::Rejected => self.rejected += n,
            DropReason::Oversize => self.oversize += n,
            // Not a delivery outcome (the spool's own).
            DropReason::SpoolFull | DropReason::Corrupt => {}
        }
    }

    pub fn summary(&self) -> String {
        let mut text = format!("delivered {} events", self.delivered);
        if self.rejected > 0 {
            text.push_str(&format!(
                ", dropped {} refused by the endpoint",
                self.rejected
            ));
        }
        if self.oversize > 0 {
            text.push_str(&format!(", dropped {} too large", self.oversize));
        }
        match &self.stop {
            None => {}
            Some(Stop::Retry { why, .. }) => text.push_str(&format!("; stopped: {why}")),
            Some(Stop::Misconfigured(p)) => text.push_str(&format!("; stopped: {}", p.describe())),
            Some(Stop::ConsentWithdrawn) => text.push_str("; stopped: telemetry was turned off"),
            Some(Stop::Spool(why)) => text.push_str(&format!("; stopped: {why}")),
        }
        text
    }
}

/// One event as spooled: its messageId and its JSON line, sent verbatim.
type Item<'a> = (&'a str, &'a str);

/// Sends `batch`, halving on 413; fills `done` with messageIds that may leave
/// the spool. Returns what stopped it, if anything.
fn send(
    endpoint: &Endpoint,
    batch: &[Item],
    deadline: Instant,
    done: &mut HashSet<String>,
    report: &mut Report,
) -> Option<Stop> {
    let answer = transport::post(endpoint, batch.iter().map(|(_, raw)| *raw), deadline);
    let finished = |done: &mut HashSet<String>| {
        done.extend(batch.iter().map(|(id, _)| id.to_string()));
    };
    match policy::judge(&answer, batch.len()) {
        Verdict::Delivered => {
            report.delivered += batch.len() as u64;
            finished(done);
            None
        }
        Verdict::Split => {
            let (left, right) = batch.split_at(batch.len() / 2);
            send(endpoint, left, deadline, done, report)
                .or_else(|| send(endpoint, right, deadline, done, report))
        }
        Verdict::Drop(reason) => {
            report.count_drop(reason, batch.len() as u64);
            finished(done);
            None
        }
        Verdict::Retry { why, after } => Some(Stop::Retry { why, after }),
        Verdict::Misconfigured(problem) => Some(Stop::Misconfigured(problem)),
    }
}

/// Delivers pending events until the spool is empty, something stops it, or
/// the deadline passes. Records the attempt for `status` and the backoff.
fn deliver(
    settings: &Settings,
    paths: &StatePaths,
    endpoint: &Endpoint,
    deadline: Instant,
    ignore_backoff: bool,
) -> Report {
    let mut report = Report::default();
    let now = SystemTime::now();
    if !ignore_backoff && policy::backing_off(fsutil::mtime(&paths.retry_stamp()), now) {
        return report;
    }
    let _ = fsutil::touch_at(&paths.last_attempt_stamp(), now);
    let spool = Spool::new(paths);
    while report.stop.is_none() {
        let contents = match spool.read() {
            Ok(c) => c,
            Err(e) => {
                report.stop = Some(Stop::Spool(format!("cannot read the spool: {e}")));
                break;
            }
        };
        if contents.events.is_empty() {
            if contents.corrupt > 0 {
                let _ = spool.remove(&HashSet::new());
            }
            break;
        }
        let items: Vec<Item> = contents
            .events
            .iter()
            .zip(&contents.raw)
            .map(|(event, raw)| {
                let id = event.get("messageId").and_then(Value::as_str);
                (id.unwrap_or_default(), raw.as_str())
            })
            .collect();
        let plan = policy::plan(&items.iter().map(|(_, raw)| raw.len()).collect::<Vec<_>>());
        let mut done: HashSet<String> = plan
            .oversize
            .iter()
            .map(|&i| items[i].0.to_string())
            .collect();
        report.oversize += plan.oversize.len() as u64;
        for batch in &plan.batches {
            if Instant::now() >= deadline {
                report.stop = Some(Stop::Retry {
                    why: "time limit reached".into(),
                    after: None,
                });
            } else if !sending_allowed(settings, paths) {
                report.stop = Some(Stop::ConsentWithdrawn);
            }
            if report.stop.is_some() {
                break;
            }
            let batch: Vec<Item> = batch.iter().map(|&i| items[i]).collect();
            let stop = send(endpoint, &batch, deadline, &mut done, &mut report);
            report.stop = stop;
        }
        if done.is_empty() {
            break;
        }
        if let Err(e) = spool.remove(&done) {
            report.stop = Some(Stop::Spool(format!("cannot update the spool: {e}")));
        }
    }
    if report.stop != Some(Stop::ConsentWithdrawn) {
        record_attempt(paths, endpoint, &report);
    }
    report
}

/// Counts drops, keeps the attempt, its failure streak and backoff, and the
/// configuration problem (cleared by a success), for `status`.
fn record_attempt(paths: &StatePaths, endpoint: &Endpoint, report: &Report) {
    let now = SystemTime::now();
    let mut next_retry = None;
    let _ = state::update(paths, |s| {
        state::add_dropped(s, DropReason::Oversize, report.oversize);
        state::add_dropped(s, DropReason::Rejected, report.rejected);
        let mut delivery = DeliveryState::from_state(s);
        delivery.last_attempt = Some(Attempt {
            at: cfdev_wire::now_timestamp(),
            ok: report.ok(),
            result: report.summary(),
        });
        match &report.stop {
            None => {
                delivery.consecutive_failures = 0;
                delivery.next_attempt = None;
                delivery.problem = None;
            }
            Some(stop) => {
                delivery.consecutive_failures += 1;
                let after = match stop {
                    Stop::Retry { after, .. } => *after,
                    _ => None,
                };
                let jitter = crate::identity::random_bytes::<1>()[0];
                let at = now + policy::backoff(delivery.consecutive_failures, after, jitter);
                delivery.next_attempt = Some(cfdev_wire::timestamp_of(at));
                next_retry = Some(at);
                if let Stop::Misconfigured(problem) = stop {
                    delivery.problem = Some(ProblemSeen::new(problem, &endpoint.base));
                }
            }
        }
        delivery.store(s);
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

/// The endpoint configuration changed: a problem seen with the old one is
/// no longer known to apply.
pub fn forget_problem(paths: &StatePaths) {
    let _ = state::update(paths, |s| {
        let mut delivery = DeliveryState::from_state(s);
        if delivery.problem.take().is_some() {
            delivery.store(s);
        }
    });
}

/// What `status` shows about delivery, typed for its renderers.
#[derive(Debug, Clone)]
pub struct DeliveryStatus {
    /// The endpoint in use, if one is configured and valid.
    pub endpoint: Option<(Endpoint, EndpointSource)>,
    /// A configured endpoint that breaks the rules.
    pub endpoint_problem: Option<String>,
    pub state: DeliveryState,
}

impl DeliveryStatus {
    /// Reads, never writes.
    pub fn read(settings: &Settings, paths: &StatePaths, config: &Config) -> DeliveryStatus {
        let (endpoint, endpoint_problem) = match configured_endpoint(settings, config) {
            Ok(endpoint) => (endpoint, None),
            Err(problem) => (None, Some(problem)),
        };
        DeliveryStatus {
            endpoint,
            endpoint_problem,
            state: DeliveryState::from_state(&state::load(paths)),
        }
    }

    /// The configuration problem seen with the endpoint now in use.
    pub fn current_problem(&self) -> Option<&ProblemSeen> {
        let (endpoint, _) = self.endpoint.as_ref()?;
        self.state.problem_with(&endpoint.base)
    }

    /// Problems to list: each says what to do.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self.endpoint_problem.iter().cloned().collect();
        if let Some(p) = self.current_problem() {
            problems.push(format!(
                "delivery failed: {} (at {}; events are kept)",
                p.message, p.at
            ));
        }
        problems
    }
}
