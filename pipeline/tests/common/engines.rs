//! Real engines for the tests, started here and stopped when the test binary exits: a
//! throwaway PostgreSQL cluster (Debian's `postgresql` package: initdb in a temp folder, run as
//! the `postgres` user when the tests run as root, on a unix socket only) and an S3-protocol
//! server on loopback (moto_server from the test venv, in memory).
//!
//! Under scripts/test (KRAIT_TEST_PYTHON set) a missing engine fails the test; run by hand
//! without them, the engine's tests print why and return.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Whether the tests run under scripts/test, where every engine must be there.
fn required() -> bool {
    std::env::var_os("KRAIT_TEST_PYTHON").is_some()
}

/// Fails (under scripts/test) or explains the skip (by hand).
pub fn unavailable(what: &str) {
    if required() {
        panic!("{what} (scripts/setup-test-env installs it)");
    }
    eprintln!("skipped: {what}; scripts/test runs this test");
}

/// Background processes that outlive the test binary on purpose (engines and their
/// watchdogs): held here so they are never dropped as if forgotten.
fn keep_running(child: Child) {
    static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(child);
}

/// Runs `sh -c script` in the background until this process exits, then `cleanup`: engines
/// stop even when the test binary panics or is killed.
fn watchdog(cleanup: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {cleanup}",
        pid = std::process::id()
    );
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the engine watchdog");
    keep_running(watchdog);
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A running PostgreSQL cluster listening on a unix socket in `socket_dir`.
pub struct Postgres {
    bin: PathBuf,
    socket_dir: PathBuf,
    next: AtomicU32,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn start_postgres() -> Option<Postgres> {
    let bin = postgres_bin()?;
    let base = std::env::temp_dir().join(format!("imgpipe-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (data, run) = (base.join("data"), base.join("run"));
    std::fs::create_dir_all(&run).expect("make the cluster folder");
    let as_owner = |program: &Path| {
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    };
    if is_root() {
        // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base)
            .status()
            .expect("chown");
        assert!(status.success(), "chown the cluster folder to postgres");
        std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let output = as_owner(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "imgpipe",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let options = format!(
        "-p 5432 -k {} -c listen_addresses= -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300",
        run.display()
    );
    let output = as_owner(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(run.join("log"))
        .args(["-w", "-o", &options, "start"])
        .output()
        .expect("run pg_ctl");
    assert!(
        output.status.success(),
        "pg_ctl start: {}{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(run.join("log")).unwrap_or_default()
    );
    let runuser = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    watchdog(&format!(
        "{runuser}{} -D {} -m immediate -w stop; rm -rf {}",
        bin.join("pg_ctl").display(),
        data.display(),
        base.display()
    ));
    Some(Postgres {
        bin,
        socket_dir: run,
        next: AtomicU32::new(0),
    })
}

/// The test binary's PostgreSQL cluster, started on first use (None: not installed).
pub fn postgres() -> Option<&'static Postgres> {
    static CLUSTER: OnceLock<Option<Postgres>> = OnceLock::new();
    CLUSTER.get_or_init(start_postgres).as_ref()
}

impl Postgres {
    /// A new empty database; returns its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}", self.next.fetch_add(1, Ordering::SeqCst));
        let output = Command::new(self.bin.join("createdb"))
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", "5432", "-U", "imgpipe", &name])
            .output()
            .expect("run createdb");
        assert!(
            output.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        format!(
            "postgres://imgpipe@localhost:5432/{name}?host={}",
            self.socket_dir.display()
        )
    }

    /// Runs SQL through psql; returns its unaligned output.
    pub fn psql(&self, url_database: &str, sql: &str) -> String {
        let name = url_database
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .expect("a database URL");
        let output = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", "5432", "-U", "imgpipe", "-d", name, "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }
}

/// A moto S3 server on 127.0.0.1, with a bucket made for each test that asks.
pub struct S3 {
    pub endpoint: String,
    next: AtomicU32,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn start_s3() -> Option<S3> {
    let venv = std::env::var_os("KRAIT_TEST_VENV").map(PathBuf::from)?;
    let server = venv.join("bin/moto_server");
    if !server.is_file() {
        return None;
    }
    let port = free_port();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    watchdog(&format!("kill {}", child.id()));
    keep_running(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(S3 {
        endpoint: format!("http://127.0.0.1:{port}"),
        next: AtomicU32::new(0),
    })
}

/// The test binary's S3 server, started on first use (None: moto is not in the test venv).
pub fn s3() -> Option<&'static S3> {
    static SERVER: OnceLock<Option<S3>> = OnceLock::new();
    SERVER.get_or_init(start_s3).as_ref()
}

impl S3 {
    /// A new empty bucket; returns its name.
    pub fn bucket(&self) -> String {
        let name = format!("imgpipe-{}", self.next.fetch_add(1, Ordering::SeqCst));
        super::run_python(&[
            "-c",
            &format!(
                "import boto3; boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
                 aws_access_key_id='test', aws_secret_access_key='testsecret')\
                 .create_bucket(Bucket='{name}')",
                self.endpoint
            ),
        ]);
        name
    }

    /// The AWS_* variables that point imgpipe at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testsecret".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }
}
