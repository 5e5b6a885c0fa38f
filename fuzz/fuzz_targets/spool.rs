//! The spool reader on any file content (and any lock-file count): never
//! panics; every non-empty line is either an event or counted corrupt;
//! removing delivered IDs keeps exactly the other events, byte for byte,
//! and fixes the stored count; an append after anything is readable.
#![no_main]

use cfdev_shim::paths::StatePaths;
use cfdev_shim::spool::Spool;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One state root per fuzzing process, on a RAM disk when there is one.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = ["/dev/shm", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let root = base.join(format!("cfdev-shim-fuzz-spool-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        root
    })
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many of the following bytes go to the lock file (its
    // content is the stored count); the rest is the spool file.
    let (split, data) = data
        .split_first()
        .map_or((0, data), |(s, d)| (*s as usize, d));
    let (lock, content) = data.split_at(split.min(data.len()).min(24));
    let paths = StatePaths {
        config_dir: root().clone(),
        data_dir: root().clone(),
    };
    std::fs::create_dir_all(paths.spool_dir()).unwrap();
    std::fs::write(paths.spool_file(), content).unwrap();
    std::fs::write(paths.spool_lock(), lock).unwrap();
    let spool = Spool::new(&paths);

    let _ = spool.pending_count().unwrap();
    let read = spool.read().unwrap();
    let lines = content
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(read.events.len() + read.corrupt as usize, lines);
    assert_eq!(read.events.len(), read.raw.len());

    // Remove every other message ID; the rest stays, in order, unchanged.
    let id = |v: &Value| v["messageId"].as_str().unwrap().to_owned();
    let removed: HashSet<String> = read.events.iter().step_by(2).map(id).collect();
    let expected: Vec<&String> = read
        .events
        .iter()
        .zip(&read.raw)
        .filter(|(v, _)| !removed.contains(&id(v)))
        .map(|(_, raw)| raw)
        .collect();
    let remaining = spool.remove(&removed).unwrap();
    assert_eq!(remaining as usize, expected.len());
    assert_eq!(spool.pending_count().unwrap(), remaining);
    let after = spool.read().unwrap();
    assert_eq!(after.corrupt, 0);
    assert_eq!(after.raw.iter().collect::<Vec<_>>(), expected);

    spool
        .append(r#"{"messageId":"m-new","event":"E"}"#)
        .unwrap();
    let appended = spool.read().unwrap();
    assert_eq!(appended.events.last().map(id).as_deref(), Some("m-new"));
    assert_eq!(spool.pending_count().unwrap(), remaining + 1);
});
