//! cf's reading of its argument vector, reproduced closely enough to know
//! what cf will do with it: which command runs (or whether cf only prints
//! help or its version), which of that command's own options were given, and
//! which arguments are positionals. Two grammars, each from its source:
//! - cf's own commands: go-flags v1.6.1 as `util/command_parser` and
//!   `main.go` of cloudfoundry/cli v8 drive it. Root options (`-v`/`--version`,
//!   `-h`/`--help`) are valid anywhere unless the command has an option of
//!   that name (`rollback --version N`); a value-taking option takes the next
//!   argument unless it looks like an option; the first non-option names the
//!   command; an unknown one is a plugin command only if it is the very first
//!   argument, and `-h`, `--help` or `--h` anywhere then asks for help.
//! - the cfdev plugin (`cf dev …`): cobra v0.0.3 finds the subcommand, pflag
//!   v1.0.2 reads its options.
//!
//! Values stay borrowed in here; callers map them onto allowlists.

use crate::commands::{self, Command, Flag, Takes};

#[cfg(test)]
mod tests;

/// What cf does with an argument vector.
#[derive(Debug, PartialEq, Eq)]
pub enum Reading<'a> {
    /// cf prints help or its version, or exits 0 after a parse error it does
    /// not count as one (a switch given a value): no command runs.
    NoCommand,
    /// cf refuses the line before any command (unknown command, usage error
    /// among the root options), or a plugin other than cfdev runs.
    Unknown,
    /// A cf command or a cfdev subcommand.
    Command(Parsed<'a>),
}

/// A command and what was given to it.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub command: &'static Command,
    /// The command's own options in the order given, with the value typed
    /// for each (`None`: a switch given alone).
    pub options: Vec<(&'static Flag, Option<&'a [u8]>)>,
    pub positionals: Vec<&'a [u8]>,
    /// False when the parser stopped at a usage error: the command does not
    /// run, cf exits non-zero.
    pub complete: bool,
}

impl<'a> Parsed<'a> {
    fn new(command: &'static Command) -> Parsed<'a> {
        Parsed {
            command,
            options: Vec::new(),
            positionals: Vec::new(),
            complete: true,
        }
    }

    /// Values given to the option recorded as `name`, in order.
    pub fn values(&self, name: &str) -> impl Iterator<Item = Option<&'a [u8]>> + '_ {
        let name = name.to_owned();
        self.options
            .iter()
            .filter(move |(flag, _)| flag.name == name)
            .map(|(_, value)| *value)
    }
}

/// Reads cf's arguments (without argv[0]).
pub fn read<'a>(args: &[&'a [u8]]) -> Reading<'a> {
    GoFlags::new(args).read()
}

/// Why go-flags stopped early.
enum Stop {
    Help,
    /// `--switch=value`: cf prints "Unexpected flag error" and exits 0.
    SwitchWithValue,
    UnknownFlag,
    /// A value-taking option without its value.
    MissingValue,
}

/// The option a name means for go-flags: the command's own first, then
/// cf's root option (`-v`/`--version`, a switch).
enum Meaning {
    Own(&'static Flag),
    Root,
}

struct GoFlags<'s, 'a> {
    args: &'s [&'a [u8]],
    next: usize,
    command: Option<Parsed<'a>>,
}

/// go-flags: `-x…` and `--x…` are options; `-`, `--` and `---x` are not.
fn is_option(arg: &[u8]) -> bool {
    match arg {
        [b'-', b'-', third, ..] => *third != b'-',
        [b'-', second, ..] => *second != b'-',
        _ => false,
    }
}

fn is_help_flag(arg: &&[u8]) -> bool {
    matches!(*arg, b"-h" | b"--help" | b"--h")
}

impl<'s, 'a> GoFlags<'s, 'a> {
    fn new(args: &'s [&'a [u8]]) -> Self {
        GoFlags {
            args,
            next: 0,
            command: None,
        }
    }

    fn read(mut self) -> Reading<'a> {
        while let Some(&arg) = self.args.get(self.next) {
            self.next += 1;
            if !is_option(arg) {
                match &mut self.command {
                    Some(parsed) => parsed.positionals.push(arg),
                    None => match commands::cf_command(arg) {
                        Some(cmd) => self.command = Some(Parsed::new(cmd)),
                        None => return self.unknown_command(),
                    },
                }
                continue;
            }
            if let Err(stop) = self.option(arg) {
                return self.stopped(stop);
            }
        }
        match self.command {
            // No command: `cf` prints help; `cf -v`, `cf --version` the version.
            None => Reading::NoCommand,
            Some(parsed) if parsed.command.name == "help" => Reading::NoCommand,
            Some(parsed) => Reading::Command(parsed),
        }
    }

    /// The first non-option is no cf command: cf shows help if asked
    /// anywhere, else runs the plugin that owns the very first argument.
    fn unknown_command(&self) -> Reading<'a> {
        if self.args.iter().any(is_help_flag) {
            return Reading::NoCommand;
        }
        if self.next == 1 && self.args[0] == b"dev" {
            return read_dev(&self.args[1..]);
        }
        Reading::Unknown
    }

    fn stopped(self, stop: Stop) -> Reading<'a> {
        let Some(mut parsed) = self.command else {
            return match stop {
                Stop::Help | Stop::SwitchWithValue => Reading::NoCommand,
                Stop::UnknownFlag | Stop::MissingValue => Reading::Unknown,
            };
        };
        match stop {
            Stop::Help | Stop::SwitchWithValue => return Reading::NoCommand,
            _ if parsed.command.name == "help" => return Reading::NoCommand,
            Stop::UnknownFlag if parsed.command.name == "set-env" => {
                return set_env_retry(self.args, parsed.command);
            }
            Stop::UnknownFlag | Stop::MissingValue => parsed.complete = false,
        }
        Reading::Command(parsed)
    }

    fn meaning_long(&self, name: &[u8]) -> Option<Meaning> {
        let own = self
            .command
            .as_ref()
            .and_then(|p| p.command.long_flag(name));
        match own {
            Some(flag) => Some(Meaning::Own(flag)),
            None if name == b"version" => Some(Meaning::Root),
            None => None,
        }
    }

    fn meaning_short(&self, short: u8) -> Option<Meaning> {
        let own = self
            .command
            .as_ref()
            .and_then(|p| p.command.short_flag(short));
        match own {
            Some(flag) => Some(Meaning::Own(flag)),
            None if short == b'v' => Some(Meaning::Root),
            None => None,
        }
    }

    fn option(&mut self, arg: &'a [u8]) -> Result<(), Stop> {
        if let Some(body) = arg.strip_prefix(b"--") {
            let (name, value) = match body.iter().position(|b| *b == b'=') {
                Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
                None => (body, None),
            };
            // The help group is added last, so it wins over any own option.
            if name == b"help" {
                return Err(Stop::Help);
            }
            let meaning = self.meaning_long(name).ok_or(Stop::UnknownFlag)?;
            return self.take(meaning, value, true);
        }
        let body = &arg[1..];
        // `-b=go`: only when the first `=` is right after one letter.
        let (mut letters, mut value) = match body {
            [first, b'=', rest @ ..] if *first != b'=' => (&body[..1], Some(rest)),
            _ => (body, None),
        };
        // `-bgo`: a value-taking first letter takes the rest as its value.
        if value.is_none() && letters.len() > 1 {
            if let Some(Meaning::Own(flag)) = self.meaning_short(letters[0]) {
                if flag.takes != Takes::Switch {
                    value = Some(&letters[1..]);
                    letters = &letters[..1];
                }
            }
        }
        for (i, &letter) in letters.iter().enumerate() {
            if letter == b'h' {
                return Err(Stop::Help);
            }
            let meaning = self.meaning_short(letter).ok_or(Stop::UnknownFlag)?;
            // Only the last letter may take the next argument.
            self.take(meaning, value.take(), i + 1 == letters.len())?;
        }
        Ok(())
    }

    fn take(
        &mut self,
        meaning: Meaning,
        value: Option<&'a [u8]>,
        can_take_next: bool,
    ) -> Result<(), Stop> {
        let flag = match meaning {
            Meaning::Root if value.is_some() => return Err(Stop::SwitchWithValue),
            Meaning::Root => return Ok(()),
            Meaning::Own(flag) => flag,
        };
        let value = match (flag.takes, value) {
            (Takes::Switch, Some(_)) => return Err(Stop::SwitchWithValue),
            (Takes::Switch, None) => None,
            (_, Some(value)) => Some(value),
            (takes, None) => {
                let next = self.args.get(self.next).filter(|_| can_take_next);
                let next = next.ok_or(Stop::MissingValue)?;
                let negative_number = takes == Takes::Number
                    && next.len() > 1
                    && next[0] == b'-'
                    && next[1].is_ascii_digit();
                if is_option(next) && !negative_number {
                    return Err(Stop::MissingValue);
                }
                self.next += 1;
                Some(*next)
            }
        };
        if let Some(parsed) = &mut self.command {
            parsed.options.push((flag, value));
        }
        Ok(())
    }
}

/// cf's set-env work-around: on an unknown option it parses again with every
/// dash-led argument prefixed (so `cf set-env APP NAME -value` works): none
/// is an option any more. An empty argument makes that retry panic.
fn set_env_retry<'a>(args: &[&'a [u8]], command: &'static Command) -> Reading<'a> {
    if args.iter().any(|a| a.is_empty()) {
        let mut parsed = Parsed::new(command);
        parsed.complete = false;
        return Reading::Command(parsed);
    }
    // A prefixed root option before the command is an unknown command.
    if !command.name.as_bytes().eq(args[0])
        && !command.aliases.iter().any(|a| a.as_bytes() == args[0])
    {
        return Reading::Unknown;
    }
    let mut parsed = Parsed::new(command);
    parsed.positionals = args[1..].to_vec();
    Reading::Command(parsed)
}

/// `cf dev …` (arguments after `dev`): cobra finds the subcommand from the
/// words left once options are stripped; pflag reads the rest.
fn read_dev<'a>(rest: &[&'a [u8]]) -> Reading<'a> {
    let sub = cobra_first_word(rest).and_then(|word| Some((word, commands::dev_command(word)?)));
    let Some((word, command)) = sub else {
        // `dev` itself has no action: cobra prints its help, unless an
        // option it does not know is an error first.
        return match pflag(&DEV_ITSELF, rest) {
            Some(parsed) if !parsed.complete => Reading::Unknown,
            _ => Reading::NoCommand,
        };
    };
    // cobra removes the first argument equal to the subcommand's name.
    let at = rest.iter().position(|a| *a == word).unwrap_or(0);
    let remaining: Vec<&[u8]> = rest[..at].iter().chain(&rest[at + 1..]).copied().collect();
    match pflag(command, &remaining) {
        Some(parsed) if command.name != "dev help" => Reading::Command(parsed),
        _ => Reading::NoCommand,
    }
}

static DEV_ITSELF: Command = Command {
    name: "dev",
    aliases: &[],
    flags: &[],
};

/// cobra v0.0.3 `stripFlags` then the first word: `--name` and `-x` without
/// `=` are taken to have a value (except `--help`), unless nothing but that
/// value follows; `--` ends the search.
fn cobra_first_word<'a>(args: &[&'a [u8]]) -> Option<&'a [u8]> {
    let mut rest = args;
    while let [s, tail @ ..] = rest {
        rest = tail;
        let has_eq = s.contains(&b'=');
        let long_with_value = s.starts_with(b"--") && !has_eq && &s[2..] != b"help";
        let short_with_value = s.starts_with(b"-") && !has_eq && s.len() == 2;
        if *s == b"--" {
            return None;
        } else if long_with_value || short_with_value {
            if rest.len() <= 1 {
                return None;
            }
            rest = &rest[1..];
        } else if !s.is_empty() && !s.starts_with(b"-") {
            return Some(s);
        }
    }
    None
}

/// pflag's value for a boolean (`strconv.ParseBool`).
pub fn parse_bool(value: &[u8]) -> Option<bool> {
    match value {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// pflag v1.0.2 `parseArgs` with cobra's help handling; None: a help
/// request.
fn pflag<'a>(command: &'static Command, args: &[&'a [u8]]) -> Option<Parsed<'a>> {
    let mut parsed = Parsed::new(command);
    match pflag_into(&mut parsed, args) {
        Ok(()) => {}
        Err(PflagStop::Help) => return None,
        Err(PflagStop::Error) => parsed.complete = false,
    }
    Some(parsed)
}

enum PflagStop {
    Help,
    Error,
}

fn pflag_into<'a>(parsed: &mut Parsed<'a>, args: &[&'a [u8]]) -> Result<(), PflagStop> {
    let command = parsed.command;
    let mut i = 0;
    while let Some(&s) = args.get(i) {
        i += 1;
        if s.len() < 2 || s[0] != b'-' {
            parsed.positionals.push(s);
            continue;
        }
        if s == b"--" {
            parsed.positionals.extend_from_slice(&args[i..]);
            return Ok(());
        }
        if let Some(body) = s.strip_prefix(b"--") {
            if matches!(body.first(), Some(b'-' | b'=')) {
                return Err(PflagStop::Error);
            }
            let (name, value) = match body.iter().position(|b| *b == b'=') {
                Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
                None => (body, None),
            };
            let Some(flag) = command.long_flag(name) else {
                // The root's persistent `--help` switch.
                return match value.map(parse_bool).unwrap_or(Some(true)) {
                    Some(true) if name == b"help" => Err(PflagStop::Help),
                    Some(false) if name == b"help" => Ok(()),
                    _ => Err(PflagStop::Error),
                };
            };
            let value = match (flag.takes, value) {
                (Takes::Switch, v) => v,
                (_, Some(v)) => Some(v),
                (_, None) => {
                    let next = args.get(i).ok_or(PflagStop::Error)?;
                    i += 1;
                    Some(*next)
                }
            };
            pflag_set(parsed, flag, value)?;
            continue;
        }
        let mut letters = &s[1..];
        while let [letter, after @ ..] = letters {
            // No `-h` is defined (the root's `--help` took its place), and
            // an unknown `h` is pflag's help request.
            let flag = command.short_flag(*letter).ok_or(if *letter == b'h' {
                PflagStop::Help
            } else {
                PflagStop::Error
            })?;
            let value = if after.len() > 1 && after[0] == b'=' {
                letters = &[];
                Some(&after[1..])
            } else if flag.takes == Takes::Switch {
                letters = after;
                None
            } else if !after.is_empty() {
                letters = &[];
                Some(after)
            } else {
                letters = &[];
                let next = args.get(i).ok_or(PflagStop::Error)?;
                i += 1;
                Some(*next)
            };
            pflag_set(parsed, flag, value)?;
        }
    }
    Ok(())
}

fn pflag_set<'a>(
    parsed: &mut Parsed<'a>,
    flag: &'static Flag,
    value: Option<&'a [u8]>,
) -> Result<(), PflagStop> {
    if flag.takes == Takes::Switch {
        if let Some(v) = value {
            parse_bool(v).ok_or(PflagStop::Error)?;
        }
    }
    parsed.options.push((flag, value));
    Ok(())
}
