//! `telemetry status`: everything the wrapper knows about its own state,
//! gathered into one typed `Status` (serialised by serde for `--json`,
//! rendered as text from the same fields). Gathering never writes: no
//! directory, lock or probe file is created, so status works on read-only
//! state and shows what is really there.

use crate::config::Config;
use crate::consent::{self, Source, Telemetry, DATA_VERSION};
use crate::deliver::{DeliveryStatus, Endpoint, ProblemSeen};
use crate::output::count;
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::state::{self, Attempt, DropReason, Dropped};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Below this much free space the next event may not fit.
const LOW_SPACE_BYTES: u64 = 16 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The decision in force: undecided, on, off or paused.
    pub telemetry: &'static str,
    /// What the config file holds: undecided, on, off, or unreadable.
    pub stored_choice: &'static str,
    /// Why `telemetry` is what it is.
    pub reason: String,
    pub data_version: DataVersion,
    /// First 8 hex digits of the anonymous ID; `None` before one exists.
    pub anonymous_id_prefix: Option<String>,
    pub paths: Paths,
    pub pending: u64,
    pub spool_limit: u64,
    pub dropped: DroppedView,
    /// Where events go (`…/v1/batch`), if anywhere.
    pub endpoint: Option<String>,
    /// `CFDEV_SHIM_ENDPOINT` or `config`.
    pub endpoint_source: Option<&'static str>,
    /// Why the configured endpoint cannot be used (it breaks the endpoint
    /// rules); also listed in `problems`.
    pub endpoint_problem: Option<String>,
    pub write_key_set: bool,
    /// The write key, masked: never shown in full.
    pub write_key: Option<String>,
    pub last_attempt: Option<Attempt>,
    pub next_attempt: Option<String>,
    /// The endpoint's configuration problem (wrong key or URL, redirect,
    /// TLS, DNS) seen by the last delivery to the endpoint in use.
    pub delivery_problem: Option<ProblemSeen>,
    /// No problem: `problems` is empty.
    pub ok: bool,
    /// Each one line, saying what is wrong.
    pub problems: Vec<String>,
}

/// The data-kinds version agreed to (by the stored choice) and this
/// release's.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DataVersion {
    pub agreed: Option<u32>,
    pub current: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    pub config: PathBuf,
    pub spool: PathBuf,
    pub state: PathBuf,
}

/// Dropped counts with their total, as shown.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DroppedView {
    #[serde(flatten)]
    pub by_reason: Dropped,
    /// Skipped on cf's path because the spool lock was held too long.
    pub lock_busy: u64,
    pub total: u64,
}

impl Status {
    /// Gathers the status without changing anything.
    pub fn gather(settings: &Settings, paths: &StatePaths) -> Status {
        let config = Config::load(&paths.config_file());
        let (telemetry, source) = consent::effective(settings, &config);
        let mut problems: Vec<String> = settings.problems.iter().map(|p| p.to_string()).collect();
        if let Source::ConfigUnreadable(why) = &source {
            problems.push(why.clone());
        }
        let stored_choice = match &config {
            Ok(c) => c.consent().as_str(),
            Err(_) => "unreadable",
        };
        let reason = match (telemetry, &source) {
            (Telemetry::Paused { agreed }, _) => consent::paused_reason(agreed),
            _ => source.describe(),
        };
        let (pending, corrupt_now) = match Spool::new(paths).peek() {
            Ok(c) => (c.events.len() as u64, c.corrupt),
            Err(e) => {
                problems.push(format!("cannot read the pending events: {e}"));
                (0, 0)
            }
        };
        if corrupt_now > 0 {
            problems.push(format!(
                "{} in the spool (skipped; dropped at the next delivery)",
                count(corrupt_now, "corrupt line", "corrupt lines")
            ));
        }
        if telemetry.captures() {
            if let Some(why) = unwritable(&paths.spool_dir()) {
                problems.push(format!("events cannot be recorded: {why}"));
            }
        }
        let st = state::load(paths);
        if let Some(p) = state::last_problem(&st) {
            problems.push(describe_problem(paths, &p));
        }
        let mut by_reason = state::dropped(&st);
        by_reason.add(DropReason::Corrupt, corrupt_now);
        let lock_busy = Spool::new(paths).lock_busy_skips();
        let default_config = Config::default();
        let config_ref = config.as_ref().unwrap_or(&default_config);
        let delivery = DeliveryStatus::read(settings, paths, config_ref);
        problems.extend(delivery.problems());
        let endpoint = delivery.endpoint.as_ref().map(|(e, _)| e);
        Status {
            telemetry: telemetry.as_str(),
            stored_choice,
            reason,
            data_version: DataVersion {
                agreed: config
                    .as_ref()
                    .ok()
                    .filter(|c| c.consent() != crate::config::Consent::Undecided)
                    .map(|c| c.data_version().unwrap_or(1)),
                current: DATA_VERSION,
            },
            anonymous_id_prefix: crate::identity::anonymous_id_readonly(settings, paths)
                .map(|id| id[..8].to_string()),
            paths: Paths {
                config: paths.config_file(),
                spool: paths.spool_file(),
                state: paths.state_file(),
            },
            pending,
            spool_limit: settings.spool_limit,
            dropped: DroppedView {
                by_reason,
                lock_busy,
                total: by_reason.total() + lock_busy,
            },
            endpoint: endpoint.map(Endpoint::batch_url),
            endpoint_source: delivery
                .endpoint
                .as_ref()
                .map(|(_, source)| source.as_str()),
            endpoint_problem: delivery.endpoint_problem.clone(),
            write_key_set: endpoint.is_some_and(|e| e.write_key.is_some()),
            write_key: endpoint.and_then(Endpoint::masked_write_key),
            last_attempt: state::last_attempt(&st),
            next_attempt: state::next_attempt(&st),
            delivery_problem: delivery.current_problem().cloned(),
            ok: problems.is_empty(),
            problems,
        }
    }

    /// The text form, one fact a line.
    pub fn render(&self) -> String {
        let mut lines = vec![
            format!("telemetry: {} ({})", self.telemetry, self.reason),
            format!(
                "anonymous id: {}",
                self.anonymous_id_prefix
                    .as_deref()
                    .map(|p| format!("{p}…"))
                    .unwrap_or_else(|| "(not created yet)".into())
            ),
            format!("config: {}", self.paths.config.display()),
            format!("spool: {}", self.paths.spool.display()),
            format!(
                "pending: {} (at most {} kept)",
                count(self.pending, "event", "events"),
                self.spool_limit
            ),
            format!(
                "dropped: {} (spool full {}, corrupt {}, oversize {}, rejected {}, lock busy {})",
                count(self.dropped.total, "event", "events"),
                self.dropped.by_reason.spool_full,
                self.dropped.by_reason.corrupt,
                self.dropped.by_reason.oversize,
                self.dropped.by_reason.rejected,
                self.dropped.lock_busy
            ),
        ];
        lines.push(match (&self.endpoint, self.endpoint_source) {
            (Some(url), Some(source)) => format!("endpoint: {url} ({source})"),
            _ if self.endpoint_problem.is_some() => {
                "endpoint: unusable (see problems); events stay in the local spool".into()
            }
            _ => "endpoint: none configured; events stay in the local spool".into(),
        });
        if let Some(key) = &self.write_key {
            lines.push(format!("write key: {key}"));
        }
        lines.push(match &self.last_attempt {
            Some(a) => format!("last delivery attempt: {} — {}", a.at, a.result),
            None => "last delivery attempt: never".into(),
        });
        if let Some(next) = &self.next_attempt {
            lines.push(format!("next delivery attempt: not before {next}"));
        }
        for problem in &self.problems {
            lines.push(format!("problem: {problem}"));
        }
        lines.join("\n")
    }
}

/// A recording problem, and whether recording worked again since.
fn describe_problem(paths: &StatePaths, p: &state::Problem) -> String {
    // A spool written after the problem shows recording works again.
    let since = chrono::DateTime::parse_from_rfc3339(&p.at)
        .ok()
        .and_then(|t| {
            let written = crate::fsutil::mtime(&paths.spool_file())?;
            (chrono::DateTime::<chrono::Utc>::from(written) > t)
                .then_some("; events were recorded again since")
        });
    format!("{} (at {}{})", p.what, p.at, since.unwrap_or(""))
}

/// Why events could not be written under `dir`, found without writing:
/// the nearest existing directory must be writable, and its filesystem must
/// have room for an event.
fn unwritable(dir: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let existing = dir.ancestors().find(|d| d.is_dir())?;
    let c_path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: c_path is a valid NUL-terminated string for the call.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } != 0 {
        let err = std::io::Error::last_os_error();
        return Some(format!("{} is not writable: {err}", existing.display()));
    }
    // SAFETY: statvfs only writes into the zeroed struct we own.
    let mut fs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is valid and fs is a valid out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut fs) } == 0 {
        if fs.f_flag & libc::ST_RDONLY != 0 {
            return Some(format!(
                "{} is on a read-only filesystem",
                existing.display()
            ));
        }
        let free = (fs.f_bavail as u64).saturating_mul(fs.f_frsize as u64);
        if free < LOW_SPACE_BYTES {
            return Some(format!(
                "the filesystem of {} is full ({free} bytes free)",
                existing.display()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            telemetry: "on",
            stored_choice: "on",
            reason: "stored choice".into(),
            data_version: DataVersion {
                agreed: Some(DATA_VERSION),
                current: DATA_VERSION,
            },
            anonymous_id_prefix: Some("0123abcd".into()),
            paths: Paths {
                config: "/s/config.json".into(),
                spool: "/s/spool/events.jsonl".into(),
                state: "/s/state.json".into(),
            },
            pending: 1,
            spool_limit: 10,
            dropped: DroppedView {
                by_reason: Dropped {
                    spool_full: 1,
                    ..Dropped::default()
                },
                lock_busy: 2,
                total: 3,
            },
            endpoint: None,
            endpoint_source: None,
            endpoint_problem: None,
            write_key_set: false,
            write_key: None,
            last_attempt: None,
            next_attempt: None,
            delivery_problem: None,
            ok: false,
            problems: vec!["CFDEV_SHIM_SPOOL_LIMIT=\"x\" ignored: …".into()],
        }
    }

    #[test]
    fn text_is_rendered_from_the_fields_with_plurals() {
        assert_eq!(
            sample().render(),
            "telemetry: on (stored choice)\n\
             anonymous id: 0123abcd…\n\
             config: /s/config.json\n\
             spool: /s/spool/events.jsonl\n\
             pending: 1 event (at most 10 kept)\n\
             dropped: 3 events (spool full 1, corrupt 0, oversize 0, rejected 0, lock busy 2)\n\
             endpoint: none configured; events stay in the local spool\n\
             last delivery attempt: never\n\
             problem: CFDEV_SHIM_SPOOL_LIMIT=\"x\" ignored: …"
        );
    }

    #[test]
    fn json_keeps_the_documented_shape() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["dropped"]["spool_full"], 1);
        assert_eq!(json["dropped"]["lock_busy"], 2);
        assert_eq!(json["dropped"]["total"], 3);
        assert_eq!(json["data_version"]["current"], DATA_VERSION);
        assert_eq!(json["paths"]["config"], "/s/config.json");
        assert!(json["last_attempt"].is_null());
        assert_eq!(json["ok"], false);
        assert!(json["delivery_problem"].is_null() && json["write_key"].is_null());
    }
}
