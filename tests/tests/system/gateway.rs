//! The `paceline` binary as a child process.
//!
//! **Where the binary comes from.** An integration test only gets `CARGO_BIN_EXE_*` for
//! its own package's binaries, and artifact dependencies are unstable, so the first test
//! that needs the gateway runs `cargo build -p paceline-gateway --bin paceline` (the
//! `cargo` that runs the tests, from `$CARGO`) into the same target folder and profile as
//! this test binary: a no-op when `cargo test --workspace` has just built it, and never a
//! stale binary when only this package is tested (`cargo test -p paceline-tests`).
//! `PACELINE_BIN=/path/to/paceline` skips the build and uses that binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paceline_edge::credentials::DeviceCredentials;
use paceline_schemas::{DeviceId, DeviceKey, DeviceToken, TenantId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The `paceline` binary, built on first use (see the module docs).
pub fn paceline_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("PACELINE_BIN") {
            return PathBuf::from(path);
        }
        // This test binary is <target>/<profile>/deps/system-<hash>.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target folder");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None => "dev".to_owned(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let status = Command::new(cargo)
            .args(["build", "-p", "paceline-gateway", "--bin", "paceline"])
            .args(["--profile", &profile])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .status()
            .expect("run cargo build for the gateway");
        assert!(status.success(), "building the paceline binary failed");
        let bin = profile_dir.join(format!("paceline{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "no gateway binary at {}", bin.display());
        bin
    })
}

/// Wall clock, ms since the epoch.
pub fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("ms fit in u64")
}

/// Waits until `condition` gives a value, polling every 20 ms, failing after `deadline`
/// with `what` and the last `status` line.
pub async fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut condition: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match condition() {
            Ok(value) => return value,
            Err(status) => assert!(
                start.elapsed() < deadline,
                "timed out after {deadline:?} waiting for {what}: {status}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A free loopback port (TCP or UDP, as asked).
fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free TCP port")
            .port()
    }
}

/// A `paceline serve` process, restartable on the same ports and data folder.
pub struct GatewayProcess {
    child: Option<Child>,
    /// The data folder (database, keys, certificate, and our logs `gateway-<n>.log`).
    pub data_dir: PathBuf,
    /// HTTP (health, metrics).
    pub http: SocketAddr,
    /// MQTT front door.
    pub mqtt: SocketAddr,
    /// QUIC.
    pub quic: SocketAddr,
    /// Processes started so far.
    pub starts: u32,
    /// The largest `-wal` file seen by [`GatewayProcess::wal_bytes`], bytes.
    pub max_wal_bytes: u64,
}

impl GatewayProcess {
    /// Picks ports; nothing runs until [`GatewayProcess::start`].
    pub fn new(data_dir: &Path) -> Self {
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            child: None,
            data_dir: data_dir.to_owned(),
            http: loopback(free_port(false)),
            mqtt: loopback(free_port(false)),
            quic: loopback(free_port(true)),
            starts: 0,
            max_wal_bytes: 0,
        }
    }

    fn common_args(&self) -> Vec<String> {
        vec![
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--http".to_owned(),
            self.http.to_string(),
            "--mqtt".to_owned(),
            self.mqtt.to_string(),
            "--quic".to_owned(),
            self.quic.to_string(),
        ]
    }

    /// Starts the process and waits for `/health/ready`.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let log_path = self.data_dir.join(format!("gateway-{}.log", self.starts));
        let log = std::fs::File::create(&log_path).expect("create the gateway log");
        let child = Command::new(paceline_bin())
            .arg("serve")
            .args(self.common_args())
            .env("PACELINE_LOG", "warn,paceline_gateway=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start paceline serve");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the gateway exited at start ({status}):\n{}",
                    self.log_tail(self.starts)
                );
            }
            if let Some((200, _)) = http_get(self.http, "/health/ready").await {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the gateway was not ready within {DEADLINE:?}:\n{}",
                self.log_tail(self.starts)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no chance to flush, commit or acknowledge anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the gateway");
            child.wait().expect("reap the gateway");
        }
    }

    /// SIGTERM and wait for the exit (a clean stop).
    pub async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let exited = wait_for("the gateway to stop", DEADLINE, || {
            child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_owned())
        })
        .await;
        assert!(exited.success(), "the gateway stopped with {exited}");
    }

    /// The last lines of the log of start `n`.
    pub fn log_tail(&self, n: u32) -> String {
        let text = std::fs::read_to_string(self.data_dir.join(format!("gateway-{n}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Pairs a device for `athlete` (created with `profile_json`) in `tenant`, through
    /// `paceline device add --json`; the gateway need not run.
    pub fn pair(&self, tenant: &str, athlete: &str, profile_json: &str) -> DeviceCredentials {
        let profile = self
            .data_dir
            .join("profiles")
            .join(format!("{athlete}.json"));
        std::fs::create_dir_all(profile.parent().expect("a folder")).expect("profiles folder");
        std::fs::write(&profile, profile_json).expect("write the profile");
        let out = Command::new(paceline_bin())
            .args([
                "device",
                "add",
                "--json",
                "--tenant",
                tenant,
                "--athlete",
                athlete,
            ])
            .arg("--profile")
            .arg(&profile)
            .args(self.common_args())
            .output()
            .expect("run paceline device add");
        assert!(
            out.status.success(),
            "paceline device add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("device add prints JSON");
        let text = |key: &str| {
            json[key]
                .as_str()
                .unwrap_or_else(|| panic!("device add printed no {key}"))
                .to_owned()
        };
        DeviceCredentials {
            tenant: TenantId::new(text("tenant")).expect("a tenant id"),
            device: DeviceId::new(text("device")).expect("a device id"),
            key: DeviceKey::from_hex(&text("key")).expect("a key"),
            token: DeviceToken::from_hex(&text("token")).expect("a token"),
        }
    }

    /// Assigns a plan file to the athlete's next session (`paceline plan assign`).
    pub fn assign_plan(&self, tenant: &str, athlete: &str, plan_path: &Path) {
        let out = Command::new(paceline_bin())
            .args(["plan", "assign", "--tenant", tenant, "--athlete", athlete])
            .arg(plan_path)
            .args(self.common_args())
            .output()
            .expect("run paceline plan assign");
        assert!(
            out.status.success(),
            "paceline plan assign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The QUIC certificate (PEM file), created by the first start or pairing.
    pub fn cert_pem(&self) -> PathBuf {
        self.data_dir.join("quic-cert.pem")
    }

    /// A read-only connection to the database.
    pub fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_with_flags(
            self.data_dir.join("paceline.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the database read-only");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("set a busy timeout");
        conn
    }

    /// The size of the database's write-ahead log now (0 without one); also kept as the
    /// maximum seen.
    pub fn wal_bytes(&mut self) -> u64 {
        let bytes = std::fs::metadata(self.data_dir.join("paceline.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        self.max_wal_bytes = self.max_wal_bytes.max(bytes);
        bytes
    }

    /// `PRAGMA integrity_check`'s answer (`ok` when sound).
    pub fn integrity_check(&self) -> String {
        let rows: Vec<String> = self
            .db()
            .prepare("PRAGMA integrity_check")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .expect("run the integrity check");
        rows.join("; ")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP/1.1 GET: status and body, `None` when nothing answers.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}
