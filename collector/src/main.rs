//! `cfdev-collector serve …` and `cfdev-collector report …`.

use cfdev_collector::cli::{Cli, Command};
use cfdev_collector::{report, server, store};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            listen,
            db,
            write_keys,
            cache_mb,
        } => serve(&listen, &db, write_keys, cache_mb),
        Command::Report {
            db,
            quarter,
            format,
            min_machines,
            out,
        } => run_report(&db, quarter, &format, min_machines, out),
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
    db: &std::path::Path,
    write_keys: Vec<String>,
    cache_mb: u32,
) -> Result<(), String> {
    let (store, writer) = store::Store::start(db, cache_mb)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("cfdev-collector listening on http://{addr}");
        let _ = std::io::stdout().flush();
        let state = Arc::new(server::AppState { store, write_keys });
        server::serve(listener, state)
            .await
            .map_err(|e| e.to_string())
    })?;
    drop(runtime);
    let _ = writer.join();
    eprintln!("cfdev-collector: stopped");
    Ok(())
}

fn run_report(
    db: &std::path::Path,
    quarter: Option<String>,
    format: &str,
    min_machines: u64,
    out: Option<PathBuf>,
) -> Result<(), String> {
    let label = quarter.unwrap_or_else(|| report::quarter_of(chrono::Utc::now().date_naive()));
    let quarter = report::Quarter::parse(&label)?;
    if !db.exists() {
        return Err(format!("no database at {}", db.display()));
    }
    let conn = store::open(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let built =
        report::build(&conn, &quarter, min_machines).map_err(|e| format!("report failed: {e}"))?;
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
