//! The event catalogue (SPEC §4) as one table, and the reading of cf's argv
//! that decides which row applies. Only fixed vocabulary comes out of here:
//! canonical command names, allowlisted flag names, and values mapped onto
//! fixed allowlists. Nothing the user typed as a value is ever copied.

use crate::commands;
use std::ffi::OsString;

/// When a row fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Before cf runs.
    Begin,
    /// cf exited 0.
    Success,
    /// cf exited non-zero or died of a signal.
    Failure,
    /// The user turned telemetry off.
    OptOut,
}

/// Extra properties a row carries besides `command` and `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    Duration,
    Buildpack,
    Service,
    Outcome,
}

/// A further condition on the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    PluginIsCfdev,
}

pub struct Row {
    pub event: &'static str,
    /// Canonical command, or `ANY` for every recordable invocation.
    pub command: &'static str,
    pub trigger: Trigger,
    pub detail: Detail,
    pub condition: Condition,
}

pub const ANY: &str = "*";

const fn row(event: &'static str, command: &'static str, trigger: Trigger, detail: Detail) -> Row {
    Row {
        event,
        command,
        trigger,
        detail,
        condition: Condition::Always,
    }
}

use Detail as D;
use Trigger as T;

/// Adding an event is adding a row.
pub const CATALOGUE: &[Row] = &[
    row("Start Begin", "dev start", T::Begin, D::None),
    row("Start End", "dev start", T::Success, D::Duration),
    row("Error", ANY, T::Failure, D::Outcome),
    row("Stop", "dev stop", T::Success, D::None),
    Row {
        event: "Uninstall",
        command: "uninstall-plugin",
        trigger: T::Success,
        detail: D::None,
        condition: Condition::PluginIsCfdev,
    },
    row("App Created", "push", T::Success, D::Buildpack),
    row("Route Created", "create-route", T::Success, D::None),
    row(
        "Deployed Service",
        "dev deploy-service",
        T::Success,
        D::None,
    ),
    row("Deployed Service", "deploy-service", T::Success, D::None),
    row("Service Created", "create-service", T::Success, D::Service),
    row(
        "User Provided Service Created",
        "create-user-provided-service",
        T::Success,
        D::None,
    ),
    row("App Bound To Service", "bind-service", T::Success, D::None),
    row("App Restage", "restage", T::Success, D::None),
    row("Org Created", "create-org", T::Success, D::None),
    row("Space Created", "create-space", T::Success, D::None),
    row("User Created", "create-user", T::Success, D::None),
    row("Bosh", "dev bosh", T::Success, D::None),
    row("Telemetry Off", "dev telemetry", T::OptOut, D::None),
];

pub const BUILDPACKS: &[&str] = &[
    "staticfile",
    "java",
    "ruby",
    "dotnet_core",
    "nodejs",
    "go",
    "python",
    "php",
    "binary",
];

pub const SERVICES: &[&str] = &[
    "mysql",
    "p-mysql",
    "p.mysql",
    "rabbitmq",
    "p-rabbitmq",
    "p.rabbitmq",
    "redis",
    "p-redis",
    "p.redis",
    "p-circuit-breaker-dashboard",
    "p-config-server",
    "p-service-registry",
];

/// What `cf dev telemetry` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetrySwitch {
    On,
    Off,
    Show,
}

/// A cf command line reduced to recordable facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Canonical command name, or "unknown".
    pub command: &'static str,
    /// Version or help request: nothing is recorded.
    pub silent: bool,
    pub flags: Vec<&'static str>,
    pub buildpack: &'static str,
    pub service: &'static str,
    pub plugin_is_cfdev: bool,
    pub telemetry_switch: Option<TelemetrySwitch>,
}

#[cfg(unix)]
fn bytes(arg: &OsString) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(arg.as_os_str())
}

#[cfg(not(unix))]
fn bytes(arg: &OsString) -> &[u8] {
    arg.to_str().map(str::as_bytes).unwrap_or(b"\xff")
}

impl Invocation {
    /// Reads cf's arguments (without argv[0]) with cf's own rules.
    pub fn parse(args: &[OsString]) -> Invocation {
        let args: Vec<&[u8]> = args.iter().map(bytes).collect();
        let mut inv = Invocation {
            command: "unknown",
            silent: false,
            flags: Vec::new(),
            buildpack: "unspecified",
            service: "other",
            plugin_is_cfdev: false,
            telemetry_switch: None,
        };
        let asks_help = |a: &&[u8]| *a == b"-h" || *a == b"--help" || *a == b"--version";
        // `-v` before the command only turns on request tracing.
        let start = args.iter().take_while(|a| **a == b"-v").count();
        let Some(first) = args.get(start) else {
            inv.silent = true;
            return inv;
        };
        if args.iter().any(asks_help) || *first == b"help" || *first == b"h" {
            inv.silent = true;
            return inv;
        }
        let mut rest = &args[start + 1..];
        if *first == b"dev" {
            let Some(sub) = rest.first() else {
                inv.silent = true; // bare `cf dev` prints the plugin's usage
                return inv;
            };
            inv.command = commands::dev_subcommand(sub).unwrap_or("unknown");
            if inv.command == "dev help" {
                inv.silent = true;
                return inv;
            }
            rest = &rest[1..];
        } else if !first.starts_with(b"-") {
            inv.command = commands::canonical(first).unwrap_or("unknown");
        }
        for arg in rest.iter().filter(|a| a.starts_with(b"-")) {
            if let Some(flag) = commands::recordable_flag(arg) {
                if !inv.flags.contains(&flag) {
                    inv.flags.push(flag);
                }
            }
        }
        match inv.command {
            "push" => inv.buildpack = buildpack_of(rest),
            "create-service" => {
                let label = first_positional(rest, &[b"-b", b"-c", b"-t", b"--broker"]);
                inv.service = label.map(service_of).unwrap_or("other");
            }
            "uninstall-plugin" => {
                inv.plugin_is_cfdev = first_positional(rest, &[])
                    .is_some_and(|name| name.eq_ignore_ascii_case(b"cfdev"));
            }
            "dev telemetry" => {
                inv.telemetry_switch = Some(if rest.iter().any(|a| *a == b"--off") {
                    TelemetrySwitch::Off
                } else if rest.iter().any(|a| *a == b"--on") {
                    TelemetrySwitch::On
                } else {
                    TelemetrySwitch::Show
                });
            }
            _ => {}
        }
        inv
    }

    /// Rows of the catalogue that fire for this invocation at `trigger`.
    pub fn rows(&self, trigger: Trigger) -> impl Iterator<Item = &'static Row> + '_ {
        CATALOGUE.iter().filter(move |row| {
            !self.silent
                && row.trigger == trigger
                && (row.command == ANY || row.command == self.command)
                && match row.condition {
                    Condition::Always => true,
                    Condition::PluginIsCfdev => self.plugin_is_cfdev,
                }
        })
    }
}

/// The first argument that is neither a flag nor the value of one of
/// `value_flags` (given as a separate argument).
fn first_positional<'a>(rest: &[&'a [u8]], value_flags: &[&[u8]]) -> Option<&'a [u8]> {
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        if arg.starts_with(b"-") && arg.len() > 1 {
            if value_flags.contains(arg) {
                iter.next();
            }
            continue;
        }
        return Some(arg);
    }
    None
}

/// `-b X`, `-b=X`, `--buildpack X`, `--buildpack=X`, mapped onto BUILDPACKS.
fn buildpack_of(rest: &[&[u8]]) -> &'static str {
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        let value = if *arg == b"-b" || *arg == b"--buildpack" {
            iter.next().copied()
        } else if let Some(v) = arg
            .strip_prefix(b"-b=")
            .or_else(|| arg.strip_prefix(b"--buildpack="))
        {
            Some(v)
        } else {
            continue;
        };
        let Some(value) = value else {
            return "unspecified";
        };
        let lower = value.to_ascii_lowercase();
        let name = lower.strip_suffix(b"_buildpack").unwrap_or(&lower);
        return BUILDPACKS
            .iter()
            .find(|b| b.as_bytes() == name)
            .copied()
            .unwrap_or("custom");
    }
    "unspecified"
}

fn service_of(label: &[u8]) -> &'static str {
    let lower = label.to_ascii_lowercase();
    SERVICES
        .iter()
        .find(|s| s.as_bytes() == lower.as_slice())
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Invocation {
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        Invocation::parse(&args)
    }

    fn events(line: &str, trigger: Trigger) -> Vec<&'static str> {
        parse(line).rows(trigger).map(|r| r.event).collect()
    }

    #[test]
    fn aliases_and_tracing_flag() {
        assert_eq!(events("-v p myapp", T::Success), ["App Created"]);
        assert_eq!(
            events("cs p-mysql small db", T::Success),
            ["Service Created"]
        );
        assert_eq!(parse("-v -v rg app").command, "restage");
    }

    #[test]
    fn help_and_version_are_silent() {
        for line in [
            "",
            "-v",
            "--version",
            "help push",
            "h",
            "push -h",
            "apps --help",
            "dev",
        ] {
            assert!(parse(line).silent, "{line:?}");
            assert_eq!(events(line, T::Failure), Vec::<&str>::new());
        }
    }

    #[test]
    fn allowlists() {
        assert_eq!(parse("push app -b ruby_buildpack").buildpack, "ruby");
        assert_eq!(
            parse("push app --buildpack=https://x/y.git").buildpack,
            "custom"
        );
        assert_eq!(parse("push app").buildpack, "unspecified");
        assert_eq!(
            parse("create-service -c {} p.mysql db-small mine").service,
            "p.mysql"
        );
        assert_eq!(parse("create-service secretsvc plan mine").service, "other");
    }

    #[test]
    fn uninstall_only_for_cfdev() {
        assert_eq!(events("uninstall-plugin CFDev", T::Success), ["Uninstall"]);
        assert!(events("uninstall-plugin other", T::Success).is_empty());
    }

    #[test]
    fn flags_are_names_only() {
        let inv = parse("push app --no-start -m=1G --secret-thing=x -Xfoo -p /tmp/x");
        assert_eq!(inv.flags, ["--no-start", "-m", "-p"]);
    }
}
