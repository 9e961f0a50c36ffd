//! `paceline`: the gateway server and its administration commands.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use paceline_formats::plan_import::import_plan;
use paceline_gateway::settings::{Settings, SettingsLayer};
use paceline_gateway::store::{self, Store};
use paceline_gateway::transport::tls::ServerCert;
use paceline_schemas::{AthleteProfile, TenantId, codec};

/// Paceline: live workout coaching. The gateway takes sensor frames from edge agents over
/// MQTT or QUIC, coaches every session, sends cues back and keeps everything in SQLite.
#[derive(Parser)]
#[command(name = "paceline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the gateway: MQTT broker, QUIC ingress, engine, database, HTTP.
    Serve(ServeArgs),
    /// Run the gateway with a gym of simulated athletes riding, to see it all live.
    Demo(DemoArgs),
    /// Manage devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Manage plans.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Import activity files (FIT, TCX, GPX, CSV, gzip'd, zip archives; folders walked)
    /// into an athlete's library: one line per file, exit status 1 if any failed.
    Import(ImportArgs),
    /// Data upkeep.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// The weekly digest.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// A user's music library (for BPM-matched playlists).
    #[command(subcommand)]
    Music(MusicCommand),
}

#[derive(Subcommand)]
enum MusicCommand {
    /// Read the BPM, title, artist and length tags of every audio file in a folder (MP3,
    /// FLAC, Ogg, Opus, M4A, WAV, AIFF, …; walked recursively) and store them as the user's
    /// music library, replacing theirs (as PUT /api/v1/me/music does). One line per file;
    /// unreadable files are named and left out.
    Import(MusicImportArgs),
}

#[derive(Args)]
struct MusicImportArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The user whose library it becomes (their login e-mail).
    #[arg(long)]
    user: String,
    /// The folder of audio files.
    folder: PathBuf,
}

#[derive(Subcommand)]
enum DigestCommand {
    /// Send the weekly digests due at an instant (as the gateway's job does each minute),
    /// through the configured SMTP server; each (athlete, week) at most once, whoever
    /// sends it. Prints what it did.
    Run(DigestRunArgs),
}

#[derive(Args)]
struct DigestRunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The instant, RFC 3339 (e.g. 2026-11-08T17:00:00Z) [default: now].
    #[arg(long)]
    at: Option<String>,
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Remove rows past their retention period (raw samples and frames after 730 days,
    /// the audit after 730, by default) and give the space back, showing progress.
    /// Summaries and training load stay. The gateway runs the same pass once a day.
    Run(MaintenanceArgs),
}

#[derive(Args)]
struct MaintenanceArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Keep raw samples and frames this many days [default: 730].
    #[arg(long)]
    raw_retention_days: Option<u32>,
    /// Keep the audit log this many days [default: 730].
    #[arg(long)]
    audit_retention_days: Option<u32>,
    /// Give space back with one full VACUUM when the database predates incremental
    /// vacuum (needs free disk as large as the database; the gateway should be stopped).
    #[arg(long)]
    vacuum: bool,
}

/// Settings shared by every command (flags override `PACELINE_*` variables, which
/// override the config file, which overrides the built-in defaults).
#[derive(Args, Clone, Default)]
struct CommonArgs {
    /// TOML config file with any of: data_dir, http, mqtt, quic, engine_workers,
    /// session_idle_s, writer_batch, group_commit_ms, inbox_move_ms, mqtt_max_connections, access_token_ttl_s,
    /// admin_tenant, mqtt_broker, mqtt_broker_user, mqtt_broker_password,
    /// mqtt_subscription, mqtt_hook_secret, device_sessions_per_day, device_samples_per_s,
    /// device_samples_burst_s, tenant_devices, tenant_storage_bytes, import_max_file_bytes,
    /// import_max_upload_bytes, public_url, strava_client_id, strava_client_secret,
    /// strava_verify_token, strava_base_url, garmin_client_id, garmin_client_secret,
    /// garmin_base_url, sync_backfill_days, sync_keep_done_days.
    #[arg(long, env = "PACELINE_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder [default: ./paceline-data].
    #[arg(long, env = "PACELINE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "PACELINE_HTTP")]
    http: Option<SocketAddr>,
    /// MQTT listen address [default: 127.0.0.1:1883].
    #[arg(long, env = "PACELINE_MQTT")]
    mqtt: Option<SocketAddr>,
    /// QUIC listen address [default: 127.0.0.1:4433].
    #[arg(long, env = "PACELINE_QUIC")]
    quic: Option<SocketAddr>,
    /// Engine worker threads [default: 1].
    #[arg(long, env = "PACELINE_ENGINE_WORKERS")]
    engine_workers: Option<usize>,
    /// End a session after this many seconds without a frame [default: 300].
    #[arg(long, env = "PACELINE_SESSION_IDLE_S")]
    session_idle_s: Option<u64>,
    /// Lifetime of API access tokens, s [default: 900].
    #[arg(long, env = "PACELINE_ACCESS_TOKEN_TTL_S")]
    access_token_ttl_s: Option<u64>,
    /// Tenant of the administrator made on first start [default: default].
    #[arg(long, env = "PACELINE_ADMIN_TENANT")]
    admin_tenant: Option<String>,
    /// host:port of an external MQTT broker (e.g. EMQX) to use instead of the embedded one.
    #[arg(long, env = "PACELINE_MQTT_BROKER")]
    mqtt_broker: Option<String>,
    /// The gateway's user name at the external broker [default: paceline-gateway].
    #[arg(long, env = "PACELINE_MQTT_BROKER_USER")]
    mqtt_broker_user: Option<String>,
    /// The uplink subscription at the external broker
    /// [default: $share/paceline/pl/v1/+/+/up].
    #[arg(long, env = "PACELINE_MQTT_SUBSCRIPTION")]
    mqtt_subscription: Option<String>,
    /// How long the database writer gathers frames before one commit, ms; 0 = off
    /// [default: 2].
    #[arg(long, env = "PACELINE_GROUP_COMMIT_MS")]
    group_commit_ms: Option<u64>,
    /// How long live frames stay in the database writer's inbox before they are moved,
    /// each session's together, into the indexed tables, ms; 0 = no inbox [default: 0].
    #[arg(long, env = "PACELINE_INBOX_MOVE_MS")]
    inbox_move_ms: Option<u64>,
    /// Quota: most sessions a device opens in 24 h [default: 48].
    #[arg(long, env = "PACELINE_DEVICE_SESSIONS_PER_DAY")]
    device_sessions_per_day: Option<u32>,
    /// Quota: sustained samples per second of a device [default: 50].
    #[arg(long, env = "PACELINE_DEVICE_SAMPLES_PER_S")]
    device_samples_per_s: Option<u32>,
    /// Quota: a device's burst, in seconds' worth of samples [default: 60].
    #[arg(long, env = "PACELINE_DEVICE_SAMPLES_BURST_S")]
    device_samples_burst_s: Option<u32>,
    /// Quota: most devices of a tenant, revoked ones not counted [default: 500].
    #[arg(long, env = "PACELINE_TENANT_DEVICES")]
    tenant_devices: Option<u32>,
    /// Quota: most bytes of frames a tenant stores [default: 2147483648].
    #[arg(long, env = "PACELINE_TENANT_STORAGE_BYTES")]
    tenant_storage_bytes: Option<u64>,
    /// Largest activity file imported, decompressed too [default: 67108864].
    #[arg(long, env = "PACELINE_IMPORT_MAX_FILE_BYTES")]
    import_max_file_bytes: Option<u64>,
    /// Largest activity import upload, all its files [default: 268435456].
    #[arg(long, env = "PACELINE_IMPORT_MAX_UPLOAD_BYTES")]
    import_max_upload_bytes: Option<u64>,
    /// Let the server fetch calendar URLs on private and loopback addresses [default: false].
    #[arg(long, env = "PACELINE_OUTBOUND_ALLOW_PRIVATE")]
    outbound_allow_private: Option<bool>,
    /// The weekly digest's sender (`Name <address>`); needs PACELINE_SMTP_URL (a secret:
    /// only from the environment or the config file).
    #[arg(long, env = "PACELINE_MAIL_FROM")]
    mail_from: Option<String>,
    /// Extra CA certificates (PEM) the SMTP server's certificate may chain to.
    #[arg(long, env = "PACELINE_SMTP_CA_FILE")]
    smtp_ca_file: Option<PathBuf>,
    /// The server's public base URL (links in mails).
    #[arg(long, env = "PACELINE_PUBLIC_URL")]
    public_url: Option<String>,
    /// How often the digest job looks for due digests, s (0: never).
    #[arg(long, env = "PACELINE_DIGEST_TICK_S")]
    digest_tick_s: Option<u64>,
    /// The coach chat's LLM: an OpenAI-compatible server (`https://host/v1`); none: the
    /// offline engine answers alone. The key: PACELINE_LLM_API_KEY (environment or file).
    #[arg(long, env = "PACELINE_LLM_BASE_URL")]
    llm_base_url: Option<String>,
    /// The LLM's model name.
    #[arg(long, env = "PACELINE_LLM_MODEL")]
    llm_model: Option<String>,
    /// How long the LLM's answer is waited for, ms [default: 60000].
    #[arg(long, env = "PACELINE_LLM_TIMEOUT_MS")]
    llm_timeout_ms: Option<u64>,
    /// Chat messages one user may send a day [default: 200].
    #[arg(long, env = "PACELINE_CHAT_MESSAGES_PER_DAY")]
    chat_messages_per_day: Option<u32>,
    /// Twilio's REST API [default: Twilio's own, api.twilio.com].
    #[arg(long, env = "PACELINE_TWILIO_BASE_URL")]
    twilio_base_url: Option<String>,
    /// The Twilio account (AC…); the auth token: PACELINE_TWILIO_AUTH_TOKEN.
    #[arg(long, env = "PACELINE_TWILIO_ACCOUNT_SID")]
    twilio_account_sid: Option<String>,
    /// The number SMS are sent from (E.164).
    #[arg(long, env = "PACELINE_TWILIO_FROM")]
    twilio_from: Option<String>,
    /// The public URL Twilio posts incoming SMS to (…/webhooks/sms).
    #[arg(long, env = "PACELINE_TWILIO_WEBHOOK_URL")]
    twilio_webhook_url: Option<String>,
    /// SMS taken from one number an hour [default: 30].
    #[arg(long, env = "PACELINE_SMS_INBOUND_PER_HOUR")]
    sms_inbound_per_hour: Option<u32>,
    /// SMS sent to one number a day, UTC [default: 100].
    #[arg(long, env = "PACELINE_SMS_OUTBOUND_PER_DAY")]
    sms_outbound_per_day: Option<u32>,
}

impl CommonArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => SettingsLayer::from_file(path)?,
            None => SettingsLayer::default(),
        };
        let flags = SettingsLayer {
            data_dir: self.data_dir.clone(),
            http: self.http,
            mqtt: self.mqtt,
            quic: self.quic,
            engine_workers: self.engine_workers,
            session_idle_s: self.session_idle_s,
            access_token_ttl_s: self.access_token_ttl_s,
            admin_tenant: self.admin_tenant.clone(),
            mqtt_broker: self.mqtt_broker.clone(),
            mqtt_broker_user: self.mqtt_broker_user.clone(),
            mqtt_subscription: self.mqtt_subscription.clone(),
            group_commit_ms: self.group_commit_ms,
            inbox_move_ms: self.inbox_move_ms,
            device_sessions_per_day: self.device_sessions_per_day,
            device_samples_per_s: self.device_samples_per_s,
            device_samples_burst_s: self.device_samples_burst_s,
            tenant_devices: self.tenant_devices,
            tenant_storage_bytes: self.tenant_storage_bytes,
            import_max_file_bytes: self.import_max_file_bytes,
            import_max_upload_bytes: self.import_max_upload_bytes,
            outbound_allow_private: self.outbound_allow_private,
            mail_from: self.mail_from.clone(),
            smtp_ca_file: self.smtp_ca_file.clone(),
            public_url: self.public_url.clone(),
            digest_tick_s: self.digest_tick_s,
            smtp_url: secret_from_env("PACELINE_SMTP_URL"),
            llm_base_url: self.llm_base_url.clone(),
            llm_model: self.llm_model.clone(),
            llm_timeout_ms: self.llm_timeout_ms,
            chat_messages_per_day: self.chat_messages_per_day,
            llm_api_key: secret_from_env("PACELINE_LLM_API_KEY"),
            twilio_base_url: self.twilio_base_url.clone(),
            twilio_account_sid: self.twilio_account_sid.clone(),
            twilio_from: self.twilio_from.clone(),
            sms_inbound_per_hour: self.sms_inbound_per_hour,
            sms_outbound_per_day: self.sms_outbound_per_day,
            twilio_webhook_url: self.twilio_webhook_url.clone(),
            twilio_auth_token: secret_from_env("PACELINE_TWILIO_AUTH_TOKEN"),
            // Secrets only from the environment or the file, never from the command line
            // (which every local user can read).
            mqtt_broker_password: secret_from_env("PACELINE_MQTT_BROKER_PASSWORD"),
            mqtt_hook_secret: secret_from_env("PACELINE_MQTT_HOOK_SECRET"),
            ..SettingsLayer::default()
        };
        Ok(Settings::resolve(file.overlaid_by(flags))?)
    }
}

/// A secret setting from the environment, if set and not empty.
fn secret_from_env(name: &str) -> Option<paceline_gateway::settings::Secret> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .map(paceline_gateway::settings::Secret::new)
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "PACELINE_LOG_JSON")]
    log_json: bool,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Simulated athletes in the demo gym.
    #[arg(long, default_value_t = 8)]
    athletes: usize,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration_s: Option<u64>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "PACELINE_LOG_JSON")]
    log_json: bool,
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Pair a new device with an athlete (created if new) and print its id, key, token
    /// and connection settings. The key and token are shown only this once.
    Add(DeviceAddArgs),
}

#[derive(Args)]
struct DeviceAddArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The tenant (gym or team) id; created if new.
    #[arg(long)]
    tenant: String,
    /// The athlete's name within the tenant; created if new.
    #[arg(long)]
    athlete: String,
    /// The athlete's profile (JSON, as SPEC §4); replaces the stored one.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Print the result as one JSON object (for scripts).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Import a plan (.zwo, FIT workout or JSON) and assign it to an athlete's next session.
    Assign(PlanAssignArgs),
}

#[derive(Args)]
struct PlanAssignArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The tenant id.
    #[arg(long)]
    tenant: String,
    /// The athlete's name within the tenant.
    #[arg(long)]
    athlete: String,
    /// The plan file.
    plan: PathBuf,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The athlete's id (as the API shows it).
    #[arg(long)]
    athlete: i64,
    /// Files and folders (walked recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "paceline: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Commands::Serve(args) => {
            init_logging(args.log_json, SERVE_LOG);
            let settings = args.common.settings()?;
            runtime()?.block_on(serve(settings))
        }
        Commands::Demo(args) => {
            init_logging(args.log_json, DEMO_LOG);
            let settings = args.common.settings()?;
            runtime()?.block_on(paceline_gateway::demo::run(
                settings,
                args.athletes,
                args.duration_s.map(std::time::Duration::from_secs),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Commands::Device(DeviceCommand::Add(args)) => device_add(&args),
        Commands::Plan(PlanCommand::Assign(args)) => plan_assign(&args),
        Commands::Import(args) => import(&args),
        Commands::Maintenance(MaintenanceCommand::Run(args)) => maintenance(&args),
        Commands::Digest(DigestCommand::Run(args)) => digest_run(&args),
        Commands::Music(MusicCommand::Import(args)) => music_import(&args),
    }
}

fn music_import(args: &MusicImportArgs) -> anyhow::Result<ExitCode> {
    use paceline_gateway::music_folder::{FileOutcome, scan_folder};
    let settings = args.common.settings()?;
    let store = Store::open(&settings.data_dir)
        .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
    let email = args.user.trim().to_lowercase();
    let owner: Option<(i64, i64)> = store
        .read(|conn| {
            use rusqlite::OptionalExtension;
            Ok(conn
                .query_row(
                    "SELECT tenant_id, id FROM users WHERE email = ?1",
                    [&email],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .context("finding the user")?;
    let Some((tenant_row, user_row)) = owner else {
        bail!("--user {}: no such user", args.user);
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed_write = None;
    let scan = scan_folder(&args.folder, |i, n, path, outcome| {
        let line = match outcome {
            FileOutcome::Track(t) => match t.bpm {
                Some(bpm) => format!(
                    "[{i}/{n}] {}: {bpm:.0} BPM, {} s",
                    path.display(),
                    t.duration_s
                ),
                None => format!(
                    "[{i}/{n}] {}: no BPM tag (kept, not chosen for playlists)",
                    path.display()
                ),
            },
            FileOutcome::TooLarge { bytes } => {
                format!(
                    "[{i}/{n}] {}: skipped, {bytes} bytes is too large",
                    path.display()
                )
            }
            FileOutcome::Unreadable { reason } => {
                format!("[{i}/{n}] {}: unreadable: {reason}", path.display())
            }
        };
        if let Err(e) = writeln!(stdout, "{line}") {
            failed_write = Some(e);
        }
    })
    .with_context(|| format!("reading {}", args.folder.display()))?;
    if let Some(e) = failed_write {
        return Err(e).context("writing to stdout");
    }
    let json = paceline_gateway::api::insights::library_json(&scan.tracks);
    store
        .write(|tx| {
            paceline_gateway::store::insights::set_music_library(
                tx,
                tenant_row,
                user_row,
                "folder",
                &json,
                now_ms(),
            )
        })
        .context("storing the library")?;
    let with_bpm = scan.tracks.iter().filter(|t| t.bpm.is_some()).count();
    writeln!(
        stdout,
        "stored {} tracks ({with_bpm} with a BPM); {} of {} audio files left out",
        scan.tracks.len(),
        scan.left_out,
        scan.files
    )
    .context("writing to stdout")?;
    Ok(if scan.left_out > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn digest_run(args: &DigestRunArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    let Some(mail) = &settings.mail else {
        bail!(
            "no SMTP server configured: set PACELINE_SMTP_URL (and PACELINE_MAIL_FROM, PACELINE_PUBLIC_URL)"
        );
    };
    let at_ms = match &args.at {
        None => now_ms(),
        Some(text) => {
            let at =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .with_context(|| format!("--at {text:?} is not an RFC 3339 instant"))?;
            u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
                .with_context(|| format!("--at {text:?} is before 1970"))?
        }
    };
    let store = std::sync::Arc::new(
        Store::open(&settings.data_dir)
            .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?,
    );
    let pass = runtime()?.block_on(async {
        let mailer = paceline_gateway::jobs::digest::Mailer::new(mail)?;
        paceline_gateway::jobs::digest::tick(&store, &mailer, at_ms).await
    })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "digest: {} users looked at, {} sent, {} failed",
        pass.users, pass.sent, pass.failed
    )
    .context("writing to stdout")?;
    Ok(if pass.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn maintenance(args: &MaintenanceArgs) -> anyhow::Result<ExitCode> {
    use paceline_gateway::jobs::maintenance::{Progress, RetentionDays, run_pass};
    let settings = args.common.settings()?;
    let database = settings.data_dir.join(store::DATABASE_FILE);
    if !database.exists() {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "paceline maintenance: no database in {} (pass --data-dir)",
            settings.data_dir.display()
        );
        return Ok(ExitCode::from(USAGE_ERROR));
    }
    let store = Store::open(&settings.data_dir)
        .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
    let days = RetentionDays {
        raw: args.raw_retention_days,
        audit: args.audit_retention_days,
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed_write = None;
    let removed = run_pass(&store, now_ms(), days, args.vacuum, |p| {
        let line = match p {
            Progress::Pruned {
                table,
                rows,
                cutoff_ms,
            } => format!(
                "{table}: {rows} rows older than {} removed",
                paceline_gateway::jobs::planning::format_date(
                    paceline_gateway::jobs::planning::local_day(
                        i64::try_from(*cutoff_ms).unwrap_or(i64::MAX),
                        None
                    )
                )
            ),
            Progress::Vacuumed {
                pages,
                of,
                page_size,
            } => format!(
                "space: {pages} of {of} free pages given back ({} MiB)",
                pages * page_size / (1 << 20)
            ),
            Progress::NeedsFullVacuum {
                free_pages,
                page_size,
            } => format!(
                "space: {free_pages} free pages ({} MiB) stay in the file: this database \
                 predates incremental vacuum; run once with --vacuum, the gateway stopped",
                free_pages * page_size / (1 << 20)
            ),
        };
        if let Err(e) = writeln!(stdout, "{line}") {
            failed_write = Some(e);
        }
    })
    .context("the retention pass")?;
    if let Some(e) = failed_write {
        return Err(e).context("writing to stdout");
    }
    let total: u64 = removed.iter().map(|(_, rows)| rows).sum();
    writeln!(stdout, "done: {total} rows removed").context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The log filter of `paceline serve` when `PACELINE_LOG` is not set.
const SERVE_LOG: &str = "info,rumqttd=off";

/// The log filter of `paceline demo` when `PACELINE_LOG` is not set: its stdout is the
/// cues, so the routine logs (connections, sessions, resends) stay out of the way.
const DEMO_LOG: &str = "warn,rumqttd=off";

/// Logs to stderr, filtered by `PACELINE_LOG` or else `default_filter`; in colour only
/// when stderr is a terminal.
fn init_logging(json: bool, default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACELINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let gateway = paceline_gateway::server::Gateway::start(&settings).await?;
    paceline_gateway::server::print_banner(&gateway);
    paceline_gateway::server::wait_for_signal().await?;
    tracing::info!("stopping: no new frames; committing and acknowledging what was received");
    gateway.shutdown().await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> u64 {
    paceline_gateway::clock::GatewayClock::start().now_ms()
}

/// Exit status of a usage error (as clap's).
const USAGE_ERROR: u8 = 2;

/// The files under `path`, folders walked recursively, in name order.
fn files_under(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading the folder {}", path.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading the folder {}", path.display()))?;
        children.sort();
        for child in children {
            files_under(&child, out)?;
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    use paceline_gateway::jobs::library::{self, Owner};
    use std::io::IsTerminal;
    let settings = args.common.settings()?;
    let mut stderr = std::io::stderr().lock();
    let mut files = Vec::new();
    for path in &args.paths {
        if let Err(e) = files_under(path, &mut files) {
            let _ = writeln!(stderr, "paceline import: {e:#}");
            return Ok(ExitCode::from(USAGE_ERROR));
        }
    }
    let database = settings.data_dir.join(store::DATABASE_FILE);
    if !database.exists() {
        let _ = writeln!(
            stderr,
            "paceline import: no database in {} (start `paceline serve` once, or pass --data-dir)",
            settings.data_dir.display()
        );
        return Ok(ExitCode::from(USAGE_ERROR));
    }
    let store = Store::open(&settings.data_dir)
        .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
    let tenant_row = store
        .read(|conn| store::activities::athlete_tenant(conn, args.athlete))
        .context("looking the athlete up")?;
    let Some(tenant_row) = tenant_row else {
        let _ = writeln!(
            stderr,
            "paceline import: no athlete with id {}",
            args.athlete
        );
        return Ok(ExitCode::from(USAGE_ERROR));
    };
    let owner = Owner {
        tenant_row,
        athlete_row: args.athlete,
    };
    let terminal = std::io::stdout().is_terminal();
    let bar = if terminal {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {msg}")
        {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let mut stdout = std::io::stdout().lock();
    let mut any_failed = false;
    for file in &files {
        let name = file.display().to_string();
        let outcomes = match std::fs::read(file) {
            Ok(bytes) => library::import_file(
                &store,
                owner,
                &name,
                &bytes,
                settings.import_limits,
                now_ms(),
            ),
            Err(e) => vec![library::FileOutcome {
                file: name.clone(),
                result: Err(format!("cannot read it: {e}")),
            }],
        };
        for outcome in outcomes {
            let line = match &outcome.result {
                Ok(imported) => format!("{}: {}", outcome.file, imported.status.as_str()),
                Err(reason) => {
                    any_failed = true;
                    format!("{}: failed: {reason}", outcome.file)
                }
            };
            match &bar {
                Some(bar) => bar.println(line),
                None => writeln!(stdout, "{line}").context("writing to stdout")?,
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(if any_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn device_add(args: &DeviceAddArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    let tenant = TenantId::new(args.tenant.clone())
        .with_context(|| format!("tenant id {:?}", args.tenant))?;
    let profile = match &args.profile {
        Some(path) => Some(read_profile(path)?),
        None => None,
    };
    store::prepare_data_dir(&settings.data_dir)
        .with_context(|| format!("creating the data folder {}", settings.data_dir.display()))?;
    let store = Store::open(&settings.data_dir)
        .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
    let cert = ServerCert::load_or_create(&settings.data_dir).context("the QUIC certificate")?;
    let mut conn = store::connect(store.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = now_ms();
    let tenant_row = store::ensure_tenant(&tx, &tenant, now)?;
    let athlete_row = store::ensure_athlete(&tx, tenant_row, &args.athlete, profile.as_ref(), now)?;
    let devices = store::active_devices(&tx, tenant_row)?;
    if !paceline_gateway::quotas::devices_within(devices, &settings.quotas) {
        anyhow::bail!(
            "quota_exceeded: tenant {tenant} has {devices} devices, its quota \
             (tenant_devices = {}); revoke one or raise tenant_devices",
            settings.quotas.tenant_devices
        );
    }
    let new = store::add_device(
        &tx,
        &store.server_key(),
        &tenant,
        tenant_row,
        athlete_row,
        now,
    )?;
    tx.commit().context("storing the device")?;
    let fingerprint = cert.fingerprint();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "tenant": new.tenant.as_str(),
            "device": new.device.as_str(),
            "key": new.key.expose_hex(),
            "token": new.token.expose_hex(),
            "athlete": args.athlete,
            "mqtt": settings.mqtt.to_string(),
            "quic": settings.quic.to_string(),
            "quic_cert_sha256": fingerprint,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "Paired device {} with athlete {:?} in tenant {}.\n\
             The key and token below are shown only now: put them in the edge agent's config.\n",
            new.device, args.athlete, new.tenant
        )?;
        writeln!(
            out,
            "[device]\ntenant = \"{}\"\nid = \"{}\"\nkey = \"{}\"\ntoken = \"{}\"\n\n\
             [gateway]\nmqtt = \"{}\"\nquic = \"{}\"\nquic_cert_sha256 = \"{}\"",
            new.tenant,
            new.device,
            new.key.expose_hex(),
            new.token.expose_hex(),
            settings.mqtt,
            settings.quic,
            fingerprint
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_profile(path: &Path) -> anyhow::Result<AthleteProfile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    codec::from_json(&bytes).with_context(|| format!("athlete profile {}", path.display()))
}

fn plan_assign(args: &PlanAssignArgs) -> anyhow::Result<ExitCode> {
    let settings = args.common.settings()?;
    let tenant = TenantId::new(args.tenant.clone())
        .with_context(|| format!("tenant id {:?}", args.tenant))?;
    let bytes =
        std::fs::read(&args.plan).with_context(|| format!("reading {}", args.plan.display()))?;
    let file_name = args
        .plan
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plan =
        import_plan(&file_name, &bytes).with_context(|| format!("plan {}", args.plan.display()))?;
    let format = args
        .plan
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "json".to_owned());
    let store = Store::open(&settings.data_dir)
        .with_context(|| format!("opening the database in {}", settings.data_dir.display()))?;
    let mut conn = store::connect(store.path())?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = now_ms();
    let tenant_row: Option<i64> = rusqlite::OptionalExtension::optional(tx.query_row(
        "SELECT id FROM tenants WHERE slug = ?1",
        [tenant.as_str()],
        |row| row.get(0),
    ))?;
    let Some(tenant_row) = tenant_row else {
        bail!("tenant {tenant} does not exist (pair a device first: paceline device add)");
    };
    let athlete_row: Option<i64> = rusqlite::OptionalExtension::optional(tx.query_row(
        "SELECT id FROM athletes WHERE tenant_id = ?1 AND name = ?2",
        rusqlite::params![tenant_row, args.athlete],
        |row| row.get(0),
    ))?;
    let Some(athlete_row) = athlete_row else {
        bail!(
            "athlete {:?} does not exist in tenant {tenant}",
            args.athlete
        );
    };
    let plan_row = store::add_plan(&tx, tenant_row, &format, &plan, now)?;
    store::assign_plan(&tx, tenant_row, athlete_row, plan_row)?;
    tx.commit().context("storing the plan")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Plan {:?} assigned to {:?}'s next session.",
        plan.name, args.athlete
    )?;
    Ok(ExitCode::SUCCESS)
}
