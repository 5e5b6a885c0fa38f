//! Top-level dispatch: wrapper mode (argv[0] is `cf`, or `cfdev-shim cf …`)
//! forwards to the real cf; anything else is one of our own commands. The
//! exec path (telemetry off or undecided) reads the environment once
//! (`settings`) and at most one small file.

use crate::catalogue::{Invocation, TelemetrySwitch, Trigger};
use crate::config::{Config, Consent};
use crate::consent::{self, Telemetry};
use crate::error::{self, Error, ErrorKind};
use crate::forward::{self, ChildExit, Prepared};
use crate::paths::StatePaths;
use crate::record::{Outcome as RecordOutcome, Recorder};
use crate::resolve::{self, Guard, GUARD_VAR};
use crate::settings::Settings;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;

pub use crate::exit::Outcome;

fn fail(err: impl Into<Error>) -> Outcome {
    Outcome::Exit(error::report(&err.into()))
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
    crate::fsutil::on_cf_path();
    let settings = Settings::from_env();
    if let Some(started) = crate::early::started_child() {
        // cf already runs (started before the C runtime because the marker
        // says telemetry is on): decide as below whether to record, but
        // wait for that cf rather than start one.
        return adopt(&settings, &started, args);
    }
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
    let (telemetry, config) = decide(&settings, &inv);
    match paths {
        Some(paths) if telemetry.captures() && !inv.silent => {
            spawn_and_record(&settings, paths, config, &inv, &guard, &argv0, args)
        }
        _ => exec_real(&guard, settings.real_cf.as_deref(), &argv0, args),
    }
}

/// The environment can decide without touching the disk; else the stored
/// choice (and, on a first interactive `cf dev start`, the question).
fn decide(settings: &Settings, inv: &Invocation) -> (Telemetry, Option<Config>) {
    match (consent::env_override(settings), settings.paths.as_ref()) {
        (Some((telemetry, _)), _) => (telemetry, None),
        (None, Some(paths)) => {
            let mut config = Config::load(&paths.config_file());
            let telemetry = consent::decide_for(settings, inv, paths, &mut config);
            if telemetry.captures() {
                crate::marker::repair(&paths.config_file());
            }
            (telemetry, config.ok())
        }
        (None, None) => (Telemetry::Undecided, None),
    }
}

/// The cf `early` started: waited for, recorded if telemetry is really on.
fn adopt(settings: &Settings, started: &crate::early::Started, args: &[OsString]) -> Outcome {
    let inv = Invocation::parse(args);
    let (telemetry, config) = decide(settings, &inv);
    let run = || forward::wait_started(started);
    match &settings.paths {
        Some(paths) if telemetry.captures() && !inv.silent => {
            run_and_record(settings, paths, config, &inv, run)
        }
        _ => match run() {
            Ok(exit) => Outcome::Child(exit),
            Err(e) => fail(e),
        },
    }
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
    run_and_record(settings, paths, config, inv, || {
        forward::spawn_and_wait(&prepared)
    })
}

/// Records Begin, runs cf (`run`: start and wait, or wait for the one
/// already started), records the outcome and starts a delivery when due.
fn run_and_record(
    settings: &Settings,
    paths: &StatePaths,
    config: Option<Config>,
    inv: &Invocation,
    run: impl FnOnce() -> Result<ChildExit, crate::error::ErrorKind>,
) -> Outcome {
    let mut recorder = Recorder::new(settings, paths);
    recorder.record(inv, Trigger::Begin, RecordOutcome::default());
    let started = std::time::Instant::now();
    let result = run();
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
        return fail(ErrorKind::NoStateDir);
    };
    let result = match inv.telemetry_switch {
        Some(TelemetrySwitch::On) => consent::set(settings, paths, Consent::On),
        Some(TelemetrySwitch::Off) => consent::set(settings, paths, Consent::Off),
        _ => {
            let (telemetry, source) =
                consent::effective(settings, &Config::load(&paths.config_file()));
            Ok(consent::state_line(telemetry, &source))
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

/// Reads cf's plugin config (never runs `cf plugins`).
fn cfdev_plugin_installed(settings: &Settings) -> bool {
    let home = settings.cf_plugin_home.clone().or_else(dirs::home_dir);
    let Some(home) = home else { return false };
    // Bounded and non-blocking, like every file read on cf's path.
    let config = home.join(".cf").join("plugins").join("config.json");
    let Ok(bytes) = crate::fsutil::read_small_file(&config, 16 * 1024 * 1024) else {
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
