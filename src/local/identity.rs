//! The anonymous machine ID: hex HMAC-SHA-256 keyed with the machine's stable
//! ID over the app ID `cfdev-shim` (the "protected ID" scheme). The raw machine
//! ID is read, hashed and forgotten: never stored, never sent. Machines
//! without a stable ID get a random ID persisted in the state root.

use crate::fsutil;
use crate::paths::StatePaths;
use crate::settings::Settings;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const APP_ID: &[u8] = b"cfdev-shim";

pub fn anonymous_id(settings: &Settings, paths: &StatePaths) -> std::io::Result<String> {
    let key = match machine_id(settings) {
        Some(id) => id,
        None => fallback_id(paths)?,
    };
    Ok(hex(&hmac_sha256(key.as_bytes(), APP_ID)))
}

/// The ID without creating anything (for `status`): None when only a
/// not-yet-created fallback ID could provide it.
pub fn anonymous_id_readonly(settings: &Settings, paths: &StatePaths) -> Option<String> {
    let key = machine_id(settings)
        .or_else(|| read_fallback_id(&paths.fallback_id_file()).ok().flatten())?;
    Some(hex(&hmac_sha256(key.as_bytes(), APP_ID)))
}

/// RFC 2104 HMAC over SHA-256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| -> Vec<u8> { block_key.iter().map(|k| k ^ byte).collect() };
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// The machine's stable ID. `CFDEV_SHIM_MACHINE_ID_FILE` replaces the
/// platform source (tests use it to exercise the fallback).
fn machine_id(settings: &Settings) -> Option<String> {
    if let Some(file) = &settings.machine_id_file {
        return read_id(file);
    }
    platform_machine_id()
}

fn platform_machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| read_id(Path::new(p)))
}

/// IDs are 32 to 64 characters; a larger file is not one.
const MAX_ID_BYTES: u64 = 4096;

/// An ID file outside the state root (machine ID): bounded, never blocking.
fn read_id(path: &Path) -> Option<String> {
    let bytes = fsutil::read_small_file(path, MAX_ID_BYTES).ok()?;
    non_empty(String::from_utf8(bytes).ok()?)
}

/// The fallback ID in the state root; an error when something that is not
/// an ID file is in its place (it is then not replaced).
fn read_fallback_id(path: &Path) -> std::io::Result<Option<String>> {
    let bytes = fsutil::read_bounded(path, MAX_ID_BYTES)?;
    Ok(bytes.and_then(|b| non_empty(String::from_utf8(b).ok()?)))
}

fn fallback_id(paths: &StatePaths) -> std::io::Result<String> {
    let file = paths.fallback_id_file();
    if let Some(id) = read_fallback_id(&file)? {
        return Ok(id);
    }
    let id = hex(&random_bytes::<32>());
    fsutil::ensure_private_dir(&paths.data_dir)?;
    // create_new: two first runs racing keep whichever ID landed first.
    match fsutil::open(&file, fsutil::Access::CreateNew) {
        Ok(mut f) => {
            f.write_all(id.as_bytes())?;
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_fallback_id(&file)?.ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// Cryptographic randomness from the OS; falls back to a time/pid mix only if
/// the OS source is unavailable.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[cfg(target_os = "linux")]
    {
        // SAFETY: fills our buffer.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), N, 0) };
        if n == N as isize {
            return buf;
        }
    }
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if std::io::Read::read_exact(&mut f, &mut buf).is_ok() {
            return buf;
        }
    }
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    let mut digest = Sha256::digest(seed.as_bytes()).to_vec();
    while digest.len() < N {
        let more = Sha256::digest(&digest);
        digest.extend_from_slice(&more);
    }
    buf.copy_from_slice(&digest[..N]);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
