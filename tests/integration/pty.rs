//! Running a command on a pseudo-terminal, for TTY-ness and the consent prompt.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct PtyRun {
    pub status: ExitStatus,
    pub output: String,
}

/// Runs `cmd` with stdin/stdout/stderr on a new pty; `input` is typed after
/// `wait_for` appears in the output (or at once when empty).
pub fn run_on_pty(cmd: &mut Command, wait_for: &str, input: &[u8]) -> PtyRun {
    let (mut master, slave) = open_pty();
    let slave_fd = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    cmd.stdin(slave_fd(&slave))
        .stdout(slave_fd(&slave))
        .stderr(slave_fd(&slave));
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn on pty");
    drop(slave);
    let mut output = Vec::new();
    let mut typed = input.is_empty();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    set_nonblocking(&master);
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if child.try_wait().unwrap().is_some() {
                    // drain what is left
                    std::thread::sleep(Duration::from_millis(50));
                    while let Ok(n) = master.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        output.extend_from_slice(&buf[..n]);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => break, // EIO: the slave side closed
        }
        if !typed && String::from_utf8_lossy(&output).contains(wait_for) {
            master.write_all(input).unwrap();
            typed = true;
        }
        assert!(
            Instant::now() < deadline,
            "pty run timed out; output so far:\n{}",
            String::from_utf8_lossy(&output)
        );
    }
    let status = child.wait().unwrap();
    PtyRun {
        status,
        output: String::from_utf8_lossy(&output).replace("\r\n", "\n"),
    }
}

fn open_pty() -> (std::fs::File, OwnedFd) {
    let mut master = 0;
    let mut slave = 0;
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

fn set_nonblocking(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
