//! Property tests: arbitrary byte strings as argv, and arbitrary spool
//! files, run with every `cargo test`. The coverage-guided fuzz targets in
//! `fuzz/` go further (SECURITY.md). `PROPTEST_CASES` raises the case count
//! for a long run (README).

use cfdev_shim::catalogue::{Invocation, Trigger, BUILDPACKS, SERVICES};
use cfdev_shim::commands::{Command, CF_COMMANDS, DEV_COMMANDS};
use cfdev_shim::record::{properties, Outcome};
use proptest::prelude::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Arguments drawn from cf's vocabulary mixed with arbitrary bytes.
fn arg() -> impl Strategy<Value = Vec<u8>> {
    let words: Vec<Vec<u8>> = CF_COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(&c.name).chain(c.aliases))
        .map(|name| name.as_bytes().to_vec())
        .chain(DEV_COMMANDS.iter().map(|c| c.name.as_bytes()[4..].to_vec()))
        .chain(
            CF_COMMANDS
                .iter()
                .chain(DEV_COMMANDS)
                .flat_map(|c| c.flags.iter().map(|f| f.name.as_bytes().to_vec())),
        )
        .chain(
            [
                "dev",
                "-v",
                "-h",
                "-b",
                "--buildpack=go",
                "cfdev",
                "p-mysql",
                "ruby_buildpack",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec()),
        )
        .collect();
    prop_oneof![
        proptest::sample::select(words),
        proptest::collection::vec(
            any::<u8>().prop_filter("no NUL in argv", |b| *b != 0),
            0..40
        ),
        "[-=a-zA-Z0-9_./:]{0,24}".prop_map(|s| s.into_bytes()),
    ]
}

fn command_named(name: &str) -> Option<&'static Command> {
    CF_COMMANDS
        .iter()
        .chain(DEV_COMMANDS)
        .find(|c| c.name == name)
}

/// Every value is fixed vocabulary: a known command, that command's own
/// flag names, an allowlisted category, a number.
fn allowed_value(v: &serde_json::Value) -> bool {
    let command = v.get("command").and_then(|c| c.as_str()).unwrap_or("");
    let known = |s: &str| s == "unknown" || command_named(s).is_some();
    let flag_ok =
        |s: &str| command_named(command).is_some_and(|c| c.flags.iter().any(|f| f.name == s));
    match v {
        serde_json::Value::Object(map) => map.iter().all(|(k, v)| match (k.as_str(), v) {
            ("command", serde_json::Value::String(s)) => known(s),
            ("flags", serde_json::Value::Array(a)) => {
                a.iter().all(|f| f.as_str().is_some_and(flag_ok))
            }
            ("buildpack", serde_json::Value::String(s)) => {
                BUILDPACKS.contains(&s.as_str()) || s == "custom" || s == "unspecified"
            }
            ("service", serde_json::Value::String(s)) => {
                SERVICES.contains(&s.as_str()) || s == "other"
            }
            ("exit_code" | "duration_ms", serde_json::Value::Number(_)) => true,
            ("signal", serde_json::Value::String(s)) => s.starts_with("SIG"),
            _ => false,
        }),
        _ => false,
    }
}

proptest! {
    #[test]
    fn classifier_never_panics_and_only_emits_allowlisted_values(
        args in proptest::collection::vec(arg(), 0..8),
        code in 0i32..256,
    ) {
        let argv: Vec<OsString> = args.iter().cloned().map(OsString::from_vec).collect();
        let inv = Invocation::parse(&argv);
        for trigger in [Trigger::Begin, Trigger::Success, Trigger::Failure, Trigger::OptOut] {
            for row in inv.rows(trigger) {
                let outcome = Outcome {
                    exit: Some(cfdev_shim::forward::ChildExit::Code(code)),
                    duration: Some(std::time::Duration::from_millis(5)),
                };
                let props = serde_json::Value::Object(properties(row, &inv, outcome));
                prop_assert!(allowed_value(&props), "{props} from {args:?}");
            }
        }
    }

    #[test]
    fn spool_reader_survives_any_file(content in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let paths = cfdev_shim::paths::StatePaths {
            config_dir: dir.path().to_path_buf(),
            data_dir: dir.path().to_path_buf(),
        };
        std::fs::create_dir_all(paths.spool_dir()).unwrap();
        std::fs::write(paths.spool_file(), &content).unwrap();
        let spool = cfdev_shim::spool::Spool::new(&paths);
        let read = spool.read().unwrap();
        let lines = content.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
        prop_assert_eq!(read.events.len() as u64 + read.corrupt, lines);
        // An append after garbage still yields one readable event.
        spool.append(r#"{"messageId":"m-new","event":"E"}"#).unwrap();
        let after = spool.read().unwrap();
        prop_assert!(after.events.iter().any(|e| e["messageId"] == "m-new"));
    }
}
