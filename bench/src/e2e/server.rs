//! The server under test: a `paceline serve` release process on ephemeral loopback ports,
//! its paired bench devices, and what it reports about itself (`/metrics`, the stored
//! frames) once the ride is over.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paceline_gateway::store;
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::{AthleteProfile, DeviceId, DeviceKey, TenantId, codec};

/// The plan the athletes are coached against: an hour of steady work.
const STEADY_PLAN: &str = r#"{"name":"Bench: steady hour","sport":"bike","steps":[
{"kind":"step","intent":"work","duration_s":3600,"target":{"kind":"power_ftp","low_pct":70,"high_pct":80}}]}"#;
/// The athletes' profile.
const PROFILE: &str = r#"{"age":38,"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000}"#;

/// What the server's `/metrics` said at the end of a ride (where the time goes inside).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerInternal {
    /// Mean of `paceline_cue_latency_seconds` (the session's latest frame in → cue out), ms.
    pub cue_mean_ms: f64,
    /// Mean of `paceline_db_commit_seconds`, ms.
    pub commit_mean_ms: f64,
    /// Mean of `paceline_db_batch_ops`.
    pub ops_per_commit: f64,
    /// `paceline_downlink_dropped_total`.
    pub downlink_dropped: f64,
    /// Uplink leg, device send → server receipt (`received_ms − sent_ms` of the stored
    /// frames, ms resolution, wall clock of the same machine): p50, p99, max in ms.
    pub uplink_ms: [u64; 3],
}

impl ServerInternal {
    pub(super) fn read(http: SocketAddr) -> ServerInternal {
        let Some((_, text)) = http_get(http, "/metrics") else {
            return ServerInternal::default();
        };
        let value = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let mean = |base: &str| {
            let count = value(&format!("{base}_count"));
            if count > 0.0 {
                value(&format!("{base}_sum")) / count
            } else {
                f64::NAN
            }
        };
        ServerInternal {
            cue_mean_ms: mean("paceline_cue_latency_seconds") * 1000.0,
            commit_mean_ms: mean("paceline_db_commit_seconds") * 1000.0,
            ops_per_commit: mean("paceline_db_batch_ops"),
            downlink_dropped: value("paceline_downlink_dropped_total"),
            uplink_ms: [0; 3],
        }
    }
}

/// A device's credentials.
#[derive(Clone)]
pub(super) struct Creds {
    pub(super) tenant: TenantId,
    pub(super) device: DeviceId,
    pub(super) key: DeviceKey,
    pub(super) token: DeviceToken,
}

/// The `paceline` release binary next to this one.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe.parent().context("this executable's folder")?;
    let path = dir.join("paceline");
    if !path.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p paceline-gateway`",
            path.display()
        );
    }
    Ok(path)
}

/// A `paceline serve` process on loopback.
pub struct Server {
    child: Child,
    /// HTTP address.
    pub http: SocketAddr,
    /// MQTT address.
    pub mqtt: SocketAddr,
    /// QUIC address.
    pub quic: SocketAddr,
}

fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn settings_args(
    data_dir: &Path,
    http: SocketAddr,
    mqtt: SocketAddr,
    quic: SocketAddr,
) -> Vec<String> {
    vec![
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--http".to_owned(),
        http.to_string(),
        "--mqtt".to_owned(),
        mqtt.to_string(),
        "--quic".to_owned(),
        quic.to_string(),
    ]
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the clean exit that flushes the writer.
    pub fn terminate(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("sending SIGTERM to the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the server did not stop within 60 s of SIGTERM")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Creates a data folder with `athletes` paired devices (the plan assigned to each) and
/// starts `paceline serve` on it. Returns the server and the devices.
pub(super) fn start_server(
    binary: &Path,
    data_dir: &Path,
    athletes: usize,
) -> anyhow::Result<(Server, Vec<Creds>)> {
    let _ = std::fs::remove_dir_all(data_dir);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let http = localhost(free_tcp_port()?);
    let mqtt = localhost(free_tcp_port()?);
    let quic = localhost(free_udp_port()?);
    let args = settings_args(data_dir, http, mqtt, quic);
    let profile = data_dir.join("bench-profile.json");
    std::fs::write(&profile, PROFILE).context("writing the bench profile")?;
    let first = Command::new(binary)
        .args([
            "device",
            "add",
            "--json",
            "--tenant",
            "bench-gym",
            "--athlete",
            "rider-0",
            "--profile",
        ])
        .arg(&profile)
        .args(&args)
        .output()
        .context("running paceline device add")?;
    if !first.status.success() {
        bail!(
            "paceline device add failed: {}",
            String::from_utf8_lossy(&first.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&first.stdout).context("device add's JSON")?;
    let text = |k: &str| {
        json[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("device add printed no {k}"))
    };
    let mut devices = vec![Creds {
        tenant: TenantId::new(text("tenant")?)?,
        device: DeviceId::new(text("device")?)?,
        key: DeviceKey::from_hex(&text("key")?)?,
        token: DeviceToken::from_hex(&text("token")?)?,
    }];
    pair_more(data_dir, athletes, &mut devices)?;
    let log =
        std::fs::File::create(data_dir.join("server.log")).context("creating the server log")?;
    let child = super::placement::server_command(binary)
        .arg("serve")
        .args(&args)
        .env("PACELINE_LOG", crate::process::SERVER_LOG)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} serve", binary.display()))?;
    let mut server = Server {
        child,
        http,
        mqtt,
        quic,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http_get(http, "/health/ready").is_some_and(|(status, _)| status == 200) {
            break;
        }
        if !server.is_running() || Instant::now() > deadline {
            bail!(
                "the server did not become ready; its log: {}",
                std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((server, devices))
}

/// Pairs riders 1.. (rider 0 came from the CLI) and assigns the plan to all of them.
fn pair_more(data_dir: &Path, athletes: usize, devices: &mut Vec<Creds>) -> anyhow::Result<()> {
    let store_handle = store::Store::open(data_dir).context("opening the bench database")?;
    let mut conn = store::connect(store_handle.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = crate::now_unix_ms();
    let tenant = devices[0].tenant.clone();
    let tenant_row = store::ensure_tenant(&tx, &tenant, now)?;
    let profile_template: AthleteProfile = codec::from_json(PROFILE.as_bytes())?;
    let plan = codec::from_json(STEADY_PLAN.as_bytes())?;
    let plan_row = store::add_plan(&tx, tenant_row, "json", &plan, now)?;
    for index in 0..athletes {
        let name = format!("rider-{index}");
        let mut profile = profile_template.clone();
        profile.name = Some(name.clone());
        let athlete_row = store::ensure_athlete(&tx, tenant_row, &name, Some(&profile), now)?;
        store::assign_plan(&tx, tenant_row, athlete_row, plan_row)?;
        if index == 0 {
            continue;
        }
        let new = store::add_device(
            &tx,
            &store_handle.server_key(),
            &tenant,
            tenant_row,
            athlete_row,
            now,
        )?;
        devices.push(Creds {
            tenant: new.tenant.clone(),
            device: new.device.clone(),
            key: new.key.clone(),
            token: new.token.clone(),
        });
    }
    tx.commit().context("storing the bench devices")?;
    Ok(())
}

/// A plain HTTP/1.1 GET: status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((status, body))
}

/// The frames stored, and the uplink leg's p50, p99 and max (ms).
pub(super) fn count_stored(data_dir: &Path) -> anyhow::Result<(u64, [u64; 3])> {
    let conn = rusqlite::Connection::open_with_flags(
        data_dir.join("paceline.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .context("opening the server's database")?;
    let n: i64 = conn.query_row("SELECT count(*) FROM stored_frames", [], |row| row.get(0))?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
    let mut statement = conn.prepare("SELECT max(received_ms - sent_ms, 0) FROM stored_frames")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let ms: i64 = row.get(0)?;
        histogram.saturating_record(u64::try_from(ms).unwrap_or(0).max(1));
    }
    let uplink_ms = [
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.max(),
    ];
    Ok((u64::try_from(n).unwrap_or(0), uplink_ms))
}
