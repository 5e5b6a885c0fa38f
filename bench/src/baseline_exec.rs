// Baseline: the least a wrapper can do on the exec path — exec the program
// named by BENCH_REAL with our arguments. Built statically like cfdev-shim.
use std::os::unix::process::CommandExt;

fn main() {
    let real = std::env::var_os("BENCH_REAL").expect("BENCH_REAL");
    let err = std::process::Command::new(real).args(std::env::args_os().skip(1)).exec();
    eprintln!("exec failed: {err}");
    std::process::exit(127);
}
