//! The methodology printed on every page (HTML) and in every Markdown
//! report: what is collected and never is, what a machine is, K and how
//! suppression works, what is not published, the data window, the limits of
//! what anyone can be sure of, and when it was generated. Plain text here;
//! each format escapes it.

use super::vocabulary::EVENT_MEANINGS;
use chrono::{DateTime, Utc};

/// What the data window sentence talks about.
pub enum Window<'a> {
    /// One quarter: `[from, until)`.
    Quarter {
        label: &'a str,
        from: String,
        until: DateTime<Utc>,
    },
    /// The index: several quarters.
    Quarters { first: &'a str, last: &'a str },
}

pub struct Section {
    pub title: &'static str,
    pub paragraphs: Vec<String>,
    /// (term, meaning) pairs shown as a list after the paragraphs.
    pub list: Vec<(String, String)>,
}

fn utc(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn sections(k: u64, window: &Window<'_>, generated_at: &DateTime<Utc>) -> Vec<Section> {
    let window_text = match window {
        Window::Quarter { label, from, until } => format!(
            "{label}: events timestamped from {from} 00:00 UTC up to {} (the end of the quarter, \
             or the generation time while the quarter runs), as received by then. Events \
             timestamped later are not counted.",
            utc(until)
        ),
        Window::Quarters { first, last } => format!(
            "Quarters {first} to {last}, each counting the events timestamped within it \
             (UTC) as received by the generation time."
        ),
    };
    vec![
        Section {
            title: "What is collected",
            paragraphs: vec![
                "Only from people who turned cfdev-shim's telemetry on: it is off until they \
                 decide, and it can be turned off at any time. Each event is one of the events \
                 below, with the canonical cf command name, flag names (never their values), the \
                 exit code or signal, a duration, the operating system and CPU architecture, the \
                 wrapper's build, a timestamp, a random message ID and the machine's anonymous ID."
                    .into(),
            ],
            list: EVENT_MEANINGS
                .iter()
                .map(|(e, m)| (e.to_string(), m.to_string()))
                .collect(),
        },
        Section {
            title: "What is never collected",
            paragraphs: vec![
                "Nothing typed as a value: no app, org, space, service, route or user names, no \
                 paths, URLs, hosts, credentials or environment values. The collector does not \
                 store IP addresses."
                    .into(),
            ],
            list: vec![],
        },
        Section {
            title: "What a machine is",
            paragraphs: vec![
                "One anonymous ID: an HMAC-SHA-256 keyed with the computer's machine ID (which is \
                 never sent), so every user and every reinstall on one computer counts as one \
                 machine. Where no machine ID can be read, a random ID kept in the user's state \
                 directory stands in; it counts again if that directory is removed."
                    .into(),
            ],
            list: vec![],
        },
        Section {
            title: "K and suppression",
            paragraphs: vec![
                format!(
                    "K = {k}. A row (an event, operating system, build, command or week) seen on \
                     fewer than K machines is never published on its own: it is folded into the \
                     table's \"other\" row. If \"other\" would then cover fewer than K machines, \
                     the smallest rows join it until it covers K; a table covering fewer than K \
                     machines in all is withheld, and a quarter with fewer than K machines \
                     publishes no number at all. Suppressed weeks are shown as \"<K\" and only \
                     their sum is given. So every table adds up to the published total and no \
                     hidden number can be computed by subtraction."
                ),
                "Names outside the public vocabulary are counted in \"other\" too: event names \
                 not in the list above, operating systems other than those Rust reports (linux, \
                 macos, windows, …), builds not in this product's version format and unknown \
                 commands. \"unknown\" means the client did not say."
                    .into(),
            ],
            list: vec![],
        },
        Section {
            title: "What is not published",
            paragraphs: vec![
                "Anonymous IDs, message IDs, exact timestamps, flag names, durations and any row \
                 seen on fewer than K machines."
                    .into(),
            ],
            list: vec![],
        },
        Section {
            title: "Data window",
            paragraphs: vec![
                window_text,
                "Weeks start on Monday (UTC). The first and last week of a quarter are cut at \
                 its edges and the current week at the generation time; such weeks are marked \
                 partial. A change against the previous quarter is given only when both \
                 quarters are complete and both numbers are published."
                    .into(),
            ],
            list: vec![],
        },
        Section {
            title: "Limits",
            paragraphs: vec![
                "The write key ships with every install, so anyone can send events: these are \
                 the numbers clients reported. Someone could send made-up events or invent \
                 machines, which inflates counts and could push a rare row over K; the operator \
                 watches per-source request rates at the proxy and unusual jumps in machines \
                 per build (see SECURITY.md)."
                    .into(),
            ],
            list: vec![],
        },
        Section {
            title: "Generated",
            paragraphs: vec![format!("{}.", utc(generated_at))],
            list: vec![],
        },
    ]
}
