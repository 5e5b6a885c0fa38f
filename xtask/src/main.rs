//! Build-time chores, kept out of the shipped binaries so that they cost the
//! wrapper nothing at start-up:
//!   xtask docs DIR   shell completions (bash, zsh, fish) and man pages for
//!                    cfdev-shim and cfdev-collector, from their clap
//!                    definitions, into DIR/completions and DIR/man/man1.
//! The man pages are dated from SOURCE_DATE_EPOCH when set (reproducible
//! archives), and undated otherwise.

use clap_complete::Shell;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [task, dir] if task == "docs" => docs(Path::new(dir)),
        _ => Err("usage: xtask docs DIR".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn docs(out: &Path) -> Result<(), String> {
    let completions = out.join("completions");
    let man = out.join("man").join("man1");
    for dir in [&completions, &man] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let date = source_date();
    let commands: [fn() -> clap::Command; 2] =
        [cfdev_shim::cli::command, cfdev_collector::cli::command];
    for make in commands {
        let mut command = make();
        let name = command.get_name().to_string();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            clap_complete::generate_to(shell, &mut command, &name, &completions)
                .map_err(|e| format!("{shell} completions for {name}: {e}"))?;
        }
        // A fresh definition: generating completions built in `help` subcommands.
        man_pages(without_help_subcommands(make()), &man, &date)
            .map_err(|e| format!("man pages for {name}: {e}"))?;
    }
    Ok(())
}

/// `help` subcommands only repeat `--help`: no page of their own.
fn without_help_subcommands(command: clap::Command) -> clap::Command {
    command
        .disable_help_subcommand(true)
        .mut_subcommands(without_help_subcommands)
}

/// One page for the command and one for each visible subcommand, as
/// `git-commit(1)` beside `git(1)`.
fn man_pages(mut command: clap::Command, dir: &Path, date: &str) -> std::io::Result<()> {
    command.build();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub.clone(), dir, date)?;
    }
    clap_mangen::Man::new(command)
        .date(date)
        .source("cfdev-shim")
        .generate_to(dir)
        .map(drop)
}

/// SOURCE_DATE_EPOCH as YYYY-MM-DD, or "" (no date) when unset.
fn source_date() -> String {
    let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    else {
        return String::new();
    };
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
