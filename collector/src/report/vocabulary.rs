//! The public vocabulary: the only words a published report may contain
//! besides numbers and dates. Anyone holding the write key (it ships with
//! every install) can send any string, so event names outside the catalogue,
//! OS names Rust does not produce, builds not in this product's version
//! format and commands cf does not have are all published as "other".
//! The lists come from the wrapper's own tables (`cfdev_shim::catalogue`,
//! `cfdev_shim::commands`), so there is one source of truth.

use cfdev_shim::{catalogue, commands};

/// Everything outside the vocabulary, and rows folded for k-anonymity.
pub const OTHER: &str = "other";
/// What storage reports for a missing OS, build or command.
pub const UNKNOWN: &str = "unknown";

/// The values of `std::env::consts::OS` that `context.os.name` carries.
const OS_NAMES: &[&str] = &[
    "linux",
    "macos",
    "windows",
    "freebsd",
    "openbsd",
    "netbsd",
    "dragonfly",
    "illumos",
    "solaris",
    "android",
    "ios",
    "aix",
    "haiku",
];

/// What each event means, for the methodology. A unit test requires one
/// line per catalogue event.
pub const EVENT_MEANINGS: &[(&str, &str)] = &[
    ("Start Begin", "cf dev start began"),
    ("Start End", "cf dev start finished successfully"),
    (
        "Error",
        "any cf command exited non-zero or died of a signal",
    ),
    ("Stop", "cf dev stop succeeded"),
    ("Uninstall", "the cfdev plugin was uninstalled"),
    ("App Created", "cf push succeeded"),
    ("Route Created", "cf create-route succeeded"),
    (
        "Deployed Service",
        "cf dev deploy-service or cf deploy-service succeeded",
    ),
    ("Service Created", "cf create-service succeeded"),
    (
        "User Provided Service Created",
        "cf create-user-provided-service succeeded",
    ),
    ("App Bound To Service", "cf bind-service succeeded"),
    ("App Restage", "cf restage succeeded"),
    ("Org Created", "cf create-org succeeded"),
    ("Space Created", "cf create-space succeeded"),
    ("User Created", "cf create-user succeeded"),
    ("Bosh", "cf dev bosh succeeded"),
    ("Telemetry Off", "a user turned telemetry off"),
];

pub fn event(raw: &str) -> &str {
    if catalogue::CATALOGUE.iter().any(|row| row.event == raw) {
        raw
    } else {
        OTHER
    }
}

pub fn os(raw: &str) -> &str {
    if raw == UNKNOWN || OS_NAMES.contains(&raw) {
        raw
    } else {
        OTHER
    }
}

/// `MAJOR.MINOR.PATCH[-PRE]+<git sha or "unknown">` as build.rs stamps it,
/// or the bare version.
pub fn build(raw: &str) -> &str {
    if raw == UNKNOWN || is_product_build(raw) {
        raw
    } else {
        OTHER
    }
}

fn is_product_build(raw: &str) -> bool {
    let (version, sha) = match raw.split_once('+') {
        Some((v, s)) => (v, Some(s)),
        None => (raw, None),
    };
    let sha_ok = sha.is_none_or(|s| {
        s == UNKNOWN || ((7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    let (core, pre) = match version.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (version, None),
    };
    let pre_ok = pre.is_none_or(|p| {
        (1..=20).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
    });
    let parts: Vec<&str> = core.split('.').collect();
    let core_ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    core_ok && pre_ok && sha_ok
}

/// A canonical cf command (`push`), a cfdev plugin command (`dev start`) or
/// `unknown` (the wrapper's word for a command it does not know).
pub fn command(raw: &str) -> &str {
    let known = raw == UNKNOWN
        || commands::CF_COMMANDS
            .iter()
            .chain(commands::DEV_COMMANDS)
            .any(|c| c.name == raw);
    if known {
        raw
    } else {
        OTHER
    }
}

/// How many times a command ran, where the catalogue tells: the event its
/// every run records (`dev start`: Start Begin), or the event its successful
/// runs record (then runs = successes + errors). Commands whose success event
/// is shared with another command (deploy-service) or that are conditional
/// (uninstall-plugin only for cfdev) are left out.
pub enum Runs {
    EveryRun(&'static str),
    Successes(&'static str),
}

pub fn runs_of(command: &str) -> Option<Runs> {
    if command == "dev start" {
        return Some(Runs::EveryRun("Start Begin"));
    }
    let mut rows = catalogue::CATALOGUE.iter().filter(|row| {
        row.command == command
            && row.trigger == catalogue::Trigger::Success
            && row.condition == catalogue::Condition::Always
    });
    let row = rows.next()?;
    let shared = catalogue::CATALOGUE
        .iter()
        .filter(|other| other.event == row.event)
        .count()
        > 1;
    (rows.next().is_none() && !shared && row.event != "Start End")
        .then_some(Runs::Successes(row.event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_event_is_explained() {
        for row in catalogue::CATALOGUE {
            assert!(
                EVENT_MEANINGS.iter().any(|(e, _)| *e == row.event),
                "{} has no meaning",
                row.event
            );
            assert_eq!(event(row.event), row.event);
        }
        for (e, _) in EVENT_MEANINGS {
            assert_eq!(event(e), *e, "{e} is not in the catalogue");
        }
    }

    #[test]
    fn outsiders_are_other() {
        for bad in [
            "app created",
            "App Created ",
            "=HYPERLINK(\"x\")",
            "<b>",
            "",
        ] {
            assert_eq!(event(bad), OTHER, "{bad}");
        }
        assert_eq!(os("linux"), "linux");
        assert_eq!(os("unknown"), "unknown");
        for bad in ["Linux", "plan9", "linux\n", "@SUM(1)"] {
            assert_eq!(os(bad), OTHER, "{bad}");
        }
        for good in [
            "0.1.0",
            "0.1.0+3f2a9c1d0e4b",
            "1.20.3-rc.1+unknown",
            "unknown",
        ] {
            assert_eq!(build(good), good);
        }
        for bad in [
            "0.1",
            "0.1.0+",
            "0.1.0+xyz1234",
            "v0.1.0",
            "0.1.0+abc",
            "0.1.0-<script>",
            "1.2.3.4",
            "+1.2.3",
        ] {
            assert_eq!(build(bad), OTHER, "{bad}");
        }
        for good in ["push", "dev start", "create-service", "unknown"] {
            assert_eq!(command(good), good);
        }
        for bad in ["p", "dev nope", "push --force", "-push", "DEV START"] {
            assert_eq!(command(bad), OTHER, "{bad}");
        }
    }

    #[test]
    fn runs_are_known_only_where_the_catalogue_says() {
        let name = |c: &str| match runs_of(c) {
            Some(Runs::EveryRun(e)) => format!("every:{e}"),
            Some(Runs::Successes(e)) => format!("ok:{e}"),
            None => "none".into(),
        };
        assert_eq!(name("push"), "ok:App Created");
        assert_eq!(name("dev start"), "every:Start Begin");
        assert_eq!(name("deploy-service"), "none");
        assert_eq!(name("uninstall-plugin"), "none");
        assert_eq!(name("apps"), "none");
        assert_eq!(name("dev stop"), "ok:Stop");
    }
}
