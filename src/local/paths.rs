//! Where state lives. `CFDEV_SHIM_HOME` puts everything under one root (tests,
//! sandboxes); otherwise the platform's config dir holds the consent/config
//! file and its data dir holds the spool and delivery state.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StatePaths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

const APP_DIR: &str = "cfdev-shim";
/// The one directory we create below a state root (see `fsutil`).
pub const SPOOL_DIR: &str = "spool";

impl StatePaths {
    /// Everything under one root (`CFDEV_SHIM_HOME`, read by `settings`).
    pub fn under(root: PathBuf) -> StatePaths {
        StatePaths {
            config_dir: root.clone(),
            data_dir: root,
        }
    }

    /// The platform's directories; `None` when there is no home to keep
    /// state in: telemetry then stays inert.
    pub fn platform() -> Option<StatePaths> {
        Some(StatePaths {
            config_dir: dirs::config_dir()?.join(APP_DIR),
            data_dir: dirs::data_dir()?.join(APP_DIR),
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.json")
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join(SPOOL_DIR)
    }
    pub fn spool_file(&self) -> PathBuf {
        self.spool_dir().join("events.jsonl")
    }
    /// Lock file for the spool; its content is the spool's line count.
    pub fn spool_lock(&self) -> PathBuf {
        self.spool_dir().join("events.lock")
    }
    pub fn state_file(&self) -> PathBuf {
        self.data_dir.join("state.json")
    }
    /// Random installation ID, used only when the machine has no stable ID.
    pub fn fallback_id_file(&self) -> PathBuf {
        self.data_dir.join("install-id")
    }
    pub fn delivery_lock(&self) -> PathBuf {
        self.data_dir.join("delivery.lock")
    }
    /// mtime = when the last delivery attempt started (a stat on the hot path).
    pub fn last_attempt_stamp(&self) -> PathBuf {
        self.data_dir.join("last-attempt")
    }
    /// Its size is the number of events skipped because the spool lock was
    /// held too long for cf to wait (see `fsutil::bump_counter`).
    pub fn lock_busy_counter(&self) -> PathBuf {
        self.data_dir.join("skipped-lock-busy")
    }
    /// mtime = earliest time the next background attempt may start (backoff).
    pub fn retry_stamp(&self) -> PathBuf {
        self.data_dir.join("retry-after")
    }
}
