// Runs several command variants interleaved (A B C … A B C …), N rounds, and
// reports per-variant median/p10/p90 wall time and peak RSS (wait4's
// ru_maxrss of the direct child). Variants: NAME=PROGRAM[:ENV=VAL,…] args
// are given as lines on stdin: `name<TAB>program<TAB>arg1 arg2<TAB>K=V K=V`.
use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::time::Instant;

#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

struct Variant {
    name: String,
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    times: Vec<f64>,
    rss_kb: Vec<i64>,
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut variants: Vec<Variant> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.split('\t').collect();
            Variant {
                name: parts[0].into(),
                program: parts[1].into(),
                args: parts.get(2).map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default(),
                env: parts
                    .get(3)
                    .map(|e| e.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
                    .unwrap_or_default(),
                times: Vec::new(),
                rss_kb: Vec::new(),
            }
        })
        .collect();
    // Warm-up: page cache, dentries.
    for v in variants.iter_mut() {
        for _ in 0..20 {
            run(v, false);
        }
    }
    for _ in 0..rounds {
        for v in variants.iter_mut() {
            run(v, true);
        }
    }
    println!("variant\tmedian_ms\tp10_ms\tp90_ms\tpeak_rss_kb");
    for v in &mut variants {
        v.times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| v.times[((v.times.len() - 1) as f64 * p).round() as usize];
        let rss = v.rss_kb.iter().max().copied().unwrap_or(0);
        println!("{}\t{:.3}\t{:.3}\t{:.3}\t{}", v.name, pct(0.5), pct(0.1), pct(0.9), rss);
    }
}

fn run(v: &mut Variant, record: bool) {
    let mut cmd = std::process::Command::new(&v.program);
    cmd.args(&v.args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    for (k, val) in &v.env {
        cmd.env(k, val);
    }
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn variant");
    let mut status = 0;
    let mut usage: Rusage = unsafe { std::mem::zeroed() };
    unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
    let exit = std::process::ExitStatus::from_raw(status);
    assert!(exit.success(), "{} failed: {exit:?}", v.name);
    if record {
        v.times.push(elapsed);
        v.rss_kb.push(usage.maxrss);
    }
}
