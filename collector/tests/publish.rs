//! `cfdev-collector publish` and `/reports/` through the binary: the site's
//! files and states, its pages as headless Chromium builds them (with
//! screenshots kept for a person to look at), the served site's headers and
//! refusals.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::site::{self, database, publish, screenshots};
use support::{data, Backend};

const AS_OF: &str = "2026-11-26T12:00:00Z";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn site_lists_every_quarter_newest_first_with_its_files(backend: Backend) {
    let db = database(backend, &data::normal());
    let site = db.dir.path().join("site");
    publish(&db, &site, 5, AS_OF);
    let index = read(&site.join("index.html"));
    let order: Vec<usize> = ["2026-Q4", "2026-Q3", "2026-Q2"]
        .iter()
        .map(|q| index.find(&format!("href=\"{q}/index.html\"")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first");
    assert!(!index.contains("2026-Q1"), "nothing before the first data");
    for q in ["2026-Q2", "2026-Q3", "2026-Q4"] {
        for f in ["index.html", "report.json", "report.csv"] {
            assert!(site.join(q).join(f).is_file(), "{q}/{f}");
        }
        let report = json(&site.join(q).join("report.json"));
        assert_eq!(report["schema"], "cfdev-shim-report/1");
        assert_eq!(report["state"], "published");
    }
    for page in [
        "index.html",
        "schema.html",
        "2026-Q3/index.html",
        "2026-Q4/index.html",
    ] {
        let html = read(&site.join(page));
        assert_eq!(
            html.matches("<section id=\"methodology\">").count(),
            1,
            "{page}"
        );
        assert!(
            html.contains("K = 5.") && html.contains("generated 2026-11-26"),
            "{page}"
        );
        assert!(
            !html.contains("<script") && !html.contains(" src=") && !html.contains("<link"),
            "{page}"
        );
        let external = html.matches("http://").count() + html.matches("https://").count();
        let svg_namespaces = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
        assert_eq!(external, svg_namespaces, "{page}: no external resource");
    }
    let q3 = json(&site.join("2026-Q3/report.json"));
    assert_eq!(q3["previous_quarter"], "2026-Q2");
    assert_eq!(q3["in_progress"], false);
    let q4 = json(&site.join("2026-Q4/report.json"));
    assert_eq!(q4["in_progress"], true);
    assert_eq!(
        q4["previous_quarter"],
        Value::Null,
        "no change for a running quarter"
    );
    assert_eq!(q4["data_window"]["until"], AS_OF);
}

/// The four states a quarter page can be in, as Chromium builds them, and a
/// screenshot of each (target/publish-screenshots/) for a person to look at.
#[test]
fn pages_in_headless_chromium_for_every_state() {
    let Some(browser) = site::chromium() else {
        return;
    };
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let sites = |name: &str, events: &[Value], as_of: &str| -> PathBuf {
        let db = database(Backend::Sqlite, events);
        let out = dir.path().join(name);
        publish(&db, &out, 5, as_of);
        out
    };
    // Normal: a complete quarter with a previous one, and a running one.
    let normal = sites("normal", &data::normal(), AS_OF);
    let q3 = site::dom(browser, &normal.join("2026-Q3/index.html"));
    assert!(q3.contains("data-state=\"published\""));
    for id in ["events", "errors", "os", "builds", "weekly", "methodology"] {
        assert_eq!(
            q3.matches(&format!("<section id=\"{id}\"")).count(),
            1,
            "one {id} section"
        );
    }
    assert_eq!(q3.matches("<h2>Events</h2>").count(), 1);
    assert_eq!(q3.matches("<h2>Weekly trend</h2>").count(), 1);
    assert!(q3.contains("change vs 2026-Q2"));
    assert_eq!(
        q3.matches("<svg").count(),
        5,
        "events, errors, os, builds, weeks"
    );
    assert!(
        q3.matches("<table").count() >= 5,
        "a table behind every chart"
    );
    assert!(!q3.contains("<script"));
    // 2026-07-01 is a Wednesday: the first week is labelled Jul 1, not Jun 29.
    assert!(q3.contains("<time datetime=\"2026-07-01\">2026-07-01</time> – 2026-07-05"));
    assert!(!q3.contains("2026-06-29"));
    assert!(q3.contains(">2026</text>"), "the year on the axis");
    let q4 = site::dom(browser, &normal.join("2026-Q4/index.html"));
    assert!(q4.contains("partial: in progress"));
    assert!(q4.contains("&lt;K"), "the quiet week is suppressed");
    assert!(q4.contains("quarter in progress"));
    site::screenshot(
        browser,
        &normal.join("2026-Q3/index.html"),
        &shots.join("normal-quarter.png"),
        4200,
    );
    site::screenshot(
        browser,
        &normal.join("2026-Q4/index.html"),
        &shots.join("running-quarter.png"),
        4200,
    );
    site::screenshot(
        browser,
        &normal.join("index.html"),
        &shots.join("index.png"),
        1600,
    );
    // One week of data.
    let one = sites("one-week", &data::one_week(), "2027-01-15T00:00:00Z");
    let page = site::dom(browser, &one.join("2026-Q4/index.html"));
    assert!(page.contains("data-state=\"published\""));
    assert_eq!(page.matches("class=\"col\"").count(), 1, "one column drawn");
    assert!(page.contains("class=\"grid\""), "a y-axis with gridlines");
    site::screenshot(
        browser,
        &one.join("2026-Q4/index.html"),
        &shots.join("one-week.png"),
        3600,
    );
    // No data at all.
    let empty = sites("empty", &[], "2026-11-26T12:00:00Z");
    let page = site::dom(browser, &empty.join("2026-Q4/index.html"));
    assert!(page.contains("data-state=\"no_data\""));
    assert!(page.contains("<strong>No data</strong>"));
    assert!(!page.contains("<svg"));
    site::screenshot(
        browser,
        &empty.join("2026-Q4/index.html"),
        &shots.join("no-data.png"),
        1800,
    );
    // Everything suppressed.
    let few = sites("few", &data::few_machines(), "2026-11-26T12:00:00Z");
    let page = site::dom(browser, &few.join("2026-Q4/index.html"));
    assert!(page.contains("data-state=\"all_suppressed\""));
    assert!(page.contains("<strong>All suppressed</strong>"));
    assert!(!page.contains("<svg"));
    let index = site::dom(browser, &few.join("index.html"));
    assert!(index.contains("all suppressed"));
    site::screenshot(
        browser,
        &few.join("2026-Q4/index.html"),
        &shots.join("all-suppressed.png"),
        1800,
    );
}

/// The same data gives the same site, byte for byte, on both backends.
#[test]
fn site_is_identical_on_both_backends() {
    let events = data::normal();
    let out: Vec<PathBuf> = [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .map(|backend| {
            let db = database(backend, &events);
            let out = tempfile::tempdir().unwrap().keep();
            publish(&db, &out, 5, AS_OF);
            out
        })
        .collect();
    let (a, b) = (site::files_under(&out[0]), site::files_under(&out[1]));
    assert_eq!(a, b);
    assert_eq!(a.len(), 3 * 3 + 2, "three quarters, index and schema");
    for f in &a {
        assert_eq!(
            read(&out[0].join(f)),
            read(&out[1].join(f)),
            "{}",
            f.display()
        );
    }
    for dir in out {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `serve` publishes the site at start and then on schedule, and serves it
/// under /reports/ with the right types and validators; nothing else on the
/// disk can be reached, whatever the path.
fn reports_route_serves_the_site_read_only(backend: Backend) {
    let db = database(backend, &data::normal());
    let site = db.dir.path().join("site");
    // Hourly (the default): nothing changes under the validators below.
    let c =
        support::Collector::start_with(&db, &[], &["--quiet", "--site", site.to_str().unwrap()]);
    support::eventually(30, "the first publication", || {
        site::raw(&c.addr, "GET", "/reports/", &[]).status == 200
    });
    let index = site::raw(&c.addr, "GET", "/reports/", &[]);
    assert_eq!(
        index.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(index.text().contains("cfdev-shim usage reports"));
    assert_eq!(
        index.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(index
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    let etag = index.header("etag").expect("an ETag");
    let modified = index.header("last-modified").expect("a Last-Modified");
    assert!(modified.ends_with(" GMT"), "{modified}");
    let again = site::raw(&c.addr, "GET", "/reports/", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
    let other = site::raw(
        &c.addr,
        "GET",
        "/reports/",
        &[("If-None-Match", "\"nope\"")],
    );
    assert_eq!(other.status, 200);
    let since = site::raw(
        &c.addr,
        "GET",
        "/reports/",
        &[("If-Modified-Since", &modified)],
    );
    assert_eq!(since.status, 304);
    let stale = site::raw(
        &c.addr,
        "GET",
        "/reports/",
        &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    );
    assert_eq!(stale.status, 200);
    let json = site::raw(&c.addr, "GET", "/reports/2026-Q3/report.json", &[]);
    assert_eq!(json.status, 200);
    assert_eq!(
        json.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&json.body).unwrap()["quarter"],
        "2026-Q3"
    );
    let csv = site::raw(&c.addr, "GET", "/reports/2026-Q3/report.csv", &[]);
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let head = site::raw(&c.addr, "HEAD", "/reports/2026-Q3/report.json", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length")
            .and_then(|n| n.parse::<usize>().ok()),
        Some(json.body.len())
    );
    for (path, to) in [
        ("/reports", "/reports/"),
        ("/reports/2026-Q3", "/reports/2026-Q3/"),
    ] {
        let r = site::raw(&c.addr, "GET", path, &[]);
        assert_eq!(
            (r.status, r.header("location").as_deref()),
            (301, Some(to)),
            "{path}"
        );
    }
    assert_eq!(
        site::raw(&c.addr, "GET", "/reports/2026-Q3/", &[]).status,
        200
    );
    assert_eq!(site::raw(&c.addr, "POST", "/reports/", &[]).status, 405);
    // Things that are not the site.
    std::fs::create_dir_all(site.join("empty")).unwrap();
    std::fs::write(site.join("notes.txt"), "private").unwrap();
    std::os::unix::fs::symlink(db.dir.path().join("t.db"), site.join("db.html")).unwrap();
    std::os::unix::fs::symlink("/etc", site.join("etc")).unwrap();
    let db_name = if backend == Backend::Sqlite {
        "t.db"
    } else {
        "served-site"
    };
    for target in [
        "/reports/empty/".to_string(),
        "/reports/notes.txt".into(),
        "/reports/db.html".into(),
        "/reports/etc/passwd".into(),
        "/reports/etc/hostname.html".into(),
        format!("/reports/../{db_name}"),
        format!("/reports/%2e%2e/{db_name}"),
        format!("/reports/..%2f{db_name}"),
        format!("/reports/2026-Q3/../../{db_name}"),
        format!("/reports/.%2e/{db_name}"),
        "/reports/%2fetc%2fpasswd".into(),
        "/reports//etc/passwd".into(),
        "/reports/..\\t.db".into(),
        "/reports/2026-Q3/./index.html".into(),
        "/reports/2026-Q3/index.html%00.json".into(),
        "/reports/.tmp".into(),
        "/reports/index.html.tmp-1".into(),
        "/reports/a/b/c/index.html".into(),
    ] {
        let r = site::raw(&c.addr, "GET", &target, &[]);
        assert!(r.status == 404 || r.status == 400, "{target}: {}", r.status);
        let body = r.text();
        assert!(
            !body.contains("SQLite format") && !body.contains("root:") && !body.contains("private"),
            "{target}"
        );
    }
    let (status, stderr) = c.stop();
    assert!(status.success(), "{stderr}");
    // Republished on schedule: new events show up without a restart.
    let c = support::Collector::start_with(
        &db,
        &[],
        &[
            "--quiet",
            "--site",
            site.to_str().unwrap(),
            "--publish-every",
            "1s",
        ],
    );
    let before = site::raw(&c.addr, "GET", "/reports/2026-Q3/report.json", &[]);
    let total =
        |r: &site::Raw| serde_json::from_slice::<Value>(&r.body).unwrap()["total_events"].clone();
    let extra: Vec<Value> = (0..6)
        .map(|i| {
            support::event(
                &format!("late{i}"),
                "Stop",
                &data::machine(i),
                "2026-08-03T10:00:00Z",
                "linux",
                data::build_of(0),
                "dev stop",
            )
        })
        .collect();
    assert_eq!(
        support::post(&c.addr, "/v1/batch", &[], &support::batch(&extra)).status,
        200
    );
    support::eventually(30, "the next publication", || {
        total(&site::raw(
            &c.addr,
            "GET",
            "/reports/2026-Q3/report.json",
            &[],
        )) != total(&before)
    });
    let after = site::raw(&c.addr, "GET", "/reports/2026-Q3/report.json", &[]);
    assert_eq!(
        total(&after).as_u64().unwrap(),
        total(&before).as_u64().unwrap() + 6
    );
    assert_ne!(after.header("etag"), before.header("etag"));
    let (status, stderr) = c.stop();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("publishing failed"), "{stderr}");
}

on_both_backends!(
    site_lists_every_quarter_newest_first_with_its_files,
    reports_route_serves_the_site_read_only,
);
