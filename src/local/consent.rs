//! The consent policy (SPEC §5): what the stored choice (`config::Consent`)
//! means once the environment and the data-kinds version are taken into
//! account, when to ask, and what changing the choice does. `app` (wrapper
//! mode) and `cli` (our own commands) both call it; it calls neither.
//!
//! Consent is versioned: the stored choice records the data-kinds version
//! the user agreed to. When a release adds a kind of data (`DATA_KINDS`),
//! a stored "on" from before it pauses capture until the user answers again
//! (the next interactive `cf dev start`, or `telemetry on`).

use crate::catalogue::{Invocation, Trigger, CATALOGUE};
pub use crate::config::Consent;
use crate::config::{Config, ConfigError};
use crate::error::{Context, ErrorKind, Fallible};
use crate::paths::StatePaths;
use crate::record::{Outcome as RecordOutcome, Recorder};
use crate::settings::Settings;
use std::io::Write;

/// One kind of data an event can hold, and the data-kinds version that
/// first collected it (or first disclosed it: choices stored before version 2
/// were asked with a prompt that left several kinds out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataKind {
    pub text: &'static str,
    pub since: u32,
}

const fn kind(text: &'static str, since: u32) -> DataKind {
    DataKind { text, since }
}

/// Every kind of data an event holds; the prompt lists them all.
pub const DATA_KINDS: &[DataKind] = &[
    kind("the event name", 1),
    kind(
        "an anonymous machine ID (a hash, never the machine's own ID)",
        1,
    ),
    kind("the operating system", 1),
    kind("the cfdev-shim build", 1),
    kind("the time of the event", 1),
    kind("the cf command name (such as push), never its arguments", 2),
    kind(
        "the names of the flags used (such as --no-start), never their values",
        2,
    ),
    kind("the exit code, or the signal that ended cf", 2),
    kind("how long the command took", 2),
    kind("the buildpack or service category, from a fixed list", 2),
    kind("the processor architecture", 2),
];

/// The data-kinds version of this release: the newest `since`.
pub const DATA_VERSION: u32 = 2;

/// Choices stored before versioning existed agreed to version 1.
const UNVERSIONED: u32 = 1;

/// The decision in force for this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Telemetry {
    /// No choice stored (or an unusable one): nothing is captured.
    Undecided,
    On,
    Off,
    /// "on" was stored for an older data-kinds version: nothing is captured
    /// until the user agrees again.
    Paused {
        agreed: u32,
    },
}

impl Telemetry {
    pub fn as_str(self) -> &'static str {
        match self {
            Telemetry::Undecided => "undecided",
            Telemetry::On => "on",
            Telemetry::Off => "off",
            Telemetry::Paused { .. } => "paused",
        }
    }

    /// Only an explicit, current "on" captures anything.
    pub fn captures(self) -> bool {
        self == Telemetry::On
    }
}

/// Where the effective decision came from (for `telemetry status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    DoNotTrack,
    EnvOverride,
    /// The config file holds a choice.
    Config,
    /// No config file, or one without a choice.
    NothingStored,
    ConfigUnreadable(String),
    NoStateDir,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::DoNotTrack => "forced off by DO_NOT_TRACK".into(),
            Source::EnvOverride => "set by CFDEV_SHIM_TELEMETRY for this process".into(),
            Source::Config => "stored choice".into(),
            Source::NothingStored => "no choice stored".into(),
            Source::ConfigUnreadable(why) => {
                format!("config unusable, treated as undecided: {why}")
            }
            Source::NoStateDir => "no state directory (HOME and CFDEV_SHIM_HOME unset)".into(),
        }
    }
}

/// The override from the environment, if any: decided without the disk.
pub fn env_override(settings: &Settings) -> Option<(Telemetry, Source)> {
    if settings.do_not_track {
        return Some((Telemetry::Off, Source::DoNotTrack));
    }
    let forced = match settings.telemetry? {
        Consent::On => Telemetry::On,
        _ => Telemetry::Off,
    };
    Some((forced, Source::EnvOverride))
}

/// The decision in force, given the loaded config.
pub fn effective(settings: &Settings, config: &Result<Config, ConfigError>) -> (Telemetry, Source) {
    if let Some(found) = env_override(settings) {
        return found;
    }
    match config {
        Ok(config) => stored(config),
        Err(ConfigError(why)) => (Telemetry::Undecided, Source::ConfigUnreadable(why.clone())),
    }
}

/// What the stored choice alone means.
pub fn stored(config: &Config) -> (Telemetry, Source) {
    let telemetry = match config.consent() {
        Consent::Undecided => return (Telemetry::Undecided, Source::NothingStored),
        Consent::Off => Telemetry::Off,
        Consent::On => match config.data_version().unwrap_or(UNVERSIONED) {
            agreed if agreed < DATA_VERSION => Telemetry::Paused { agreed },
            _ => Telemetry::On,
        },
    };
    (telemetry, Source::Config)
}

/// The kinds of data added since version `agreed`.
pub fn kinds_since(agreed: u32) -> impl Iterator<Item = &'static DataKind> {
    DATA_KINDS.iter().filter(move |k| k.since > agreed)
}

/// One line for `cf dev telemetry` and `status`'s reason for a pause.
pub fn paused_reason(agreed: u32) -> String {
    let new: Vec<&str> = kinds_since(agreed).map(|k| k.text).collect();
    format!(
        "paused: you agreed to data version {agreed}; this release (data version \
         {DATA_VERSION}) also collects {}. Nothing is captured until you answer again \
         (next interactive cf dev start, or cfdev-shim telemetry on)",
        new.join("; ")
    )
}

/// Whether we may ask: a person at a terminal, not CI.
pub fn can_prompt(settings: &Settings) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    let stdin_tty = unsafe { libc::isatty(0) } == 1;
    // SAFETY: as above.
    let tty = stdin_tty && unsafe { libc::isatty(2) } == 1;
    tty && !settings.ci
}

/// The question shown on the first interactive `cf dev start` (and again
/// after a release adds a kind of data: `paused` holds the agreed version).
pub fn prompt_text(endpoint: Option<&str>, paused: Option<u32>) -> String {
    let mut events: Vec<&str> = Vec::new();
    for row in CATALOGUE {
        if !events.contains(&row.event) {
            events.push(row.event);
        }
    }
    let mut text = String::new();
    if let Some(agreed) = paused {
        let new: Vec<&str> = kinds_since(agreed).map(|k| k.text).collect();
        text.push_str(&format!(
            "This release of cfdev-shim collects more than you agreed to: {}.\n\
             Telemetry is paused until you answer.\n\n",
            new.join("; ")
        ));
    }
    text.push_str(
        "CF Dev collects anonymous usage data to improve the tool (cfdev-shim).\n\
         Each event holds:\n",
    );
    for kind in DATA_KINDS {
        text.push_str(&format!("  - {}\n", kind.text));
    }
    text.push_str(&format!(
        "Events: {}.\n\
         Never collected: app, org, space, service, route or user names, paths, URLs or credentials.\n\
         Sent to: {}.\n\
         See what would be sent: cfdev-shim telemetry show\n\
         Turn it off any time: cf dev telemetry --off (events not yet sent are deleted)\n\
         Are you ok with CF Dev periodically capturing anonymized telemetry [y/N]? ",
        events.join(", "),
        endpoint.unwrap_or("nowhere yet (kept on this machine until an endpoint is configured)")
    ));
    text
}

/// `y`/`yes` in any case is yes; anything else, or nothing, is no.
pub fn is_yes(answer: &[u8]) -> bool {
    let answer = String::from_utf8_lossy(answer).trim().to_ascii_lowercase();
    answer == "y" || answer == "yes"
}

/// Asks on stderr and reads one line from stdin, byte by byte so that not a
/// byte more than the answer is taken from what cf will read next.
fn ask(endpoint: Option<&str>, paused: Option<u32>) -> bool {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(prompt_text(endpoint, paused).as_bytes());
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
    is_yes(&line)
}

/// Wrapper mode, no environment override: the stored choice, after asking
/// once on an interactive `cf dev start` when there is none (or it is
/// paused). The answer is stored and confirmed in one line on stderr.
pub fn decide_for(
    settings: &Settings,
    inv: &Invocation,
    paths: &StatePaths,
    config: &mut Result<Config, ConfigError>,
) -> Telemetry {
    let (telemetry, _) = effective(settings, config);
    let Ok(config) = config else {
        return telemetry;
    };
    let paused = match telemetry {
        Telemetry::Undecided => None,
        Telemetry::Paused { agreed } => Some(agreed),
        _ => return telemetry,
    };
    if inv.command != "dev start" || !can_prompt(settings) {
        return telemetry;
    }
    let endpoint = crate::deliver::Endpoint::configured(settings, config).map(|e| e.base);
    let answer = if ask(endpoint.as_deref(), paused) {
        Consent::On
    } else {
        Consent::Off
    };
    config.set_consent(answer, DATA_VERSION);
    let saved = config.save(&paths.config_file());
    let mut stderr = std::io::stderr();
    let _ = match (&saved, answer) {
        (Err(e), _) => writeln!(
            stderr,
            "cfdev-shim: could not save your answer ({e}); you will be asked again"
        ),
        (Ok(()), Consent::On) => writeln!(
            stderr,
            "Telemetry is turned ON. Turn it off any time: cf dev telemetry --off"
        ),
        (Ok(()), _) => writeln!(stderr, "Telemetry is turned OFF. Nothing will be captured."),
    };
    match answer {
        Consent::On => Telemetry::On,
        _ => Telemetry::Off,
    }
}

/// Stores a choice (`telemetry on|off`, `cf dev telemetry --on|--off`) and
/// returns the confirmation line. Turning on agrees to this release's data
/// kinds. Turning off stops any delivery in flight and deletes what is
/// pending unsent; if capture was on, the `Telemetry Off` event then gets
/// one bounded attempt, alone (`deliver::turn_off`).
pub fn set(settings: &Settings, paths: &StatePaths, consent: Consent) -> Fallible<String> {
    let loaded = Config::load(&paths.config_file());
    let (was, _) = match &loaded {
        Ok(config) => stored(config),
        Err(_) => (Telemetry::Undecided, Source::NothingStored),
    };
    // An unreadable config is replaced: the user is stating the choice now,
    // and the endpoint it may have held can be set again.
    let mut config = loaded.unwrap_or_default();
    config.set_consent(consent, DATA_VERSION);
    // Built now, sent alone by delivery: never through the spool, which is
    // deleted unsent.
    let mut telemetry_off = Vec::new();
    if consent == Consent::Off && was.captures() {
        telemetry_off = Recorder::new(settings, paths).messages(
            &opt_out_invocation(),
            Trigger::OptOut,
            RecordOutcome::default(),
        );
    }
    config
        .save(&paths.config_file())
        .with_context(|| ErrorKind::ConfigSave {
            path: paths.config_file(),
        })?;
    if consent == Consent::Off {
        // Saved first: from here on nothing is captured and no delivery sends.
        let off =
            crate::deliver::turn_off(settings, paths, telemetry_off.first().map(String::as_str));
        for problem in &off.problems {
            eprintln!("cfdev-shim: {problem}");
        }
    }
    if let Some((forced, source)) = env_override(settings) {
        if forced.as_str() != consent.as_str() {
            eprintln!(
                "cfdev-shim: note: {} (effective now: {})",
                source.describe(),
                forced.as_str()
            );
        }
    }
    Ok(match consent {
        Consent::On => "Telemetry is turned ON".into(),
        _ => "Telemetry is turned OFF".into(),
    })
}

/// The invocation the `Telemetry Off` row fires for: `cf dev telemetry --off`.
fn opt_out_invocation() -> Invocation {
    Invocation {
        command: "dev telemetry",
        silent: false,
        flags: crate::commands::dev_command(b"telemetry")
            .and_then(|c| c.long_flag(b"off"))
            .map(|f| f.name)
            .into_iter()
            .collect(),
        buildpack: "unspecified",
        service: "other",
        plugin_is_cfdev: false,
        telemetry_switch: Some(crate::catalogue::TelemetrySwitch::Off),
    }
}

/// `cf dev telemetry` with no flag: the state in one line.
pub fn state_line(telemetry: Telemetry, source: &Source) -> String {
    match (telemetry, source) {
        (Telemetry::Paused { agreed }, _) => format!("Telemetry is {}", paused_reason(agreed)),
        (Telemetry::Undecided, Source::NothingStored) => {
            "Telemetry is not decided yet (nothing is captured): cf dev telemetry --on or --off"
                .into()
        }
        (Telemetry::On, Source::Config) => "Telemetry is turned ON".into(),
        (Telemetry::Off, Source::Config) => "Telemetry is turned OFF".into(),
        (state, source) => format!(
            "Telemetry is turned {} ({})",
            state.as_str().to_uppercase(),
            source.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: serde_json::Value) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, value.to_string()).unwrap();
        Config::load(&file).unwrap()
    }

    #[test]
    fn an_on_from_an_older_data_version_is_paused() {
        let old = config(json!({ "telemetry": "on" }));
        assert_eq!(stored(&old).0, Telemetry::Paused { agreed: 1 });
        let v1 = config(json!({ "telemetry": "on", "data_version": 1 }));
        assert_eq!(stored(&v1).0, Telemetry::Paused { agreed: 1 });
        assert!(!stored(&v1).0.captures());
        let current = config(json!({ "telemetry": "on", "data_version": DATA_VERSION }));
        assert_eq!(stored(&current).0, Telemetry::On);
        // An old "off" stays off: nothing to agree to.
        assert_eq!(
            stored(&config(json!({ "telemetry": "off" }))).0,
            Telemetry::Off
        );
        assert_eq!(
            stored(&Config::default()),
            (Telemetry::Undecided, Source::NothingStored)
        );
    }

    #[test]
    fn the_environment_wins_over_the_stored_choice() {
        let on = Ok(config(json!({ "telemetry": "on", "data_version": 2 })));
        let dnt = Settings {
            do_not_track: true,
            telemetry: Some(Consent::On),
            ..Settings::default()
        };
        assert_eq!(effective(&dnt, &on), (Telemetry::Off, Source::DoNotTrack));
        let forced_off = Settings {
            telemetry: Some(Consent::Off),
            ..Settings::default()
        };
        assert_eq!(
            effective(&forced_off, &on),
            (Telemetry::Off, Source::EnvOverride)
        );
        let broken = Err(ConfigError("bad".into()));
        assert_eq!(
            effective(&Settings::default(), &broken).0,
            Telemetry::Undecided
        );
    }

    #[test]
    fn the_prompt_lists_every_kind_and_ends_with_the_question() {
        let text = prompt_text(Some("https://t.example"), None);
        for kind in DATA_KINDS {
            assert!(text.contains(kind.text), "{}", kind.text);
        }
        for needle in [
            "Telemetry Off",
            "Sent to: https://t.example.",
            "cfdev-shim telemetry show",
            "cf dev telemetry --off",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert!(text.ends_with("[y/N]? "));
        let paused = prompt_text(None, Some(1));
        assert!(paused.starts_with(
            "This release of cfdev-shim collects more than you agreed to: the cf command name"
        ));
    }

    #[test]
    fn data_version_is_the_newest_kind() {
        assert_eq!(DATA_KINDS.iter().map(|k| k.since).max(), Some(DATA_VERSION));
        assert_eq!(kinds_since(DATA_VERSION).count(), 0);
    }

    #[test]
    fn the_opt_out_invocation_is_what_cf_dev_telemetry_off_reads_as() {
        let parsed =
            Invocation::parse(&["dev", "telemetry", "--off"].map(std::ffi::OsString::from));
        assert_eq!(opt_out_invocation(), parsed);
        assert_eq!(parsed.flags, ["--off"]);
    }

    #[test]
    fn only_y_or_yes_is_yes() {
        for yes in [&b"y"[..], b"Y", b"yes", b" YeS \r"] {
            assert!(is_yes(yes));
        }
        for no in [&b""[..], b"n", b"no", b"yep", b"sure"] {
            assert!(!is_yes(no));
        }
    }
}
