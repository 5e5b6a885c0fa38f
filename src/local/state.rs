//! Delivery bookkeeping shown by `telemetry status`: drop counters by reason,
//! the last attempt and its result, backoff, and the last telemetry problem.
//! A small JSON object replaced atomically under its own lock. Its keys are
//! named here only (`key`); readers get typed values (`Dropped`, `Problem`,
//! `Attempt`), and unknown keys written by newer versions are kept.

use crate::fsutil;
use crate::paths::StatePaths;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type State = Map<String, Value>;

/// The keys of state.json, in one place.
pub mod key {
    /// Object: events dropped so far, by `DropReason`.
    pub const DROPPED: &str = "dropped";
    /// `Attempt`: the last delivery attempt.
    pub const LAST_ATTEMPT: &str = "last_attempt";
    /// RFC 3339 time before which background delivery waits (backoff).
    pub const NEXT_ATTEMPT: &str = "next_attempt";
    /// Failed attempts in a row (drives the backoff).
    pub const CONSECUTIVE_FAILURES: &str = "consecutive_failures";
    /// `Problem`: the last thing that went wrong while recording.
    pub const LAST_PROBLEM: &str = "last_problem";
    /// `deliver::ProblemSeen`: the endpoint's configuration problem.
    pub const DELIVERY_PROBLEM: &str = "delivery_problem";
}

/// Why events left the spool without being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The spool was at its limit: the oldest went.
    SpoolFull,
    /// A line that is not a valid event.
    Corrupt,
    /// An event larger than the endpoint accepts.
    Oversize,
    /// The endpoint refused it for good (a 4xx for the event itself).
    Rejected,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::SpoolFull,
        DropReason::Corrupt,
        DropReason::Oversize,
        DropReason::Rejected,
    ];

    /// The name used in state.json and `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::SpoolFull => "spool_full",
            DropReason::Corrupt => "corrupt",
            DropReason::Oversize => "oversize",
            DropReason::Rejected => "rejected",
        }
    }
}

/// Dropped events by reason (`total` is derived when shown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dropped {
    pub spool_full: u64,
    pub corrupt: u64,
    pub oversize: u64,
    pub rejected: u64,
}

impl Dropped {
    pub fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::SpoolFull => self.spool_full,
            DropReason::Corrupt => self.corrupt,
            DropReason::Oversize => self.oversize,
            DropReason::Rejected => self.rejected,
        }
    }

    pub fn add(&mut self, reason: DropReason, n: u64) {
        let slot = match reason {
            DropReason::SpoolFull => &mut self.spool_full,
            DropReason::Corrupt => &mut self.corrupt,
            DropReason::Oversize => &mut self.oversize,
            DropReason::Rejected => &mut self.rejected,
        };
        *slot = slot.saturating_add(n);
    }

    pub fn total(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.get(*r)).sum()
    }
}

/// A delivery attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: String,
    pub ok: bool,
    pub result: String,
}

/// A recording problem as noted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub at: String,
    pub what: String,
}

/// Reads state.json; never creates anything (`status` uses it on
/// read-only state).
/// state.json is a few hundred bytes; anything this large is not ours.
const MAX_STATE_BYTES: u64 = 1024 * 1024;

pub fn load(paths: &StatePaths) -> State {
    fsutil::read_bounded(&paths.state_file(), MAX_STATE_BYTES)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// Read-modify-write under `state.lock`.
pub fn update(paths: &StatePaths, change: impl FnOnce(&mut State)) -> std::io::Result<()> {
    let _lock = fsutil::lock_exclusive(&paths.data_dir.join("state.lock"))?;
    let mut state = load(paths);
    change(&mut state);
    let text = serde_json::to_string_pretty(&Value::Object(state)).unwrap_or_default();
    fsutil::write_atomic(&paths.state_file(), text.as_bytes())
}

fn typed<T: for<'de> Deserialize<'de>>(state: &State, key: &str) -> Option<T> {
    serde_json::from_value(state.get(key)?.clone()).ok()
}

pub fn dropped(state: &State) -> Dropped {
    typed(state, key::DROPPED).unwrap_or_default()
}

pub fn add_dropped(state: &mut State, reason: DropReason, n: u64) {
    if n == 0 {
        return;
    }
    let mut counts = dropped(state);
    counts.add(reason, n);
    state.insert(
        key::DROPPED.into(),
        serde_json::to_value(counts).unwrap_or_default(),
    );
}

pub fn last_attempt(state: &State) -> Option<Attempt> {
    typed(state, key::LAST_ATTEMPT)
}

pub fn next_attempt(state: &State) -> Option<String> {
    typed(state, key::NEXT_ATTEMPT)
}

pub fn last_problem(state: &State) -> Option<Problem> {
    typed(state, key::LAST_PROBLEM)
}

/// Records a telemetry problem for `status`; best effort, never fails loudly.
pub fn note_problem(paths: &StatePaths, problem: &str) {
    let noted = Problem {
        at: crate::event::now_timestamp(),
        what: problem.into(),
    };
    let _ = update(paths, |s| {
        s.insert(
            key::LAST_PROBLEM.into(),
            serde_json::to_value(&noted).unwrap_or_default(),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counts_round_trip_and_tolerate_junk() {
        let mut state = State::new();
        add_dropped(&mut state, DropReason::Oversize, 2);
        add_dropped(&mut state, DropReason::Oversize, 3);
        add_dropped(&mut state, DropReason::SpoolFull, 0);
        assert_eq!(state[key::DROPPED]["oversize"], 5);
        assert_eq!(dropped(&state).total(), 5);
        state.insert(key::DROPPED.into(), Value::from("junk"));
        assert_eq!(dropped(&state), Dropped::default());
        add_dropped(&mut state, DropReason::Rejected, 1);
        assert_eq!(dropped(&state).rejected, 1);
    }
}
