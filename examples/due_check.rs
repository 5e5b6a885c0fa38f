//! Micro-benchmark of the hot-path due-check (`bench/overhead` runs it): with
//! an endpoint configured and the interval not yet elapsed, how long does
//! deciding "no delivery due" take? Whole-process timing cannot resolve this.

use cfdev_shim::config::Config;
use cfdev_shim::paths::StatePaths;
use cfdev_shim::settings::Settings;
use std::time::Instant;

fn main() {
    // Were a delivery ever due, it would start this binary with `__deliver`.
    if std::env::args().any(|a| a == cfdev_shim::deliver::BACKGROUND_COMMAND) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cfdev-due-check-{}", std::process::id()));
    let paths = StatePaths {
        config_dir: dir.clone(),
        data_dir: dir.clone(),
    };
    let mut config = Config::default();
    config.set_endpoint("http://127.0.0.1:9", None);
    let settings = Settings {
        flush_interval: std::time::Duration::from_secs(999_999),
        ..Settings::default()
    };
    // The first call starts the period (creates the stamp); later ones only stat.
    cfdev_shim::deliver::start_background_if_due(&settings, &paths, &config, 1);
    let rounds = 100_000;
    let mut samples = Vec::with_capacity(10);
    for _ in 0..10 {
        let start = Instant::now();
        for _ in 0..rounds {
            cfdev_shim::deliver::start_background_if_due(&settings, &paths, &config, 1);
        }
        samples.push(start.elapsed().as_secs_f64() * 1e6 / rounds as f64);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    println!("due-check (not due, endpoint configured): median {:.2} us per call over 10 x {rounds} calls", samples[5]);
}
