//! `cfdev-collector serve|report|publish|migrate|prune|copy …`: argument parsing
//! and one line per failure; the work is in the library.

use cfdev_collector::cli::{Cli, Command};
use cfdev_collector::store::{self, Database, Location};
use cfdev_collector::{copy, publish, publish_serve, quarter::Quarter, report, server};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Serve {
            listen,
            db,
            write_keys,
            cache_mb,
            pg_pool,
            quiet,
            site,
            publish_every,
            min_machines,
        } => Location::parse(&db).and_then(|location| {
            let options = store::Options {
                cache_mb,
                pool_size: pg_pool,
            };
            let every = publish_serve::parse_every(&publish_every)?;
            let site = site.unwrap_or_else(|| match &location {
                Location::Sqlite(path) => {
                    let mut site = path.clone().into_os_string();
                    site.push(".site");
                    PathBuf::from(site)
                }
                // Derived data, rebuilt on every run: a temp dir per database.
                Location::Postgres(config) => std::env::temp_dir().join(format!(
                    "cfdev-collector-site-{}",
                    config.get_dbname().unwrap_or("events")
                )),
            });
            let publishing = Publishing {
                site,
                every,
                min_machines,
            };
            serve(&listen, &location, write_keys, &options, quiet, publishing)
        }),
        Command::Report {
            db,
            quarter,
            format,
            min_machines,
            out,
            as_of,
        } => Location::parse(&db).and_then(|location| {
            let now = as_of_time(as_of)?;
            run_report(&location, quarter, &format, min_machines, out, now)
        }),
        Command::Publish {
            db,
            out,
            min_machines,
            as_of,
        } => Location::parse(&db).and_then(|location| {
            let now = as_of_time(as_of)?;
            run_publish(&location, &out, min_machines, now)
        }),
        Command::Migrate { db } => Location::parse(&db).and_then(|l| migrate(&l)),
        Command::Prune { db, before } => Location::parse(&db).and_then(|l| prune(&l, &before)),
        Command::Copy { from, to } => {
            Location::parse(&from).and_then(|f| Location::parse(&to).and_then(|t| run_copy(&f, &t)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cfdev-collector: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where `serve` publishes the site, how often, with which K.
struct Publishing {
    site: PathBuf,
    every: std::time::Duration,
    min_machines: u64,
}

fn serve(
    listen: &str,
    location: &Location,
    write_keys: Vec<String>,
    options: &store::Options,
    quiet: bool,
    publishing: Publishing,
) -> Result<(), String> {
    // Bound first: a wrong address must not leave a new database behind.
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let finish = runtime.block_on(async {
        let (store, finish) = store::Store::start(location, options).await?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("cfdev-collector listening on http://{addr}");
        let _ = std::io::stdout().flush();
        let state = Arc::new(server::AppState {
            store,
            write_keys,
            quiet,
        });
        let app = server::router(state).merge(publish_serve::router(publishing.site.clone()));
        tokio::spawn(republish(location.clone(), publishing));
        server::serve_router(listener, app)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(finish)
    })?;
    drop(runtime);
    finish.wait();
    eprintln!("cfdev-collector: stopped");
    Ok(())
}

/// Publishes the site now and then every `every`, on a blocking thread with
/// its own connection; a failure is reported and retried next time.
async fn republish(location: Location, publishing: Publishing) {
    let mut ticks = tokio::time::interval(publishing.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (location, site, k) = (
            location.clone(),
            publishing.site.clone(),
            publishing.min_machines,
        );
        let done = tokio::task::spawn_blocking(move || {
            let mut db = Database::open(&location)?;
            publish::publish(&mut db, &site, k, chrono::Utc::now())
        })
        .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("cfdev-collector: publishing failed: {e}"),
            Err(e) => eprintln!("cfdev-collector: publishing failed: {e}"),
        }
    }
}

fn as_of_time(as_of: Option<String>) -> Result<chrono::DateTime<chrono::Utc>, String> {
    match as_of {
        None => Ok(chrono::Utc::now()),
        Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| format!("--as-of '{text}' is not an RFC 3339 time")),
    }
}

fn run_publish(
    location: &Location,
    out: &std::path::Path,
    min_machines: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let mut db = Database::open(location)?;
    let done = publish::publish(&mut db, out, min_machines, now)?;
    eprintln!(
        "cfdev-collector: published {} quarters ({} files) to {}",
        done.quarters.len(),
        done.files,
        out.display()
    );
    Ok(())
}

fn run_report(
    location: &Location,
    quarter: Option<String>,
    format: &str,
    min_machines: u64,
    out: Option<PathBuf>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let label = quarter.unwrap_or_else(|| report::quarter_of(now.date_naive()));
    let quarter = Quarter::parse(&label)?;
    let mut db = Database::open(location)?;
    let built = report::build(&mut db, &quarter, min_machines, now)
        .map_err(|e| format!("report failed: {e}"))?;
    let text = report::render(&built, format)?;
    match out {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| e.to_string()),
            }
        }
    }
}

fn migrate(location: &Location) -> Result<(), String> {
    let mut db = Database::create(location)?;
    for (version, name, applied) in db.migrations()? {
        let state = if applied { "applied" } else { "pending" };
        println!("{version:04} {name}: {state}");
    }
    Ok(())
}

fn prune(location: &Location, before: &str) -> Result<(), String> {
    let before = Quarter::parse(before)?;
    let mut db = Database::open(location)?;
    let deleted = db.prune(&before)?;
    println!(
        "deleted {deleted} event{} dated before {}",
        if deleted == 1 { "" } else { "s" },
        before.label
    );
    Ok(())
}

fn run_copy(from: &Location, to: &Location) -> Result<(), String> {
    let summary = copy::run(from, to)?;
    println!(
        "copied {} event{} from {} to {}: {} new, {} already there{}",
        summary.read,
        if summary.read == 1 { "" } else { "s" },
        from.describe(),
        to.describe(),
        summary.stored,
        summary.read - summary.stored,
        if summary.skipped_quarters > 0 {
            format!(
                "; {} quarter(s) skipped, finished by an earlier copy",
                summary.skipped_quarters
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
