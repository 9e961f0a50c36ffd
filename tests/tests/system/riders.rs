//! Edge agents in this process, as gym hubs of simulated athletes, and the [`Ledger`] of
//! everything they reported: each frame spooled (with its sample count), every send, ack,
//! cue, connection and stop. The ledger is the "what was sent" side of the queue check.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use paceline_edge::agent::{AgentConfig, AgentEvent, AgentHandle, AthleteConfig, GatewayConfig};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::SimulatorConfig;
use paceline_schemas::Cue;
use paceline_testkit::riders;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// One frame: device id, device session id, seq.
pub type FrameKey = (String, String, u64);

/// A cue as a device heard it.
#[derive(Debug, Clone)]
pub struct HeardCue {
    /// The device.
    pub device: String,
    /// When the agent opened it.
    pub at: Instant,
    /// The cue frame's send time (the gateway's clock, Unix ms).
    pub sent_ms: u64,
    /// The cue.
    pub cue: Cue,
}

/// Everything the agents reported.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Every frame spooled, with the number of samples in it (0 for a command).
    pub spooled: BTreeMap<FrameKey, usize>,
    /// Frames spooled again under a key already spooled (an agent bug if ever > 0).
    pub spooled_twice: u64,
    /// Frames handed to a transport, resends included.
    pub sends: u64,
    /// The highest ack per (device, session).
    pub acked: HashMap<(String, String), u64>,
    /// Every cue heard, in order of arrival.
    pub cues: Vec<HeardCue>,
    /// Uplink connections made.
    pub connects: u64,
    /// Uplink connections lost.
    pub disconnects: u64,
    /// Downlink frames the agents refused.
    pub down_rejected: u64,
    /// Frames left unacknowledged when each device's uplink stopped.
    pub stopped: HashMap<String, usize>,
    /// Events missed because a collector fell behind (the record is incomplete if > 0).
    pub lagged: u64,
    /// Every connection made or lost, in order: when, the device, what happened.
    pub links: Vec<(Instant, String, String)>,
}

impl Ledger {
    fn take(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::FrameSpooled {
                device,
                session,
                seq,
                samples,
                ..
            } => {
                let key = (device.to_string(), session.to_string(), seq);
                if self.spooled.insert(key, samples).is_some() {
                    self.spooled_twice += 1;
                }
            }
            AgentEvent::FrameSent { .. } => self.sends += 1,
            AgentEvent::Acked {
                device,
                session,
                committed_seq,
            } => {
                let acked = self
                    .acked
                    .entry((device.to_string(), session.to_string()))
                    .or_default();
                *acked = (*acked).max(committed_seq);
            }
            AgentEvent::CueReceived {
                device,
                cue,
                received_at,
                frame_sent_ms,
                ..
            } => self.cues.push(HeardCue {
                device: device.to_string(),
                at: received_at,
                sent_ms: frame_sent_ms,
                cue,
            }),
            AgentEvent::Connected { device } => {
                self.connects += 1;
                self.links
                    .push((Instant::now(), device.to_string(), "connected".to_owned()));
            }
            AgentEvent::Disconnected { device, reason } => {
                self.disconnects += 1;
                self.links.push((
                    Instant::now(),
                    device.to_string(),
                    format!("disconnected: {reason}"),
                ));
            }
            AgentEvent::DownFrameRejected { .. } => self.down_rejected += 1,
            AgentEvent::UplinkStopped { device, unacked } => {
                self.stopped.insert(device.to_string(), unacked);
            }
            _ => {}
        }
    }

    /// What `device` heard and how its uplink fared from `before` ahead of `since` on, one
    /// line (for the message of a failed wait): each cue code and connection event, in
    /// seconds after `since` (negative before it).
    pub fn story_around(&self, device: &str, since: Instant, before: Duration) -> String {
        let after = |at: Instant| {
            if at >= since {
                at.duration_since(since).as_secs_f64()
            } else {
                -since.duration_since(at).as_secs_f64()
            }
        };
        let since = since.checked_sub(before).unwrap_or(since);
        let mut events: Vec<(f64, String)> = self
            .cues
            .iter()
            .filter(|c| c.device == device && c.at >= since)
            .map(|c| (after(c.at), format!("cue {:?}", c.cue.code)))
            .chain(
                self.links
                    .iter()
                    .filter(|(at, d, _)| d == device && *at >= since)
                    .map(|(at, _, what)| (after(*at), what.clone())),
            )
            .collect();
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let lines: Vec<String> = events
            .into_iter()
            .map(|(s, what)| format!("+{s:.1} s {what}"))
            .collect();
        format!("{device}: [{}]", lines.join(", "))
    }

    /// The devices among `devices` that heard no cue at or after `since`.
    pub fn without_cue_since<'a>(&self, devices: &'a [String], since: Instant) -> Vec<&'a str> {
        let heard: std::collections::HashSet<&str> = self
            .cues
            .iter()
            .filter(|c| c.at >= since)
            .map(|c| c.device.as_str())
            .collect();
        devices
            .iter()
            .map(String::as_str)
            .filter(|d| !heard.contains(d))
            .collect()
    }
}

/// Agents (hubs) sharing one ledger.
pub struct Riders {
    hubs: Vec<AgentHandle>,
    collectors: Vec<JoinHandle<()>>,
    ledger: Arc<Mutex<Ledger>>,
    /// Every device ridden, by id.
    pub devices: Vec<String>,
}

impl Riders {
    /// No hubs yet.
    pub fn new() -> Self {
        Self {
            hubs: Vec::new(),
            collectors: Vec::new(),
            ledger: Arc::new(Mutex::new(Ledger::default())),
            devices: Vec::new(),
        }
    }

    /// The ledger so far.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts one hub (agent) serving `athletes` against `gateway`, its spools under
    /// `spool_dir`; `tune` adjusts the agent's settings.
    pub async fn add_hub(
        &mut self,
        gateway: GatewayConfig,
        spool_dir: &Path,
        athletes: Vec<(DeviceCredentials, SimulatorConfig)>,
        tune: impl FnOnce(&mut AgentConfig),
    ) {
        let athletes: Vec<AthleteConfig> = athletes
            .into_iter()
            .map(|(credentials, config)| {
                let name = credentials.device.to_string();
                self.devices.push(name.clone());
                riders::simulated(&name, credentials, config)
            })
            .collect();
        let mut hub = riders::start_agent(gateway, spool_dir, athletes, tune).await;
        let mut events = hub.events_from_start().expect("the first receiver");
        let ledger = self.ledger.clone();
        self.collectors.push(tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => ledger
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .take(event),
                    Err(RecvError::Lagged(missed)) => {
                        ledger
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .lagged += missed;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }));
        self.hubs.push(hub);
    }

    /// Ends every ride (each device spools its `End` frame and waits for the last acks,
    /// up to the hub's `shutdown_wait_ms`), then waits for the ledger to hold every event.
    pub async fn shutdown(mut self) -> Ledger {
        let stops: Vec<_> = self
            .hubs
            .drain(..)
            .map(|hub| tokio::spawn(hub.shutdown()))
            .collect();
        for stop in stops {
            stop.await.expect("a hub shut down");
        }
        for collector in self.collectors.drain(..) {
            collector.await.expect("a collector ended");
        }
        std::mem::take(&mut *self.ledger())
    }
}
