//! What a device's tasks (source, recorder, uplink) share: its credentials, its spool, the
//! event sender, its counters and its cue guard.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, broadcast};

use crate::credentials::DeviceCredentials;
use crate::cue_guard::CueGuard;
use crate::spool::Spool;

use super::{AgentEvent, DeviceCounters};

/// What a device's tasks share.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) credentials: DeviceCredentials,
    pub(crate) spool: Mutex<Spool>,
    /// Woken when the spool gains a frame.
    pub(crate) spooled: Notify,
    pub(crate) events: broadcast::Sender<AgentEvent>,
    pub(crate) counters: Arc<DeviceCounters>,
    /// Which downlink cues may be spoken (the ride being recorded, fresh ones only).
    pub(crate) cues: Mutex<CueGuard>,
    /// The ride's `End` frame is spooled and the coach's "Session over" cue not heard yet:
    /// a draining uplink listens a little longer for it ([`crate::uplink::StopCheck`]).
    pub(crate) awaiting_end_cue: AtomicBool,
}

impl Device {
    /// The spool; a poisoned lock (a panic elsewhere) still yields the data.
    pub(crate) fn spool(&self) -> MutexGuard<'_, Spool> {
        self.spool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn emit(&self, event: AgentEvent) {
        // No receiver is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }
}
