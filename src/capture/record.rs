//! Turning an invocation's outcome into spooled events. Everything here is
//! fallible only inwards: problems are noted for `telemetry status` and never
//! reach cf's output or exit status.

use crate::catalogue::{Detail, Invocation, Row, Trigger};
use crate::event;
use crate::forward::{signal_name, ChildExit};
use crate::identity;
use crate::paths::StatePaths;
use crate::settings::Settings;
use crate::spool::Spool;
use crate::state;
use serde_json::{Map, Value};
use std::time::Duration;

/// What happened, for the rows' details.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub exit: Option<ChildExit>,
    pub duration: Option<Duration>,
}

pub struct Recorder<'a> {
    settings: &'a Settings,
    paths: &'a StatePaths,
    anonymous_id: Option<String>,
}

impl<'a> Recorder<'a> {
    pub fn new(settings: &'a Settings, paths: &'a StatePaths) -> Recorder<'a> {
        Recorder {
            settings,
            paths,
            anonymous_id: None,
        }
    }

    /// Spools every row of the catalogue that fires at `trigger`. Returns the
    /// pending count after the last append (None if nothing was written).
    pub fn record(&mut self, inv: &Invocation, trigger: Trigger, outcome: Outcome) -> Option<u64> {
        let mut pending = None;
        for row in inv.rows(trigger) {
            match self.append(row, inv, outcome) {
                Ok(n) => pending = Some(n),
                Err(e) => {
                    state::note_problem(
                        self.paths,
                        &format!("could not record '{}': {e}", row.event),
                    );
                    return pending;
                }
            }
        }
        pending
    }

    /// The messages `record` would spool, without spooling them: the
    /// `Telemetry Off` event is handed to delivery to travel alone.
    pub fn messages(
        &mut self,
        inv: &Invocation,
        trigger: Trigger,
        outcome: Outcome,
    ) -> Vec<String> {
        inv.rows(trigger)
            .filter_map(|row| self.message(row, inv, outcome).ok())
            .collect()
    }

    fn message(
        &mut self,
        row: &Row,
        inv: &Invocation,
        outcome: Outcome,
    ) -> std::io::Result<String> {
        if self.anonymous_id.is_none() {
            self.anonymous_id = Some(identity::anonymous_id(self.settings, self.paths)?);
        }
        let message = event::track(
            row.event,
            properties(row, inv, outcome),
            self.anonymous_id.as_deref().unwrap_or_default(),
        );
        Ok(message.to_string())
    }

    fn append(&mut self, row: &Row, inv: &Invocation, outcome: Outcome) -> std::io::Result<u64> {
        let message = self.message(row, inv, outcome)?;
        Spool::new(self.paths)
            .limit(self.settings.spool_limit)
            .append(&message)
    }
}

/// Only allowlisted keys with fixed-vocabulary values (SPEC §4).
pub fn properties(row: &Row, inv: &Invocation, outcome: Outcome) -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("command".into(), Value::from(inv.command));
    match row.detail {
        Detail::Outcome => match outcome.exit {
            Some(ChildExit::Signal(sig)) => {
                props.insert("signal".into(), Value::from(signal_name(sig)));
            }
            Some(ChildExit::Code(code)) => {
                props.insert("exit_code".into(), Value::from(code));
            }
            None => {}
        },
        _ => {
            props.insert("flags".into(), Value::from(inv.flags.clone()));
        }
    }
    match row.detail {
        Detail::Duration => {
            let ms = outcome.duration.map(|d| d.as_millis() as u64).unwrap_or(0);
            props.insert("duration_ms".into(), Value::from(ms));
        }
        Detail::Buildpack => {
            props.insert("buildpack".into(), Value::from(inv.buildpack));
        }
        Detail::Service => {
            props.insert("service".into(), Value::from(inv.service));
        }
        Detail::None | Detail::Outcome => {}
    }
    props
}
