//! Top-level dispatch: wrapper mode (argv[0] is `cf`, or `cfdev-shim cf …`)
//! forwards to the real cf; anything else is one of our own commands. The
//! exec path (telemetry off or undecided) reads at most one small file.

use crate::catalogue::{Invocation, TelemetrySwitch, Trigger};
use crate::config::{Config, ConfigError};
use crate::consent::{self, Consent};
use crate::error::{self, ErrorKind};
use crate::forward::{self, ChildExit, Prepared};
use crate::paths::StatePaths;
use crate::record::{Outcome as RecordOutcome, Recorder};
use crate::resolve::{self, Guard, GUARD_VAR};
use crate::settings::Settings;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;

/// How this process should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exit(i32),
    /// Die of the same signal as cf did.
    Child(ChildExit),
}

impl Outcome {
    pub fn finish(self) -> i32 {
        let _ = std::io::stdout().flush();
        match self {
            Outcome::Exit(code) => code,
            Outcome::Child(exit) => forward::die_like(exit),
        }
    }
}

fn fail(err: ErrorKind) -> Outcome {
    Outcome::Exit(error::report(&err))
}

pub fn run(argv: Vec<OsString>) -> Outcome {
    let argv0 = argv
        .first()
        .cloned()
        .unwrap_or_else(|| OsString::from("cf"));
    if is_cf_name(&argv0) {
        return wrap(argv0, &argv[1..]);
    }
    match argv.get(1).map(OsString::as_os_str) {
        Some(s) if s == "cf" => wrap(OsString::from("cf"), &argv[2..]),
        Some(s) if s == crate::deliver::BACKGROUND_COMMAND => {
            crate::deliver::background_main(&Settings::from_env(), &argv[2..])
        }
        _ => crate::cli::run(&Settings::from_env(), argv),
    }
}

fn is_cf_name(argv0: &OsStr) -> bool {
    let name = Path::new(argv0).file_name().unwrap_or_default();
    name == "cf" || (cfg!(windows) && name.eq_ignore_ascii_case("cf.exe"))
}

/// Wrapper mode.
fn wrap(argv0: OsString, args: &[OsString]) -> Outcome {
    let settings = Settings::from_env();
    if let Some(guard) = Guard::from_env() {
        // We were reached from another wrapper of this same call: pass
        // through without recording, skipping what the chain already tried.
        return exec_real(&guard, settings.real_cf.as_deref(), &argv0, args);
    }
    let guard = Guard::fresh();
    let inv = Invocation::parse(args);
    let paths = settings.paths.as_ref();
    if inv.telemetry_switch.is_some() {
        return dev_telemetry(&settings, &inv, &guard, &argv0, args);
    }
    // The environment can decide without touching the disk.
    let (consent, config) = match (consent::env_override(&settings), paths) {
        (Some((consent, _)), _) => (consent, None),
        (None, Some(paths)) => {
            let mut config = Config::load(&paths.config_file());
            (decide(&settings, &inv, paths, &mut config), config.ok())
        }
        (None, None) => (Consent::Undecided, None),
    };
    let real_cf = settings.real_cf.as_deref();
    match paths {
        Some(paths) if consent == Consent::On && !inv.silent => {
            spawn_and_record(&settings, paths, config, &inv, &guard, &argv0, args)
        }
        _ => exec_real(&guard, real_cf, &argv0, args),
    }
}

/// The stored choice; asks once on the first interactive `cf dev start`.
fn decide(
    settings: &Settings,
    inv: &Invocation,
    paths: &StatePaths,
    config: &mut Result<Config, ConfigError>,
) -> Consent {
    let (consent, _) = consent::effective(settings, config);
    let Ok(config) = config else {
        return consent;
    };
    if consent != Consent::Undecided || inv.command != "dev start" || !consent::can_prompt(settings)
    {
        return consent;
    }
    let endpoint = crate::deliver::Endpoint::configured(settings, config).map(|e| e.base);
    let decision = if consent::ask(endpoint.as_deref()) {
        Consent::On
    } else {
        Consent::Off
    };
    config.set_consent(decision);
    let saved = config.save(&paths.config_file());
    let mut stderr = std::io::stderr();
    let _ = match (&saved, decision) {
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
    decision
}

fn exec_real(
    guard: &Guard,
    explicit: Option<&Path>,
    argv0: &OsString,
    args: &[OsString],
) -> Outcome {
    let real = match resolve::real_cf(guard, explicit) {
        Ok(real) => real,
        Err(e) => return fail(e),
    };
    let prepared = Prepared::new(&real, argv0, args, (GUARD_VAR, &guard.value_for(&real)));
    fail(forward::exec(&prepared))
}

fn spawn_and_record(
    settings: &Settings,
    paths: &StatePaths,
    config: Option<Config>,
    inv: &Invocation,
    guard: &Guard,
    argv0: &OsString,
    args: &[OsString],
) -> Outcome {
    let real = match resolve::real_cf(guard, settings.real_cf.as_deref()) {
        Ok(real) => real,
        Err(e) => return fail(e),
    };
    let prepared = Prepared::new(&real, argv0, args, (GUARD_VAR, &guard.value_for(&real)));
    let mut recorder = Recorder::new(settings, paths);
    recorder.record(inv, Trigger::Begin, RecordOutcome::default());
    let started = std::time::Instant::now();
    let result = forward::spawn_and_wait(&prepared);
    let exit = match &result {
        Ok(exit) => *exit,
        Err(e) => ChildExit::Code(e.exit_code()),
    };
    let trigger = if exit.success() {
        Trigger::Success
    } else {
        Trigger::Failure
    };
    let outcome = RecordOutcome {
        exit: Some(exit),
        duration: Some(started.elapsed()),
    };
    let pending = recorder.record(inv, trigger, outcome);
    if let Some(pending) = pending {
        let config =
            config.unwrap_or_else(|| Config::load(&paths.config_file()).unwrap_or_default());
        crate::deliver::start_background_if_due(settings, paths, &config, pending);
    }
    match result {
        Ok(exit) => Outcome::Child(exit),
        Err(e) => fail(e),
    }
}

/// `cf dev telemetry [--on|--off]`: handled here whether or not the cfdev
/// plugin is installed, then forwarded when it is.
fn dev_telemetry(
    settings: &Settings,
    inv: &Invocation,
    guard: &Guard,
    argv0: &OsString,
    args: &[OsString],
) -> Outcome {
    let Some(paths) = &settings.paths else {
        return fail(ErrorKind::Failed(
            "no state directory: set HOME or CFDEV_SHIM_HOME to store the telemetry choice".into(),
        ));
    };
    let result = match inv.telemetry_switch {
        Some(TelemetrySwitch::On) => set_consent(settings, paths, Consent::On),
        Some(TelemetrySwitch::Off) => set_consent(settings, paths, Consent::Off),
        _ => {
            let (consent, source) =
                consent::effective(settings, &Config::load(&paths.config_file()));
            Ok(consent_line(consent, &source))
        }
    };
    match result {
        Ok(line) => crate::outln!("{line}"),
        Err(e) => return fail(e),
    }
    if cfdev_plugin_installed(settings) {
        let _ = std::io::stdout().flush();
        return exec_real(guard, settings.real_cf.as_deref(), argv0, args);
    }
    Outcome::Exit(0)
}

fn consent_line(consent: Consent, source: &consent::Source) -> String {
    match (consent, source) {
        (Consent::On, consent::Source::Config) => "Telemetry is turned ON".into(),
        (Consent::Off, consent::Source::Config) => "Telemetry is turned OFF".into(),
        (Consent::Undecided, consent::Source::Config) => {
            "Telemetry is not decided yet (nothing is captured): cf dev telemetry --on or --off"
                .into()
        }
        (state, source) => {
            format!(
                "Telemetry is turned {} ({})",
                state.as_str().to_uppercase(),
                source.describe()
            )
        }
    }
}

/// Stores a choice; turning off records `Telemetry Off` (only if it was on),
/// makes one bounded delivery attempt and deletes everything pending.
pub fn set_consent(
    settings: &Settings,
    paths: &StatePaths,
    consent: Consent,
) -> Result<String, ErrorKind> {
    let loaded = Config::load(&paths.config_file());
    let (was, _) = consent::effective(settings, &loaded);
    let mut config = loaded.unwrap_or_default();
    config.set_consent(consent);
    if consent == Consent::Off && was == Consent::On {
        let inv = Invocation::parse(&[
            OsString::from("dev"),
            OsString::from("telemetry"),
            OsString::from("--off"),
        ]);
        Recorder::new(settings, paths).record(&inv, Trigger::OptOut, RecordOutcome::default());
    }
    config.save(&paths.config_file()).map_err(|e| {
        ErrorKind::Failed(format!(
            "could not save {}: {e}",
            paths.config_file().display()
        ))
    })?;
    if consent == Consent::Off {
        crate::deliver::final_delivery_then_clear(settings, paths);
    }
    let line = format!(
        "Telemetry is turned {}",
        if consent == Consent::On { "ON" } else { "OFF" }
    );
    if let Some((forced, source)) = consent::env_override(settings) {
        if forced != consent {
            eprintln!(
                "cfdev-shim: note: {} (effective now: {})",
                source.describe(),
                forced.as_str()
            );
        }
    }
    Ok(line)
}

/// Reads cf's plugin config (never runs `cf plugins`).
fn cfdev_plugin_installed(settings: &Settings) -> bool {
    let home = settings.cf_plugin_home.clone().or_else(dirs::home_dir);
    let Some(home) = home else { return false };
    let Ok(bytes) = std::fs::read(home.join(".cf").join("plugins").join("config.json")) else {
        return false;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return false;
    };
    value
        .get("Plugins")
        .and_then(|p| p.as_object())
        .is_some_and(|plugins| plugins.keys().any(|k| k.eq_ignore_ascii_case("cfdev")))
}
