//! The local spool: JSON Lines of pending `track` messages. Every change
//! happens under an exclusive lock on `events.lock`, whose content is the
//! spool's line count, so an append costs a few syscalls and concurrent cf
//! calls never interleave or lose lines. The spool is bounded: past the limit
//! the oldest lines are dropped and counted. Corrupt lines are skipped and
//! counted, never fatal. On cf's path the lock is waited for ~50 ms at most
//! (`fsutil`): an event that would wait longer is skipped and counted
//! (`lock_busy_skips`, shown by `telemetry status`).

use crate::fsutil;
use crate::paths::StatePaths;
use crate::state;
use serde_json::Value;
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;

const COUNT_WIDTH: usize = 20;
/// Past this the spool is not read (10,000 events of ~1 KB fit many times).
const MAX_SPOOL_BYTES: u64 = 64 * 1024 * 1024;

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

fn write_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

pub struct Spool<'a> {
    paths: &'a StatePaths,
    limit: u64,
}

/// What the spool holds, oldest first.
#[derive(Debug, Default)]
pub struct Contents {
    pub events: Vec<Value>,
    pub raw: Vec<String>,
    pub corrupt: u64,
}

struct Locked {
    lock: File,
}

impl Locked {
    /// The count is stored as fixed-width text so one pread/pwrite does.
    fn stored_count(&mut self) -> Option<u64> {
        let mut buf = [0u8; COUNT_WIDTH];
        let n = read_at(&self.lock, &mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    fn store_count(&mut self, count: u64) -> std::io::Result<()> {
        let text = format!("{count:>width$}", width = COUNT_WIDTH);
        write_at(&self.lock, text.as_bytes(), 0)
    }
}

impl<'a> Spool<'a> {
    /// A spool bounded to the default limit (reading and delivery do not
    /// depend on the bound; recording sets it with `limit`).
    pub fn new(paths: &'a StatePaths) -> Spool<'a> {
        Spool {
            paths,
            limit: crate::settings::DEFAULT_SPOOL_LIMIT,
        }
    }

    /// The bound past which `append` drops the oldest events.
    pub fn limit(mut self, limit: u64) -> Spool<'a> {
        self.limit = limit.max(1);
        self
    }

    fn lock(&self) -> std::io::Result<Locked> {
        Ok(Locked {
            // Every append and removal changes the spool: while it changes
            // we are queueing behind others, not blocked by a stuck holder.
            lock: fsutil::lock_exclusive_queued(&self.paths.spool_lock(), || {
                fsutil::fingerprint(&self.paths.spool_file())
            })?,
        })
    }

    fn read_file(&self) -> std::io::Result<Vec<u8>> {
        Ok(fsutil::read_bounded(&self.paths.spool_file(), MAX_SPOOL_BYTES)?.unwrap_or_default())
    }

    /// Events skipped because the spool lock was held too long for cf.
    pub fn lock_busy_skips(&self) -> u64 {
        fsutil::counter(&self.paths.lock_busy_counter())
    }

    fn count_lines(bytes: &[u8]) -> u64 {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64
    }

    /// Appends one event line with a single write. Returns the pending count.
    pub fn append(&self, line: &str) -> std::io::Result<u64> {
        let mut locked = match self.lock() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = fsutil::bump_counter(&self.paths.lock_busy_counter());
                return Err(e);
            }
            other => other?,
        };
        let mut file = fsutil::open(&self.paths.spool_file(), fsutil::Access::Append)?;
        let len = file.metadata()?.len();
        let mut record = Vec::with_capacity(line.len() + 2);
        if len > 0 {
            // A crash mid-write can leave a torn last line: start a fresh one.
            let mut last = [0u8; 1];
            read_at(&file, &mut last, len - 1)?;
            if last[0] != b'\n' {
                record.push(b'\n');
            }
        }
        let mut count = match locked.stored_count() {
            Some(n) if len > 0 || n == 0 => n,
            _ => Self::count_lines(&self.read_file()?),
        };
        record.extend_from_slice(line.as_bytes());
        record.push(b'\n');
        file.write_all(&record)?;
        count += 1;
        if count > self.limit {
            count = self.drop_oldest()?;
        }
        locked.store_count(count)?;
        Ok(count)
    }

    /// Keeps the newest `limit` lines; counts the rest as dropped.
    fn drop_oldest(&self) -> std::io::Result<u64> {
        let bytes = self.read_file()?;
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let excess = lines.len().saturating_sub(self.limit as usize);
        self.rewrite(&lines[excess..])?;
        let _ = state::update(self.paths, |s| {
            state::add_dropped(s, state::DropReason::SpoolFull, excess as u64)
        });
        Ok((lines.len() - excess) as u64)
    }

    fn rewrite(&self, lines: &[&[u8]]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        fsutil::write_atomic(&self.paths.spool_file(), &out)
    }

    fn parse(bytes: &[u8]) -> Contents {
        let mut contents = Contents::default();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Value>(line) {
                Ok(v) if v.get("messageId").and_then(Value::as_str).is_some() => {
                    contents
                        .raw
                        .push(String::from_utf8_lossy(line).into_owned());
                    contents.events.push(v);
                }
                _ => contents.corrupt += 1,
            }
        }
        contents
    }

    /// Everything pending, oldest first (corrupt lines counted, not returned).
    pub fn read(&self) -> std::io::Result<Contents> {
        let _locked = self.lock()?;
        Ok(Self::parse(&self.read_file()?))
    }

    /// What the spool holds, read without taking the lock or creating
    /// anything (`status`, `show`: they must work on read-only state). Appends
    /// are single writes and rewrites are renames, so at worst a line being
    /// appended right now is missed or counted as corrupt.
    pub fn peek(&self) -> std::io::Result<Contents> {
        Ok(Self::parse(&self.read_file()?))
    }

    /// Cheap pending count for the hot path and `status`.
    pub fn pending_count(&self) -> std::io::Result<u64> {
        if fsutil::mtime(&self.paths.spool_file()).is_none() {
            return Ok(0);
        }
        let mut locked = self.lock()?;
        match locked.stored_count() {
            Some(n) => Ok(n),
            None => Ok(Self::count_lines(&self.read_file()?)),
        }
    }

    /// Removes delivered (or refused) messages and any corrupt lines, counting
    /// the corrupt ones as dropped. Returns how many remain.
    pub fn remove(&self, message_ids: &HashSet<String>) -> std::io::Result<u64> {
        let mut locked = self.lock()?;
        let contents = Self::parse(&self.read_file()?);
        let keep: Vec<&[u8]> = contents
            .events
            .iter()
            .zip(&contents.raw)
            .filter(|(v, _)| {
                let id = v
                    .get("messageId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                !message_ids.contains(id)
            })
            .map(|(_, raw)| raw.as_bytes())
            .collect();
        self.rewrite(&keep)?;
        if contents.corrupt > 0 {
            let _ = state::update(self.paths, |s| {
                state::add_dropped(s, state::DropReason::Corrupt, contents.corrupt)
            });
        }
        locked.store_count(keep.len() as u64)?;
        Ok(keep.len() as u64)
    }

    /// Deletes everything pending (telemetry turned off).
    pub fn clear(&self) -> std::io::Result<()> {
        let mut locked = self.lock()?;
        match std::fs::remove_file(self.paths.spool_file()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        locked.store_count(0)
    }
}
