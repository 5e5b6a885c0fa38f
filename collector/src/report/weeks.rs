//! Calendar arithmetic of the report beyond `crate::quarter`: neighbouring
//! quarters and the weeks that make up a quarter's trend. Weeks start on Monday (UTC) but are clipped to
//! the quarter and to the generation time, so the first week of a quarter is
//! labelled with a date inside it and a week still running is marked.

use crate::quarter::Quarter;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

pub const DAY_MS: i64 = 86_400_000;

/// The quarter containing `date`.
pub fn containing(date: NaiveDate) -> Quarter {
    Quarter::containing_ms(Quarter::ms(date)).expect("a date has a quarter")
}

/// The quarter before, if it is not before 1970.
pub fn previous(q: &Quarter) -> Option<Quarter> {
    let before = Quarter::containing_ms(q.bounds_ms().0 - 1)?;
    (before.start.year() >= 1970).then_some(before)
}

pub fn next(q: &Quarter) -> Option<Quarter> {
    Quarter::containing_ms(q.bounds_ms().1).filter(|n| n.start.year() <= 9999)
}

pub fn last_day(q: &Quarter) -> NaiveDate {
    q.end.pred_opt().unwrap_or(q.end)
}

/// Days since 1970-01-01 of a unix-ms instant.
pub fn day_number(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

pub fn date_of_day(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(day)))
        .unwrap_or(NaiveDate::MIN)
}

pub fn day_of_date(date: NaiveDate) -> i64 {
    Quarter::ms(date).div_euclid(DAY_MS)
}

/// Day number of the Monday (UTC) starting the week that contains `day`.
pub fn monday_of(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7) // 1970-01-01 was a Thursday
}

/// Why a week of the trend has fewer than seven days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// A full Monday-to-Sunday week.
    No,
    /// Cut by the start or the end of the quarter.
    QuarterEdge,
    /// Still running when the report was generated.
    InProgress,
}

/// One week of a quarter's trend: `[first, end)` in days, clipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekSpan {
    pub first: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
    pub partial: Partial,
}

impl WeekSpan {
    pub fn days(&self) -> i64 {
        (self.end - self.first).num_days()
    }
}

/// The quarter's weeks up to `now` (none for a quarter that has not begun).
pub fn weeks(quarter: &Quarter, now: DateTime<Utc>) -> Vec<WeekSpan> {
    let first_day = day_of_date(quarter.start);
    let quarter_end = day_of_date(quarter.end);
    // Today counts: a week in progress shows the days up to and including it.
    let now_end = day_number(now.timestamp_millis()) + 1;
    let end = quarter_end.min(now_end);
    let mut out = Vec::new();
    let mut monday = monday_of(first_day);
    while monday < end {
        let from = monday.max(first_day);
        let to = (monday + 7).min(end);
        if from >= to {
            break;
        }
        let partial = if to == now_end && now_end <= quarter_end {
            Partial::InProgress
        } else if to - from < 7 {
            Partial::QuarterEdge
        } else {
            Partial::No
        };
        out.push(WeekSpan {
            first: date_of_day(from),
            end: date_of_day(to),
            partial,
        });
        monday += 7;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn neighbours() {
        let q = Quarter::parse("2026-Q4").unwrap();
        assert_eq!(previous(&q).unwrap().label, "2026-Q3");
        assert_eq!(next(&q).unwrap().label, "2027-Q1");
        assert_eq!(previous(&Quarter::parse("1970-Q1").unwrap()), None);
        assert_eq!(containing(d(2026, 12, 31)), q);
        assert_eq!(last_day(&q), d(2026, 12, 31));
    }

    #[test]
    fn mondays() {
        let day = |s: &str| day_number(at(s).timestamp_millis());
        assert_eq!(
            date_of_day(monday_of(day("2026-11-23T00:00:00Z"))),
            d(2026, 11, 23)
        );
        assert_eq!(
            date_of_day(monday_of(day("2026-11-29T23:59:59Z"))),
            d(2026, 11, 23)
        );
        assert_eq!(
            date_of_day(monday_of(day("2026-11-30T00:00:00Z"))),
            d(2026, 11, 30)
        );
        assert_eq!(
            date_of_day(monday_of(day("1969-12-31T12:00:00Z"))),
            d(1969, 12, 29)
        );
    }

    #[test]
    fn weeks_are_clipped_and_marked() {
        let q = Quarter::parse("2026-Q4").unwrap();
        let all = weeks(&q, at("2027-02-01T00:00:00Z"));
        assert_eq!(all.len(), 14);
        // 2026-10-01 is a Thursday: the first week is Oct 1-4, not Sep 28.
        assert_eq!(
            all[0],
            WeekSpan {
                first: d(2026, 10, 1),
                end: d(2026, 10, 5),
                partial: Partial::QuarterEdge
            }
        );
        assert_eq!(all[1].partial, Partial::No);
        assert_eq!(all[1].first, d(2026, 10, 5));
        let last = all.last().unwrap();
        assert_eq!((last.first, last.end), (d(2026, 12, 28), d(2027, 1, 1)));
        assert_eq!(last.partial, Partial::QuarterEdge);
        assert_eq!(all.iter().map(WeekSpan::days).sum::<i64>(), 92);
        // Generated on Thursday 2026-11-26: that week is in progress.
        let now = weeks(&q, at("2026-11-26T10:00:00Z"));
        let running = now.last().unwrap();
        assert_eq!(
            (running.first, running.end),
            (d(2026, 11, 23), d(2026, 11, 27))
        );
        assert_eq!(running.partial, Partial::InProgress);
        // On the quarter's first day: one week of one day.
        let first = weeks(&q, at("2026-10-01T08:00:00Z"));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].days(), 1);
        assert!(weeks(&q, at("2026-09-30T23:00:00Z")).is_empty());
    }
}
