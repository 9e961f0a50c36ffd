//! `paceline-edge`: the edge agent's command line. See `paceline-edge --help`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use paceline_edge::agent::{Agent, AgentConfig, AthleteConfig, Source};
use paceline_edge::ble::{self, BleError, FoundSensor};
use paceline_edge::config::{ConfigFile, CueSettings, GatewaySection};
use paceline_edge::credentials::read_credentials_file;
use paceline_edge::simulator::{Scenario, SimulatedSensors, SimulatorConfig};
use paceline_edge::{cue_output, gatt, status_page};

#[cfg(feature = "ble")]
mod bluez;

/// The Paceline edge agent: reads heart-rate straps, power meters, footpods and smart
/// trainers (or simulated athletes), sends their samples to a Paceline gateway over MQTT
/// or QUIC, keeps every frame on disk until the gateway acknowledges it, and speaks the
/// coaching cues that come back.
///
/// Start with `paceline-edge simulate --credentials devices.toml` against a gateway (the
/// gateway's pairing gives each device a tenant, an id, a key and a token), or write an
/// agent.toml for your own sensors and `paceline-edge run --config agent.toml`. Debug a
/// sensor with `paceline-edge scan` and `paceline-edge decode`.
#[derive(Debug, Parser)]
#[command(
    name = "paceline-edge",
    version,
    about,
    long_about,
    verbatim_doc_comment
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent from a configuration file (sensors, gateway, spool, cue outputs).
    ///
    /// Flags override the file. Ctrl-C or SIGTERM ends the ride: the End command is sent
    /// and the agent waits briefly for the last acks; unacknowledged frames stay in the
    /// spool and go first at the next start.
    Run {
        /// The TOML configuration (see the edge-agent section of README.md).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Ride simulated athletes against a gateway (demos, load, trying it out).
    ///
    /// Example: paceline-edge simulate --credentials devices.toml --athletes 20 --scenario intervals
    Simulate {
        /// Paired devices: a TOML file of [[device]] tables with tenant, device, key and
        /// token (one simulated athlete per device).
        #[arg(long, value_name = "FILE")]
        credentials: PathBuf,
        /// How many athletes (default: one per device in the file).
        #[arg(long)]
        athletes: Option<usize>,
        /// steady, intervals, overheat (heart rate driven through the cap) or dropout.
        #[arg(long, default_value = "steady")]
        scenario: Scenario,
        /// Virtual time runs this many times faster than real time.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Length of each ride, s (default: the scenario's).
        #[arg(long)]
        duration_s: Option<u32>,
        /// Noise seed (athlete i uses seed + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Every athlete wears a strap, power meter, speed/cadence sensor and trainer.
        #[arg(long)]
        all_sensors: bool,
        /// Spool folder.
        #[arg(long, default_value = "paceline-spool")]
        spool_dir: PathBuf,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List the Bluetooth sensors in range (heart rate, power, RSC, CSC, FTMS).
    ///
    /// Exit status 3 when this machine has no Bluetooth adapter or no BlueZ.
    Scan {
        /// How long to scan, s.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Print what one sensor notification means, as JSON (debug a sensor with it).
    ///
    /// Example: paceline-edge decode --char 2a37 --hex 16483c01
    /// Exit status 2 when the bytes do not match the characteristic's layout.
    Decode {
        /// The characteristic, as a 16-bit UUID in hex (2a37 heart rate, 2a63 cycling
        /// power, 2a53 running speed & cadence, 2a5b cycling speed & cadence, 2ad2 FTMS
        /// indoor bike, 2acd FTMS treadmill) or a name (hr, power, rsc, csc, bike,
        /// treadmill).
        #[arg(long = "char", value_name = "UUID")]
        characteristic: String,
        /// The notification's bytes in hex (spaces and colons allowed).
        #[arg(long, value_name = "HEX")]
        hex: String,
    },
}

/// Gateway flags (override the configuration file).
#[derive(Debug, Args)]
struct GatewayArgs {
    /// mqtt or quic.
    #[arg(long)]
    transport: Option<String>,
    /// MQTT broker host:port (default 127.0.0.1:1883).
    #[arg(long, value_name = "HOST:PORT")]
    mqtt: Option<String>,
    /// QUIC ingress host:port (default 127.0.0.1:4433).
    #[arg(long, value_name = "HOST:PORT")]
    quic: Option<String>,
    /// QUIC: the gateway certificate's SHA-256, as the gateway printed it.
    #[arg(long, value_name = "HEX")]
    cert_sha256: Option<String>,
    /// QUIC: a PEM file with the gateway's certificate or CA.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// QUIC: the name on the gateway's certificate (default localhost).
    #[arg(long)]
    server_name: Option<String>,
    /// Samples arriving within this window share a frame, ms.
    #[arg(long)]
    batch_ms: Option<u64>,
    /// Bound of each device's spool, bytes.
    #[arg(long)]
    spool_max_bytes: Option<u64>,
}

/// Cue output flags.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Do not speak cues.
    #[arg(long)]
    no_speech: bool,
    /// Serve a status page for a screen: a port alone (8088) listens on 127.0.0.1 only;
    /// HOST:PORT listens there (the page has no authentication).
    #[arg(long, value_name = "[HOST:]PORT")]
    status_addr: Option<String>,
}

impl GatewayArgs {
    fn apply(&self, section: &mut GatewaySection) {
        if let Some(v) = &self.transport {
            section.transport = v.clone();
        }
        if let Some(v) = &self.mqtt {
            section.mqtt = v.clone();
        }
        if let Some(v) = &self.quic {
            section.quic = v.clone();
        }
        if let Some(v) = &self.cert_sha256 {
            section.cert_sha256 = Some(v.clone());
        }
        if let Some(v) = &self.ca_file {
            section.ca_file = Some(v.clone());
        }
        if let Some(v) = &self.server_name {
            section.server_name = v.clone();
        }
    }

    fn apply_agent(&self, config: &mut AgentConfig) {
        if let Some(v) = self.batch_ms {
            config.batch_ms = v;
        }
        if let Some(v) = self.spool_max_bytes {
            config.spool_max_bytes = v;
        }
    }
}

/// Exit status for input that cannot be decoded.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit status when Bluetooth is unavailable.
const EXIT_NO_BLUETOOTH: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Decode {
            characteristic,
            hex,
        } => decode(&characteristic, &hex),
        command => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(run_async(command)),
            Err(e) => Err(anyhow::Error::new(e).context("starting the runtime")),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paceline-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_async(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            gateway,
            output,
        } => {
            let mut file = ConfigFile::read(&config)?;
            gateway.apply(&mut file.gateway);
            let mut agent_config = file
                .to_agent_config()
                .with_context(|| format!("configuration {}", config.display()))?;
            gateway.apply_agent(&mut agent_config);
            let mut cues = file.cues.clone();
            if output.no_speech {
                cues.speech = false;
            }
            if let Some(addr) = output.status_addr {
                cues.status_addr = Some(addr);
            }
            let uses_ble = agent_config
                .athletes
                .iter()
                .any(|a| matches!(a.source, Source::Ble(_)));
            if uses_ble && let Err(BleError::Unavailable(reason)) = bluetooth_available().await {
                eprintln!("paceline-edge: Bluetooth is not available on this machine ({reason})");
                return Ok(ExitCode::from(EXIT_NO_BLUETOOTH));
            }
            ride(agent_config, &cues).await
        }
        Command::Simulate {
            credentials,
            athletes,
            scenario,
            speed,
            duration_s,
            seed,
            all_sensors,
            spool_dir,
            gateway,
            output,
        } => {
            let devices = read_credentials_file(&credentials)
                .with_context(|| format!("credentials {}", credentials.display()))?;
            let count = athletes.unwrap_or(devices.len());
            if count == 0 || count > devices.len() {
                bail!(
                    "{} holds {} devices; --athletes must be 1..={}",
                    credentials.display(),
                    devices.len(),
                    devices.len()
                );
            }
            let mut section = GatewaySection::default();
            gateway.apply(&mut section);
            let athletes = devices
                .into_iter()
                .take(count)
                .zip(0u64..)
                .map(|(credentials, i)| AthleteConfig {
                    name: credentials.device.to_string(),
                    source: Source::Simulator {
                        config: SimulatorConfig {
                            seed: seed + i,
                            ftp_w: 200 + u16::try_from(i * 37 % 120).unwrap_or(0),
                            hr_rest_bpm: 50 + u16::try_from(i * 7 % 15).unwrap_or(0),
                            hr_max_bpm: 175 + u16::try_from(i * 11 % 20).unwrap_or(0),
                            scenario,
                            duration_s,
                            sensors: if all_sensors {
                                SimulatedSensors::ALL
                            } else {
                                SimulatedSensors::default()
                            },
                            ..SimulatorConfig::default()
                        },
                        speed,
                    },
                    credentials,
                })
                .collect();
            let mut config = AgentConfig::new(section.to_gateway()?, spool_dir, athletes);
            gateway.apply_agent(&mut config);
            let cues = CueSettings {
                console: true,
                speech: !output.no_speech && count == 1,
                status_addr: output.status_addr,
            };
            ride(config, &cues).await
        }
        Command::Scan { seconds } => match scan(Duration::from_secs(seconds.max(1))).await {
            Ok(found) if found.is_empty() => {
                println!(
                    "no sensors seen in {seconds} s (are they awake? a strap needs skin contact)"
                );
                Ok(ExitCode::SUCCESS)
            }
            Ok(found) => {
                for sensor in found {
                    let services: Vec<&str> = sensor
                        .services
                        .iter()
                        .filter_map(|uuid| {
                            ble::SENSOR_SERVICES
                                .iter()
                                .find(|(known, _, _)| known == uuid)
                                .map(|(_, name, _)| *name)
                        })
                        .collect();
                    println!(
                        "{}  {:<24}  {}  {}",
                        sensor.address,
                        sensor.name.as_deref().unwrap_or("(no name)"),
                        sensor
                            .rssi
                            .map_or("rssi ?".to_owned(), |r| format!("{r} dBm")),
                        services.join(", ")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(BleError::Unavailable(reason)) => {
                eprintln!("paceline-edge: Bluetooth is not available on this machine ({reason})");
                Ok(ExitCode::from(EXIT_NO_BLUETOOTH))
            }
            Err(e) => Err(e.into()),
        },
        Command::Decode {
            characteristic,
            hex,
        } => decode(&characteristic, &hex),
    }
}

/// The Bluetooth stack this build has: btleplug with the `ble` feature, else none.
fn ble_stack() -> Option<ble::BleStack> {
    #[cfg(feature = "ble")]
    {
        Some(bluez::stack())
    }
    #[cfg(not(feature = "ble"))]
    {
        None
    }
}

/// Whether Bluetooth can be used: an adapter answers (never, without the `ble` feature).
async fn bluetooth_available() -> Result<(), BleError> {
    #[cfg(feature = "ble")]
    {
        bluez::adapter().await.map(drop)
    }
    #[cfg(not(feature = "ble"))]
    {
        Err(no_ble_feature())
    }
}

/// Scans for sensors for `duration`.
async fn scan(duration: Duration) -> Result<Vec<FoundSensor>, BleError> {
    #[cfg(feature = "ble")]
    {
        bluez::scan(duration).await
    }
    #[cfg(not(feature = "ble"))]
    {
        let _ = duration;
        Err(no_ble_feature())
    }
}

#[cfg(not(feature = "ble"))]
fn no_ble_feature() -> BleError {
    BleError::Unavailable("this paceline-edge was built without the `ble` feature".to_owned())
}

/// Runs the agent with its cue outputs until the rides end or a signal comes.
async fn ride(mut config: AgentConfig, cues: &CueSettings) -> anyhow::Result<ExitCode> {
    config.ble_stack = ble_stack();
    let names: HashMap<_, _> = config
        .athletes
        .iter()
        .map(|a| (a.credentials.device.clone(), a.name.clone()))
        .collect();
    let athletes = config.athletes.len();
    let mut agent = Agent::start(config).await.context("starting the agent")?;
    let events = agent
        .events_from_start()
        .unwrap_or_else(|| agent.subscribe());
    let board = cue_output::start(cues, events, names).await;
    if let Some(addr) = &cues.status_addr {
        let addr = paceline_edge::config::status_page_addr(addr)?;
        let board = board.clone();
        tokio::spawn(async move {
            if let Err(e) = status_page::serve(addr, board).await {
                tracing::error!(%addr, error = %e, "status page failed");
            }
        });
    }
    tracing::info!(athletes, "agent running; Ctrl-C ends the ride");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let interrupted = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        _ = terminate.recv() => true,
        () = agent.wait_finished() => false,
    };
    if interrupted {
        tracing::info!("ending the ride: sending End, waiting briefly for the last acks");
        agent.shutdown().await;
    } else {
        tracing::info!("every ride has ended");
    }
    let board = board.lock().unwrap_or_else(|p| p.into_inner());
    for line in cue_output::summary(&board) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn decode(characteristic: &str, hex_text: &str) -> anyhow::Result<ExitCode> {
    let uuid = match gatt::parse_characteristic(characteristic) {
        Ok(uuid) => uuid,
        Err(_) => {
            eprintln!(
                "paceline-edge: --char {characteristic:?} is not a characteristic this agent \
                 decodes (2a37, 2a63, 2a53, 2a5b, 2ad2, 2acd)"
            );
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let cleaned: String = hex_text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '-')
        .collect();
    let cleaned = cleaned.strip_prefix("0x").unwrap_or(&cleaned);
    let payload = match hex::decode(cleaned) {
        Ok(payload) => payload,
        Err(e) => {
            eprintln!("paceline-edge: --hex {hex_text:?} is not hex: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    match gatt::decode(uuid, &payload) {
        Ok(value) => {
            let json = paceline_schemas::codec::to_json(&value).context("encoding the sample")?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("paceline-edge: {e}");
            Ok(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}
