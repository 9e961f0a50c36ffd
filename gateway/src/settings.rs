//! The gateway's settings: built-in defaults, overridden by a TOML file, overridden by
//! `PACELINE_*` environment variables, overridden by command-line flags.
//!
//! The defaults are the embedded single-machine install: everything on loopback, the data
//! in `./paceline-data`. Each layer only sets what it names; [`SettingsLayer`] is one layer
//! (the file's form and the flags' form alike) and [`Settings::resolve`] stacks them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::quotas::QuotaLimits;

/// Default data folder.
pub const DEFAULT_DATA_DIR: &str = "paceline-data";
/// Default HTTP listen address.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// Default MQTT listen address.
pub const DEFAULT_MQTT: &str = "127.0.0.1:1883";
/// Default QUIC listen address.
pub const DEFAULT_QUIC: &str = "127.0.0.1:4433";
/// Default most writes per transaction. A commit costs one `fsync` whatever its size, so
/// when the disk is slow the batches must be free to grow to carry the load (at 2,000
/// athletes, 10,000 frames/s, commits averaged 1,376 writes in
/// `bench/results/2026-12-01-vm.md`; 2,048 left little room on a slower disk).
pub const DEFAULT_WRITER_BATCH: usize = 8192;

/// The default group-commit window, ms: at low load a frame waits at most this long for
/// others to share its transaction and its fsync (issue 20: one fsync per frame was a
/// large part of the server's CPU per frame); under load batches fill on their own.
pub const DEFAULT_GROUP_COMMIT_MS: u64 = 2;

/// The longest group-commit window allowed, ms (acks wait for it).
const MAX_GROUP_COMMIT_MS: usize = 100;

/// How long live frames stay in the writer's inbox by default, ms: 0, no inbox. With
/// 1,000 ms the writer costs a quarter less per frame at 1,000 athletes (a session's
/// index leaves are written once a second instead of once per frame; the move goes in
/// eight slices a second), but each slice is a few ms of CPU, and with the server on one
/// core the cue p99 at 1,000 athletes went from 1.6–3.1 to 4.3–5.2 ms
/// (`bench/results/e2e-writer-inbox/2026-12-08-vm-inbox-slices.md`): coaching latency
/// first, so the inbox is for a server short of CPU.
pub const DEFAULT_INBOX_MOVE_MS: u64 = 0;

/// The longest inbox interval allowed, ms (a reader of a live session that is not
/// moved first scans the inbox, so it stays small).
const MAX_INBOX_MOVE_MS: usize = 10_000;

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("setting {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// One layer of settings: every field optional. The TOML file has this shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsLayer {
    /// Data folder (database, server key, QUIC certificate).
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address (health, metrics, API).
    pub http: Option<SocketAddr>,
    /// MQTT listen address of the embedded broker.
    pub mqtt: Option<SocketAddr>,
    /// QUIC listen address.
    pub quic: Option<SocketAddr>,
    /// Engine worker threads.
    pub engine_workers: Option<usize>,
    /// A session with no frame for this long is ended, s.
    pub session_idle_s: Option<u64>,
    /// Most frames the writer puts in one transaction.
    pub writer_batch: Option<usize>,
    /// How long the writer gathers writes after the first before it commits, ms (0: off).
    pub group_commit_ms: Option<u64>,
    /// How long live frames stay in the writer's inbox before a commit moves them into
    /// the indexed tables, ms (0: no inbox).
    pub inbox_move_ms: Option<u64>,
    /// Most simultaneous MQTT connections.
    pub mqtt_max_connections: Option<usize>,
    /// Lifetime of API access tokens, s.
    pub access_token_ttl_s: Option<u64>,
    /// The tenant (slug) of the administrator account made on first start.
    pub admin_tenant: Option<String>,
    /// `host:port` of an external MQTT broker to use instead of the embedded one.
    pub mqtt_broker: Option<String>,
    /// The gateway's user name at the external broker.
    pub mqtt_broker_user: Option<String>,
    /// The gateway's password at the external broker.
    pub mqtt_broker_password: Option<Secret>,
    /// The filter the gateway subscribes to the uplinks with at the external broker.
    pub mqtt_subscription: Option<String>,
    /// The secret the external broker calls the device-authentication hooks with.
    pub mqtt_hook_secret: Option<Secret>,
    /// Reverse proxies (addresses or blocks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<String>>,
    /// Most sessions a device opens in 24 h.
    pub device_sessions_per_day: Option<u32>,
    /// Sustained samples per second of a device.
    pub device_samples_per_s: Option<u32>,
    /// A device's burst, in seconds' worth of samples at the sustained rate.
    pub device_samples_burst_s: Option<u32>,
    /// Most devices of a tenant (revoked ones not counted).
    pub tenant_devices: Option<u32>,
    /// Most bytes of frames a tenant stores.
    pub tenant_storage_bytes: Option<u64>,
    /// Largest activity file imported (and largest decompressed), bytes.
    pub import_max_file_bytes: Option<u64>,
    /// Largest activity import upload (all its files), bytes.
    pub import_max_upload_bytes: Option<u64>,
    /// Let the server fetch URLs on private and loopback addresses (calendars on the
    /// install's own network; tests). Off by default: see [`crate::outbound`].
    pub outbound_allow_private: Option<bool>,
    /// The SMTP server the weekly digest goes through: `smtp://user:pass@host:port`
    /// (STARTTLS required), `…?tls=opportunistic` (STARTTLS when offered), or
    /// `smtps://…` (TLS from the first byte). Unset: no digest is sent.
    pub smtp_url: Option<Secret>,
    /// The digest's sender, `Name <address>` or an address.
    pub mail_from: Option<String>,
    /// A PEM file of extra CA certificates the SMTP server's certificate may chain to
    /// (a relay with a private CA).
    pub smtp_ca_file: Option<PathBuf>,
    /// The server's public base URL: the digest's unsubscribe link starts with it, and
    /// providers redirect and call back to it (`PACELINE_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// How often the digest job looks for due digests, s (0: never; `paceline digest run`
    /// sends them instead).
    pub digest_tick_s: Option<u64>,
    /// The coach chat's LLM: an OpenAI-compatible server (`https://host/v1` or
    /// `https://host`); none: the offline engine answers alone.
    pub llm_base_url: Option<String>,
    /// The model name sent to it.
    pub llm_model: Option<String>,
    /// Its API key (sent as a bearer token; never logged).
    pub llm_api_key: Option<Secret>,
    /// How long a model's answer is waited for before the offline engine answers, ms.
    pub llm_timeout_ms: Option<u64>,
    /// Chat messages one user may send a day (UTC).
    pub chat_messages_per_day: Option<u32>,
    /// Twilio's REST API (default `https://api.twilio.com`; a local server in tests).
    pub twilio_base_url: Option<String>,
    /// The Twilio account (`AC…`); SMS is on when the account, token, number and webhook
    /// URL are all set.
    pub twilio_account_sid: Option<String>,
    /// The account's auth token: basic auth to the REST API and the key of the webhook's
    /// `X-Twilio-Signature`.
    pub twilio_auth_token: Option<Secret>,
    /// The number messages are sent from (E.164).
    pub twilio_from: Option<String>,
    /// The public URL Twilio posts incoming messages to (`https://host/webhooks/sms`),
    /// exactly as configured at Twilio: the signature covers it.
    pub twilio_webhook_url: Option<String>,
    /// Messages taken from one phone number an hour; past it the number gets one notice,
    /// then nothing until the hour is over.
    pub sms_inbound_per_hour: Option<u32>,
    /// Messages sent to one phone number a day (UTC): replies, notices and codes.
    pub sms_outbound_per_day: Option<u32>,
    /// Strava's client id (`PACELINE_STRAVA_CLIENT_ID`; sync with Strava is on with it).
    pub strava_client_id: Option<String>,
    /// Strava's client secret.
    pub strava_client_secret: Option<Secret>,
    /// Strava's webhook verify token.
    pub strava_verify_token: Option<Secret>,
    /// The origin of Strava's `/oauth/…` and `/api/v3/…` (default Strava's).
    pub strava_base_url: Option<String>,
    /// Garmin's client id.
    pub garmin_client_id: Option<String>,
    /// Garmin's client secret.
    pub garmin_client_secret: Option<Secret>,
    /// One origin for everything Garmin (the local provider servers).
    pub garmin_base_url: Option<String>,
    /// The backfill window, days.
    pub sync_backfill_days: Option<u32>,
    /// Finished sync jobs are deleted after this many days.
    pub sync_keep_done_days: Option<u32>,
}

/// A secret setting: never printed (its `Debug` is redacted).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret.
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where the external MQTT broker is and how the gateway uses it
/// ([`crate::transport::external_broker`]).
#[derive(Debug, Clone)]
pub struct ExternalBroker {
    /// `host:port`.
    pub address: String,
    /// The gateway's user name there.
    pub user: String,
    /// The gateway's password there, if the broker asks for one.
    pub password: Option<Secret>,
    /// The uplink subscription (a shared one by default).
    pub subscription: String,
    /// The secret the broker proves itself with when it calls the hooks.
    pub hook_secret: Option<Secret>,
}

/// The default uplink subscription at an external broker: every device's uplink, shared
/// among the gateways of the group `paceline`.
pub const DEFAULT_MQTT_SUBSCRIPTION: &str = "$share/paceline/pl/v1/+/+/up";
/// The gateway's default user name at an external broker.
pub const DEFAULT_MQTT_BROKER_USER: &str = "paceline-gateway";

impl SettingsLayer {
    /// Reads a TOML settings file.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| SettingsError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// This layer with `over`'s values wherever `over` has one.
    pub fn overlaid_by(self, over: SettingsLayer) -> SettingsLayer {
        SettingsLayer {
            data_dir: over.data_dir.or(self.data_dir),
            http: over.http.or(self.http),
            mqtt: over.mqtt.or(self.mqtt),
            quic: over.quic.or(self.quic),
            engine_workers: over.engine_workers.or(self.engine_workers),
            session_idle_s: over.session_idle_s.or(self.session_idle_s),
            writer_batch: over.writer_batch.or(self.writer_batch),
            group_commit_ms: over.group_commit_ms.or(self.group_commit_ms),
            inbox_move_ms: over.inbox_move_ms.or(self.inbox_move_ms),
            mqtt_max_connections: over.mqtt_max_connections.or(self.mqtt_max_connections),
            access_token_ttl_s: over.access_token_ttl_s.or(self.access_token_ttl_s),
            admin_tenant: over.admin_tenant.or(self.admin_tenant),
            mqtt_broker: over.mqtt_broker.or(self.mqtt_broker),
            mqtt_broker_user: over.mqtt_broker_user.or(self.mqtt_broker_user),
            mqtt_broker_password: over.mqtt_broker_password.or(self.mqtt_broker_password),
            mqtt_subscription: over.mqtt_subscription.or(self.mqtt_subscription),
            mqtt_hook_secret: over.mqtt_hook_secret.or(self.mqtt_hook_secret),
            trusted_proxies: over.trusted_proxies.or(self.trusted_proxies),
            device_sessions_per_day: over
                .device_sessions_per_day
                .or(self.device_sessions_per_day),
            device_samples_per_s: over.device_samples_per_s.or(self.device_samples_per_s),
            device_samples_burst_s: over.device_samples_burst_s.or(self.device_samples_burst_s),
            tenant_devices: over.tenant_devices.or(self.tenant_devices),
            tenant_storage_bytes: over.tenant_storage_bytes.or(self.tenant_storage_bytes),
            import_max_file_bytes: over.import_max_file_bytes.or(self.import_max_file_bytes),
            import_max_upload_bytes: over
                .import_max_upload_bytes
                .or(self.import_max_upload_bytes),
            outbound_allow_private: over.outbound_allow_private.or(self.outbound_allow_private),
            smtp_url: over.smtp_url.or(self.smtp_url),
            mail_from: over.mail_from.or(self.mail_from),
            smtp_ca_file: over.smtp_ca_file.or(self.smtp_ca_file),
            public_url: over.public_url.or(self.public_url),
            digest_tick_s: over.digest_tick_s.or(self.digest_tick_s),
            llm_base_url: over.llm_base_url.or(self.llm_base_url),
            llm_model: over.llm_model.or(self.llm_model),
            llm_api_key: over.llm_api_key.or(self.llm_api_key),
            llm_timeout_ms: over.llm_timeout_ms.or(self.llm_timeout_ms),
            chat_messages_per_day: over.chat_messages_per_day.or(self.chat_messages_per_day),
            twilio_base_url: over.twilio_base_url.or(self.twilio_base_url),
            twilio_account_sid: over.twilio_account_sid.or(self.twilio_account_sid),
            twilio_auth_token: over.twilio_auth_token.or(self.twilio_auth_token),
            twilio_from: over.twilio_from.or(self.twilio_from),
            sms_inbound_per_hour: over.sms_inbound_per_hour.or(self.sms_inbound_per_hour),
            sms_outbound_per_day: over.sms_outbound_per_day.or(self.sms_outbound_per_day),
            twilio_webhook_url: over.twilio_webhook_url.or(self.twilio_webhook_url),
            strava_client_id: over.strava_client_id.or(self.strava_client_id),
            strava_client_secret: over.strava_client_secret.or(self.strava_client_secret),
            strava_verify_token: over.strava_verify_token.or(self.strava_verify_token),
            strava_base_url: over.strava_base_url.or(self.strava_base_url),
            garmin_client_id: over.garmin_client_id.or(self.garmin_client_id),
            garmin_client_secret: over.garmin_client_secret.or(self.garmin_client_secret),
            garmin_base_url: over.garmin_base_url.or(self.garmin_base_url),
            sync_backfill_days: over.sync_backfill_days.or(self.sync_backfill_days),
            sync_keep_done_days: over.sync_keep_done_days.or(self.sync_keep_done_days),
        }
    }

    /// The provider-sync keys this layer sets, by their environment names
    /// (`strava_client_id` → `PACELINE_STRAVA_CLIENT_ID`).
    pub fn sync_keys(&self) -> SyncKeys {
        let text = |v: &Option<String>| v.clone();
        let secret = |v: &Option<Secret>| v.as_ref().map(|s| s.expose().to_owned());
        let days = |v: Option<u32>| v.map(|d| d.to_string());
        let pairs = [
            ("PACELINE_PUBLIC_URL", text(&self.public_url)),
            ("PACELINE_STRAVA_CLIENT_ID", text(&self.strava_client_id)),
            (
                "PACELINE_STRAVA_CLIENT_SECRET",
                secret(&self.strava_client_secret),
            ),
            (
                "PACELINE_STRAVA_VERIFY_TOKEN",
                secret(&self.strava_verify_token),
            ),
            ("PACELINE_STRAVA_BASE_URL", text(&self.strava_base_url)),
            ("PACELINE_GARMIN_CLIENT_ID", text(&self.garmin_client_id)),
            (
                "PACELINE_GARMIN_CLIENT_SECRET",
                secret(&self.garmin_client_secret),
            ),
            ("PACELINE_GARMIN_BASE_URL", text(&self.garmin_base_url)),
            ("PACELINE_SYNC_BACKFILL_DAYS", days(self.sync_backfill_days)),
            (
                "PACELINE_SYNC_KEEP_DONE_DAYS",
                days(self.sync_keep_done_days),
            ),
        ];
        SyncKeys(
            pairs
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect(),
        )
    }
}

/// The provider-sync settings of the config file, by environment name; the environment
/// wins over them ([`crate::jobs::sync::settings_from`]). Never printed: they hold secrets.
#[derive(Clone, Default)]
pub struct SyncKeys(pub std::collections::BTreeMap<&'static str, String>);

impl std::fmt::Debug for SyncKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data folder.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// MQTT listen address.
    pub mqtt: SocketAddr,
    /// QUIC listen address.
    pub quic: SocketAddr,
    /// Engine worker threads.
    pub engine_workers: usize,
    /// Silence after which a session is ended.
    pub session_idle: Duration,
    /// Most frames per write transaction.
    pub writer_batch: usize,
    /// The group-commit window: how long the writer gathers writes, from the first one
    /// waiting, before it commits them in one transaction (zero: commit what is waiting).
    pub group_commit: Duration,
    /// How long live frames stay in the writer's inbox (appended by arrival, no
    /// per-session index) before a commit moves them, each session's together, into
    /// `frames` and `samples` (zero: no inbox, frames go straight into `frames`).
    pub inbox_move: Duration,
    /// Most simultaneous MQTT connections.
    pub mqtt_max_connections: usize,
    /// Lifetime of API access tokens.
    pub access_token_ttl: Duration,
    /// The tenant of the first administrator.
    pub admin_tenant: paceline_schemas::TenantId,
    /// The external MQTT broker, if the gateway uses one instead of its embedded broker.
    pub external_broker: Option<ExternalBroker>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (none by default: the header
    /// is ignored and the TCP peer is the client).
    pub trusted_proxies: Vec<crate::accounts::address::IpBlock>,
    /// Per-device and per-tenant quotas ([`crate::quotas`]).
    pub quotas: QuotaLimits,
    /// The size caps of activity imports.
    pub import_limits: crate::api::activities::ImportLimits,
    /// Whether outbound fetches may reach private and loopback addresses.
    pub outbound_allow_private: bool,
    /// The weekly digest's mail settings, when SMTP is configured.
    pub mail: Option<MailSettings>,
    /// The coach chat's settings.
    pub chat: ChatSettings,
    /// SMS through Twilio, when configured.
    pub sms: Option<SmsSettings>,
    /// The config file's provider-sync keys.
    pub sync_keys: SyncKeys,
}

/// SMS through Twilio ([`crate::chat::sms`]).
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// The REST API's base URL, without a trailing `/`.
    pub base_url: String,
    /// The account.
    pub account_sid: String,
    /// The auth token.
    pub auth_token: Secret,
    /// Our number.
    pub from: String,
    /// The webhook's public URL.
    pub webhook_url: String,
    /// Messages taken from one number an hour ([`DEFAULT_SMS_INBOUND_PER_HOUR`]).
    pub inbound_per_hour: u32,
    /// Messages sent to one number a day, UTC ([`DEFAULT_SMS_OUTBOUND_PER_DAY`]).
    pub outbound_per_day: u32,
}

/// Messages one number may send an hour by default: a brisk conversation, not a flood.
pub const DEFAULT_SMS_INBOUND_PER_HOUR: u32 = 30;
/// Messages sent to one number a day by default (each SMS segment counts).
pub const DEFAULT_SMS_OUTBOUND_PER_DAY: u32 = 100;

/// Twilio's REST API.
pub const DEFAULT_TWILIO_BASE_URL: &str = "https://api.twilio.com";

/// The SMS settings, checked: all of account, token, number and webhook URL, or none.
fn sms(layer: &SettingsLayer) -> Result<Option<SmsSettings>, SettingsError> {
    let (sid, token, from, webhook) = (
        &layer.twilio_account_sid,
        &layer.twilio_auth_token,
        &layer.twilio_from,
        &layer.twilio_webhook_url,
    );
    if sid.is_none() && token.is_none() && from.is_none() && webhook.is_none() {
        return Ok(None);
    }
    let missing = |name: &'static str| SettingsError::Invalid {
        name,
        reason:
            "SMS needs twilio_account_sid, twilio_auth_token, twilio_from and twilio_webhook_url"
                .to_owned(),
    };
    let sid = sid.clone().ok_or(missing("twilio_account_sid"))?;
    let token = token.clone().ok_or(missing("twilio_auth_token"))?;
    let from = from.clone().ok_or(missing("twilio_from"))?;
    let webhook_url = webhook.clone().ok_or(missing("twilio_webhook_url"))?;
    let base_url = layer
        .twilio_base_url
        .clone()
        .unwrap_or_else(|| DEFAULT_TWILIO_BASE_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();
    for (name, url) in [
        ("twilio_base_url", &base_url),
        ("twilio_webhook_url", &webhook_url),
    ] {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains('@') {
            return Err(SettingsError::Invalid {
                name,
                reason: "an http(s):// URL without credentials".to_owned(),
            });
        }
    }
    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SettingsError::Invalid {
            name: "twilio_account_sid",
            reason: "letters and digits (AC…)".to_owned(),
        });
    }
    let inbound_per_hour = layer
        .sms_inbound_per_hour
        .unwrap_or(DEFAULT_SMS_INBOUND_PER_HOUR);
    check_range(
        "sms_inbound_per_hour",
        usize::try_from(inbound_per_hour).unwrap_or(usize::MAX),
        1,
        10_000,
    )?;
    let outbound_per_day = layer
        .sms_outbound_per_day
        .unwrap_or(DEFAULT_SMS_OUTBOUND_PER_DAY);
    check_range(
        "sms_outbound_per_day",
        usize::try_from(outbound_per_day).unwrap_or(usize::MAX),
        1,
        100_000,
    )?;
    Ok(Some(SmsSettings {
        base_url,
        account_sid: sid,
        auth_token: token,
        from,
        webhook_url,
        inbound_per_hour,
        outbound_per_day,
    }))
}

/// The coach chat's settings: its daily limit and the LLM, if one is configured.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Messages one user may send a day (UTC).
    pub messages_per_day: u32,
    /// The LLM; none: the offline engine answers alone.
    pub llm: Option<LlmSettings>,
}

/// Where the coach chat's LLM is ([`crate::chat::llm`]).
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `http(s)://host[:port][/path]`, without a trailing `/`.
    pub base_url: String,
    /// The model name.
    pub model: String,
    /// The bearer key, if the server wants one.
    pub api_key: Option<Secret>,
    /// How long an answer is waited for.
    pub timeout: Duration,
}

/// The default wait for the LLM's answer, ms.
pub const DEFAULT_LLM_TIMEOUT_MS: u64 = 60_000;

/// The chat's settings, checked: the LLM needs a base URL and a model together.
fn chat(layer: &SettingsLayer) -> Result<ChatSettings, SettingsError> {
    let messages_per_day = layer
        .chat_messages_per_day
        .unwrap_or(crate::chat::MESSAGES_PER_DAY);
    check_range(
        "chat_messages_per_day",
        usize::try_from(messages_per_day).unwrap_or(usize::MAX),
        1,
        100_000,
    )?;
    let timeout_ms = layer.llm_timeout_ms.unwrap_or(DEFAULT_LLM_TIMEOUT_MS);
    check_range(
        "llm_timeout_ms",
        usize::try_from(timeout_ms).unwrap_or(usize::MAX),
        100,
        600_000,
    )?;
    let llm = match (&layer.llm_base_url, &layer.llm_model) {
        (None, None) => {
            if layer.llm_api_key.is_some() {
                return Err(SettingsError::Invalid {
                    name: "llm_api_key",
                    reason: "only applies with llm_base_url and llm_model".to_owned(),
                });
            }
            None
        }
        (Some(base), Some(model)) => {
            let base_url = base.trim().trim_end_matches('/').to_owned();
            if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
                || base_url.contains('@')
            {
                return Err(SettingsError::Invalid {
                    name: "llm_base_url",
                    reason: "an http(s):// URL without credentials (the key is llm_api_key)"
                        .to_owned(),
                });
            }
            if model.trim().is_empty() {
                return Err(SettingsError::Invalid {
                    name: "llm_model",
                    reason: "empty".to_owned(),
                });
            }
            Some(LlmSettings {
                base_url,
                model: model.trim().to_owned(),
                api_key: layer.llm_api_key.clone(),
                timeout: Duration::from_millis(timeout_ms),
            })
        }
        (Some(_), None) => {
            return Err(SettingsError::Invalid {
                name: "llm_model",
                reason: "required with llm_base_url".to_owned(),
            });
        }
        (None, Some(_)) => {
            return Err(SettingsError::Invalid {
                name: "llm_base_url",
                reason: "required with llm_model".to_owned(),
            });
        }
    };
    Ok(ChatSettings {
        messages_per_day,
        llm,
    })
}

/// The weekly digest's mail settings ([`crate::jobs::digest`]).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://` or `smtps://` URL, with the credentials.
    pub smtp_url: Secret,
    /// The sender.
    pub mail_from: String,
    /// Extra CA certificates (PEM), if any.
    pub ca_file: Option<PathBuf>,
    /// The public base URL, without a trailing slash.
    pub public_url: String,
    /// The job's tick, s (0: no job).
    pub tick_s: u64,
}

/// The default digest tick, s.
pub const DEFAULT_DIGEST_TICK_S: u64 = 60;

impl Settings {
    /// The defaults overlaid by `layer`, checked.
    pub fn resolve(layer: SettingsLayer) -> Result<Settings, SettingsError> {
        let parse = |text: &str| text.parse::<SocketAddr>().ok();
        let external_broker = external_broker(&layer)?;
        let quotas = quotas(&layer)?;
        let import_limits = import_limits(&layer)?;
        let mail = mail(&layer)?;
        let chat = chat(&layer)?;
        let sms = sms(&layer)?;
        let sync_keys = layer.sync_keys();
        let settings = Settings {
            data_dir: layer
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            http: layer
                .http
                .or_else(|| parse(DEFAULT_HTTP))
                .ok_or(invalid("http"))?,
            mqtt: layer
                .mqtt
                .or_else(|| parse(DEFAULT_MQTT))
                .ok_or(invalid("mqtt"))?,
            quic: layer
                .quic
                .or_else(|| parse(DEFAULT_QUIC))
                .ok_or(invalid("quic"))?,
            engine_workers: layer.engine_workers.unwrap_or(1),
            session_idle: Duration::from_secs(layer.session_idle_s.unwrap_or(300)),
            writer_batch: layer.writer_batch.unwrap_or(DEFAULT_WRITER_BATCH),
            group_commit: Duration::from_millis(
                layer.group_commit_ms.unwrap_or(DEFAULT_GROUP_COMMIT_MS),
            ),
            inbox_move: Duration::from_millis(layer.inbox_move_ms.unwrap_or(DEFAULT_INBOX_MOVE_MS)),
            mqtt_max_connections: layer.mqtt_max_connections.unwrap_or(20_000),
            access_token_ttl: Duration::from_secs(
                layer
                    .access_token_ttl_s
                    .unwrap_or(crate::accounts::tokens::ACCESS_TTL_S),
            ),
            admin_tenant: paceline_schemas::TenantId::new(
                layer.admin_tenant.unwrap_or_else(|| "default".to_owned()),
            )
            .map_err(|e| SettingsError::Invalid {
                name: "admin_tenant",
                reason: e.to_string(),
            })?,
            external_broker,
            trusted_proxies: layer
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|text| text.parse())
                .collect::<Result<_, _>>()
                .map_err(
                    |e: crate::accounts::address::IpBlockError| SettingsError::Invalid {
                        name: "trusted_proxies",
                        reason: e.to_string(),
                    },
                )?,
            quotas,
            import_limits,
            outbound_allow_private: layer.outbound_allow_private.unwrap_or(false),
            mail,
            chat,
            sms,
            sync_keys,
        };
        let ttl_s = settings.access_token_ttl.as_secs();
        if !(1..=86_400).contains(&ttl_s) {
            return Err(SettingsError::Invalid {
                name: "access_token_ttl_s",
                reason: format!("{ttl_s} is outside 1..=86400"),
            });
        }
        check_range("engine_workers", settings.engine_workers, 1, 64)?;
        check_range("writer_batch", settings.writer_batch, 1, 100_000)?;
        check_range(
            "group_commit_ms",
            usize::try_from(settings.group_commit.as_millis()).unwrap_or(usize::MAX),
            0,
            MAX_GROUP_COMMIT_MS,
        )?;
        check_range(
            "inbox_move_ms",
            usize::try_from(settings.inbox_move.as_millis()).unwrap_or(usize::MAX),
            0,
            MAX_INBOX_MOVE_MS,
        )?;
        check_range(
            "mqtt_max_connections",
            settings.mqtt_max_connections,
            1,
            100_000,
        )?;
        if settings.session_idle < Duration::from_secs(1) {
            return Err(SettingsError::Invalid {
                name: "session_idle_s",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(settings)
    }
}

/// The external broker's settings, checked; `None` without `mqtt_broker`.
fn external_broker(layer: &SettingsLayer) -> Result<Option<ExternalBroker>, SettingsError> {
    let Some(address) = layer.mqtt_broker.clone() else {
        let unused = [
            ("mqtt_broker_user", layer.mqtt_broker_user.is_some()),
            ("mqtt_broker_password", layer.mqtt_broker_password.is_some()),
            ("mqtt_subscription", layer.mqtt_subscription.is_some()),
            ("mqtt_hook_secret", layer.mqtt_hook_secret.is_some()),
        ];
        if let Some((name, _)) = unused.iter().find(|(_, set)| *set) {
            return Err(SettingsError::Invalid {
                name,
                reason: "only applies with mqtt_broker (an external broker)".to_owned(),
            });
        }
        return Ok(None);
    };
    let subscription = layer
        .mqtt_subscription
        .clone()
        .unwrap_or_else(|| DEFAULT_MQTT_SUBSCRIPTION.to_owned());
    if !subscription.ends_with("/up") || !subscription.contains("pl/v1/") {
        return Err(SettingsError::Invalid {
            name: "mqtt_subscription",
            reason: format!("{subscription:?} is not a filter over pl/v1/…/up topics"),
        });
    }
    if let Some(secret) = &layer.mqtt_hook_secret
        && secret.expose().len() < 16
    {
        return Err(SettingsError::Invalid {
            name: "mqtt_hook_secret",
            reason: "must be at least 16 characters".to_owned(),
        });
    }
    Ok(Some(ExternalBroker {
        address,
        user: layer
            .mqtt_broker_user
            .clone()
            .unwrap_or_else(|| DEFAULT_MQTT_BROKER_USER.to_owned()),
        password: layer.mqtt_broker_password.clone(),
        subscription,
        hook_secret: layer.mqtt_hook_secret.clone(),
    }))
}

/// The digest's mail settings, checked; `None` without `smtp_url`.
fn mail(layer: &SettingsLayer) -> Result<Option<MailSettings>, SettingsError> {
    let Some(smtp_url) = layer.smtp_url.clone() else {
        return Ok(None);
    };
    let url = smtp_url.expose();
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(SettingsError::Invalid {
            name: "smtp_url",
            reason: "must start with smtp:// or smtps://".to_owned(),
        });
    }
    let mail_from = layer.mail_from.clone().ok_or(SettingsError::Invalid {
        name: "mail_from",
        reason: "is needed with smtp_url (the digest's sender)".to_owned(),
    })?;
    let public_url = layer
        .public_url
        .clone()
        .ok_or(SettingsError::Invalid {
            name: "public_url",
            reason: "is needed with smtp_url (the digest's unsubscribe link)".to_owned(),
        })?
        .trim_end_matches('/')
        .to_owned();
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        return Err(SettingsError::Invalid {
            name: "public_url",
            reason: "must start with https:// or http://".to_owned(),
        });
    }
    let tick_s = layer.digest_tick_s.unwrap_or(DEFAULT_DIGEST_TICK_S);
    if tick_s > 3600 {
        return Err(SettingsError::Invalid {
            name: "digest_tick_s",
            reason: format!("{tick_s} is outside 0..=3600"),
        });
    }
    Ok(Some(MailSettings {
        smtp_url,
        mail_from,
        ca_file: layer.smtp_ca_file.clone(),
        public_url,
        tick_s,
    }))
}

/// The import size caps, checked: each at least 1 KiB.
fn import_limits(
    layer: &SettingsLayer,
) -> Result<crate::api::activities::ImportLimits, SettingsError> {
    let defaults = crate::api::activities::ImportLimits::default();
    let limits = crate::api::activities::ImportLimits {
        max_file_bytes: layer
            .import_max_file_bytes
            .unwrap_or(defaults.max_file_bytes),
        max_upload_bytes: layer
            .import_max_upload_bytes
            .unwrap_or(defaults.max_upload_bytes),
    };
    for (name, value) in [
        ("import_max_file_bytes", limits.max_file_bytes),
        ("import_max_upload_bytes", limits.max_upload_bytes),
    ] {
        if value < 1024 {
            return Err(SettingsError::Invalid {
                name,
                reason: "must be at least 1024".to_owned(),
            });
        }
    }
    Ok(limits)
}

/// The quotas, checked: each at least 1 (a quota of 0 would refuse everything).
fn quotas(layer: &SettingsLayer) -> Result<QuotaLimits, SettingsError> {
    let defaults = QuotaLimits::default();
    let quotas = QuotaLimits {
        device_sessions_per_day: layer
            .device_sessions_per_day
            .unwrap_or(defaults.device_sessions_per_day),
        device_samples_per_s: layer
            .device_samples_per_s
            .unwrap_or(defaults.device_samples_per_s),
        device_samples_burst_s: layer
            .device_samples_burst_s
            .unwrap_or(defaults.device_samples_burst_s),
        tenant_devices: layer.tenant_devices.unwrap_or(defaults.tenant_devices),
        tenant_storage_bytes: layer
            .tenant_storage_bytes
            .unwrap_or(defaults.tenant_storage_bytes),
    };
    let widen = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
    check_range(
        "device_sessions_per_day",
        widen(quotas.device_sessions_per_day),
        1,
        100_000,
    )?;
    check_range(
        "device_samples_per_s",
        widen(quotas.device_samples_per_s),
        1,
        1_000_000,
    )?;
    check_range(
        "device_samples_burst_s",
        widen(quotas.device_samples_burst_s),
        1,
        86_400,
    )?;
    check_range(
        "tenant_devices",
        widen(quotas.tenant_devices),
        1,
        10_000_000,
    )?;
    if quotas.tenant_storage_bytes == 0 {
        return Err(SettingsError::Invalid {
            name: "tenant_storage_bytes",
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(quotas)
}

fn invalid(name: &'static str) -> SettingsError {
    SettingsError::Invalid {
        name,
        reason: "not a socket address".to_owned(),
    }
}

fn check_range(
    name: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), SettingsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::Invalid {
            name,
            reason: format!("{value} is outside {min}..={max}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_settings_need_a_sender_and_a_public_url() {
        let layer = |text: &str| toml::from_str::<SettingsLayer>(text).unwrap();
        assert!(
            Settings::resolve(SettingsLayer::default())
                .unwrap()
                .mail
                .is_none()
        );
        let full = "smtp_url = \"smtp://u:p@mail.example:587\"\nmail_from = \"Paceline <d@p.example>\"\npublic_url = \"https://p.example/\"\n";
        let mail = Settings::resolve(layer(full)).unwrap().mail.unwrap();
        assert_eq!(mail.public_url, "https://p.example");
        assert_eq!(mail.tick_s, DEFAULT_DIGEST_TICK_S);
        assert!(!format!("{mail:?}").contains("u:p@"), "the URL is a secret");
        for (text, name) in [
            (
                "smtp_url = \"smtp://m.example\"\npublic_url = \"https://p.example\"",
                "mail_from",
            ),
            (
                "smtp_url = \"smtp://m.example\"\nmail_from = \"d@p.example\"",
                "public_url",
            ),
            ("smtp_url = \"http://m.example\"", "smtp_url"),
        ] {
            match Settings::resolve(layer(text)) {
                Err(SettingsError::Invalid { name: got, .. }) => assert_eq!(got, name, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn later_layers_win_and_defaults_fill_the_rest() {
        let file: SettingsLayer =
            toml::from_str("http = \"127.0.0.1:9000\"\nsession_idle_s = 30\n").unwrap();
        let flags = SettingsLayer {
            session_idle_s: Some(5),
            ..SettingsLayer::default()
        };
        let settings = Settings::resolve(file.overlaid_by(flags)).unwrap();
        assert_eq!(settings.http.to_string(), "127.0.0.1:9000");
        assert_eq!(settings.session_idle, Duration::from_secs(5));
        assert_eq!(settings.mqtt.to_string(), DEFAULT_MQTT);
        assert_eq!(settings.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn the_example_config_files_are_valid_settings() {
        for (name, text) in [
            (
                "deploy/gateway/paceline.toml",
                include_str!("../../deploy/gateway/paceline.toml"),
            ),
            (
                "deploy/cluster/paceline.toml",
                include_str!("../../deploy/cluster/paceline.toml"),
            ),
        ] {
            let layer: SettingsLayer =
                toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            Settings::resolve(layer).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<SettingsLayer>("htp = \"x\"").is_err());
        let zero = SettingsLayer {
            engine_workers: Some(0),
            ..SettingsLayer::default()
        };
        let err = Settings::resolve(zero).unwrap_err().to_string();
        assert_eq!(err, "setting engine_workers: 0 is outside 1..=64");
        let proxies: SettingsLayer = toml::from_str("trusted_proxies = [\"10.0.0.0/40\"]").unwrap();
        let err = Settings::resolve(proxies).unwrap_err().to_string();
        assert!(err.contains("trusted_proxies"), "{err}");
    }

    #[test]
    fn the_group_commit_window_defaults_to_2_ms_and_may_be_off() {
        let settings = Settings::resolve(SettingsLayer::default()).unwrap();
        assert_eq!(settings.group_commit, Duration::from_millis(2));
        let off: SettingsLayer = toml::from_str("group_commit_ms = 0\n").unwrap();
        assert_eq!(Settings::resolve(off).unwrap().group_commit, Duration::ZERO);
        let long: SettingsLayer = toml::from_str("group_commit_ms = 101\n").unwrap();
        let err = Settings::resolve(long).unwrap_err().to_string();
        assert_eq!(err, "setting group_commit_ms: 101 is outside 0..=100");
    }

    #[test]
    fn the_inbox_is_off_by_default_and_its_interval_bounded() {
        let settings = Settings::resolve(SettingsLayer::default()).unwrap();
        assert_eq!(settings.inbox_move, Duration::ZERO);
        let on: SettingsLayer = toml::from_str("inbox_move_ms = 1000\n").unwrap();
        assert_eq!(
            Settings::resolve(on).unwrap().inbox_move,
            Duration::from_secs(1)
        );
        let long: SettingsLayer = toml::from_str("inbox_move_ms = 10001\n").unwrap();
        let err = Settings::resolve(long).unwrap_err().to_string();
        assert_eq!(err, "setting inbox_move_ms: 10001 is outside 0..=10000");
    }

    #[test]
    fn quotas_take_their_defaults_and_refuse_zero() {
        let settings = Settings::resolve(SettingsLayer::default()).unwrap();
        assert_eq!(settings.quotas, QuotaLimits::default());
        assert_eq!(settings.quotas.device_sessions_per_day, 48);
        assert_eq!(settings.quotas.tenant_storage_bytes, 2 << 30);
        let layer: SettingsLayer =
            toml::from_str("device_samples_per_s = 5\ntenant_devices = 1\n").unwrap();
        let settings = Settings::resolve(layer).unwrap();
        assert_eq!(settings.quotas.device_samples_per_s, 5);
        assert_eq!(settings.quotas.tenant_devices, 1);
        let zero = SettingsLayer {
            device_sessions_per_day: Some(0),
            ..SettingsLayer::default()
        };
        let err = Settings::resolve(zero).unwrap_err().to_string();
        assert_eq!(
            err,
            "setting device_sessions_per_day: 0 is outside 1..=100000"
        );
    }

    #[test]
    fn an_external_broker_takes_its_defaults_and_hides_its_secrets() {
        let layer: SettingsLayer = toml::from_str(
            "mqtt_broker = \"emqx:1883\"\nmqtt_broker_password = \"gateway-password\"\n\
             mqtt_hook_secret = \"a-hook-secret-of-32-characters!!\"\n",
        )
        .unwrap();
        let settings = Settings::resolve(layer).unwrap();
        let broker = settings.external_broker.clone().unwrap();
        assert_eq!(broker.address, "emqx:1883");
        assert_eq!(broker.user, DEFAULT_MQTT_BROKER_USER);
        assert_eq!(broker.subscription, DEFAULT_MQTT_SUBSCRIPTION);
        let printed = format!("{settings:?}");
        assert!(!printed.contains("gateway-password"), "{printed}");
        assert!(!printed.contains("a-hook-secret"), "{printed}");
        assert!(
            Settings::resolve(SettingsLayer::default())
                .unwrap()
                .external_broker
                .is_none()
        );
    }

    #[test]
    fn the_llm_needs_a_url_and_a_model_and_hides_its_key() {
        let layer: SettingsLayer = toml::from_str(
            "llm_base_url = \"http://127.0.0.1:11434/v1/\"\nllm_model = \"llama3\"\n\
             llm_api_key = \"sk-very-secret\"\nchat_messages_per_day = 20\n",
        )
        .unwrap();
        let settings = Settings::resolve(layer).unwrap();
        let llm = settings.chat.llm.clone().unwrap();
        assert_eq!(llm.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(llm.model, "llama3");
        assert_eq!(llm.timeout, Duration::from_secs(60));
        assert_eq!(settings.chat.messages_per_day, 20);
        let printed = format!("{settings:?}");
        assert!(!printed.contains("sk-very-secret"), "{printed}");
        let defaults = Settings::resolve(SettingsLayer::default()).unwrap();
        assert!(defaults.chat.llm.is_none());
        assert_eq!(defaults.chat.messages_per_day, 200);
        let half = SettingsLayer {
            llm_base_url: Some("http://127.0.0.1:1".to_owned()),
            ..SettingsLayer::default()
        };
        let err = Settings::resolve(half).unwrap_err().to_string();
        assert_eq!(err, "setting llm_model: required with llm_base_url");
        let ftp: SettingsLayer =
            toml::from_str("llm_base_url = \"ftp://x\"\nllm_model = \"m\"\n").unwrap();
        assert!(Settings::resolve(ftp).is_err());
    }

    #[test]
    fn external_broker_settings_without_a_broker_or_out_of_shape_are_refused() {
        let stray = SettingsLayer {
            mqtt_subscription: Some("pl/v1/+/+/up".to_owned()),
            ..SettingsLayer::default()
        };
        let err = Settings::resolve(stray).unwrap_err().to_string();
        assert!(err.contains("only applies with mqtt_broker"), "{err}");
        let wrong_filter = SettingsLayer {
            mqtt_broker: Some("emqx:1883".to_owned()),
            mqtt_subscription: Some("#".to_owned()),
            ..SettingsLayer::default()
        };
        let err = Settings::resolve(wrong_filter).unwrap_err().to_string();
        assert!(err.contains("not a filter over pl/v1"), "{err}");
        let short_secret = SettingsLayer {
            mqtt_broker: Some("emqx:1883".to_owned()),
            mqtt_hook_secret: Some(Secret::new("short".to_owned())),
            ..SettingsLayer::default()
        };
        let err = Settings::resolve(short_secret).unwrap_err().to_string();
        assert!(err.contains("at least 16"), "{err}");
    }

    #[test]
    fn sync_keys_come_from_the_file_by_their_environment_names() {
        let layer: SettingsLayer = toml::from_str(
            "public_url = \"https://paceline.example\"\nstrava_client_id = \"42\"\n\
             strava_client_secret = \"hush\"\nsync_keep_done_days = 3\n",
        )
        .unwrap();
        let keys = Settings::resolve(layer).unwrap().sync_keys;
        let get = |name: &str| keys.0.get(name).map(String::as_str);
        assert_eq!(get("PACELINE_PUBLIC_URL"), Some("https://paceline.example"));
        assert_eq!(get("PACELINE_STRAVA_CLIENT_ID"), Some("42"));
        assert_eq!(get("PACELINE_STRAVA_CLIENT_SECRET"), Some("hush"));
        assert_eq!(get("PACELINE_SYNC_KEEP_DONE_DAYS"), Some("3"));
        assert_eq!(get("PACELINE_GARMIN_CLIENT_ID"), None);
        // Printing the settings names the keys, never a secret.
        assert!(!format!("{keys:?}").contains("hush"));
        assert!(toml::from_str::<SettingsLayer>("strava_client_idd = \"x\"").is_err());
    }
}
