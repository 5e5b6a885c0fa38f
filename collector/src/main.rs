//! `cfdev-collector serve|report|migrate|prune|copy …`: argument parsing
//! and one line per failure; the work is in the library.

use cfdev_collector::cli::{Cli, Command};
use cfdev_collector::store::{self, Database, Location};
use cfdev_collector::{copy, quarter::Quarter, report, server};
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
        } => Location::parse(&db).and_then(|location| {
            let options = store::Options {
                cache_mb,
                pool_size: pg_pool,
            };
            serve(&listen, &location, write_keys, &options, quiet)
        }),
        Command::Report {
            db,
            quarter,
            format,
            min_machines,
            out,
        } => Location::parse(&db)
            .and_then(|location| run_report(&location, quarter, &format, min_machines, out)),
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

fn serve(
    listen: &str,
    location: &Location,
    write_keys: Vec<String>,
    options: &store::Options,
    quiet: bool,
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
        server::serve(listener, state)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(finish)
    })?;
    drop(runtime);
    finish.wait();
    eprintln!("cfdev-collector: stopped");
    Ok(())
}

fn run_report(
    location: &Location,
    quarter: Option<String>,
    format: &str,
    min_machines: u64,
    out: Option<PathBuf>,
) -> Result<(), String> {
    let label = quarter.unwrap_or_else(|| report::quarter_of(chrono::Utc::now().date_naive()));
    let quarter = Quarter::parse(&label)?;
    let mut db = Database::open(location)?;
    let built = report::build(&mut db, &quarter, min_machines)
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
