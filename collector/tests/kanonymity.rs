//! The k-anonymity arithmetic on arbitrary tallies: every published row is
//! seen on K machines or more, a table's rows (with "other") add up to all
//! of its events, no row below K appears under its own name, and a table is
//! withheld exactly when all its machines together are fewer than K. The
//! same for weeks: the published weeks plus the suppressed weeks' published
//! sum give the total, and that sum covers K machines.

use cfdev_collector::quarter::Quarter;
use cfdev_collector::report::input::{Aggregates, Machines, Tally};
use cfdev_collector::report::policy;
use cfdev_collector::report::weeks;
use proptest::prelude::*;

fn tally() -> impl Strategy<Value = Tally> {
    proptest::collection::btree_map(
        prop_oneof!["[a-e]", Just("other".to_string())],
        (1u64..50, proptest::collection::btree_set(0u32..12, 1..8)),
        0..8,
    )
    .prop_map(|rows| {
        Tally(
            rows.into_iter()
                .map(|(k, (count, machines))| {
                    let count = count.max(machines.len() as u64);
                    (k, (count, machines.into_iter().collect::<Machines>()))
                })
                .collect(),
        )
    })
}

proptest! {
    #[test]
    fn tables_never_reveal_a_row_below_k(t in tally(), k in 1u64..8) {
        let table = policy::table(&t, k);
        let all: Machines = t.0.values().flat_map(|(_, m)| m.iter().copied()).collect();
        let events: u64 = t.0.values().map(|(c, _)| c).sum();
        if table.withheld {
            prop_assert!((all.len() as u64) < k);
            prop_assert!(table.rows.is_empty());
        } else {
            prop_assert!(all.is_empty() || all.len() as u64 >= k);
            prop_assert_eq!(table.rows.iter().map(|r| r.count).sum::<u64>(), events);
            for row in &table.rows {
                prop_assert!(row.machines >= k, "{:?}", row);
                if row.folded == 0 {
                    prop_assert!(t.0.get(&row.key).is_some_and(|(c, m)| *c == row.count && m.len() as u64 == row.machines));
                }
            }
            for (key, (_, m)) in &t.0 {
                if (m.len() as u64) < k || key == "other" {
                    prop_assert!(table.get(key).is_none(), "{} published", key);
                }
            }
            prop_assert!(table.rows.iter().filter(|r| r.folded > 0).count() <= 1);
        }
    }

    #[test]
    fn weeks_never_reveal_a_week_below_k(
        days in proptest::collection::btree_map(0i64..92, (1u64..30, proptest::collection::btree_set(0u32..10, 1..5)), 0..20),
        k in 1u64..8,
    ) {
        let quarter = Quarter::parse("2026-Q4").unwrap();
        let first = weeks::day_of_date(quarter.start);
        let mut aggregates = Aggregates::default();
        for (day, (count, machines)) in &days {
            let count = (*count).max(machines.len() as u64);
            aggregates.total_events += count;
            aggregates.machines.extend(machines);
            aggregates.by_day.insert(first + day, (count, machines.iter().copied().collect()));
        }
        let later = chrono::DateTime::parse_from_rfc3339("2027-02-01T00:00:00Z").unwrap().to_utc();
        let w = policy::weekly(&aggregates, weeks::weeks(&quarter, later), k);
        let shown: u64 = w.weeks.iter().filter_map(|x| x.count).sum();
        let hidden = w.hidden.as_ref().map(|h| h.count).unwrap_or(0);
        if (aggregates.machines.len() as u64) >= k {
            prop_assert_eq!(shown + hidden, aggregates.total_events);
        }
        for week in &w.weeks {
            if let Some(m) = week.machines {
                prop_assert!(m == 0 || m >= k);
            }
        }
        if let Some(h) = &w.hidden {
            prop_assert!(h.machines >= k);
        }
        if w.weeks.iter().any(|x| x.count.is_none()) && (aggregates.machines.len() as u64) >= k {
            prop_assert!(w.hidden.is_some(), "suppressed weeks are summed");
        }
    }
}
