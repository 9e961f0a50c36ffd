//! Starting and stopping the whole gateway: data folder, database, certificate, engine,
//! writer, broker, QUIC and HTTP, wired to one [`Live`] loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use paceline_engine::dataflow::{LiveConfig, LiveEngine};

use crate::accounts::tokens::{SIGNING_KEY_NAME, TokenKeys};
use crate::accounts::{FirstAdmin, bootstrap_admin};
use crate::api::{Api, ApiState, Connectivity};
use crate::clock::GatewayClock;
use crate::http::{self, HttpState};
use crate::live::Live;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::writer::{Pacing, WriteQueue, Writer};
use crate::transport::downlink::Downlink;
use crate::transport::tls::ServerCert;
use crate::transport::{broker, external_broker, quic};

/// Records the engine and writer queues hold before senders wait.
const QUEUE_CAPACITY: usize = 65_536;
/// How often each session's coach status goes to live boards, ms of input time.
const STATUS_EVERY_MS: u64 = 1000;

/// A running gateway.
pub struct Gateway {
    /// The live loop.
    pub live: Arc<Live>,
    /// Where HTTP listens.
    pub http: SocketAddr,
    /// Where MQTT listens (the external broker's address, resolved, if there is one).
    pub mqtt: SocketAddr,
    /// The external MQTT broker, as configured, if the gateway uses one.
    pub mqtt_broker: Option<String>,
    /// Where QUIC listens.
    pub quic: SocketAddr,
    /// The data folder.
    pub data_dir: PathBuf,
    /// The QUIC certificate's SHA-256 fingerprint.
    pub cert_fingerprint: String,
    /// Whether the certificate was made at this start.
    pub cert_created: bool,
    /// The administrator made at this start (a new database), with its one-time password.
    pub first_admin: Option<FirstAdmin>,
    writes: WriteQueue,
    writer: Option<Writer>,
    engine: Option<LiveEngine>,
    endpoint: quinn::Endpoint,
    http_stop: Option<tokio::sync::oneshot::Sender<()>>,
    sweeping: Arc<AtomicBool>,
}

impl Gateway {
    /// Starts everything. Must be called inside a multi-threaded tokio runtime.
    pub async fn start(settings: &Settings) -> anyhow::Result<Gateway> {
        if settings.external_broker.is_none() {
            raise_open_files_for_devices(settings.mqtt_max_connections);
        }
        let data_dir = settings.data_dir.clone();
        crate::store::prepare_data_dir(&data_dir)
            .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
        let store = Arc::new(
            Store::open(&data_dir)
                .with_context(|| format!("opening the database in {}", data_dir.display()))?,
        );
        let cert = ServerCert::load_or_create(&data_dir).context("the QUIC certificate")?;
        let (metrics, registry) = Metrics::new();
        let metrics = Arc::new(metrics);
        let clock = GatewayClock::start();
        crate::privacy::data_export::sweep(&store, clock.now_ms(), true)
            .context("the data exports left by the last run")?;
        let health = Arc::new(crate::health::Health::default());

        let (engine, outputs) = LiveEngine::start(
            LiveConfig {
                workers: settings.engine_workers,
                queue_capacity: QUEUE_CAPACITY,
                status_every_ms: Some(STATUS_EVERY_MS),
                ..LiveConfig::default()
            },
            clock.for_engine(),
        )
        .context("starting the engine")?;
        let engine_input = engine.sender().context("the engine has no input")?;
        health.watch_engine(engine.watch());

        let live_cell: Arc<OnceLock<Arc<Live>>> = Arc::new(OnceLock::new());
        let for_writer = Arc::clone(&live_cell);
        let writer = Writer::start(
            store.path(),
            Pacing {
                batch: settings.writer_batch,
                group_commit: settings.group_commit,
                inbox_move: settings.inbox_move,
            },
            QUEUE_CAPACITY,
            Arc::clone(&metrics),
            Arc::clone(&health),
            {
                let health = Arc::clone(&health);
                Box::new(move |report| {
                    if let Some(live) = for_writer.get() {
                        live.on_commit_report(health.ackable(report));
                    }
                })
            },
        )
        .context("starting the database writer")?;
        let writes = writer.queue();

        // The embedded broker behind its front door, or the client of an external one.
        let (mqtt_addr, downlink, embedded, mqtt_subscribed) = match &settings.external_broker {
            None => {
                let front = broker::bind_front(settings.mqtt)
                    .await
                    .context("starting the MQTT broker")?;
                let mqtt_addr = front.local_addr().context("the MQTT address")?;
                let (embedded_broker, link_tx, link_rx) =
                    broker::start(settings.mqtt_max_connections)
                        .context("starting the MQTT broker")?;
                (
                    mqtt_addr,
                    Downlink::new(Some(link_tx)),
                    Some((front, embedded_broker, link_rx)),
                    None,
                )
            }
            Some(external) => {
                let mqtt_addr = tokio::net::lookup_host(external.address.as_str())
                    .await
                    .ok()
                    .and_then(|mut found| found.next())
                    .with_context(|| {
                        format!(
                            "mqtt_broker {}: the name does not resolve",
                            external.address
                        )
                    })?;
                let broker = external_broker::start(external, Arc::clone(&live_cell))
                    .context("starting the external MQTT broker's client")?;
                (
                    mqtt_addr,
                    Downlink::external(broker.client),
                    None,
                    Some(broker.subscribed),
                )
            }
        };
        let live = Arc::new(
            Live::new(
                Arc::clone(&store),
                writes.clone(),
                engine_input,
                clock,
                Arc::clone(&metrics),
                downlink,
                settings.session_idle,
            )
            .context("reading the last session's row")?
            .with_quotas(settings.quotas),
        );
        let _ = live_cell.set(Arc::clone(&live));
        // Queues the engine records of the frames QUIC's tasks take (see `Live`).
        tokio::spawn(Arc::clone(&live).run_worker_batches());
        if let Some((front, embedded_broker, link_rx)) = embedded {
            tokio::spawn(broker::serve_front(
                front,
                embedded_broker,
                Arc::clone(&live),
            ));
            broker::spawn_ingress(link_rx, Arc::clone(&live)).context("starting MQTT ingress")?;
        }

        let for_outputs = Arc::clone(&live);
        let engine_health = Arc::clone(&health);
        let engine_metrics = Arc::clone(&metrics);
        thread::Builder::new()
            .name("engine-outputs".to_owned())
            .spawn(move || {
                for output in outputs {
                    for_outputs.on_output(output);
                }
                // Every worker is gone (stopped, or stopped because one panicked): nothing
                // is coached any more.
                if engine_health.engine_stopped() {
                    engine_metrics.engine_worker_panics.inc();
                }
            })
            .context("starting the engine output thread")?;

        let sweeping = Arc::new(AtomicBool::new(true));
        let for_sweep = Arc::clone(&live);
        let stale_every_s = settings.session_idle.as_secs().clamp(1, 60);
        let still_sweeping = Arc::clone(&sweeping);
        thread::Builder::new()
            .name("session-sweeper".to_owned())
            .spawn(move || {
                // A periodic timer: idle sessions are ended within a second of their limit;
                // sessions an earlier run left open are closed every idle time (at most
                // once a minute).
                let mut ticks = 0u64;
                while still_sweeping.load(Ordering::Relaxed) {
                    if ticks.is_multiple_of(stale_every_s) {
                        for_sweep.end_stale_sessions();
                    }
                    ticks += 1;
                    thread::sleep(Duration::from_secs(1));
                    for_sweep.sweep_idle();
                }
            })
            .context("starting the session sweeper")?;

        let for_library = Arc::clone(&live);
        let library_running = Arc::clone(&sweeping);
        thread::Builder::new()
            .name("library-job".to_owned())
            .spawn(move || crate::jobs::library::run_job(&for_library, &library_running))
            .context("starting the library job")?;

        let for_planning = Arc::clone(&live);
        let planning_running = Arc::clone(&sweeping);
        thread::Builder::new()
            .name("planning-job".to_owned())
            .spawn(move || crate::jobs::planning::run_job(&for_planning, &planning_running))
            .context("starting the planning job")?;

        let for_insights = Arc::clone(&live);
        let insights_running = Arc::clone(&sweeping);
        thread::Builder::new()
            .name("insights-job".to_owned())
            .spawn(move || crate::jobs::insights::run_job(&for_insights, &insights_running))
            .context("starting the insights job")?;

        let for_retention = Arc::clone(&live);
        let retention_running = Arc::clone(&sweeping);
        thread::Builder::new()
            .name("retention-job".to_owned())
            .spawn(move || {
                crate::jobs::maintenance::run_job(
                    &for_retention,
                    crate::jobs::maintenance::RetentionDays::default(),
                    &retention_running,
                )
            })
            .context("starting the retention job")?;

        let endpoint = quic::bind(settings.quic, &cert).context("starting QUIC")?;
        let quic_addr = endpoint.local_addr().context("the QUIC address")?;
        tokio::spawn(quic::serve(endpoint.clone(), Arc::clone(&live)));

        let listener = tokio::net::TcpListener::bind(settings.http)
            .await
            .with_context(|| format!("HTTP listen address {}", settings.http))?;
        let http_addr = listener.local_addr().context("the HTTP address")?;
        let (http_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let now_ms = clock.now_ms();
        let signing_key = store
            .write(|tx| {
                crate::store::server_secret(tx, &store.server_key(), SIGNING_KEY_NAME, now_ms)
            })
            .context("the API token key")?;
        let first_admin = tokio::task::block_in_place(|| {
            bootstrap_admin(&store, &settings.admin_tenant, &settings.data_dir, now_ms)
        })
        .context("creating the first administrator")?;
        let outbound = crate::outbound::Outbound::new(settings.outbound_allow_private)
            .context("the outbound HTTP client")?;
        let sync = crate::jobs::sync::settings_from(&settings.sync_keys)
            .context("the provider sync settings (PACELINE_STRAVA_…, PACELINE_PUBLIC_URL)")?
            .map(|sync_settings| {
                crate::jobs::sync::ProviderSync::new(
                    sync_settings,
                    outbound.clone(),
                    Arc::clone(&store),
                    clock,
                )
            });
        if let Some(sync) = &sync {
            tokio::spawn(crate::jobs::sync::run(
                Arc::clone(sync),
                Arc::clone(&sweeping),
            ));
        }
        match &settings.mail {
            None => tracing::info!(
                "no SMTP server configured (PACELINE_SMTP_URL): no weekly digest is sent"
            ),
            Some(mail) if mail.tick_s == 0 => tracing::info!(
                "the weekly digest job is off (digest_tick_s = 0): `paceline digest run` sends them"
            ),
            Some(mail) => {
                let mailer = crate::jobs::digest::Mailer::new(mail)
                    .context("the weekly digest's SMTP settings")?;
                tokio::spawn(crate::jobs::digest::run(
                    Arc::clone(&store),
                    mailer,
                    clock,
                    mail.tick_s,
                    Arc::clone(&sweeping),
                ));
            }
        }
        let registry = Arc::new(registry);
        let api = ApiState(Arc::new(
            Api::new(
                Arc::clone(&live),
                TokenKeys::from_secret(&signing_key),
                settings.access_token_ttl.as_secs(),
                Connectivity {
                    mqtt: mqtt_addr,
                    quic: quic_addr,
                    quic_cert_sha256: cert.fingerprint(),
                },
                settings.trusted_proxies.clone(),
                outbound,
            )
            .with_import_limits(settings.import_limits)
            .with_sync(sync)
            .with_chat(
                crate::chat::ChatRuntime::new(&settings.chat)
                    .context("the coach chat's LLM client")?,
            )
            .with_sms(
                settings
                    .sms
                    .clone()
                    .map(crate::chat::sms::Twilio::new)
                    .transpose()
                    .context("the SMS client")?,
            )
            .with_runtime(crate::api::console::Runtime {
                health: Arc::clone(&health),
                registry: Arc::clone(&registry),
                mqtt_subscribed: mqtt_subscribed.clone(),
                started: std::time::Instant::now(),
            }),
        ));
        drop(signing_key);
        let mut app = http::router(
            HttpState {
                live: Arc::clone(&live),
                registry,
                mqtt_subscribed,
                health,
            },
            api,
        );
        if let Some(hooks) = settings
            .external_broker
            .as_ref()
            .and_then(|external| external_broker::hooks_router(Arc::clone(&live), external))
        {
            app = app.merge(hooks);
        }
        tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the HTTP server stopped");
            }
        });

        Ok(Gateway {
            live,
            http: http_addr,
            mqtt: mqtt_addr,
            mqtt_broker: settings
                .external_broker
                .as_ref()
                .map(|external| external.address.clone()),
            quic: quic_addr,
            data_dir,
            cert_fingerprint: cert.fingerprint(),
            cert_created: cert.created,
            first_admin,
            writes,
            writer: Some(writer),
            engine: Some(engine),
            endpoint,
            http_stop: Some(http_stop),
            sweeping,
        })
    }

    /// Stops taking frames, commits and acknowledges what was received, and stops.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.live.stop_taking_frames();
        self.sweeping.store(false, Ordering::Relaxed);
        let writes = self.writes.clone();
        tokio::task::spawn_blocking(move || writes.flush())
            .await
            .context("flushing the database writer")?
            .context("flushing the database writer")?;
        // The acks of the last commit are on their way; give the transports a moment to
        // put them on the wire before connections close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"gateway shutting down");
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        // The engine and the writer stop with the process; open sessions are coached again
        // after the next start.
        // (Dropping the engine would join its workers, which wait for every input handle.)
        std::mem::forget(self.engine.take());
        drop(self.writer.take());
        Ok(())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // Dropping the engine would join its workers, which wait for every input handle
        // (the live loop holds one): a gateway dropped without `shutdown` (an error on the
        // way) must not hang its caller.
        if let Some(engine) = self.engine.take() {
            std::mem::forget(engine);
        }
    }
}

/// Descriptors the embedded broker holds per device: the device's socket (the front door
/// reaches rumqttd's router in process, through no socket).
const FILES_PER_MQTT_DEVICE: u64 = 1;

/// Raises the process's limit on open files towards `wanted`: the hard limit too if the
/// process may (it has `CAP_SYS_RESOURCE`), else the soft limit up to the hard one.
/// Returns the soft limit in force afterwards (`None`: unlimited).
pub fn raise_open_files_limit(wanted: u64) -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|current| current >= wanted) {
        return limit.current;
    }
    let beyond_hard = Rlimit {
        current: Some(wanted),
        maximum: Some(wanted),
    };
    if limit.maximum.is_some_and(|hard| hard < wanted)
        && setrlimit(Resource::Nofile, beyond_hard).is_ok()
    {
        return Some(wanted);
    }
    let up_to_hard = Rlimit {
        current: limit.maximum.map(|hard| hard.min(wanted)),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, up_to_hard) {
        Ok(()) => up_to_hard.current,
        Err(err) => {
            tracing::warn!(error = %err, "raising the open-file limit failed");
            limit.current
        }
    }
}

/// Raises the open-file limit for `max_connections` MQTT devices (the usual soft limit,
/// 1,024, would hold a gym to about 750), and warns when the limit stays short of it.
fn raise_open_files_for_devices(max_connections: usize) {
    let needed = (max_connections as u64).saturating_mul(FILES_PER_MQTT_DEVICE) + 256;
    if let Some(in_force) = raise_open_files_limit(needed)
        && in_force < needed
    {
        tracing::warn!(
            open_files = in_force,
            mqtt_devices = in_force.saturating_sub(256) / FILES_PER_MQTT_DEVICE,
            mqtt_max_connections = max_connections,
            "the open-file limit holds fewer MQTT devices than mqtt_max_connections; raise it (LimitNOFILE in the systemd unit, ulimit -Hn)"
        );
    }
}

/// Prints where the gateway listens (standard output: this is what the operator reads).
pub fn print_banner(gateway: &Gateway) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Paceline gateway running\n  \
         data   {data} (database paceline.db)\n  \
         HTTP   http://{http}  (/health/live, /health/ready, /metrics)\n  \
         MQTT   {mqtt}{external}\n  \
         QUIC   {quic}  certificate SHA-256 {fp}{new}\n\
         API    http://{http}/api/v1  (OpenAPI: /api/v1/openapi.json)\n\
         Pair a device: paceline device add --tenant T --athlete A\n\
         Stop with Ctrl-C (frames received are committed and acknowledged first).",
        data = gateway.data_dir.display(),
        http = gateway.http,
        mqtt = gateway.mqtt,
        external = match &gateway.mqtt_broker {
            Some(broker) => format!("  (external broker {broker})"),
            None => String::new(),
        },
        quic = gateway.quic,
        fp = gateway.cert_fingerprint,
        new = if gateway.cert_created { " (new)" } else { "" },
    );
    if let Some(admin) = &gateway.first_admin {
        let _ = writeln!(
            out,
            "First start: an administrator of tenant {tenant} was created. Log in with\n  \
             email          {email}\n  \
             password file  {file}\n\
             The file (mode 0600) holds the one-time password: read it, log in and delete it.",
            tenant = admin.tenant,
            email = admin.email,
            file = admin.password_file.display(),
        );
    }
    let _ = out.flush();
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listening for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
