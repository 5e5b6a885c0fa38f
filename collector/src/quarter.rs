//! Calendar quarters (UTC): the unit of reports, of PostgreSQL partitions
//! and of retention (`prune --before`).

use chrono::{Datelike, NaiveDate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarter {
    pub label: String,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
}

impl Quarter {
    /// `2026-Q4` (case-insensitive Q).
    pub fn parse(text: &str) -> Result<Quarter, String> {
        let bad = || format!("'{text}' is not a quarter like 2026-Q4");
        let (year, q) = text.split_once('-').ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let q: u32 = q
            .strip_prefix(['Q', 'q'])
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if !(1..=4).contains(&q) || !(1970..=9999).contains(&year) {
            return Err(bad());
        }
        Quarter::of_year(year, q).ok_or_else(bad)
    }

    /// Quarter `q` (1-4) of any year a timestamp may have (0000-9999).
    pub fn of_year(year: i32, q: u32) -> Option<Quarter> {
        if !(1..=4).contains(&q) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, 3 * (q - 1) + 1, 1)?;
        let end = if q == 4 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, 3 * q + 1, 1)
        }?;
        Some(Quarter {
            label: format!("{year}-Q{q}"),
            start,
            end,
        })
    }

    /// The quarter holding the instant `ms` (unix milliseconds), for any
    /// timestamp a client may send (years 0000 to 9999).
    pub fn containing_ms(ms: i64) -> Option<Quarter> {
        let date = chrono::DateTime::from_timestamp_millis(ms)?.date_naive();
        Quarter::of_year(date.year(), (date.month() - 1) / 3 + 1)
    }

    pub fn ms(date: NaiveDate) -> i64 {
        date.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis()
    }

    /// The quarter as one integer, year * 4 + (quarter - 1): the SQLite
    /// schema's `quarter` column (2026-Q4 is 8107).
    pub fn number(&self) -> i64 {
        i64::from(self.start.year()) * 4 + i64::from(self.start.month0() / 3)
    }

    pub fn from_number(number: i64) -> Option<Quarter> {
        let year = i32::try_from(number.div_euclid(4)).ok()?;
        Quarter::of_year(year, number.rem_euclid(4) as u32 + 1)
    }

    /// (start, end) in unix milliseconds, end exclusive.
    pub fn bounds_ms(&self) -> (i64, i64) {
        (Quarter::ms(self.start), Quarter::ms(self.end))
    }
}

/// `Quarter::number` of the quarter holding the instant `ms` (unix
/// milliseconds), without building the quarter: called for every stored
/// event.
pub fn number_of_ms(ms: i64) -> Option<i64> {
    let date = chrono::DateTime::from_timestamp_millis(ms)?.date_naive();
    Some(i64::from(date.year()) * 4 + i64::from(date.month0() / 3))
}

/// The quarter containing `date`.
pub fn quarter_of(date: NaiveDate) -> String {
    format!("{}-Q{}", date.year(), (date.month() - 1) / 3 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_bounds() {
        let q = Quarter::parse("2026-Q4").unwrap();
        assert_eq!(q.start, NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        assert_eq!(q.end, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(
            Quarter::parse("2026-q1").unwrap().end,
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
        );
        for bad in ["2026-Q5", "2026Q4", "x-Q1", "2026-Q0"] {
            assert!(Quarter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn containing_an_instant() {
        let q = Quarter::parse("2026-Q4").unwrap();
        let (start, end) = q.bounds_ms();
        assert_eq!(Quarter::containing_ms(start), Some(q.clone()));
        assert_eq!(Quarter::containing_ms(end - 1), Some(q));
        assert_eq!(Quarter::containing_ms(end).unwrap().label, "2027-Q1");
        assert_eq!(Quarter::containing_ms(-1).unwrap().label, "1969-Q4");
    }

    #[test]
    fn numbered_quarters() {
        let q = Quarter::parse("2026-Q4").unwrap();
        assert_eq!(q.number(), 8107);
        assert_eq!(Quarter::from_number(8107), Some(q.clone()));
        let (start, end) = q.bounds_ms();
        assert_eq!(number_of_ms(start), Some(8107));
        assert_eq!(number_of_ms(end - 1), Some(8107));
        assert_eq!(number_of_ms(end), Some(8108));
        assert_eq!(number_of_ms(-1), Some(1969 * 4 + 3));
        assert_eq!(Quarter::from_number(0).unwrap().label, "0-Q1");
    }
}
