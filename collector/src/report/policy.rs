//! k-anonymity: which numbers may be published. A row seen on fewer than K
//! machines is never published on its own; it is folded into the table's
//! "other" row. If "other" then covers fewer than K machines, the smallest
//! published rows join it until it covers K machines (so it can be shown),
//! and if the whole table covers fewer than K machines the table is withheld.
//! Weeks work the same way, with the suppressed weeks' sum shown as one
//! figure. So every table's rows add up to the published total, and nothing
//! hidden can be recovered by subtraction: totals minus rows, the Error count
//! minus errors by command, the quarter minus its weeks.

use super::input::{Aggregates, Machines, Tally};
use super::vocabulary::OTHER;
use super::weeks::{day_of_date, monday_of, Partial, WeekSpan};
use crate::quarter::Quarter;
use chrono::{DateTime, Utc};

/// A published row. `folded` > 0 marks the "other" row: the number of rows
/// (event names, OS names, …) it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub count: u64,
    pub machines: u64,
    pub folded: u64,
}

/// One table of the report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Published rows by count (then name), "other" last.
    pub rows: Vec<Row>,
    /// Rows not published on their own because of K.
    pub suppressed: u64,
    /// The whole table covers fewer than K machines: nothing is shown.
    pub withheld: bool,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.folded == 0 && r.key == key)
    }
}

struct Candidate {
    key: String,
    count: u64,
    machines: Machines,
}

/// Applies the rule above to one tally.
pub fn table(tally: &Tally, k: u64) -> Table {
    let k = k.max(1) as usize;
    let mut plain: Vec<Candidate> = Vec::new();
    let mut other = Candidate {
        key: OTHER.into(),
        count: 0,
        machines: Machines::default(),
    };
    let mut folded = 0u64;
    let mut suppressed = 0u64;
    for (key, (count, machines)) in &tally.0 {
        // "other" from the vocabulary is itself a bucket of several names.
        if key == OTHER || machines.len() < k {
            other.count += count;
            other.machines.extend(machines);
            folded += 1;
            suppressed += u64::from(machines.len() < k);
        } else {
            plain.push(Candidate {
                key: key.clone(),
                count: *count,
                machines: machines.clone(),
            });
        }
    }
    // Smallest last, so they are the first to join "other".
    plain.sort_by(|a, b| {
        b.machines
            .len()
            .cmp(&a.machines.len())
            .then(b.count.cmp(&a.count))
            .then(a.key.cmp(&b.key))
    });
    while !other.machines.is_empty() && other.machines.len() < k {
        let Some(smallest) = plain.pop() else { break };
        other.count += smallest.count;
        other.machines.extend(&smallest.machines);
        folded += 1;
        suppressed += 1;
    }
    if !other.machines.is_empty() && other.machines.len() < k {
        return Table {
            rows: vec![],
            suppressed,
            withheld: true,
        };
    }
    let mut rows: Vec<Row> = plain
        .into_iter()
        .map(|c| Row {
            key: c.key,
            count: c.count,
            machines: c.machines.len() as u64,
            folded: 0,
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    if folded > 0 {
        rows.push(Row {
            key: other.key,
            count: other.count,
            machines: other.machines.len() as u64,
            folded,
        });
    }
    Table {
        rows,
        suppressed,
        withheld: false,
    }
}

/// One week of the trend: `None` numbers when suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    pub span: WeekSpan,
    pub count: Option<u64>,
    pub machines: Option<u64>,
}

/// The suppressed weeks together (published: they cover K machines or more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenWeeks {
    pub weeks: u64,
    pub count: u64,
    pub machines: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Weekly {
    pub weeks: Vec<Week>,
    pub hidden: Option<HiddenWeeks>,
    pub suppressed: u64,
}

pub fn weekly(aggregates: &Aggregates, spans: Vec<WeekSpan>, k: u64) -> Weekly {
    let k = k.max(1) as usize;
    let mut sums: Vec<(u64, Machines)> = spans
        .iter()
        .map(|span| {
            // Storage may give any day of the week (PostgreSQL: its Monday);
            // the scan window already cut the data at the quarter and now.
            let monday = monday_of(day_of_date(span.first));
            let mut sum = (0u64, Machines::default());
            for (day, (count, machines)) in &aggregates.by_day {
                if monday_of(*day) == monday {
                    sum.0 += count;
                    sum.1.extend(machines);
                }
            }
            sum
        })
        .collect();
    let mut hidden: Vec<bool> = sums
        .iter()
        .map(|(_, m)| !m.is_empty() && m.len() < k)
        .collect();
    let union = |hidden: &[bool], sums: &[(u64, Machines)]| -> Machines {
        let mut all = Machines::default();
        for (i, (_, m)) in sums.iter().enumerate() {
            if hidden[i] {
                all.extend(m);
            }
        }
        all
    };
    loop {
        let covered = union(&hidden, &sums).len();
        if covered == 0 || covered >= k {
            break;
        }
        let smallest = (0..sums.len())
            .filter(|i| !hidden[*i] && !sums[*i].1.is_empty())
            .min_by_key(|i| (sums[*i].1.len(), sums[*i].0, std::cmp::Reverse(*i)));
        match smallest {
            Some(i) => hidden[i] = true,
            None => break,
        }
    }
    let covered = union(&hidden, &sums);
    let hidden_count: u64 = (0..sums.len())
        .filter(|i| hidden[*i])
        .map(|i| sums[i].0)
        .sum();
    let suppressed = hidden.iter().filter(|h| **h).count() as u64;
    let weeks = spans
        .into_iter()
        .zip(sums.iter_mut())
        .zip(&hidden)
        .map(|((span, (count, machines)), hide)| Week {
            span,
            count: (!hide).then_some(*count),
            machines: (!hide).then_some(machines.len() as u64),
        })
        .collect();
    Weekly {
        weeks,
        hidden: (covered.len() >= k).then_some(HiddenWeeks {
            weeks: suppressed,
            count: hidden_count,
            machines: covered.len() as u64,
        }),
        suppressed,
    }
}

/// What kind of page a quarter gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Numbers are published.
    Published,
    /// Nothing was received for the quarter.
    NoData,
    /// Events were received, from fewer than K machines in all.
    AllSuppressed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Published => "published",
            State::NoData => "no_data",
            State::AllSuppressed => "all_suppressed",
        }
    }
}

/// The previous quarter's published figures, for "change".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub label: String,
    pub total_events: Option<u64>,
    pub machines: Option<u64>,
    /// Published event rows (not "other"): name → count.
    pub events: Vec<(String, u64)>,
}

/// A quarter's publishable report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub quarter: Quarter,
    pub generated_at: DateTime<Utc>,
    /// Events timestamped before this (and in the quarter) are counted.
    pub data_until: DateTime<Utc>,
    pub min_machines: u64,
    pub state: State,
    /// `None` when all is suppressed.
    pub total_events: Option<u64>,
    pub machines: Option<u64>,
    pub events: Table,
    pub by_os: Table,
    pub by_build: Table,
    pub errors_by_command: Table,
    pub weekly: Weekly,
    /// `None` for the first quarter published or while this one is running.
    pub previous: Option<Previous>,
}

impl Report {
    pub fn from_aggregates(
        quarter: &Quarter,
        aggregates: &Aggregates,
        k: u64,
        generated_at: DateTime<Utc>,
    ) -> Report {
        let quarter_end = Quarter::ms(quarter.end);
        let data_until =
            DateTime::from_timestamp_millis(quarter_end.min(generated_at.timestamp_millis()))
                .unwrap_or(generated_at);
        let state = if aggregates.total_events == 0 {
            State::NoData
        } else if (aggregates.machines.len() as u64) < k.max(1) {
            State::AllSuppressed
        } else {
            State::Published
        };
        let published = state != State::AllSuppressed;
        let mut weekly = weekly(aggregates, super::weeks::weeks(quarter, generated_at), k);
        if !published {
            // Not even which weeks were empty.
            for week in &mut weekly.weeks {
                week.count = None;
                week.machines = None;
            }
        }
        Report {
            quarter: quarter.clone(),
            generated_at,
            data_until,
            min_machines: k,
            state,
            total_events: published.then_some(aggregates.total_events),
            machines: published.then_some(aggregates.machines.len() as u64),
            events: table(&aggregates.events, k),
            by_os: table(&aggregates.by_os, k),
            by_build: table(&aggregates.by_build, k),
            errors_by_command: table(&aggregates.errors_by_command, k),
            weekly,
            previous: None,
        }
    }

    /// Rows suppressed in all tables, and suppressed weeks.
    pub fn suppressed(&self) -> u64 {
        [
            &self.events,
            &self.by_os,
            &self.by_build,
            &self.errors_by_command,
        ]
        .iter()
        .map(|t| t.suppressed)
        .sum::<u64>()
            + self.weekly.suppressed
    }

    /// The quarter is still running at generation time.
    pub fn in_progress(&self) -> bool {
        self.generated_at.timestamp_millis() < Quarter::ms(self.quarter.end)
    }

    /// The previous quarter's figures, if a change may be shown: both
    /// quarters complete and the previous one published.
    pub fn set_previous(&mut self, previous: &Report) {
        if self.in_progress() || previous.state != State::Published {
            return;
        }
        self.previous = Some(Previous {
            label: previous.quarter.label.clone(),
            total_events: previous.total_events,
            machines: previous.machines,
            events: previous
                .events
                .rows
                .iter()
                .filter(|r| r.folded == 0)
                .map(|r| (r.key.clone(), r.count))
                .collect(),
        });
    }

    /// Change of an event's count against the previous quarter, as a
    /// fraction (0.25 = +25%), where both counts are published.
    pub fn event_change(&self, row: &Row) -> Option<f64> {
        if row.folded > 0 {
            return None;
        }
        let before = self
            .previous
            .as_ref()?
            .events
            .iter()
            .find(|(k, _)| *k == row.key)?
            .1;
        change(before, row.count)
    }

    /// How many times `command` ran, from published numbers only.
    pub fn runs(&self, command: &Row) -> Option<u64> {
        use super::vocabulary::{runs_of, Runs};
        if command.folded > 0 {
            return None;
        }
        match runs_of(&command.key)? {
            Runs::EveryRun(event) => self.events.get(event).map(|r| r.count),
            Runs::Successes(event) => self.events.get(event).map(|r| r.count + command.count),
        }
    }

    pub fn has_partial_weeks(&self) -> bool {
        self.weekly
            .weeks
            .iter()
            .any(|w| w.span.partial != Partial::No)
    }
}

pub fn change(before: u64, now: u64) -> Option<f64> {
    (before > 0).then(|| (now as f64 - before as f64) / before as f64)
}
