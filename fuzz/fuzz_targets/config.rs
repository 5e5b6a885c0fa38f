//! The config reader on any file content: never panics, refuses what is not
//! a JSON object, and what it accepts survives a save and a reload with the
//! same consent, endpoint and write key.
#![no_main]

use cfdev_shim::config::Config;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = ["/dev/shm", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("cfdev-shim-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("config.json");
    std::fs::write(&path, data).unwrap();
    let loaded = Config::load(&path);
    let is_object = matches!(
        serde_json::from_slice::<serde_json::Value>(data),
        Ok(serde_json::Value::Object(_))
    );
    assert_eq!(loaded.is_ok(), is_object && data.len() <= 64 * 1024);
    let Ok(config) = loaded else { return };
    let facts = |c: &Config| {
        (
            c.consent(),
            c.endpoint().map(str::to_owned),
            c.write_key().map(str::to_owned),
        )
    };
    let before = facts(&config);
    config.save(&path).unwrap();
    let reloaded = Config::load(&path).expect("a saved config loads");
    assert_eq!(facts(&reloaded), before);
});
