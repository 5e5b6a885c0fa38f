//! cf's parsing rules, each from the source named in the module doc.

use super::*;

fn read_line(line: &str) -> Reading<'_> {
    let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    // The reading borrows from `line`, never from the temporary vector.
    let reading = read(&args);
    reading
}

/// (canonical command, recorded options, positionals, complete)
fn command(line: &str) -> (&'static str, Vec<&'static str>, Vec<String>, bool) {
    match read_line(line) {
        Reading::Command(p) => (
            p.command.name,
            p.options.iter().map(|(f, _)| f.name).collect(),
            p.positionals
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            p.complete,
        ),
        other => panic!("{line:?}: {other:?}"),
    }
}

#[test]
fn help_and_version_run_no_command() {
    for line in [
        "",
        "-v",
        "--version",
        "-v -v",
        "-v --version",
        "-h",
        "--help",
        "-h push",
        "--help push",
        "help",
        "help push",
        "h",
        "h push",
        "-v help",
        "help --bogus",
        "push -h",
        "push app --help",
        "delete app -fh",
        "rollback app --version 2 -h",
        "frobnicate -h",
        "frobnicate x --h",
        "dev start --h",
        "dev start -h",
        "dev --help start",
        "dev",
        "dev frobnicate",
        "dev help",
        "dev help start",
    ] {
        assert_eq!(read_line(line), Reading::NoCommand, "{line:?}");
    }
}

#[test]
fn a_commands_own_version_option_is_not_a_version_request() {
    assert_eq!(
        command("rollback app --version 2"),
        ("rollback", vec!["--version"], vec!["app".into()], true)
    );
    assert_eq!(command("revision app --version=3").1, ["--version"]);
    // Elsewhere `--version` after a command is cf's verbose switch.
    assert_eq!(
        command("push app --version"),
        ("push", vec![], vec!["app".into()], true)
    );
}

#[test]
fn dash_v_is_the_root_verbose_switch() {
    assert_eq!(command("-v push app").0, "push");
    assert_eq!(command("--version push app").0, "push");
    assert_eq!(
        command("push -v app"),
        ("push", vec![], vec!["app".into()], true)
    );
    assert_eq!(command("-v -v rg app").0, "restage");
}

#[test]
fn plugin_commands_are_matched_on_the_first_argument_only() {
    assert_eq!(read_line("-v dev start"), Reading::Unknown);
    assert_eq!(read_line("--version dev start"), Reading::Unknown);
    assert_eq!(command("dev start").0, "dev start");
    assert_eq!(read_line("frobnicate start"), Reading::Unknown);
}

#[test]
fn value_taking_options_consume_their_value() {
    // `-b` of create-service is the broker: the label is `mysql`.
    assert_eq!(
        command("create-service -b p-mysql mysql small db").2,
        ["mysql", "small", "db"]
    );
    assert_eq!(
        command("cs -c {} p.mysql small db").2,
        ["p.mysql", "small", "db"]
    );
    assert_eq!(command("push -b go app").2, ["app"]);
    // Short forms: `-bgo`, `-b=go`; a switch then a value-taking letter.
    assert_eq!(command("push -bgo app").2, ["app"]);
    assert_eq!(command("push -b=go app").2, ["app"]);
    // `-fh` is `--manifest h`, not a help request.
    assert_eq!(
        command("push app -fh"),
        ("push", vec!["--manifest"], vec!["app".into()], true)
    );
    // A negative number is a value; any other dash-led argument is refused.
    assert_eq!(command("scale app -l -1").1, ["-l"]);
    assert!(command("push app -i -1").3);
    assert!(!command("push app -m -1").3);
    assert_eq!(
        command("push app -b -h"),
        ("push", vec![], vec!["app".into()], false)
    );
    assert!(!command("push app -b").3);
}

#[test]
fn options_are_the_commands_own_under_their_canonical_name() {
    assert_eq!(
        command("push app -m 1G -i 2 -k 1G -c x --start-command=y -s cflinuxfs4").1,
        [
            "--memory",
            "--instances",
            "--disk",
            "--start-command",
            "--start-command",
            "--stack"
        ]
    );
    assert_eq!(command("create-route example.com -o lb=rr").1, ["--option"]);
    assert_eq!(
        command("create-route example.com --option lb=rr -n h").1,
        ["--option", "--hostname"]
    );
    // Short-only options keep their short name.
    assert_eq!(
        command("create-service a b c -c {} -t x -w").1,
        ["-c", "-t", "--wait"]
    );
    // An option of another command is an unknown option here: cf stops.
    assert_eq!(
        command("create-org o --no-start"),
        ("create-org", vec![], vec!["o".into()], false)
    );
    assert!(!command("push app --secret-thing=x --no-start").3);
}

#[test]
fn go_flags_oddities() {
    // `--` and `---x` are positionals to go-flags, `-` too.
    assert_eq!(command("push -- -").2, ["--", "-"]);
    assert_eq!(command("push ---x").2, ["---x"]);
    // A switch given a value: "Unexpected flag error", exit 0, nothing runs.
    assert_eq!(read_line("push app --no-start=true"), Reading::NoCommand);
    assert_eq!(read_line("--version=1"), Reading::NoCommand);
    // Before the command only root options exist.
    assert_eq!(read_line("--no-start push"), Reading::Unknown);
    assert_eq!(read_line("-b go push"), Reading::Unknown);
}

#[test]
fn set_env_takes_dash_led_values() {
    assert_eq!(
        command("set-env app NAME -value"),
        (
            "set-env",
            vec![],
            vec!["app".into(), "NAME".into(), "-value".into()],
            true
        )
    );
    assert_eq!(command("se app NAME --x").0, "set-env");
    assert_eq!(read_line("-v set-env app NAME -value"), Reading::Unknown);
    assert_eq!(read_line("set-env app NAME -h"), Reading::NoCommand);
}

#[test]
fn hidden_and_v6_names() {
    assert_eq!(command("v3-push app").0, "push");
    assert_eq!(command("stage app --package-guid g").0, "stage-package");
    assert_eq!(command("create-quota q -m 1G").0, "create-org-quota");
    assert_eq!(command("ro example.com").0, "route");
    assert_eq!(read_line("deploy-service x"), Reading::Unknown);
}

#[test]
fn cfdev_options_with_pflag_rules() {
    assert_eq!(
        command("dev start -f x -c 4 --no-provision -m=8192 -s all -r=reg --efi=e").1,
        [
            "--file",
            "--cpus",
            "--no-provision",
            "--memory",
            "--white-listed-services",
            "--registries",
            "--efi"
        ]
    );
    // Bundled: a switch, then a letter taking the rest.
    assert_eq!(command("dev start -nc4").1, ["--no-provision", "--cpus"]);
    // pflag takes the next argument as a value even when dash-led.
    assert_eq!(command("dev start -f -x").1, ["--file"]);
    assert!(command("dev start -f -x").3);
    // `--` ends options; unknown ones are errors.
    assert_eq!(command("dev start -- -f").2, ["-f"]);
    assert!(!command("dev start --bogus").3);
    assert!(!command("dev start -v").3);
    // cobra finds the subcommand past options it assumes take a value.
    assert_eq!(command("dev -f x start").0, "dev start");
    assert_eq!(read_line("dev -f start"), Reading::Unknown);
    assert_eq!(read_line("dev --bogus"), Reading::Unknown);
    assert_eq!(command("dev bosh env").0, "dev bosh");
    assert_eq!(command("dev deploy-service mysql").2, ["mysql"]);
}

#[test]
fn telemetry_values_are_pflag_booleans() {
    let values = |line: &str| match read_line(line) {
        Reading::Command(p) => p
            .options
            .iter()
            .map(|(f, v)| (f.name, v.map(|v| String::from_utf8_lossy(v).into_owned())))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(values("dev telemetry --off"), [("--off", None)]);
    assert_eq!(
        values("dev telemetry --on=false"),
        [("--on", Some("false".into()))]
    );
    assert!(!command("dev telemetry --off=maybe").3);
    assert_eq!(command("dev telemetry --off x").2, ["x"]);
}
