//! Every environment variable the wrapper reads, read once at start-up into
//! one typed value that is passed down (as ripgrep's `HiArgs`): the rest of
//! the program does not call `std::env::var`, so its policies can be tested
//! with a hand-built `Settings`. (Forwarding's own inputs stay with it: the
//! recursion guard and PATH in `resolve`, cf's environment in `forward`.)
//! A value that cannot be used is not silently
//! ignored: the default applies and the mistake is kept in `problems`, which
//! `telemetry status` shows. Reading is a dozen `getenv`s and no disk access
//! (the exec path pays for nothing more); cf's own environment is forwarded
//! separately, byte for byte, by `forward`.

use crate::config::Consent;
use crate::paths::StatePaths;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Default seconds between background deliveries (SPEC §3).
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(3600);
/// Default bound on the spool, in events (SPEC §3).
pub const DEFAULT_SPOOL_LIMIT: u64 = 10_000;

/// The names, in one place.
pub mod var {
    pub const HOME: &str = "CFDEV_SHIM_HOME";
    pub const REAL_CF: &str = "CFDEV_SHIM_REAL_CF";
    pub const TELEMETRY: &str = "CFDEV_SHIM_TELEMETRY";
    pub const DO_NOT_TRACK: &str = "DO_NOT_TRACK";
    pub const ENDPOINT: &str = "CFDEV_SHIM_ENDPOINT";
    pub const WRITE_KEY: &str = "CFDEV_SHIM_WRITE_KEY";
    pub const FLUSH_INTERVAL: &str = "CFDEV_SHIM_FLUSH_INTERVAL";
    pub const SPOOL_LIMIT: &str = "CFDEV_SHIM_SPOOL_LIMIT";
    pub const MACHINE_ID_FILE: &str = "CFDEV_SHIM_MACHINE_ID_FILE";
    pub const CI: &str = "CI";
    pub const CF_PLUGIN_HOME: &str = "CF_PLUGIN_HOME";
}

/// The validated settings of this process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where state lives: `CFDEV_SHIM_HOME`, else the platform's config and
    /// data directories; `None` when neither exists (telemetry stays inert).
    pub paths: Option<StatePaths>,
    /// `CFDEV_SHIM_REAL_CF`: the real cf, skipping the PATH search. Kept as
    /// given; `resolve` refuses a relative path with a clear error.
    pub real_cf: Option<PathBuf>,
    /// `CFDEV_SHIM_TELEMETRY=on|off` (also 1/0, true/false, yes/no): this
    /// process's choice, over the stored one.
    pub telemetry: Option<Consent>,
    /// `DO_NOT_TRACK` set to anything but empty or `0`: forces telemetry off,
    /// over everything else.
    pub do_not_track: bool,
    /// `CFDEV_SHIM_ENDPOINT`: base URL overriding the stored endpoint, as
    /// given (delivery checks it and reports a bad one).
    pub endpoint: Option<String>,
    /// `CFDEV_SHIM_WRITE_KEY`: overrides the stored write key. Never printed.
    pub write_key: Option<String>,
    /// `CFDEV_SHIM_FLUSH_INTERVAL` (seconds): time between background
    /// deliveries; zero delivers after every recorded event.
    pub flush_interval: Duration,
    /// `CFDEV_SHIM_SPOOL_LIMIT`: most events kept pending (at least 1).
    pub spool_limit: u64,
    /// `CI` set (to anything): never ask a question.
    pub ci: bool,
    /// `CFDEV_SHIM_MACHINE_ID_FILE`: replaces the platform's machine ID
    /// source (tests use it to exercise the fallback ID).
    pub machine_id_file: Option<PathBuf>,
    /// `CF_PLUGIN_HOME`: where cf keeps its plugin config (default: HOME).
    pub cf_plugin_home: Option<PathBuf>,
    /// Values that were set but could not be used, in reading order.
    pub problems: Vec<Problem>,
}

/// A variable whose value could not be used; the default applied instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub var: &'static str,
    /// The value as set (lossy for non-UTF-8), or `None` when it must not be
    /// shown (a secret).
    pub value: Option<String>,
    /// What was expected and what happens instead.
    pub why: &'static str,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value:?} ignored: {}", self.var, self.why),
            None => write!(f, "{} ignored: {}", self.var, self.why),
        }
    }
}

impl Default for Settings {
    /// Nothing set: every default, no state root (as with HOME unset).
    fn default() -> Settings {
        Settings {
            paths: None,
            real_cf: None,
            telemetry: None,
            do_not_track: false,
            endpoint: None,
            write_key: None,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            spool_limit: DEFAULT_SPOOL_LIMIT,
            ci: false,
            machine_id_file: None,
            cf_plugin_home: None,
            problems: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads this process's environment.
    pub fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var_os(name))
    }

    /// Builds the settings from any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Settings {
        // An empty value counts as unset, as a shell's `VAR= cmd` intends.
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let mut text = |name: &'static str, secret: bool| -> Option<String> {
            match get(name)?.into_string() {
                Ok(s) => Some(s),
                Err(raw) => {
                    problems.push(Problem {
                        var: name,
                        value: (!secret).then(|| raw.to_string_lossy().into_owned()),
                        why: "not valid UTF-8",
                    });
                    None
                }
            }
        };
        let telemetry_raw = text(var::TELEMETRY, false);
        let endpoint = text(var::ENDPOINT, false);
        let write_key = text(var::WRITE_KEY, true);
        let interval_raw = text(var::FLUSH_INTERVAL, false);
        let limit_raw = text(var::SPOOL_LIMIT, false);

        let telemetry = telemetry_raw.and_then(|raw| {
            let parsed = parse_switch(&raw);
            if parsed.is_none() {
                problems.push(Problem {
                    var: var::TELEMETRY,
                    value: Some(raw),
                    why: "expected on or off; the stored choice applies",
                });
            }
            parsed
        });
        let flush_interval = match interval_raw {
            None => DEFAULT_FLUSH_INTERVAL,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(secs) => Duration::from_secs(secs),
                Err(_) => {
                    problems.push(Problem {
                        var: var::FLUSH_INTERVAL,
                        value: Some(raw),
                        why: "expected whole seconds (0 or more); the default 3600 applies",
                    });
                    DEFAULT_FLUSH_INTERVAL
                }
            },
        };
        let spool_limit = match limit_raw {
            None => DEFAULT_SPOOL_LIMIT,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    problems.push(Problem {
                        var: var::SPOOL_LIMIT,
                        value: Some(raw),
                        why: "expected a whole number of events, at least 1; the default 10000 applies",
                    });
                    DEFAULT_SPOOL_LIMIT
                }
            },
        };
        let home = get(var::HOME).map(PathBuf::from);
        Settings {
            paths: match home {
                Some(root) => Some(StatePaths::under(root)),
                None => StatePaths::platform(),
            },
            real_cf: get(var::REAL_CF).map(PathBuf::from),
            telemetry,
            do_not_track: lookup(var::DO_NOT_TRACK).is_some_and(|v| !v.is_empty() && v != "0"),
            endpoint,
            write_key,
            flush_interval,
            spool_limit,
            ci: lookup(var::CI).is_some(),
            machine_id_file: lookup(var::MACHINE_ID_FILE).map(PathBuf::from),
            cf_plugin_home: get(var::CF_PLUGIN_HOME).map(PathBuf::from),
            problems,
        }
    }
}

/// `on`/`off` and their usual spellings, any case.
fn parse_switch(raw: &str) -> Option<Consent> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" | "yes" => Some(Consent::On),
        "off" | "0" | "false" | "no" => Some(Consent::Off),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let s = settings(&[("CFDEV_SHIM_HOME", "/tmp/x")]);
        assert_eq!(s.flush_interval, DEFAULT_FLUSH_INTERVAL);
        assert_eq!(s.spool_limit, DEFAULT_SPOOL_LIMIT);
        assert_eq!(s.telemetry, None);
        assert!(!s.do_not_track && !s.ci);
        assert!(s.problems.is_empty());
        let paths = s.paths.expect("state root");
        assert_eq!(paths.config_file(), PathBuf::from("/tmp/x/config.json"));
    }

    #[test]
    fn valid_values_are_typed() {
        let s = settings(&[
            ("CFDEV_SHIM_TELEMETRY", "YES"),
            ("CFDEV_SHIM_FLUSH_INTERVAL", " 0 "),
            ("CFDEV_SHIM_SPOOL_LIMIT", "5"),
            ("CFDEV_SHIM_ENDPOINT", "http://127.0.0.1:1"),
            ("CFDEV_SHIM_WRITE_KEY", "k"),
            ("CFDEV_SHIM_REAL_CF", "/usr/bin/cf"),
            ("CI", ""),
        ]);
        assert_eq!(s.telemetry, Some(Consent::On));
        assert_eq!(s.flush_interval, Duration::ZERO);
        assert_eq!(s.spool_limit, 5);
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(s.write_key.as_deref(), Some("k"));
        assert_eq!(s.real_cf, Some(PathBuf::from("/usr/bin/cf")));
        assert!(s.ci, "CI counts when set, even empty");
        assert!(s.problems.is_empty());
    }

    #[test]
    fn invalid_values_become_problems_and_defaults_apply() {
        let s = settings(&[
            ("CFDEV_SHIM_TELEMETRY", "maybe"),
            ("CFDEV_SHIM_FLUSH_INTERVAL", "1h"),
            ("CFDEV_SHIM_SPOOL_LIMIT", "0"),
        ]);
        assert_eq!(s.telemetry, None);
        assert_eq!(s.flush_interval, DEFAULT_FLUSH_INTERVAL);
        assert_eq!(s.spool_limit, DEFAULT_SPOOL_LIMIT);
        let vars: Vec<&str> = s.problems.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            [var::TELEMETRY, var::FLUSH_INTERVAL, var::SPOOL_LIMIT]
        );
        assert_eq!(
            s.problems[1].to_string(),
            "CFDEV_SHIM_FLUSH_INTERVAL=\"1h\" ignored: expected whole seconds (0 or more); \
             the default 3600 applies"
        );
    }

    #[test]
    fn do_not_track_empty_or_zero_does_not_count() {
        assert!(!settings(&[("DO_NOT_TRACK", "")]).do_not_track);
        assert!(!settings(&[("DO_NOT_TRACK", "0")]).do_not_track);
        assert!(settings(&[("DO_NOT_TRACK", "1")]).do_not_track);
        assert!(settings(&[("DO_NOT_TRACK", "true")]).do_not_track);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let s = settings(&[
            ("CFDEV_SHIM_TELEMETRY", ""),
            ("CFDEV_SHIM_ENDPOINT", ""),
            ("CFDEV_SHIM_SPOOL_LIMIT", ""),
        ]);
        assert_eq!(s.telemetry, None);
        assert_eq!(s.endpoint, None);
        assert!(s.problems.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_secret_is_reported_without_its_value() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0xff, b'k']);
        let s = Settings::from_lookup(|name| (name == var::WRITE_KEY).then(|| bad.clone()));
        assert_eq!(s.write_key, None);
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.problems[0].value, None);
        assert_eq!(
            s.problems[0].to_string(),
            "CFDEV_SHIM_WRITE_KEY ignored: not valid UTF-8"
        );
    }
}
