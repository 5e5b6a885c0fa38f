//! `cfdev-shim`'s own commands (clap). Never used on the forwarding path.
//! Each command is a thin shell over the module that owns its concern:
//! the choice (`consent`), what is known (`status`), delivery (`deliver`).

use crate::config::{Config, Consent};
use crate::consent;
use crate::deliver::{self, Endpoint};
use crate::error::{self, Context, ErrorKind, Fallible};
use crate::exit::Outcome;
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::status::Status;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::ffi::OsString;

/// What turning off does, in every place that says it (SPEC §5).
const OFF_HELP: &str = "Opt out: nothing is captured or sent from now on; pending events are \
                        deleted unsent, and one short attempt is made to send the Telemetry Off \
                        event alone";

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
                .about("See or change the telemetry choice (no argument: the status)")
                .args_conflicts_with_subcommands(true)
                .arg(
                    Arg::new("on")
                        .long("on")
                        .action(ArgAction::SetTrue)
                        .help("Opt in (the same as `telemetry on`)"),
                )
                .arg(
                    Arg::new("off")
                        .long("off")
                        .action(ArgAction::SetTrue)
                        .conflicts_with("on")
                        .help("Opt out (the same as `telemetry off`): pending events are deleted unsent"),
                )
                .subcommand(Command::new("on").about(
                    "Opt in to anonymous usage telemetry, agreeing to the kinds of data this \
                     release collects",
                ))
                .subcommand(Command::new("off").about(OFF_HELP))
                .subcommand(
                    Command::new("status")
                        .about(
                            "Consent and why, anonymous ID prefix, paths, pending and dropped \
                             counts, endpoint, last delivery, problems",
                        )
                        .arg(
                            Arg::new("json")
                                .long("json")
                                .action(ArgAction::SetTrue)
                                .help("One JSON object instead of text"),
                        ),
                )
                .subcommand(
                    Command::new("show")
                        .about("Every pending event, one JSON object per line, as it will be sent"),
                )
                .subcommand(
                    Command::new("endpoint")
                        .about("Store where events are delivered ({URL}/v1/batch)")
                        .arg(
                            Arg::new("url")
                                .required_unless_present("clear")
                                .value_name("URL")
                                .help(
                                    "Base URL of the data store: http:// or https://, no user \
                                     name, query or fragment; a trailing /v1/batch is removed",
                                ),
                        )
                        .arg(
                            Arg::new("write-key")
                                .long("write-key")
                                .value_name("KEY")
                                .help("Write key sent as the HTTP Basic user name"),
                        )
                        .arg(
                            Arg::new("clear")
                                .long("clear")
                                .action(ArgAction::SetTrue)
                                .conflicts_with_all(["url", "write-key"])
                                .help("Forget the stored endpoint and write key"),
                        ),
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
        .subcommand(
            Command::new("check-endpoint")
                .hide(true)
                .about(
                    "Check a URL against the endpoint rules and print the base URL that would \
                     be stored, or why not (exit 2); used by install.sh",
                )
                .arg(
                    Arg::new("url")
                        .required(true)
                        .value_name("URL")
                        .help("The endpoint URL to check"),
                ),
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
        Some(("check-endpoint", s)) => check_endpoint(s),
        _ => Err(ErrorKind::Usage("unknown command; see cfdev-shim --help".into()).into()),
    };
    match result {
        Ok(()) => Outcome::Exit(0),
        Err(e) => Outcome::Exit(error::report(&e)),
    }
}

fn paths(settings: &Settings) -> Fallible<&StatePaths> {
    Ok(settings.paths.as_ref().ok_or(ErrorKind::NoStateDir)?)
}

fn telemetry(settings: &Settings, m: &ArgMatches) -> Fallible<()> {
    let paths = paths(settings)?;
    let choice = match m.subcommand() {
        Some(("on", _)) => Some(Consent::On),
        Some(("off", _)) => Some(Consent::Off),
        Some(("status", s)) => return status(settings, paths, s.get_flag("json")),
        Some(("show", _)) => return show(paths),
        Some(("endpoint", s)) if s.get_flag("clear") => return clear_endpoint(paths),
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
            crate::outln!("{}", consent::set(settings, paths, consent)?);
            Ok(())
        }
        None => status(settings, paths, false),
    }
}

fn set_endpoint(paths: &StatePaths, url: &str, write_key: Option<&str>) -> Fallible<()> {
    let base = deliver::check_endpoint(url).map_err(ErrorKind::Usage)?;
    save_endpoint(paths, Some((&base, write_key)))?;
    crate::outln!(
        "Events will be delivered to {}",
        Endpoint {
            base,
            write_key: None
        }
        .batch_url()
    );
    Ok(())
}

fn clear_endpoint(paths: &StatePaths) -> Fallible<()> {
    save_endpoint(paths, None)?;
    crate::outln!("No endpoint stored: events stay in the local spool");
    Ok(())
}

fn save_endpoint(paths: &StatePaths, endpoint: Option<(&str, Option<&str>)>) -> Fallible<()> {
    let mut config = Config::load(&paths.config_file()).unwrap_or_default();
    match endpoint {
        Some((base, write_key)) => config.set_endpoint(base, write_key),
        None => config.clear_endpoint(),
    }
    config
        .save(&paths.config_file())
        .with_context(|| ErrorKind::ConfigSave {
            path: paths.config_file(),
        })?;
    // A problem seen with the previous endpoint or key no longer applies.
    deliver::forget_problem(paths);
    Ok(())
}

/// `check-endpoint URL`: the endpoint rules, for install.sh.
fn check_endpoint(m: &ArgMatches) -> Fallible<()> {
    let url = m
        .get_one::<String>("url")
        .map(String::as_str)
        .unwrap_or_default();
    let base = deliver::check_endpoint(url).map_err(ErrorKind::Usage)?;
    crate::outln!("{base}");
    Ok(())
}

fn show(paths: &StatePaths) -> Fallible<()> {
    let contents = Spool::new(paths)
        .peek()
        .with_context(|| ErrorKind::SpoolRead {
            path: paths.spool_file(),
        })?;
    let mut out = String::new();
    for line in &contents.raw {
        out.push_str(line);
        out.push('\n');
    }
    crate::output::write_stdout(&out);
    if contents.corrupt > 0 {
        eprintln!(
            "cfdev-shim: {} skipped (they will be dropped)",
            crate::output::count(
                contents.corrupt,
                "corrupt spool line",
                "corrupt spool lines"
            )
        );
    }
    Ok(())
}

fn flush(settings: &Settings) -> Fallible<()> {
    let paths = paths(settings)?;
    let summary = deliver::flush(settings, paths).map_err(ErrorKind::FlushIncomplete)?;
    crate::outln!("{summary}");
    Ok(())
}

/// The one resolver, asked from outside (as Volta's `which`): install.sh
/// reports what the wrapper will really run instead of searching PATH itself.
fn which_cf(settings: &Settings) -> Fallible<()> {
    let real = crate::resolve::real_cf(
        &crate::resolve::Guard::default(),
        settings.real_cf.as_deref(),
    )?;
    crate::outln!("{}", real.display());
    Ok(())
}

fn status(settings: &Settings, paths: &StatePaths, as_json: bool) -> Fallible<()> {
    let status = Status::gather(settings, paths);
    if as_json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        );
    } else {
        crate::outln!("{}", status.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every command and argument a user can see explains itself.
    #[test]
    fn every_help_entry_has_text() {
        fn check(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            if !cmd.is_hide_set() {
                assert!(cmd.get_about().is_some(), "{path} has no about");
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" || arg.is_hide_set() {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help");
            }
            for sub in cmd.get_subcommands() {
                check(sub, &path);
            }
        }
        check(&super::command(), "");
    }
}
