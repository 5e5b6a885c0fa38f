//! Consent: undecided (fresh install, nothing captured), on, or off. The
//! environment can override the stored choice for one process
//! (`DO_NOT_TRACK` forces off; `CFDEV_SHIM_TELEMETRY=on|off`). The first
//! interactive `cf dev start` asks once, default No.

pub use crate::config::Consent;
use crate::config::{Config, ConfigError};
use crate::settings::Settings;
use std::io::Write;

/// Where the effective decision came from (for `telemetry status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    DoNotTrack,
    EnvOverride,
    Config,
    ConfigUnreadable(String),
    NoStateDir,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::DoNotTrack => "forced off by DO_NOT_TRACK".into(),
            Source::EnvOverride => "set by CFDEV_SHIM_TELEMETRY for this process".into(),
            Source::Config => "stored choice".into(),
            Source::ConfigUnreadable(why) => {
                format!("config unusable, treated as undecided: {why}")
            }
            Source::NoStateDir => "no state directory (HOME and CFDEV_SHIM_HOME unset)".into(),
        }
    }
}

/// The override from the environment, if any: checked before touching disk.
pub fn env_override(settings: &Settings) -> Option<(Consent, Source)> {
    if settings.do_not_track {
        return Some((Consent::Off, Source::DoNotTrack));
    }
    settings.telemetry.map(|c| (c, Source::EnvOverride))
}

/// The effective consent given the loaded config.
pub fn effective(settings: &Settings, config: &Result<Config, ConfigError>) -> (Consent, Source) {
    if let Some(found) = env_override(settings) {
        return found;
    }
    match config {
        Ok(config) => (config.consent(), Source::Config),
        Err(ConfigError(why)) => (Consent::Undecided, Source::ConfigUnreadable(why.clone())),
    }
}

/// Whether we may ask: a person at a terminal, not CI.
#[cfg(unix)]
pub fn can_prompt(settings: &Settings) -> bool {
    // SAFETY: isatty only inspects the descriptors.
    let tty = unsafe { libc::isatty(0) == 1 && libc::isatty(2) == 1 };
    tty && !settings.ci
}

#[cfg(not(unix))]
pub fn can_prompt(_settings: &Settings) -> bool {
    false
}

/// The question shown on the first interactive `cf dev start`.
pub fn prompt_text(endpoint: Option<&str>) -> String {
    let names: Vec<&str> = crate::catalogue::CATALOGUE
        .iter()
        .map(|row| row.event)
        .collect();
    let mut unique: Vec<&str> = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    format!(
        "CF Dev collects anonymous usage data to improve the tool (cfdev-shim).\n\
         Collected: the events {}; an anonymous machine ID (a SHA-256 hash, never the\n\
         machine's own ID); the operating system; the build; timestamps.\n\
         Never collected: app, org, space, service, route or user names, paths, URLs or credentials.\n\
         Sent to: {}.\n\
         See what would be sent: cfdev-shim telemetry show. Turn it off any time: cf dev telemetry --off\n\
         Are you ok with CF Dev periodically capturing anonymized telemetry [y/N]? ",
        unique.join(", "),
        endpoint.unwrap_or("nowhere yet (kept on this machine until an endpoint is configured)")
    )
}

/// Asks on stderr and reads one line from stdin, byte by byte so that not a
/// byte more than the answer is taken from what cf will read next.
#[cfg(unix)]
pub fn ask(endpoint: Option<&str>) -> bool {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(prompt_text(endpoint).as_bytes());
    let _ = stderr.flush();
    let mut line = Vec::new();
    loop {
        let mut byte = 0u8;
        // SAFETY: reads one byte into a valid buffer.
        let n = unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            if byte == b'\n' {
                break;
            }
            line.push(byte);
            continue;
        }
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break;
    }
    let answer = String::from_utf8_lossy(&line).trim().to_ascii_lowercase();
    answer == "y" || answer == "yes"
}

#[cfg(not(unix))]
pub fn ask(_endpoint: Option<&str>) -> bool {
    false
}
