//! The user's stored choices: consent (with the data-kinds version agreed
//! to), endpoint and write key, one small JSON object. Unknown keys are kept so newer versions can add settings. Reading
//! it is the only disk access the exec path makes.

use crate::fsutil;
use crate::marker;
use serde_json::{Map, Value};
use std::path::Path;

/// Our config is a few hundred bytes; anything this large is not ours.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// The stored choice. The policy around it (who may change it, what the
/// environment overrides, when to ask) lives in `consent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Fresh install, or no answer yet: nothing is captured.
    Undecided,
    On,
    Off,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Undecided => "undecided",
            Consent::On => "on",
            Consent::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    fields: Map<String, Value>,
}

/// Why the config could not be used (shown by `telemetry status`).
#[derive(Debug, Clone)]
pub struct ConfigError(pub String);

impl Config {
    /// Missing file: a fresh install. Unreadable or corrupt: an error the
    /// caller treats as "undecided" (nothing captured) and reports.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // Bounded, non-blocking, regular files only: whatever is at this
        // path must not slow or stop every cf call (see `fsutil`).
        let bytes = match fsutil::read_bounded(path, MAX_CONFIG_BYTES) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Config::default()),
            Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(fields)) => Ok(Config { fields }),
            Ok(_) => Err(ConfigError(format!(
                "{} is not a JSON object",
                path.display()
            ))),
            Err(e) => Err(ConfigError(format!(
                "{} is not valid JSON: {e}",
                path.display()
            ))),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(&Value::Object(self.fields.clone()))
            .unwrap_or_else(|_| "{}".into());
        text.push('\n');
        // Function mode reads the choice from a marker file (marker.rs).
        let on = self.string("telemetry") == Some("on");
        marker::keep_in_step(path, on, || fsutil::write_atomic(path, text.as_bytes()))
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn consent(&self) -> Consent {
        match self.string("telemetry") {
            Some("on") => Consent::On,
            Some("off") => Consent::Off,
            _ => Consent::Undecided,
        }
    }

    /// The data-kinds version the stored choice agreed to (`None` when it
    /// was stored before versioning).
    pub fn data_version(&self) -> Option<u32> {
        self.fields
            .get("data_version")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Stores a choice made now, agreeing to `data_version`'s kinds of data.
    pub fn set_consent(&mut self, consent: Consent, data_version: u32) {
        self.fields
            .insert("telemetry".into(), Value::String(consent.as_str().into()));
        self.fields
            .insert("data_version".into(), Value::from(data_version));
        self.fields.insert(
            "decided_at".into(),
            Value::String(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.string("endpoint")
    }

    pub fn write_key(&self) -> Option<&str> {
        self.string("write_key")
    }

    /// `telemetry endpoint --clear`: events then stay in the local spool.
    pub fn clear_endpoint(&mut self) {
        self.fields.remove("endpoint");
        self.fields.remove("write_key");
    }

    pub fn set_endpoint(&mut self, url: &str, write_key: Option<&str>) {
        self.fields
            .insert("endpoint".into(), Value::String(url.into()));
        match write_key {
            Some(key) => self
                .fields
                .insert("write_key".into(), Value::String(key.into())),
            None => self.fields.remove("write_key"),
        };
    }
}
