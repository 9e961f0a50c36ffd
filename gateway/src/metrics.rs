//! The gateway's Prometheus metrics, served at `/metrics`.
//!
//! Frames received, stored, duplicated and rejected (by reason), cues sent, cue latency
//! (from the frame that reached the gateway to the cue leaving it), database commit time
//! and batch size, open sessions, MQTT connections closed by the topic ACLs, refusals over
//! a quota (by quota). Labels never
//! hold ids or names: only transports and fixed reasons.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::quotas::Quota;

/// How a frame reached the gateway.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Transport {
    /// Through the embedded MQTT broker.
    Mqtt,
    /// Over a QUIC stream.
    Quic,
    /// In a QUIC datagram, on a connection whose stream said the device's hello.
    QuicDatagram,
}

/// Why a frame or connection was refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum RejectReason {
    /// Not a decodable frame (garbage, wrong version, truncated).
    Malformed,
    /// Larger than a frame may be.
    Oversize,
    /// The topic is not an uplink topic, or names another tenant or device than the frame.
    TopicMismatch,
    /// No such device, or a device of another tenant.
    UnknownDevice,
    /// The device was revoked.
    Revoked,
    /// The body does not open with the device's key.
    BadSeal,
    /// A downlink kind sent up.
    WrongKind,
    /// A frame of a session that was rejected by the engine.
    RejectedSession,
    /// The database could not be reached.
    StoreUnavailable,
    /// A connection whose credentials did not check out.
    BadCredentials,
    /// A command only a coach may give (`override_target`), sent by a device: devices are
    /// the athlete's, and coaches command through the API.
    CoachOnlyCommand,
    /// The engine has stopped (or a worker of it panicked): the frame's samples cannot be
    /// coached, so it is not acknowledged and its device keeps it.
    EngineUnavailable,
    /// The device or its tenant is over a quota (which one: `paceline_quota_exceeded`);
    /// not acknowledged, so the device sends it again later.
    OverQuota,
}

/// Why the MQTT front door closed a device's connection (see `mqtt_acl`).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum AclDenial {
    /// A PUBLISH on a topic other than the device's own uplink topic.
    PublishTopic,
    /// A SUBSCRIBE to anything but exactly the device's own downlink topic, or to more
    /// filters at once than a device needs.
    SubscribeFilter,
    /// A PUBLISH with the retain flag.
    Retain,
    /// Not a well-formed MQTT 3.1.1 packet, too large, not a CONNECT first, a second
    /// CONNECT, or a packet only a server sends.
    Malformed,
}

/// Label set of the MQTT ACL counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AclLabel {
    /// The reason.
    pub reason: AclDenial,
}

/// Label set of frame counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    /// The transport.
    pub transport: Transport,
}

/// Label set of the quota counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabel {
    /// The quota.
    pub quota: Quota,
}

/// Label set of the rejection counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabel {
    /// The reason.
    pub reason: RejectReason,
}

/// What became of a Strava webhook delivery.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum WebhookOutcome {
    /// A job was queued.
    Queued,
    /// The same work was already waiting (a duplicate delivery).
    Duplicate,
    /// No connection has that owner (ignored).
    UnknownOwner,
    /// An event that asks for nothing (an athlete's profile update).
    Ignored,
    /// Refused with a 400 or 413: not an event Strava sends.
    Malformed,
}

/// Label set of the webhook counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabel {
    /// What became of it.
    pub outcome: WebhookOutcome,
}

/// Every metric of the gateway.
pub struct Metrics {
    /// Frames received, by transport.
    pub frames_received: Family<TransportLabel, Counter>,
    /// Frames newly stored (committed).
    pub frames_stored: Counter,
    /// Frames that arrived again: already covered by the ack, or ignored by the unique
    /// index because their first copy was still being committed.
    pub frames_duplicate: Counter,
    /// Frames and connections refused, by reason.
    pub frames_rejected: Family<RejectLabel, Counter>,
    /// Frames flagged with an implausible send time (stale or far future).
    pub frames_send_time_flagged: Counter,
    /// Cues sent to devices.
    pub cues_sent: Counter,
    /// Downlink frames that could not be delivered (no route, queue full).
    pub downlink_dropped: Counter,
    /// Seconds from the session's latest frame reaching the gateway to a cue leaving it.
    pub cue_latency_seconds: Histogram,
    /// Seconds per database commit.
    pub db_commit_seconds: Histogram,
    /// Operations per database commit.
    pub db_batch_ops: Histogram,
    /// Database transactions committed by the writer (with the group-commit window,
    /// fewer than the batches of frames that reached it).
    pub db_commits: Counter,
    /// Cues and session endings lost with a failed commit.
    pub db_writes_lost: Counter,
    /// Live engine workers that panicked (the engine stops at the first).
    pub engine_worker_panics: Counter,
    /// Sessions being coached.
    pub sessions_open: Gauge,
    /// Password verifications at login, a real account's or the dummy one (the two must
    /// cost the same: an unknown email is not cheaper to try).
    pub login_password_checks: Counter,
    /// Failed logins.
    pub login_failures: Counter,
    /// Live WebSocket clients dropped for falling behind.
    pub live_clients_dropped: Counter,
    /// MQTT connections closed by the front door's topic ACLs, by reason.
    pub mqtt_acl_denied: Family<AclLabel, Counter>,
    /// Frames and pairings refused for being over a quota, by quota.
    pub quota_exceeded: Family<QuotaLabel, Counter>,
    /// Strava webhook deliveries, by outcome.
    pub sync_webhook_events: Family<WebhookLabel, Counter>,
}

impl Metrics {
    /// The metrics, registered in a new registry.
    pub fn new() -> (Metrics, Registry) {
        let metrics = Metrics {
            frames_received: Family::default(),
            frames_stored: Counter::default(),
            frames_duplicate: Counter::default(),
            frames_rejected: Family::default(),
            frames_send_time_flagged: Counter::default(),
            cues_sent: Counter::default(),
            downlink_dropped: Counter::default(),
            cue_latency_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 18)),
            db_commit_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            db_batch_ops: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
            db_commits: Counter::default(),
            db_writes_lost: Counter::default(),
            engine_worker_panics: Counter::default(),
            sessions_open: Gauge::default(),
            login_password_checks: Counter::default(),
            login_failures: Counter::default(),
            live_clients_dropped: Counter::default(),
            mqtt_acl_denied: Family::default(),
            quota_exceeded: Family::default(),
            sync_webhook_events: Family::default(),
        };
        let mut registry = Registry::with_prefix("paceline");
        registry.register(
            "frames_received",
            "Frames received, by transport",
            metrics.frames_received.clone(),
        );
        registry.register(
            "frames_stored",
            "Frames newly committed to the database",
            metrics.frames_stored.clone(),
        );
        registry.register(
            "frames_duplicate",
            "Frames received again (each frame is stored once)",
            metrics.frames_duplicate.clone(),
        );
        registry.register(
            "frames_rejected",
            "Frames and connections refused, by reason",
            metrics.frames_rejected.clone(),
        );
        registry.register(
            "frames_send_time_flagged",
            "Frames whose send time is stale or in the far future",
            metrics.frames_send_time_flagged.clone(),
        );
        registry.register(
            "cues_sent",
            "Cues sent to devices",
            metrics.cues_sent.clone(),
        );
        registry.register(
            "downlink_dropped",
            "Downlink frames that could not be delivered",
            metrics.downlink_dropped.clone(),
        );
        registry.register(
            "cue_latency_seconds",
            "From the session's latest frame reaching the gateway to a cue leaving it",
            metrics.cue_latency_seconds.clone(),
        );
        registry.register(
            "db_commit_seconds",
            "Time per database commit",
            metrics.db_commit_seconds.clone(),
        );
        registry.register(
            "db_batch_ops",
            "Operations per database commit",
            metrics.db_batch_ops.clone(),
        );
        registry.register(
            "db_commits",
            "Database transactions the writer committed",
            metrics.db_commits.clone(),
        );
        registry.register(
            "db_writes_lost",
            "Cues and session endings lost with a failed database commit",
            metrics.db_writes_lost.clone(),
        );
        registry.register(
            "engine_worker_panics",
            "Live engine workers that panicked (the engine stops at the first)",
            metrics.engine_worker_panics.clone(),
        );
        registry.register(
            "sessions_open",
            "Sessions being coached",
            metrics.sessions_open.clone(),
        );
        registry.register(
            "login_password_checks",
            "Argon2id verifications at login (real account or dummy)",
            metrics.login_password_checks.clone(),
        );
        registry.register(
            "login_failures",
            "Failed logins",
            metrics.login_failures.clone(),
        );
        registry.register(
            "live_clients_dropped",
            "Live WebSocket clients dropped for falling behind",
            metrics.live_clients_dropped.clone(),
        );
        registry.register(
            "mqtt_acl_denied",
            "MQTT connections closed for a packet the topic ACLs deny, by reason",
            metrics.mqtt_acl_denied.clone(),
        );
        registry.register(
            "quota_exceeded",
            "Frames and pairings refused for being over a quota, by quota",
            metrics.quota_exceeded.clone(),
        );
        registry.register(
            "sync_webhook_events",
            "Strava webhook deliveries, by outcome (Queued, Duplicate, UnknownOwner, Ignored, Malformed)",
            metrics.sync_webhook_events.clone(),
        );
        (metrics, registry)
    }

    /// Counts a webhook delivery.
    pub fn webhook(&self, outcome: WebhookOutcome) {
        self.sync_webhook_events
            .get_or_create(&WebhookLabel { outcome })
            .inc();
    }

    /// Counts a refusal.
    pub fn reject(&self, reason: RejectReason) {
        self.frames_rejected
            .get_or_create(&RejectLabel { reason })
            .inc();
    }

    /// Counts a refusal for being over `quota`.
    pub fn over_quota(&self, quota: Quota) {
        self.quota_exceeded
            .get_or_create(&QuotaLabel { quota })
            .inc();
    }

    /// Counts an MQTT connection closed by the topic ACLs.
    pub fn acl_denied(&self, reason: AclDenial) {
        self.mqtt_acl_denied
            .get_or_create(&AclLabel { reason })
            .inc();
    }
}
