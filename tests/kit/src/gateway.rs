//! `paceline serve` as a child process on ephemeral loopback ports.
//!
//! ```text
//! let gateway = Gateway::start().await; // a fresh data folder, ready
//! let ana = gateway.pair("gym-1", "ana");
//! ```
//!
//! **Where the binary comes from.** A suite that has the binary hands it in
//! ([`GatewayBuilder::binary`], the gateway's own tests with
//! `env!("CARGO_BIN_EXE_paceline")`). Otherwise `PACELINE_BIN=/path/to/paceline`, or else
//! the first gateway of the test process runs `cargo build -p paceline-gateway --bin
//! paceline` (the `cargo` that runs the tests, from `$CARGO`) into the same target folder
//! and profile as the test binary: a no-op when `cargo test --workspace` has just built
//! it, and never a stale binary when one package is tested alone. (An integration test
//! only gets `CARGO_BIN_EXE_*` for its own package's binaries, and artifact dependencies
//! are unstable.)
//!
//! **Its files.** The data folder (a fresh temporary folder unless one is given) holds the
//! database, keys and certificate, and the kit's logs: `gateway-stdout.log` (standard
//! output of every start, appended) and `gateway-<n>.log` (standard error of start `n`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use paceline_edge::agent::{GatewayConfig, QuicTrust};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::uplink::quic::certificate_fingerprint;
use paceline_schemas::{DeviceId, DeviceKey, DeviceToken, TenantId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ports::{free_tcp_port, free_udp_port, loopback};
use crate::wait::{DEADLINE, wait_until};

/// The shared test athlete's profile (heart-rate cap 176, FTP 240).
pub const PROFILE: &str = r#"{"name":"Test Rider","age":38,"sex":"female","weight_kg":64.0,
"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000,
"rpe_only":false}"#;

/// How long a start may take to be ready (a debug build on a loaded machine).
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// The `paceline` binary when no suite handed one in (see the module docs).
pub fn paceline_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("PACELINE_BIN") {
            return PathBuf::from(path);
        }
        // The test binary is <target>/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target folder");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
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

/// How to start a [`Gateway`]: [`Gateway::builder`].
#[derive(Debug, Default)]
pub struct GatewayBuilder {
    bin: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    log_filter: Option<String>,
    demo_athletes: Option<usize>,
    envs: Vec<(String, String)>,
}

impl GatewayBuilder {
    /// Runs `paceline demo --athletes N` (the demo gym riding) instead of `paceline
    /// serve`; administration commands and the helpers work as with `serve`.
    pub fn demo(mut self, athletes: usize) -> Self {
        self.demo_athletes = Some(athletes);
        self
    }

    /// Runs this `paceline` binary (instead of [`paceline_bin`]).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.bin = Some(path.into());
        self
    }

    /// Keeps the data in `dir` (created if missing) instead of a fresh temporary folder.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Adds arguments to `paceline serve` and to the administration commands
    /// (`--config FILE`, `--session-idle-s 2`, …).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Sets an environment variable of the `paceline serve` process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The `PACELINE_LOG` filter (default `warn,paceline_gateway=info`).
    pub fn log_filter(mut self, filter: &str) -> Self {
        self.log_filter = Some(filter.to_owned());
        self
    }

    /// Picks the ports and makes the data folder; nothing runs until
    /// [`Gateway::launch`] (so devices can be paired first).
    pub fn build(self) -> Gateway {
        let (data_dir, temp) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::tempdir().expect("a temporary data folder");
                (temp.path().join("gateway"), Some(temp))
            }
        };
        std::fs::create_dir_all(&data_dir).expect("create the data folder");
        Gateway {
            child: None,
            bin: self.bin.unwrap_or_else(|| paceline_bin().to_owned()),
            data_dir,
            _temp: temp,
            http: loopback(free_tcp_port()),
            mqtt: loopback(free_tcp_port()),
            quic: loopback(free_udp_port()),
            args: self.args,
            log_filter: self
                .log_filter
                .unwrap_or_else(|| "warn,paceline_gateway=info".to_owned()),
            starts: 0,
            max_wal_bytes: 0,
            demo_athletes: self.demo_athletes,
            envs: self.envs,
        }
    }

    /// Starts the gateway and waits until it is ready.
    pub async fn start(self) -> Gateway {
        let mut gateway = self.build();
        gateway.launch().await;
        gateway
    }
}

/// A `paceline serve` process, restartable on the same ports and data folder; killed
/// when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Option<Child>,
    bin: PathBuf,
    /// The data folder (database, keys, certificate, the kit's logs).
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// HTTP (API, web UI, health, metrics).
    pub http: SocketAddr,
    /// MQTT (the embedded broker).
    pub mqtt: SocketAddr,
    /// QUIC.
    pub quic: SocketAddr,
    args: Vec<String>,
    log_filter: String,
    /// Processes started so far.
    pub starts: u32,
    /// The largest `-wal` file seen by [`Gateway::wal_bytes`], bytes.
    pub max_wal_bytes: u64,
    demo_athletes: Option<usize>,
    envs: Vec<(String, String)>,
}

impl Gateway {
    /// How to start one: binary, data folder, extra arguments.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// Sets an environment variable for the next [`Gateway::launch`] (one that needs the
    /// ports [`GatewayBuilder::build`] picked, such as a public URL).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.envs.push((key.to_owned(), value.to_owned()));
    }

    /// Starts one with the defaults (a fresh data folder) and waits until it is ready.
    pub async fn start() -> Gateway {
        Self::builder().start().await
    }

    /// The settings every command gets: data folder, addresses, the extra arguments.
    fn settings(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--http".to_owned(),
            self.http.to_string(),
            "--mqtt".to_owned(),
            self.mqtt.to_string(),
            "--quic".to_owned(),
            self.quic.to_string(),
        ];
        args.extend(self.args.iter().cloned());
        args
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.data_dir.join(format!("gateway-{start}.log"))
    }

    fn stdout_path(&self) -> PathBuf {
        self.data_dir.join("gateway-stdout.log")
    }

    /// Starts the process (again, after [`Gateway::kill`] or [`Gateway::terminate`], or
    /// for the first time after [`GatewayBuilder::build`]) and waits for `/health/ready`;
    /// fails the test with the log's tail if it exits or is not ready in time.
    pub async fn launch(&mut self) {
        assert!(self.child.is_none(), "the gateway is already running");
        self.starts += 1;
        let stderr = std::fs::File::create(self.log_path(self.starts)).expect("create a log");
        let stdout = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stdout_path())
            .expect("open the stdout log");
        let mut command = Command::new(&self.bin);
        match self.demo_athletes {
            Some(athletes) => command
                .arg("demo")
                .args(["--athletes", &athletes.to_string()]),
            None => command.arg("serve"),
        };
        let child = command
            .args(self.settings())
            .env("PACELINE_LOG", &self.log_filter)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {} serve: {e}", self.bin.display()));
        let mut child = Some(child);
        let http = self.http;
        let log = self.log_path(self.starts);
        wait_until("the gateway to be ready", READY_DEADLINE, async || {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "the gateway exited at start ({status}):\n{}",
                    tail(&log, 40)
                );
            }
            match http_get(http, "/health/ready").await {
                Some((200, _)) => Ok(()),
                other => Err(format!(
                    "/health/ready answered {other:?}; the log ends:\n{}",
                    tail(&log, 40)
                )),
            }
        })
        .await;
        self.child = child;
    }

    /// SIGKILL: no chance to flush, commit or acknowledge anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL, then start again on the same ports and data, ready.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// SIGTERM, and waits for the process to exit (a clean stop); its exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the gateway is running");
        crate::process::terminate(&child);
        wait_until("the gateway to exit", DEADLINE, async || {
            child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_owned())
        })
        .await
    }

    /// What the process printed on standard output so far, over every start.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// The last 40 lines of the log (standard error) of start `n` (1 is the first).
    pub fn log_tail(&self, n: u32) -> String {
        tail(&self.log_path(n), 40)
    }

    /// Runs `paceline <args> <this gateway's settings>` and returns its standard output;
    /// a failure fails the test with its standard error. The gateway need not run.
    pub fn admin(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.bin)
            .args(args)
            .args(self.settings())
            .output()
            .unwrap_or_else(|e| panic!("run paceline {args:?}: {e}"));
        assert!(
            out.status.success(),
            "paceline {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Pairs a device for `athlete` (created with [`PROFILE`] if new) in `tenant`.
    pub fn pair(&self, tenant: &str, athlete: &str) -> DeviceCredentials {
        self.pair_with_profile(tenant, athlete, PROFILE)
    }

    /// Pairs a device for `athlete` (created with `profile_json` if new) in `tenant`,
    /// through `paceline device add --json`. The gateway need not run.
    pub fn pair_with_profile(
        &self,
        tenant: &str,
        athlete: &str,
        profile_json: &str,
    ) -> DeviceCredentials {
        let profile = self
            .data_dir
            .join("profiles")
            .join(format!("{athlete}.json"));
        std::fs::create_dir_all(profile.parent().expect("a folder")).expect("profiles folder");
        std::fs::write(&profile, profile_json).expect("write the profile");
        let profile = profile.display().to_string();
        let stdout = self.admin(&[
            "device",
            "add",
            "--json",
            "--tenant",
            tenant,
            "--athlete",
            athlete,
            "--profile",
            &profile,
        ]);
        let json: serde_json::Value =
            serde_json::from_slice(&stdout).expect("device add prints JSON");
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

    /// Assigns a plan file (`.zwo`, `.fit`, `.json`) to the athlete's next session
    /// (`paceline plan assign`).
    pub fn assign_plan_file(&self, tenant: &str, athlete: &str, plan: &Path) {
        let plan = plan.display().to_string();
        self.admin(&[
            "plan",
            "assign",
            "--tenant",
            tenant,
            "--athlete",
            athlete,
            &plan,
        ]);
    }

    /// Assigns a JSON plan to the athlete's next session.
    pub fn assign_plan(&self, tenant: &str, athlete: &str, plan_json: &str) {
        let path = self.data_dir.join("plans").join(format!("{athlete}.json"));
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("plans folder");
        std::fs::write(&path, plan_json).expect("write the plan");
        self.assign_plan_file(tenant, athlete, &path);
    }

    /// The value of a Prometheus counter or gauge: the sum over the lines of `/metrics`
    /// that start with `name` and contain `labels` (`""` for all); 0 if absent.
    pub async fn counter(&self, name: &str, labels: &str) -> f64 {
        let (_, text) = http_get(self.http, "/metrics").await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(labels))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// A read-only connection to the database (busy timeout 10 s).
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

    /// The size of the database's write-ahead log now (0 without one); also kept as
    /// [`Gateway::max_wal_bytes`].
    pub fn wal_bytes(&mut self) -> u64 {
        let bytes = std::fs::metadata(self.data_dir.join("paceline.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        self.max_wal_bytes = self.max_wal_bytes.max(bytes);
        bytes
    }

    /// The QUIC certificate's PEM file (made by the first start or pairing).
    pub fn cert_pem(&self) -> PathBuf {
        self.data_dir.join("quic-cert.pem")
    }

    /// The QUIC certificate (DER).
    pub fn cert_der(&self) -> Vec<u8> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_file(self.cert_pem())
            .expect("read the QUIC certificate")
            .to_vec()
    }

    /// An edge agent's uplink to this gateway over MQTT.
    pub fn mqtt_uplink(&self) -> GatewayConfig {
        GatewayConfig::mqtt(self.mqtt)
    }

    /// An edge agent's uplink to this gateway over QUIC, trusting its certificate file.
    pub fn quic_uplink(&self) -> GatewayConfig {
        GatewayConfig::quic(self.quic, QuicTrust::CaFile(self.cert_pem()))
    }

    /// An edge agent's uplink to this gateway over QUIC, its certificate pinned by its
    /// SHA-256 fingerprint.
    pub fn quic_uplink_pinned(&self) -> GatewayConfig {
        let pin = certificate_fingerprint(&self.cert_der());
        GatewayConfig::quic(self.quic, QuicTrust::Fingerprint(pin))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a text file ("" if unreadable).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A plain HTTP/1.1 GET: status and body, `None` when nothing answers within 5 s.
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
