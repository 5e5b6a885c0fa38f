//! Pins the grammar table to the real cf v8 and cfdev (see the module
//! sources): names, aliases, option sets. A regenerated table that changes
//! any of these fails here first, on purpose.

use super::*;
use crate::catalogue::{Invocation, Trigger, ANY, CATALOGUE};
use std::collections::HashSet;
use std::ffi::OsString;

/// Every alias cf v8 accepts (`alias:` tags; `v3-push` is a hidden command
/// running PushCommand), with the command it means.
const ALIASES: &[(&str, &str)] = &[
    ("a", "apps"),
    ("brs", "bind-route-service"),
    ("bs", "bind-service"),
    ("co", "create-org"),
    ("create-domain", "create-private-domain"),
    ("create-quota", "create-org-quota"),
    ("cs", "create-service"),
    ("csb", "create-service-broker"),
    ("csk", "create-service-key"),
    ("csp", "create-space"),
    ("cups", "create-user-provided-service"),
    ("d", "delete"),
    ("delete-domain", "delete-private-domain"),
    ("delete-quota", "delete-org-quota"),
    ("ds", "delete-service"),
    ("dsk", "delete-service-key"),
    ("e", "env"),
    ("h", "help"),
    ("l", "login"),
    ("lo", "logout"),
    ("m", "marketplace"),
    ("o", "orgs"),
    ("p", "push"),
    ("pw", "passwd"),
    ("quota", "org-quota"),
    ("quotas", "org-quotas"),
    ("r", "routes"),
    ("revg", "running-environment-variable-group"),
    ("rg", "restage"),
    ("ro", "route"),
    ("rs", "restart"),
    ("rt", "run-task"),
    ("s", "services"),
    ("se", "set-env"),
    ("set-quota", "set-org-quota"),
    ("sevg", "staging-environment-variable-group"),
    ("sk", "service-keys"),
    ("sp", "stop"),
    ("srevg", "set-running-environment-variable-group"),
    ("ssevg", "set-staging-environment-variable-group"),
    ("st", "start"),
    ("stage", "stage-package"),
    ("t", "target"),
    ("ue", "unset-env"),
    ("update-quota", "update-org-quota"),
    ("urs", "unbind-route-service"),
    ("us", "unbind-service"),
    ("uups", "update-user-provided-service"),
    ("v3-push", "push"),
];

#[test]
fn every_alias_resolves_to_its_canonical_name() {
    for (alias, name) in ALIASES {
        assert_eq!(canonical(alias.as_bytes()), Some(*name), "{alias}");
    }
    let listed: HashSet<&str> = ALIASES.iter().map(|(a, _)| *a).collect();
    for cmd in CF_COMMANDS {
        assert_eq!(canonical(cmd.name.as_bytes()), Some(cmd.name));
        for alias in cmd.aliases {
            assert!(listed.contains(alias), "alias {alias} not pinned");
        }
    }
    let in_table: usize = CF_COMMANDS.iter().map(|c| c.aliases.len()).sum();
    assert_eq!(in_table, ALIASES.len());
}

#[test]
fn names_are_unique_and_shaped_like_cf_names() {
    let mut seen = HashSet::new();
    for cmd in CF_COMMANDS {
        for name in std::iter::once(&cmd.name).chain(cmd.aliases) {
            assert!(seen.insert(*name), "{name} twice");
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }
    assert_eq!(
        CF_COMMANDS.len(),
        193,
        "cf v8 has 193 commands besides v3-push"
    );
    let flags: usize = CF_COMMANDS.iter().map(|c| c.flags.len()).sum();
    assert_eq!(flags, 385);
}

/// Names the table carried before this comparison that no cf v8 command has.
#[test]
fn names_cf_v8_does_not_have_are_gone() {
    for gone in [
        "deploy-service",
        "rename-buildpack",
        "v3-cancel-zdt-push",
        "v3-zdt-restart",
    ] {
        assert_eq!(canonical(gone.as_bytes()), None, "{gone}");
    }
    let every_flag: HashSet<&str> = CF_COMMANDS
        .iter()
        .chain(DEV_COMMANDS)
        .flat_map(|c| c.flags.iter().map(|f| f.name))
        .collect();
    for gone in [
        "--all",
        "--app",
        "--config",
        "--deps-iso",
        "--destination-protocol",
        "--file-path",
        "--health-check-http-endpoint",
        "--help",
        "--include-output",
        "--ip",
        "--no-proxy",
        "--org",
        "--orgs",
        "--parameters",
        "--password",
        "--plan",
        "--recursive",
        "--registry",
        "--revision",
        "--rolling",
        "--route-path",
        "--route-service-url",
        "--services",
        "--syslog-drain-url",
        "--tags",
        "--timeout",
        "--type",
        "--update",
        "--username",
        "--verbose",
    ] {
        assert!(!every_flag.contains(gone), "{gone}");
    }
}

#[test]
fn flags_are_well_formed_and_unambiguous() {
    for cmd in CF_COMMANDS.iter().chain(DEV_COMMANDS) {
        let mut longs = HashSet::new();
        let mut shorts = HashSet::new();
        for flag in cmd.flags {
            // SPEC §4: the shape of a recorded flag name.
            let body = flag
                .name
                .strip_prefix("--")
                .or(flag.name.strip_prefix('-'))
                .unwrap();
            assert!(
                body.len() <= 31 && body.as_bytes()[0].is_ascii_alphabetic(),
                "{}",
                flag.name
            );
            assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            match flag.long() {
                Some(long) => assert!(longs.insert(long), "{} {long}", cmd.name),
                None => assert_eq!(flag.name.as_bytes()[1], flag.short.unwrap()),
            }
            if let Some(short) = flag.short {
                assert!(
                    short.is_ascii_alphabetic() && shorts.insert(short),
                    "{}",
                    cmd.name
                );
            }
            // go-flags' help group and cf's root option take these names.
            assert_ne!(flag.short, Some(b'h'), "{}", cmd.name);
            assert_ne!(flag.long(), Some("help"), "{}", cmd.name);
            assert_ne!(flag.short, Some(b'v'), "{}", cmd.name);
        }
    }
    assert_eq!(ROOT_FLAGS, &[f("--version", Some(b'v'), Switch)]);
}

fn flag_names(cmd: &Command) -> Vec<&'static str> {
    cmd.flags.iter().map(|f| f.name).collect()
}

/// The option sets of the commands the catalogue names, as in the source.
#[test]
fn option_sets_of_catalogue_commands() {
    let cases: &[(&str, &[&str])] = &[
        (
            "push",
            &[
                "--app-start-timeout",
                "--buildpack",
                "--disk",
                "--docker-image",
                "--docker-username",
                "--droplet",
                "--endpoint",
                "--health-check-type",
                "--instance-steps",
                "--instances",
                "--lifecycle",
                "--log-rate-limit",
                "--manifest",
                "--max-in-flight",
                "--memory",
                "--no-manifest",
                "--no-route",
                "--no-start",
                "--no-wait",
                "--path",
                "--random-route",
                "--redact-env",
                "--stack",
                "--start-command",
                "--strategy",
                "--task",
                "--var",
                "--vars-file",
            ],
        ),
        (
            "create-route",
            &["--hostname", "--option", "--path", "--port"],
        ),
        ("create-service", &["-b", "-c", "-t", "--wait"]),
        ("create-user-provided-service", &["-l", "-p", "-r", "-t"]),
        (
            "bind-service",
            &["--binding-name", "-c", "--strategy", "--wait"],
        ),
        (
            "restage",
            &[
                "--instance-steps",
                "--max-in-flight",
                "--no-wait",
                "--strategy",
            ],
        ),
        ("create-org", &["--quota"]),
        ("create-space", &["-o", "--quota"]),
        ("create-user", &["--origin", "--password-prompt"]),
        ("uninstall-plugin", &[]),
        (
            "rollback",
            &[
                "-f",
                "--instance-steps",
                "--max-in-flight",
                "--strategy",
                "--version",
            ],
        ),
    ];
    for (name, flags) in cases {
        let cmd = cf_command(name.as_bytes()).unwrap();
        assert_eq!(flag_names(cmd), *flags, "{name}");
    }
    let push = cf_command(b"push").unwrap();
    let short = |c: u8| push.short_flag(c).map(|f| f.name);
    assert_eq!(short(b'b'), Some("--buildpack"));
    assert_eq!(short(b'c'), Some("--start-command"));
    assert_eq!(short(b'f'), Some("--manifest"));
    assert_eq!(push.short_flag(b'i').map(|f| f.takes), Some(Number));
    let dev = |sub: &str| flag_names(dev_command(sub.as_bytes()).unwrap());
    assert_eq!(
        dev("start"),
        [
            "--cpus",
            "--efi",
            "--file",
            "--memory",
            "--no-provision",
            "--registries",
            "--white-listed-services"
        ]
    );
    assert_eq!(dev("telemetry"), ["--off", "--on"]);
    assert_eq!(dev("version"), ["--file"]);
}

#[test]
fn dev_subcommands_are_cfdevs() {
    let names: Vec<&str> = DEV_COMMANDS.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "dev bosh",
            "dev catalog",
            "dev deploy-service",
            "dev download",
            "dev help",
            "dev provision",
            "dev start",
            "dev stop",
            "dev telemetry",
            "dev version"
        ]
    );
    for gone in [
        "import",
        "logs",
        "resume",
        "service-catalog",
        "suspend",
        "uninstall",
    ] {
        assert!(dev_command(gone.as_bytes()).is_none(), "{gone}");
    }
}

/// Every row's command is a real command, and each name cf accepts for it
/// reaches the row.
#[test]
fn every_catalogue_row_is_reachable_by_each_real_name() {
    for row in CATALOGUE.iter().filter(|r| r.command != ANY) {
        let typed: Vec<Vec<&str>> = if let Some(sub) = row.command.strip_prefix("dev ") {
            assert!(dev_command(sub.as_bytes()).is_some(), "{}", row.command);
            vec![vec!["dev", sub]]
        } else {
            let cmd = cf_command(row.command.as_bytes()).expect(row.command);
            assert_eq!(cmd.name, row.command, "rows name canonical commands");
            std::iter::once(&cmd.name)
                .chain(cmd.aliases)
                .map(|name| vec![*name, "cfdev"])
                .collect()
        };
        for line in typed {
            let args: Vec<OsString> = line.iter().map(OsString::from).collect();
            let inv = Invocation::parse(&args);
            assert_eq!(inv.command, row.command, "{line:?}");
            let fired: Vec<&str> = inv.rows(row.trigger).map(|r| r.event).collect();
            assert!(fired.contains(&row.event), "{line:?} -> {fired:?}");
        }
    }
    // The catalogue as a whole also fires for a failure of each.
    let inv = Invocation::parse(&[OsString::from("v3-push"), OsString::from("app")]);
    assert_eq!(inv.rows(Trigger::Failure).count(), 1);
}
