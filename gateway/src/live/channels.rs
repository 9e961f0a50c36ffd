//! The live events' channels: one bounded broadcast channel per tenant, so a subscriber
//! is only ever handed its own tenant's events.
//!
//! A tenant's channel is made when its first live socket subscribes; an event of a tenant
//! nobody watches is dropped before it is even built (no allocation), and a channel whose
//! subscribers have all gone is pruned at the next subscription. Publishing takes the lock
//! only for one map lookup and a cheap clone of the sender; the event is built and sent
//! after the lock is released.
//!
//! **Invariant**: an event is published under the tenant row it carries — the channel
//! builds the [`LiveEvent`] itself from the tenant row it was given — so no subscriber can
//! see another tenant's event, whatever it filters later.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::live::{LiveEvent, LiveEventBody};

/// Per-tenant broadcast channels of [`LiveEvent`]s.
pub struct LiveChannels {
    by_tenant: Mutex<HashMap<i64, broadcast::Sender<LiveEvent>>>,
    /// Events buffered for each subscriber; one that falls this far behind gets `Lagged`.
    buffer: usize,
}

impl LiveChannels {
    /// No channels yet; each will buffer `buffer` events per subscriber.
    pub fn new(buffer: usize) -> LiveChannels {
        LiveChannels {
            by_tenant: Mutex::new(HashMap::new()),
            buffer: buffer.max(1),
        }
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<i64, broadcast::Sender<LiveEvent>>> {
        // Nothing panics while holding the lock; if something did, the map is still whole.
        self.by_tenant
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The events of `tenant_row` from now on, and of no other tenant. Publishing never
    /// waits for a subscriber: one that falls behind by more than the buffer gets
    /// `Lagged`.
    pub fn subscribe(&self, tenant_row: i64) -> broadcast::Receiver<LiveEvent> {
        let mut channels = self.channels();
        channels.retain(|tenant, sender| *tenant == tenant_row || sender.receiver_count() > 0);
        channels
            .entry(tenant_row)
            .or_insert_with(|| broadcast::channel(self.buffer).0)
            .subscribe()
    }

    /// Sends an event of `tenant_row` to that tenant's subscribers; `body` is only called
    /// if there are any.
    pub fn publish(
        &self,
        tenant_row: i64,
        athlete_row: i64,
        session_row: i64,
        body: impl FnOnce() -> LiveEventBody,
    ) {
        let sender = {
            let channels = self.channels();
            match channels.get(&tenant_row) {
                Some(sender) if sender.receiver_count() > 0 => sender.clone(),
                _ => return,
            }
        };
        let _ = sender.send(LiveEvent {
            tenant_row,
            athlete_row,
            session_row,
            body: body(),
        });
    }

    /// Tenants with a channel (some may have no subscriber left until the next prune).
    pub fn tenants(&self) -> usize {
        self.channels().len()
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::broadcast::error::TryRecvError;

    use super::*;

    const A: i64 = 1;
    const B: i64 = 2;

    fn sessions_of(rx: &mut broadcast::Receiver<LiveEvent>) -> Vec<(i64, i64)> {
        let mut seen = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(event) => seen.push((event.tenant_row, event.session_row)),
                Err(TryRecvError::Empty) => return seen,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_subscriber_of_one_tenant_never_receives_another_tenants_events() {
        let channels = LiveChannels::new(16);
        let mut a = channels.subscribe(A);
        let mut b = channels.subscribe(B);
        for session in 0..5 {
            channels.publish(A, 10, session, || LiveEventBody::Ended);
            channels.publish(B, 20, 100 + session, || LiveEventBody::Ended);
            channels.publish(3, 30, 200 + session, || LiveEventBody::Ended);
        }
        let a_seen = sessions_of(&mut a);
        let b_seen = sessions_of(&mut b);
        assert_eq!(a_seen, (0..5).map(|s| (A, s)).collect::<Vec<_>>());
        assert_eq!(b_seen, (0..5).map(|s| (B, 100 + s)).collect::<Vec<_>>());
    }

    #[test]
    fn an_event_nobody_watches_is_not_built_and_empty_channels_are_pruned() {
        let channels = LiveChannels::new(16);
        channels.publish(A, 10, 1, || panic!("built for no subscriber"));
        let a = channels.subscribe(A);
        drop(a);
        channels.publish(A, 10, 1, || panic!("built after its subscriber left"));
        assert_eq!(channels.tenants(), 1);
        let _b = channels.subscribe(B);
        assert_eq!(channels.tenants(), 1, "A's empty channel is pruned");
    }

    #[test]
    fn a_subscriber_that_falls_behind_the_buffer_is_told_it_lagged() {
        let channels = LiveChannels::new(4);
        let mut a = channels.subscribe(A);
        for session in 0..10 {
            channels.publish(A, 10, session, || LiveEventBody::Ended);
        }
        assert!(matches!(a.try_recv(), Err(TryRecvError::Lagged(6))));
    }
}
