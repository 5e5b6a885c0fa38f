//! Turning telemetry off, as delivery sees it (SPEC §5): a delivery in
//! flight is stopped, every pending event is deleted unsent, then the
//! `Telemetry Off` event alone gets one short bounded attempt. That attempt
//! runs detached (so `cf dev telemetry --off` never waits on the network)
//! and receives the event in a file of its own, never through the spool:
//! nothing recorded before or after can travel with it.

use super::history::DeliveryState;
use super::process::{self, DeliveryLock, FINAL_FLAG};
use super::{configured_endpoint, load_config, transport};
use crate::fsutil;
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::state;
use crate::state::Attempt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a delivery in flight may take to stop (SIGTERM, then SIGKILL).
const STOP_WAIT: Duration = Duration::from_secs(2);
/// The whole final attempt, connection included.
const FINAL_LIMIT: Duration = Duration::from_secs(5);
/// A track message is at most this large (the wire limit, with room).
const MAX_FINAL_BYTES: u64 = 64 * 1024;

/// What became of the `Telemetry Off` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalEvent {
    /// None was given (telemetry was not on).
    NotGiven,
    /// No valid endpoint: there is nowhere to send it; it is dropped.
    NoEndpoint,
    /// The detached attempt started; it ends within a few seconds.
    Started,
    /// The detached attempt could not start; the event is dropped.
    NotStarted(String),
}

/// What turning off did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnedOff {
    /// Pending events deleted unsent.
    pub deleted: u64,
    pub final_event: FinalEvent,
    /// What went wrong on the way (also noted for `status`), each one line.
    pub problems: Vec<String>,
}

fn final_event_file(paths: &StatePaths) -> PathBuf {
    paths.data_dir.join("telemetry-off.json")
}

/// Called by the consent policy once the choice `off` is saved (so nothing
/// new is captured and no new delivery sends anything): stops a delivery
/// in flight, deletes everything pending, and starts the one bounded
/// attempt to send `telemetry_off` (a serialised track message) alone.
pub fn turn_off(settings: &Settings, paths: &StatePaths, telemetry_off: Option<&str>) -> TurnedOff {
    let mut problems = Vec::new();
    let lock = match process::stop_in_flight(&paths.delivery_lock(), STOP_WAIT) {
        Ok(Some(lock)) => Some(lock),
        Ok(None) => {
            problems.push(format!(
                "a delivery in flight did not stop within {} s",
                STOP_WAIT.as_secs()
            ));
            None
        }
        // No lock file can be made: then no delivery can be running either.
        Err(_) => None,
    };
    let spool = Spool::new(paths);
    let deleted = spool.pending_count().unwrap_or(0);
    if let Err(e) = spool.clear() {
        problems.push(format!("could not delete pending events: {e}"));
    }
    let final_event = match telemetry_off {
        None => FinalEvent::NotGiven,
        Some(line) => start_final(settings, paths, line),
    };
    if let FinalEvent::NotStarted(why) = &final_event {
        problems.push(format!("could not send the Telemetry Off event: {why}"));
    }
    drop(lock);
    for problem in &problems {
        state::note_problem(paths, problem);
    }
    TurnedOff {
        deleted,
        final_event,
        problems,
    }
}

fn start_final(settings: &Settings, paths: &StatePaths, line: &str) -> FinalEvent {
    if !matches!(
        configured_endpoint(settings, &load_config(paths)),
        Ok(Some(_))
    ) {
        return FinalEvent::NoEndpoint;
    }
    let file = final_event_file(paths);
    if let Err(e) = fsutil::write_atomic(&file, line.as_bytes()) {
        return FinalEvent::NotStarted(format!("cannot write {}: {e}", file.display()));
    }
    match process::spawn_detached(&[FINAL_FLAG]) {
        Ok(()) => FinalEvent::Started,
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            FinalEvent::NotStarted(format!("could not start the delivery process: {e}"))
        }
    }
}

/// The detached final attempt: takes the event out of its file, sends it
/// once, alone, within `FINAL_LIMIT`, and records how it went.
pub(super) fn send_final(settings: &Settings, paths: &StatePaths) {
    #[cfg(unix)]
    // SAFETY: a hard stop: whatever happens, this process is gone after the limit.
    unsafe {
        libc::alarm(FINAL_LIMIT.as_secs() as u32 + 2);
    }
    let deadline = Instant::now() + FINAL_LIMIT;
    let file = final_event_file(paths);
    let line = read_bounded(&file);
    let _ = std::fs::remove_file(&file);
    let Some(line) = line else { return };
    let Ok(Some((endpoint, _))) = configured_endpoint(settings, &load_config(paths)) else {
        return;
    };
    let Ok(Some(_lock)) = DeliveryLock::acquire_within(&paths.delivery_lock(), FINAL_LIMIT) else {
        return;
    };
    let answer = transport::post(&endpoint, [line.trim_end()], deadline);
    let (ok, result) = match answer {
        super::policy::Answer::Status { status, .. } if (200..300).contains(&status) => {
            (true, "sent the Telemetry Off event".to_string())
        }
        super::policy::Answer::Status { status, .. } => (
            false,
            format!("the Telemetry Off event was not accepted: HTTP {status}"),
        ),
        super::policy::Answer::Network(why)
        | super::policy::Answer::Tls(why)
        | super::policy::Answer::Dns(why) => (
            false,
            format!("the Telemetry Off event was not sent: {why}"),
        ),
    };
    let _ = state::update(paths, |s| {
        let mut delivery = DeliveryState::from_state(s);
        delivery.last_attempt = Some(Attempt {
            at: cfdev_wire::now_timestamp(),
            ok,
            result,
        });
        delivery.store(s);
    });
}

fn read_bounded(file: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    fsutil::private_options()
        .read(true)
        .open(file)
        .ok()?
        .take(MAX_FINAL_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    (!text.trim().is_empty()).then_some(text)
}
