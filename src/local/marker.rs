//! The `telemetry-on` marker: an empty file beside the config that exists
//! exactly while the stored choice is "on". The shell function of function
//! mode (`shims/function.*`) decides with this one file test whether a cf call
//! needs the wrapper at all, so it must never say "off" while the choice is
//! on: it is created before the config says "on" and removed only after the
//! config stopped saying so.

use crate::fsutil;
use std::path::{Path, PathBuf};

pub const MARKER_NAME: &str = "telemetry-on";

/// The marker that goes with the config file at `config_file`.
pub fn path_for(config_file: &Path) -> PathBuf {
    config_file.with_file_name(MARKER_NAME)
}

/// Runs `save` (which writes the config file) with the marker kept in step
/// with `on`. A marker that cannot be created fails the save: a config saying
/// "on" without it would let function mode skip recording silently.
pub fn keep_in_step(
    config_file: &Path,
    on: bool,
    save: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let marker = path_for(config_file);
    if on {
        create(&marker)?;
        return save();
    }
    save()?;
    // A marker left behind only costs a wrapper process per call.
    let _ = std::fs::remove_file(&marker);
    Ok(())
}

/// Puts back a missing marker while the stored choice is "on" (deleted by
/// hand, say): without it the early path and function mode would not record.
pub fn repair(config_file: &Path) {
    let marker = path_for(config_file);
    if std::fs::symlink_metadata(&marker).is_err() {
        let _ = create(&marker);
    }
}

fn create(marker: &Path) -> std::io::Result<()> {
    fsutil::ensure_private_dir(marker.parent().unwrap_or(Path::new(".")))?;
    fsutil::private_options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(marker)
        .map(drop)
}
