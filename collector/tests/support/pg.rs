//! Throwaway PostgreSQL clusters for tests: `initdb` into a temp directory,
//! `pg_ctl start` on a free loopback port with its socket in that directory,
//! password authentication. Never touches a server it did not start. A
//! watchdog process stops the cluster and deletes its directory when the
//! test process ends, however it ends (a panic, an abort, SIGKILL); a
//! `PgCluster` dropped earlier stops it at once. PostgreSQL refuses to run
//! as root, so as root it runs as the `postgres` user.
//!
//! When PostgreSQL cannot be started the test fails, saying why: there is no
//! silent skip (CI installs postgresql-15 in .ci/run).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const USER: &str = "cfdev";
pub const PASSWORD: &str = "test-password";

pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    stopped: bool,
}

fn bin_dir() -> PathBuf {
    let listed = Command::new("dpkg")
        .args(["-L", "postgresql-15"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if let Some(initdb) = listed.lines().find(|l| l.ends_with("/bin/initdb")) {
        return Path::new(initdb).parent().unwrap().to_path_buf();
    }
    for candidate in ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"] {
        if Path::new(candidate).join("initdb").exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "PostgreSQL cannot be started: no initdb (install postgresql-15: .ci/run does); \
         the PostgreSQL tests do not skip"
    );
}

fn is_root() -> bool {
    extern "C" {
        fn geteuid() -> u32;
    }
    unsafe { geteuid() == 0 }
}

/// Runs a PostgreSQL program as the user that may run it.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("PostgreSQL cannot be started: {what}: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL cannot be started: {what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("cfdev-pg-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::write(dir.join("pw"), PASSWORD).unwrap();
        std::fs::create_dir(dir.join("data")).unwrap();
        if is_root() {
            // The postgres user must reach its data directory, socket and log.
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres"]).arg(&dir);
                    c
                },
                "chown",
            );
            run(
                {
                    let mut c = Command::new("chmod");
                    c.arg("0755").arg(&dir);
                    c
                },
                "chmod",
            );
        }
        let mut initdb = as_owner(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", USER, "-A", "scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", dir.join("pw").display()));
        run(initdb, "initdb");
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            stopped: false,
        };
        cluster.watch();
        // A port found free may be taken before the server binds it: retry.
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster.pg_ctl_start() {
                return cluster;
            }
        }
        panic!(
            "PostgreSQL cannot be started: pg_ctl start failed; log:\n{}",
            std::fs::read_to_string(cluster.dir.join("log")).unwrap_or_default()
        );
    }

    fn pg_ctl_start(&self) -> bool {
        // fsync off: these clusters are thrown away; a collector killed by a
        // test still loses nothing it answered 200 for (the server keeps it).
        as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                self.port,
                self.dir.display()
            ))
            .args(["-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts it again on the same port (after `pause`).
    pub fn resume(&self) {
        assert!(self.pg_ctl_start(), "PostgreSQL did not start again");
    }

    /// Stops the server, keeping its data.
    pub fn pause(&self) {
        let status = as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Stops the cluster when this test process ends, whatever way.
    fn watch(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {runner} '{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            runner = if is_root() {
                "runuser -u postgres --"
            } else {
                ""
            },
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.dir.join("data").display(),
            dir = self.dir.display()
        );
        // setsid -f: the watchdog runs on in its own session; setsid itself
        // returns at once.
        let started = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(started, "PostgreSQL cannot be watched: setsid failed");
    }

    fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// `postgres://` URL of a database on this cluster, password included.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// A URL without the password (for PGPASSWORD).
    pub fn url_without_password(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database on this cluster.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        execute(&self.admin_url(), &format!("CREATE DATABASE {name}"));
        name
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = as_owner(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One cluster shared by the tests of this process (stopped by its watchdog
/// when the process ends).
pub fn shared() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(PgCluster::start)
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-P",
            "null=\u{1}",
            "-c",
            sql,
        ])
        .output()
        .unwrap_or_else(|e| panic!("psql: {e}"));
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn execute(url: &str, sql: &str) {
    psql(url, sql);
}

/// The values of a one-column query, as text (NULL as None); values must
/// not hold line breaks.
pub fn query_strings(url: &str, sql: &str) -> Vec<Option<String>> {
    psql(url, sql)
        .lines()
        .map(|l| (l != "\u{1}").then(|| l.to_string()))
        .collect()
}
