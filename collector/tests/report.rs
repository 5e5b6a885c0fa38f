//! `cfdev-collector report` through its binary: numbers checked against an
//! independent count, the warehouse SQL against the collector's own pass,
//! the k-anonymity arithmetic of published numbers, and an injection corpus
//! through every format (and the published site).

mod support;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use support::site::{database, json_at, report_at, run_fail};
use support::{data, event, Backend};

const LATER: &str = "2027-01-15T00:00:00Z";

/// Eight machines over three OSes, two builds and several weeks, plus one
/// event outside the quarter.
fn small_dataset() -> Vec<Value> {
    let machines: Vec<String> = (0..8).map(data::machine).collect();
    let os = ["linux", "macos", "windows"];
    let names = ["App Created", "Error", "Start Begin", "Route Created"];
    let days = [
        "2026-10-05T10:00:00Z",
        "2026-10-11T23:59:59Z",
        "2026-10-12T00:00:00Z",
        "2026-11-25T16:02:03Z",
    ];
    let mut all = Vec::new();
    let mut n = 0;
    for (mi, m) in machines.iter().enumerate() {
        for (di, day) in days.iter().enumerate() {
            for (ei, name) in names.iter().enumerate() {
                if (mi + di + ei) % 3 == 0 {
                    continue;
                }
                let build = if mi < 6 {
                    "0.1.0+aaaaaaa"
                } else {
                    "0.2.0+bbbbbbb"
                };
                let command = if *name == "Error" {
                    ["push", "apps"][mi % 2]
                } else {
                    "push"
                };
                n += 1;
                all.push(event(
                    &format!("e{n}"),
                    name,
                    m,
                    day,
                    os[mi % 3],
                    build,
                    command,
                ));
            }
        }
    }
    all.push(event(
        "outside",
        "App Created",
        &machines[0],
        "2026-09-30T23:59:59.999Z",
        "linux",
        "0.1.0+aaaaaaa",
        "push",
    ));
    all
}

fn rows(report: &Value, section: &str, key: &str) -> BTreeMap<String, (u64, u64)> {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[key].as_str().unwrap().to_string(),
                (
                    r["count"].as_u64().unwrap(),
                    r["machines"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

fn report_matches_hand_computed_numbers_and_never_shows_ids(backend: Backend) {
    let all = small_dataset();
    let db = database(backend, &all);
    let inside: Vec<&Value> = all.iter().filter(|e| e["messageId"] != "outside").collect();
    let group = |key: &dyn Fn(&Value) -> Option<String>| {
        let mut map: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
        for e in &inside {
            if let Some(k) = key(e) {
                let entry = map.entry(k).or_default();
                entry.0 += 1;
                entry
                    .1
                    .insert(e["anonymousId"].as_str().unwrap().to_string());
            }
        }
        map.into_iter()
            .map(|(k, (c, m))| (k, (c, m.len() as u64)))
            .collect::<BTreeMap<_, _>>()
    };
    let week_of = |ts: &str| match &ts[..10] {
        "2026-10-05" | "2026-10-11" => "2026-10-05",
        "2026-10-12" => "2026-10-12",
        _ => "2026-11-23",
    };
    let got: Value = json_at(&db, "2026-Q4", 1, LATER);
    assert_eq!(got["total_events"], json!(inside.len()));
    assert_eq!(got["machines"], 8);
    assert_eq!(got["suppressed"], 0);
    assert_eq!(
        rows(&got, "events", "event"),
        group(&|e| Some(e["event"].as_str().unwrap().into()))
    );
    assert_eq!(
        rows(&got, "by_os", "os"),
        group(&|e| Some(e["context"]["os"]["name"].as_str().unwrap().into()))
    );
    assert_eq!(
        rows(&got, "by_build", "build"),
        group(&|e| Some(e["context"]["app"]["build"].as_str().unwrap().into()))
    );
    assert_eq!(
        rows(&got, "errors_by_command", "command"),
        group(&|e| (e["event"] == "Error")
            .then(|| e["properties"]["command"].as_str().unwrap().into()))
    );
    let weeks: BTreeMap<String, (u64, u64)> = got["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["count"] != 0)
        .map(|w| {
            (
                w["week"].as_str().unwrap().to_string(),
                (
                    w["count"].as_u64().unwrap(),
                    w["machines"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        group(&|e| Some(week_of(e["timestamp"].as_str().unwrap()).into()))
    );
    assert_eq!(
        got["weekly"].as_array().unwrap().len(),
        14,
        "every week of the quarter"
    );
    // Runs are known for push (App Created + its errors), not for apps.
    let errors = got["errors_by_command"].as_array().unwrap();
    let push = errors.iter().find(|e| e["command"] == "push").unwrap();
    let app_created = rows(&got, "events", "event")["App Created"].0;
    assert_eq!(
        push["runs"],
        json!(app_created + push["count"].as_u64().unwrap())
    );
    let apps = errors.iter().find(|e| e["command"] == "apps").unwrap();
    assert_eq!(apps["runs"], Value::Null);
    // With K = 3 rows go, and the arithmetic still holds.
    let k3: Value = json_at(&db, "2026-Q4", 3, LATER);
    assert!(
        k3["suppressed"].as_u64().unwrap() > 0,
        "the data set exercises suppression"
    );
    assert_sums_hold(&k3, 3);
    for format in ["md", "csv", "json", "html"] {
        let text = report_at(&db, "2026-Q4", format, 1, LATER);
        for i in 0..8 {
            let m = data::machine(i);
            assert!(
                !text.contains(&m) && !text.contains(&m[..16]),
                "{format} leaks an anonymous ID"
            );
        }
    }
}

/// Every published table adds up to the published total, rows are on K
/// machines or more, and suppressed weeks are summed, so no hidden number is
/// a difference of published ones.
fn assert_sums_hold(r: &Value, k: u64) {
    if r["state"] != "published" {
        assert_eq!(r["total_events"], Value::Null);
        return;
    }
    let total = r["total_events"].as_u64().unwrap();
    let sum = |section: &str| -> u64 {
        r[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["count"].as_u64().unwrap())
            .sum()
    };
    for section in ["events", "by_os", "by_build"] {
        assert_eq!(sum(section), total, "{section} adds up to the total");
    }
    for section in ["events", "by_os", "by_build", "errors_by_command"] {
        for row in r[section].as_array().unwrap() {
            assert!(row["machines"].as_u64().unwrap() >= k, "{section}: {row}");
        }
    }
    let error_row = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "Error")
        .map(|e| e["count"].as_u64().unwrap());
    match error_row {
        Some(errors) => assert_eq!(sum("errors_by_command"), errors, "errors add up to Error"),
        None => assert!(
            r["errors_by_command"].as_array().unwrap().is_empty(),
            "no errors by command without a published Error count"
        ),
    }
    let weeks = r["weekly"].as_array().unwrap();
    let shown: u64 = weeks.iter().filter_map(|w| w["count"].as_u64()).sum();
    let hidden = r["weekly_suppressed"]["count"].as_u64().unwrap_or(0);
    assert_eq!(shown + hidden, total, "weeks add up to the total");
    if weeks.iter().any(|w| w["suppressed"] == true) {
        assert!(r["weekly_suppressed"]["machines"].as_u64().unwrap() >= k);
    }
    for w in weeks.iter().filter(|w| w["suppressed"] == false) {
        let m = w["machines"].as_u64().unwrap();
        assert!(m == 0 || m >= k, "week {w}");
    }
}

/// The report's own pass over `Database::scan_groups` agrees with the
/// backend's `tallies` (and, on SQLite, with the warehouse SQL of
/// sql/sqlite/report.sql) on data inside the vocabulary.
fn report_input_agrees_with_the_backends_sql(backend: Backend) {
    use cfdev_collector::store::{Database, Location};
    let db = database(backend, &small_dataset());
    let mut database = Database::open(&Location::parse(&db.arg()).unwrap()).unwrap();
    let quarter = cfdev_collector::quarter::Quarter::parse("2026-Q4").unwrap();
    let scanned = cfdev_collector::report::Aggregates::collect(&mut database, &quarter, i64::MAX)
        .unwrap()
        .tallies();
    let tallies = database.tallies(&quarter).unwrap();
    assert_eq!(scanned, tallies);
    if let Some(warehouse) = database.warehouse_tallies(&quarter) {
        assert_eq!(tallies, warehouse.unwrap());
    }
    assert_eq!(tallies.total_events as usize, small_dataset().len() - 1);
}

fn published_numbers_never_reveal_a_suppressed_row(backend: Backend) {
    let db = database(backend, &data::normal());
    for quarter in ["2026-Q2", "2026-Q3", "2026-Q4"] {
        for k in [1, 2, 3, 5, 8, 15, 30] {
            let r = json_at(&db, quarter, k, "2026-11-26T12:00:00Z");
            assert_sums_hold(&r, k);
        }
    }
    let r = json_at(&db, "2026-Q4", 5, "2026-11-26T12:00:00Z");
    // Bosh (2 machines) and User Created (1) are below K: folded, and
    // "other" then covers K machines.
    let events = rows(&r, "events", "event");
    assert!(!events.contains_key("Bosh") && !events.contains_key("User Created"));
    let other = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["other"] == true)
        .unwrap();
    assert!(other["machines"].as_u64().unwrap() >= 5);
    // The quiet week (2 machines) is hidden, and so is the next smallest,
    // so their sum covers K machines.
    let hidden: Vec<&Value> = r["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["suppressed"] == true)
        .collect();
    assert!(hidden.iter().any(|w| w["week"] == "2026-10-19"));
    assert!(hidden.len() >= 2, "secondary suppression: {hidden:?}");
    assert!(r["weekly_suppressed"]["machines"].as_u64().unwrap() >= 5);
    // All suppressed: no number at all.
    let db = database(backend, &data::few_machines());
    let r = json_at(&db, "2026-Q4", 5, LATER);
    assert_eq!(r["state"], "all_suppressed");
    assert_eq!(r["total_events"], Value::Null);
    assert_eq!(r["machines"], Value::Null);
    assert!(r["events"].as_array().unwrap().is_empty());
    assert!(r["weekly"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["count"].is_null()));
    assert_eq!(r["weekly_suppressed"], Value::Null);
}

#[test]
fn report_rejects_bad_input_with_one_line() {
    let (code, err) = run_fail(&["report", "--db", "/nonexistent.db", "--quarter", "2026-Q4"]);
    assert_eq!(code, Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    let db = database(Backend::Sqlite, &[]);
    let arg = db.arg();
    for (args, needle) in [
        (vec!["report", "--quarter", "2026-Q9"], "2026-Q9"),
        (vec!["report", "--as-of", "yesterday"], "yesterday"),
        (
            vec![
                "publish",
                "--out",
                "/proc/no/such",
                "--as-of",
                "2026-11-26T00:00:00Z",
            ],
            "/proc/no/such",
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0", "--publish-every", "0"],
            "at least one second",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--db", &arg]);
        let (code, err) = run_fail(&all);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(
            err.contains(needle) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

/// What would show that a corpus string got through: each string itself and
/// the telltale parts of it.
fn leaks(text: &str) -> Vec<String> {
    let mut found: Vec<String> = data::CORPUS
        .iter()
        .filter(|s| text.contains(*s))
        .map(|s| s.to_string())
        .collect();
    for token in [
        "evil.example",
        "<script",
        "<img",
        "onerror",
        "javascript:",
        "HYPERLINK",
        "cmd|",
        "@SUM",
        "Forged",
        "forged",
        "<!--",
        "etc/passwd",
        "track.png",
        "~~s~~",
    ] {
        if text.contains(token) {
            found.push(token.to_string());
        }
    }
    found
}

/// The cells of an RFC 4180 document.
fn csv_cells(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![vec![String::new()]];
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let row = rows.last_mut().unwrap();
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                row.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(String::new()),
            ('\n', false) => rows.push(vec![String::new()]),
            (c, _) => row.last_mut().unwrap().push(c),
        }
    }
    assert!(!quoted, "unterminated quote");
    rows.pop();
    rows
}

/// A corpus of formula, HTML, Markdown and path injections sent in every
/// field by 6 machines (so K does not hide them) comes out of no format:
/// the vocabulary turns them into "other", and every format still escapes.
fn injection_corpus_comes_out_of_no_format(backend: Backend) {
    let db = database(backend, &data::normal());
    let as_of = "2026-11-26T12:00:00Z";
    for format in ["md", "csv", "json", "html"] {
        let text = report_at(&db, "2026-Q4", format, 5, as_of);
        assert_eq!(leaks(&text), Vec::<String>::new(), "{format}");
        for i in 0..6 {
            assert!(
                !text.contains(&format!("{:064x}", 0x0bad * 1000 + i)),
                "{format}: an ID"
            );
        }
    }
    let r = json_at(&db, "2026-Q4", 5, as_of);
    for (section, key) in [
        ("events", "event"),
        ("by_os", "os"),
        ("by_build", "build"),
        ("errors_by_command", "command"),
    ] {
        let other = r[section]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x[key] == "other");
        assert!(
            other.is_some_and(|o| o["other"] == true),
            "{section}: the corpus is counted as other"
        );
    }
    let csv = report_at(&db, "2026-Q4", "csv", 1, as_of);
    for row in csv_cells(&csv) {
        assert_eq!(row.len(), 10, "{row:?}");
        for cell in row {
            let number = cell.parse::<f64>().is_ok();
            assert!(
                number || !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula: {cell:?}"
            );
        }
    }
    let md = report_at(&db, "2026-Q4", "md", 1, as_of);
    for line in md.lines().filter(|l| l.starts_with('#')) {
        assert!(
            line.starts_with("# cfdev-shim usage report")
                || line.starts_with("## ")
                || line.starts_with("### "),
            "{line}"
        );
    }
    for line in md.lines().filter(|l| l.starts_with('|')) {
        assert!(!line.contains("](") && !line.contains('<'), "{line}");
    }
    // The published site, every file.
    let out = tempfile::tempdir().unwrap();
    support::site::publish(&db, out.path(), 5, as_of);
    let mut files = 0;
    let mut stack = vec![out.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(leaks(&text), Vec::<String>::new(), "{}", path.display());
            files += 1;
        }
    }
    assert_eq!(files, 11);
}

on_both_backends!(
    report_matches_hand_computed_numbers_and_never_shows_ids,
    report_input_agrees_with_the_backends_sql,
    published_numbers_never_reveal_a_suppressed_row,
    injection_corpus_comes_out_of_no_format,
);
