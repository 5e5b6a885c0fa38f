//! `cfdev-shim`'s own commands (clap). Never used on the forwarding path.

use crate::app::{set_consent, Outcome};
use crate::config::Config;
use crate::consent::{self, Consent};
use crate::deliver::{self, Endpoint};
use crate::error::{self, ErrorKind};
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::state;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};
use std::ffi::OsString;

/// Our own commands' definitions; public so that `examples/gen_docs.rs`
/// derives the completions and man page from them outside the binary.
pub fn command() -> Command {
    Command::new("cfdev-shim")
        .version(crate::event::BUILD)
        .about("Transparent cf CLI wrapper with opt-in, anonymous usage telemetry")
        .after_help(
            "Wrapper mode: install as `cf` ahead of the real cf on PATH, or \
             alias cf='cfdev-shim cf'. Every cf invocation is forwarded unchanged.",
        )
        .subcommand_required(true)
        .subcommand(Command::new("cf").about("Run the real cf with these arguments (alias mode)"))
        .subcommand(
            Command::new("telemetry")
                .about("See or change the telemetry choice")
                .args_conflicts_with_subcommands(true)
                .arg(
                    Arg::new("on")
                        .long("on")
                        .action(ArgAction::SetTrue)
                        .help("Opt in"),
                )
                .arg(
                    Arg::new("off")
                        .long("off")
                        .action(ArgAction::SetTrue)
                        .conflicts_with("on")
                        .help("Opt out and delete pending events"),
                )
                .subcommand(Command::new("on").about("Opt in to anonymous usage telemetry"))
                .subcommand(Command::new("off").about("Opt out; pending events are deleted"))
                .subcommand(
                    Command::new("status")
                        .about(
                            "Consent, anonymous ID prefix, paths, pending/dropped counts, delivery",
                        )
                        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue)),
                )
                .subcommand(
                    Command::new("show")
                        .about("Every pending event, one JSON object per line, as it will be sent"),
                )
                .subcommand(
                    Command::new("endpoint")
                        .about("Store where events are delivered ({URL}/v1/batch)")
                        .arg(Arg::new("url").required(true).value_name("URL"))
                        .arg(Arg::new("write-key").long("write-key").value_name("KEY")),
                ),
        )
        .subcommand(Command::new("flush").about(
            "Deliver pending events now, in the foreground; exit 0 when nothing is left pending",
        ))
        .subcommand(
            Command::new("which-cf")
                .hide(true)
                .about("Print the real cf the wrapper would run (used by install.sh)"),
        )
}

pub fn run(settings: &Settings, argv: Vec<OsString>) -> Outcome {
    let matches = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { error::EXIT_USAGE } else { 0 };
            let _ = e.print();
            return Outcome::Exit(code);
        }
    };
    let result = match matches.subcommand() {
        Some(("telemetry", sub)) => telemetry(settings, sub),
        Some(("flush", _)) => flush(settings),
        Some(("which-cf", _)) => which_cf(settings),
        _ => Err(ErrorKind::Usage(
            "unknown command; see cfdev-shim --help".into(),
        )),
    };
    match result {
        Ok(()) => Outcome::Exit(0),
        Err(e) => Outcome::Exit(error::report(&e)),
    }
}

fn paths(settings: &Settings) -> Result<&StatePaths, ErrorKind> {
    settings
        .paths
        .as_ref()
        .ok_or_else(|| ErrorKind::Failed("no state directory: set HOME or CFDEV_SHIM_HOME".into()))
}

fn telemetry(settings: &Settings, m: &ArgMatches) -> Result<(), ErrorKind> {
    let paths = paths(settings)?;
    let choice = match m.subcommand() {
        Some(("on", _)) => Some(Consent::On),
        Some(("off", _)) => Some(Consent::Off),
        Some(("status", s)) => return status(settings, paths, s.get_flag("json")),
        Some(("show", _)) => return show(paths),
        Some(("endpoint", s)) => {
            let url = s
                .get_one::<String>("url")
                .map(String::as_str)
                .unwrap_or_default();
            return set_endpoint(
                paths,
                url,
                s.get_one::<String>("write-key").map(String::as_str),
            );
        }
        _ if m.get_flag("on") => Some(Consent::On),
        _ if m.get_flag("off") => Some(Consent::Off),
        _ => None,
    };
    match choice {
        Some(consent) => {
            crate::outln!("{}", set_consent(settings, paths, consent)?);
            Ok(())
        }
        None => status(settings, paths, false),
    }
}

fn set_endpoint(paths: &StatePaths, url: &str, write_key: Option<&str>) -> Result<(), ErrorKind> {
    deliver::validate_url(url).map_err(ErrorKind::Usage)?;
    let mut config = Config::load(&paths.config_file()).unwrap_or_default();
    config.set_endpoint(url, write_key);
    config.save(&paths.config_file()).map_err(|e| {
        ErrorKind::Failed(format!(
            "could not save {}: {e}",
            paths.config_file().display()
        ))
    })?;
    crate::outln!(
        "Events will be delivered to {}",
        Endpoint {
            base: url.into(),
            write_key: None
        }
        .batch_url()
    );
    Ok(())
}

fn show(paths: &StatePaths) -> Result<(), ErrorKind> {
    let contents = Spool::new(paths)
        .read()
        .map_err(|e| ErrorKind::Failed(format!("cannot read the spool: {e}")))?;
    let mut out = String::new();
    for line in &contents.raw {
        out.push_str(line);
        out.push('\n');
    }
    write_stdout(&out);
    if contents.corrupt > 0 {
        eprintln!(
            "cfdev-shim: {} corrupt spool lines skipped (they will be dropped)",
            contents.corrupt
        );
    }
    Ok(())
}

fn flush(settings: &Settings) -> Result<(), ErrorKind> {
    let paths = paths(settings)?;
    let summary = deliver::flush(settings, paths).map_err(ErrorKind::Failed)?;
    crate::outln!("{summary}");
    Ok(())
}

/// The one resolver, asked from outside (as Volta's `which`): install.sh
/// reports what the wrapper will really run instead of searching PATH itself.
fn which_cf(settings: &Settings) -> Result<(), ErrorKind> {
    let real = crate::resolve::real_cf(
        &crate::resolve::Guard::default(),
        settings.real_cf.as_deref(),
    )?;
    crate::outln!("{}", real.display());
    Ok(())
}

fn status(settings: &Settings, paths: &StatePaths, as_json: bool) -> Result<(), ErrorKind> {
    let report = status_report(settings, paths);
    if as_json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    let s = |v: &Value| {
        v.as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string())
    };
    let mut lines = vec![
        format!(
            "telemetry: {} ({})",
            s(&report["telemetry"]),
            s(&report["reason"])
        ),
        format!("anonymous id: {}…", s(&report["anonymous_id_prefix"])),
        format!("config: {}", s(&report["paths"]["config"])),
        format!("spool: {}", s(&report["paths"]["spool"])),
        format!("pending: {}", report["pending"]),
        format!(
            "dropped: {} (spool full {}, corrupt {}, oversize {}, rejected {})",
            report["dropped"]["total"],
            report["dropped"]["spool_full"],
            report["dropped"]["corrupt"],
            report["dropped"]["oversize"],
            report["dropped"]["rejected"]
        ),
    ];
    lines.push(match report["endpoint"].as_str() {
        Some(url) => format!("endpoint: {url} ({})", s(&report["endpoint_source"])),
        None => "endpoint: none configured; events stay in the local spool".into(),
    });
    lines.push(match report["last_attempt"].as_object() {
        Some(a) => format!(
            "last delivery attempt: {} — {}",
            s(&a["at"]),
            s(&a["result"])
        ),
        None => "last delivery attempt: never".into(),
    });
    if let Some(next) = report["next_attempt"].as_str() {
        lines.push(format!("next delivery attempt: not before {next}"));
    }
    for problem in report["problems"].as_array().into_iter().flatten() {
        lines.push(format!("problem: {}", s(problem)));
    }
    crate::outln!("{}", lines.join("\n"));
    Ok(())
}

/// Everything `status` knows, gathered without changing anything.
pub fn status_report(settings: &Settings, paths: &StatePaths) -> Value {
    let config = Config::load(&paths.config_file());
    let (effective, source) = consent::effective(settings, &config);
    let mut problems: Vec<String> = settings.problems.iter().map(|p| p.to_string()).collect();
    if let consent::Source::ConfigUnreadable(why) = &source {
        problems.push(why.clone());
    }
    let stored = config
        .as_ref()
        .map(|c| c.consent().as_str())
        .unwrap_or("unreadable");
    let spool = Spool::new(paths);
    let (pending, corrupt_now) = match spool.read() {
        Ok(c) => (c.events.len() as u64, c.corrupt),
        Err(e) => {
            if paths.spool_file().exists() {
                problems.push(format!("cannot read the spool: {e}"));
            }
            (0, 0)
        }
    };
    if corrupt_now > 0 {
        problems.push(format!(
            "{corrupt_now} corrupt spool lines (skipped; dropped at next delivery)"
        ));
    }
    if effective == Consent::On {
        if let Err(e) = check_writable(paths) {
            problems.push(format!(
                "state directory not writable, events cannot be recorded: {e}"
            ));
        }
    }
    let st = state::load(paths);
    if let Some(p) = st.get("last_problem") {
        let at = p.get("at").and_then(Value::as_str).unwrap_or("?");
        // A spool written after the problem shows recording works again.
        let since = chrono::DateTime::parse_from_rfc3339(at).ok().and_then(|t| {
            let written = crate::fsutil::mtime(&paths.spool_file())?;
            (chrono::DateTime::<chrono::Utc>::from(written) > t)
                .then_some("; events were recorded again since")
        });
        problems.push(format!(
            "{} (at {at}{})",
            p.get("what").and_then(Value::as_str).unwrap_or("?"),
            since.unwrap_or("")
        ));
    }
    let mut dropped = serde_json::Map::new();
    let mut total = 0;
    for reason in state::DROP_REASONS {
        let mut n = state::dropped(&st, reason);
        if *reason == "corrupt" {
            n += corrupt_now;
        }
        total += n;
        dropped.insert((*reason).into(), Value::from(n));
    }
    dropped.insert("total".into(), Value::from(total));
    let endpoint = Endpoint::configured(settings, config.as_ref().unwrap_or(&Config::default()));
    let endpoint_source = if settings.endpoint.is_some() {
        "CFDEV_SHIM_ENDPOINT"
    } else {
        "config"
    };
    let id_prefix = crate::identity::anonymous_id_readonly(settings, paths)
        .map(|id| id[..8].to_string())
        .unwrap_or_else(|| "(not created yet)".into());
    json!({
        "telemetry": effective.as_str(),
        "stored_choice": stored,
        "reason": source.describe(),
        "anonymous_id_prefix": id_prefix,
        "paths": {
            "config": paths.config_file(),
            "spool": paths.spool_file(),
            "state": paths.state_file(),
        },
        "pending": pending,
        "spool_limit": settings.spool_limit,
        "dropped": dropped,
        "endpoint": endpoint.as_ref().map(|e| e.batch_url()),
        "endpoint_source": endpoint.as_ref().map(|_| endpoint_source),
        "write_key_set": endpoint.as_ref().is_some_and(|e| e.write_key.is_some()),
        "last_attempt": st.get("last_attempt").cloned(),
        "next_attempt": st.get("next_attempt").cloned(),
        "problems": problems,
    })
}

/// Creates and writes a small probe file: catches a read-only or full disk.
fn check_writable(paths: &StatePaths) -> std::io::Result<()> {
    use std::io::Write;
    crate::fsutil::ensure_private_dir(&paths.spool_dir())?;
    let probe = paths
        .spool_dir()
        .join(format!(".probe-{}", std::process::id()));
    let result = crate::fsutil::private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(&[b'\n'; 4096]).and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    result
}

/// Writes our own command's output; a closed or broken stdout (`| head`)
/// ends the output quietly instead of panicking.
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `println!` for our own commands' output, via `write_stdout`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}
