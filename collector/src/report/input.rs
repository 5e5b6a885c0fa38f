//! The report's inputs: the quarter's track events as storage streams them
//! (`Database::scan_groups`, the same for SQLite and PostgreSQL), tallied
//! per public key with the machines themselves (interned), because folding
//! rows into "other" needs the distinct machines of a union, which per-key
//! counts cannot give. Vocabulary is applied while counting; k-anonymity
//! and formats come after (`policy`, renderers).

use super::vocabulary;
use crate::quarter::Quarter;
use crate::store::{Database, Group, Line, Tallies};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Machines are interned as small integers while counting. Every event
/// inserts its machine into five sets, so the sets hash with `IdHasher`
/// instead of SipHash: the ids are ours (0, 1, 2, ... in order of first
/// sight), not attacker-chosen, so flooding resistance buys nothing there.
/// Machine strings themselves (client-chosen) stay on SipHash.
pub type Machines = HashSet<u32, BuildHasherDefault<IdHasher>>;

/// Hashes the integers this module assigns itself (machine ids, day
/// numbers): one multiply by a large odd constant (Fibonacci hashing)
/// spreads consecutive ids over the whole table. Only for integers.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for u32/i64 keys; kept correct for any other use.
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Count and distinct machines per key.
#[derive(Debug, Default, Clone)]
pub struct Tally(pub HashMap<String, (u64, Machines)>);

impl Tally {
    fn add(&mut self, key: &str, machine: u32, count: u64) {
        let entry = match self.0.get_mut(key) {
            Some(e) => e,
            None => self.0.entry(key.to_string()).or_default(),
        };
        entry.0 += count;
        entry.1.insert(machine);
    }

    fn lines(&self) -> Vec<Line> {
        self.0
            .iter()
            .map(|(key, (count, m))| Line {
                key: key.clone(),
                count: *count,
                machines: m.len() as u64,
            })
            .collect()
    }
}

/// A quarter's events counted by public key (outsiders already "other").
#[derive(Debug, Default, Clone)]
pub struct Aggregates {
    pub total_events: u64,
    pub machines: Machines,
    pub events: Tally,
    pub by_os: Tally,
    pub by_build: Tally,
    pub errors_by_command: Tally,
    /// Keyed by a day of each week (days since 1970-01-01, UTC): the day
    /// itself or its Monday, as storage gives it (`Group::day`).
    pub by_day: HashMap<i64, (u64, Machines), BuildHasherDefault<IdHasher>>,
}

impl Aggregates {
    /// One pass over the quarter's events timestamped before `until_ms`.
    pub fn collect(
        db: &mut Database,
        quarter: &Quarter,
        until_ms: i64,
    ) -> Result<Aggregates, String> {
        let mut out = Aggregates::default();
        let mut ids: HashMap<String, u32> = HashMap::new();
        db.scan_groups(quarter, until_ms, &mut |group| {
            let next = ids.len() as u32;
            let machine = match ids.get(group.machine) {
                Some(id) => *id,
                None => *ids.entry(group.machine.to_string()).or_insert(next),
            };
            out.add(&group, machine);
        })?;
        Ok(out)
    }

    fn add(&mut self, g: &Group<'_>, machine: u32) {
        self.total_events += g.count;
        self.machines.insert(machine);
        let event = vocabulary::event(g.event);
        self.events.add(event, machine, g.count);
        self.by_os.add(vocabulary::os(g.os), machine, g.count);
        self.by_build
            .add(vocabulary::build(g.build), machine, g.count);
        if event == "Error" {
            self.errors_by_command
                .add(vocabulary::command(g.command), machine, g.count);
        }
        let day = self.by_day.entry(g.day).or_default();
        day.0 += g.count;
        day.1.insert(machine);
    }

    /// The same numbers in the shape of the backends' own `Tallies` (weeks
    /// by their Monday), so a test can hold the two paths against each
    /// other on data inside the vocabulary.
    pub fn tallies(&self) -> Tallies {
        let mut weeks: HashMap<i64, (u64, Machines)> = HashMap::new();
        for (day, (count, machines)) in &self.by_day {
            let week = weeks.entry(super::weeks::monday_of(*day)).or_default();
            week.0 += count;
            week.1.extend(machines);
        }
        let mut out = Tallies {
            total_events: self.total_events,
            machines: self.machines.len() as u64,
            events: self.events.lines(),
            by_os: self.by_os.lines(),
            by_build: self.by_build.lines(),
            errors_by_command: self.errors_by_command.lines(),
            weekly: weeks
                .into_iter()
                .map(|(monday, (count, m))| Line {
                    key: super::weeks::date_of_day(monday).to_string(),
                    count,
                    machines: m.len() as u64,
                })
                .collect(),
        };
        for lines in [
            &mut out.events,
            &mut out.by_os,
            &mut out.by_build,
            &mut out.errors_by_command,
        ] {
            lines.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        }
        out.weekly.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}
