//! The argv classifier: never panics, and nothing the user typed as a value
//! reaches an event. Arguments are built from cf's own vocabulary (command
//! names, aliases, each command's flags) mixed with free-form bytes; every
//! free-form piece carries the canary `QZX`, which no vocabulary word
//! contains, so any byte run of it in the event JSON is a leak. Every value
//! in the event must also be fixed vocabulary.
#![no_main]

use cfdev_shim::catalogue::{Invocation, Trigger, BUILDPACKS, SERVICES};
use cfdev_shim::commands::{Command, CF_COMMANDS, DEV_COMMANDS};
use cfdev_shim::forward::ChildExit;
use cfdev_shim::record::{properties, Outcome};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

const CANARY: &[u8] = b"QZX";

fn vocabulary() -> &'static [Vec<u8>] {
    static WORDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<Vec<u8>> = Vec::new();
        for cmd in CF_COMMANDS {
            words.push(cmd.name.into());
            words.extend(cmd.aliases.iter().map(|a| a.as_bytes().to_vec()));
        }
        for cmd in CF_COMMANDS.iter().chain(DEV_COMMANDS) {
            for flag in cmd.flags {
                words.push(flag.name.into());
                if let Some(short) = flag.short {
                    words.push(vec![b'-', short]);
                }
            }
        }
        words.extend(DEV_COMMANDS.iter().map(|c| c.name.as_bytes()[4..].to_vec()));
        for w in [
            "dev",
            "-v",
            "--version",
            "-h",
            "--help",
            "--h",
            "--",
            "-",
            "help",
            "cfdev",
            "CFDev",
            "=",
            "true",
            "false",
        ] {
            words.push(w.into());
        }
        words.extend(
            BUILDPACKS
                .iter()
                .map(|b| format!("{b}_buildpack").into_bytes()),
        );
        words.extend(SERVICES.iter().map(|s| s.as_bytes().to_vec()));
        for w in &words {
            assert!(!w.windows(CANARY.len()).any(|x| x == CANARY));
        }
        words
    })
}

/// Decodes fuzz bytes into an argv: per argument a tag byte chooses a
/// vocabulary word, free-form bytes (up to the next NUL), or a word glued
/// to free-form bytes (`--buildpack=…`, `-b…`).
fn argv(mut data: &[u8]) -> Vec<Vec<u8>> {
    let words = vocabulary();
    let mut args = Vec::new();
    while let Some((&tag, rest)) = data.split_first() {
        data = rest;
        let word = |data: &mut &[u8]| {
            let (&i, rest) = data.split_first().unwrap_or((&0, &[]));
            let (&j, rest) = rest.split_first().unwrap_or((&0, &[]));
            *data = rest;
            words[(usize::from(i) << 8 | usize::from(j)) % words.len()].clone()
        };
        let free = |data: &mut &[u8]| {
            let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
            let mut piece = data[..end].to_vec();
            *data = &data[(end + 1).min(data.len())..];
            piece.extend_from_slice(CANARY);
            piece
        };
        let arg = match tag % 4 {
            0 | 1 => word(&mut data),
            2 => free(&mut data),
            _ => {
                let mut w = word(&mut data);
                w.extend(free(&mut data));
                w
            }
        };
        args.push(arg);
        if args.len() > 24 {
            break;
        }
    }
    args
}

fn command_named(name: &str) -> Option<&'static Command> {
    CF_COMMANDS
        .iter()
        .chain(DEV_COMMANDS)
        .find(|c| c.name == name)
}

fn check_vocabulary(props: &serde_json::Map<String, Value>) {
    let command = props["command"].as_str().expect("command is a string");
    let cmd = command_named(command);
    assert!(command == "unknown" || cmd.is_some(), "command {command}");
    for (key, value) in props {
        match (key.as_str(), value) {
            ("command", _) => {}
            ("flags", Value::Array(flags)) => {
                for flag in flags {
                    let flag = flag.as_str().expect("flag is a string");
                    let own = cmd.is_some_and(|c| c.flags.iter().any(|f| f.name == flag));
                    assert!(own, "{flag} is not a flag of {command}");
                }
            }
            ("buildpack", Value::String(b)) => {
                assert!(BUILDPACKS.contains(&b.as_str()) || b == "custom" || b == "unspecified")
            }
            ("service", Value::String(s)) => {
                assert!(SERVICES.contains(&s.as_str()) || s == "other")
            }
            ("exit_code" | "duration_ms", Value::Number(_)) => {}
            ("signal", Value::String(s)) => assert!(s.starts_with("SIG")),
            (key, value) => panic!("unexpected property {key}: {value}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = argv(data).into_iter().map(OsString::from_vec).collect();
    let inv = Invocation::parse(&args);
    let outcomes = [
        Outcome {
            exit: Some(ChildExit::Code(3)),
            duration: Some(std::time::Duration::from_millis(7)),
        },
        Outcome {
            exit: Some(ChildExit::Signal(15)),
            duration: None,
        },
    ];
    for trigger in [
        Trigger::Begin,
        Trigger::Success,
        Trigger::Failure,
        Trigger::OptOut,
    ] {
        for row in inv.rows(trigger) {
            for outcome in outcomes {
                let props = properties(row, &inv, outcome);
                check_vocabulary(&props);
                let message = cfdev_shim::event::track(row.event, props, "anon");
                let text = message.to_string();
                assert!(
                    !text.as_bytes().windows(CANARY.len()).any(|w| w == CANARY),
                    "typed bytes leaked: {text}"
                );
            }
        }
    }
});
