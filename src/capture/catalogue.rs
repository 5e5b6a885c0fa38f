//! The event catalogue (SPEC §4) as one table, and the reading of cf's argv
//! that decides which row applies. Only fixed vocabulary comes out of here:
//! canonical command names, allowlisted flag names, and values mapped onto
//! fixed allowlists. Nothing the user typed as a value is ever copied.

use crate::argv::{self, Parsed, Reading};
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
    /// Reads cf's arguments (without argv[0]) with cf's own rules (`argv`).
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
        let parsed = match argv::read(&args) {
            Reading::NoCommand => {
                inv.silent = true;
                return inv;
            }
            Reading::Unknown => return inv,
            Reading::Command(parsed) => parsed,
        };
        inv.command = parsed.command.name;
        for (flag, _) in &parsed.options {
            if !inv.flags.contains(&flag.name) {
                inv.flags.push(flag.name);
            }
        }
        let first_positional = parsed.positionals.first().copied();
        match inv.command {
            "push" => inv.buildpack = buildpack_of(&parsed),
            "create-service" => inv.service = first_positional.map(service_of).unwrap_or("other"),
            "uninstall-plugin" => {
                inv.plugin_is_cfdev =
                    first_positional.is_some_and(|name| name.eq_ignore_ascii_case(b"cfdev"));
            }
            "dev telemetry" => inv.telemetry_switch = Some(telemetry_switch(&parsed)),
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

/// cfdev's own rule: `--off` wins over `--on`; each is a pflag boolean
/// (`--off=false` is not off). A line the plugin refuses changes nothing.
fn telemetry_switch(parsed: &Parsed) -> TelemetrySwitch {
    let last = |name| {
        parsed
            .values(name)
            .last()
            .is_some_and(|v| v.is_none_or(|v| argv::parse_bool(v) == Some(true)))
    };
    if !parsed.complete {
        TelemetrySwitch::Show
    } else if last("--off") {
        TelemetrySwitch::Off
    } else if last("--on") {
        TelemetrySwitch::On
    } else {
        TelemetrySwitch::Show
    }
}

/// The first `-b`/`--buildpack` value (in any of go-flags' forms), mapped
/// onto BUILDPACKS; go-flags unquotes a value in double quotes.
fn buildpack_of(parsed: &Parsed) -> &'static str {
    let Some(Some(value)) = parsed.values("--buildpack").next() else {
        return "unspecified";
    };
    let value = match value {
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => inner,
        _ => value,
    };
    let lower = value.to_ascii_lowercase();
    let name = lower.strip_suffix(b"_buildpack").unwrap_or(&lower);
    BUILDPACKS
        .iter()
        .find(|b| b.as_bytes() == name)
        .copied()
        .unwrap_or("custom")
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
        assert_eq!(events("v3-push myapp", T::Success), ["App Created"]);
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
            "dev start --h",
        ] {
            assert!(parse(line).silent, "{line:?}");
            assert_eq!(events(line, T::Failure), Vec::<&str>::new());
        }
    }

    #[test]
    fn a_commands_own_version_flag_keeps_its_error() {
        let inv = parse("rollback app --version 2");
        assert!(!inv.silent);
        assert_eq!(inv.flags, ["--version"]);
        assert_eq!(events("rollback app --version 2", T::Failure), ["Error"]);
    }

    #[test]
    fn plugin_only_as_first_argument() {
        assert_eq!(parse("-v dev start").command, "unknown");
        assert!(events("-v dev start", T::Begin).is_empty());
        assert_eq!(events("-v dev start", T::Failure), ["Error"]);
        assert_eq!(events("dev start", T::Begin), ["Start Begin"]);
    }

    #[test]
    fn allowlists() {
        assert_eq!(parse("push app -b ruby_buildpack").buildpack, "ruby");
        assert_eq!(parse("push app -bGo_Buildpack").buildpack, "go");
        assert_eq!(parse("push app -b=php").buildpack, "php");
        assert_eq!(parse("push app --buildpack \"nodejs\"").buildpack, "nodejs");
        assert_eq!(
            parse("push app --buildpack=https://x/y.git").buildpack,
            "custom"
        );
        assert_eq!(parse("push app").buildpack, "unspecified");
        assert_eq!(
            parse("create-service -c {} p.mysql db-small mine").service,
            "p.mysql"
        );
        // `-b` names the broker; the label comes after its value.
        assert_eq!(
            parse("create-service -b redis secretsvc plan mine").service,
            "other"
        );
        assert_eq!(parse("create-service secretsvc plan mine").service, "other");
    }

    #[test]
    fn uninstall_only_for_cfdev() {
        assert_eq!(events("uninstall-plugin CFDev", T::Success), ["Uninstall"]);
        assert_eq!(
            events("uninstall-plugin -v cfdev", T::Success),
            ["Uninstall"]
        );
        assert!(events("uninstall-plugin other", T::Success).is_empty());
    }

    #[test]
    fn telemetry_switch_follows_cfdev() {
        let switch = |line| parse(line).telemetry_switch;
        assert_eq!(switch("dev telemetry --off"), Some(TelemetrySwitch::Off));
        assert_eq!(switch("dev telemetry --on"), Some(TelemetrySwitch::On));
        assert_eq!(
            switch("dev telemetry --on --off"),
            Some(TelemetrySwitch::Off)
        );
        assert_eq!(
            switch("dev telemetry --off=false --on"),
            Some(TelemetrySwitch::On)
        );
        assert_eq!(
            switch("dev telemetry --off=bogus"),
            Some(TelemetrySwitch::Show)
        );
        assert_eq!(switch("dev telemetry"), Some(TelemetrySwitch::Show));
        assert_eq!(switch("dev telemetry --off -h"), None);
        assert_eq!(switch("-v dev telemetry --off"), None);
    }

    #[test]
    fn flags_are_the_commands_own_names_only() {
        let inv = parse("push app --no-start -m=1G -p /tmp/x -b go");
        assert_eq!(
            inv.flags,
            ["--no-start", "--memory", "--path", "--buildpack"]
        );
        // A dash-led value is never a flag: here cf refuses it as `-c`'s value.
        assert_eq!(
            parse("create-service a b c -c -secret").flags,
            Vec::<&str>::new()
        );
        assert_eq!(parse("dev start -f -m").flags, ["--file"]);
    }
}
