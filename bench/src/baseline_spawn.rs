// Baseline: the least a recording wrapper can do — spawn the program named by
// BENCH_REAL, wait, append one line to BENCH_SPOOL with a single write, exit
// with the child's status.
use std::io::Write;

fn main() {
    let real = std::env::var_os("BENCH_REAL").expect("BENCH_REAL");
    let status = std::process::Command::new(real)
        .args(std::env::args_os().skip(1))
        .status()
        .expect("spawn");
    if let Some(spool) = std::env::var_os("BENCH_SPOOL") {
        let line = format!("{{\"event\":\"App Created\",\"code\":{}}}\n", status.code().unwrap_or(-1));
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(spool) {
            let _ = f.write_all(line.as_bytes());
        }
    }
    std::process::exit(status.code().unwrap_or(1));
}
