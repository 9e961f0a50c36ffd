//! The sans-IO live core: the rules of live sessions, with no I/O.
//!
//! Like `quinn-proto` under `quinn`, [`LiveCore`] is a deterministic state machine: the
//! gateway's driver (`gateway/src/live/`) feeds it what happened — a frame's bytes with
//! the route it came by, a device or session read from the database, a commit report of
//! the writer, an output of the engine, a timer tick, a send that failed — always with the
//! time as an argument (`now_us`, µs on the gateway's clock), and carries out the
//! [`Effect`]s it queues ([`LiveCore::poll_effect`]): store writes, frames to take,
//! engine inputs, acks and cues to a route, live-board events, sessions opened and
//! closed, refusals with their reason.
//!
//! Why a separate crate: the live rules (nothing acked before it is committed; only a
//! genuine new frame moves a session's route or keeps it alive; a duplicate is re-acked;
//! a silent session is ended) are what the reliability of the product rests on, and
//! here they can be replayed whole, with a virtual clock, no sockets and no sleeps,
//! including the failures (a slow or failed writer, a dead engine, a device that comes
//! back on another route).
//!
//! This crate must never depend on tokio, rusqlite, sockets or threads, nor read a
//! clock or a random source: sealing a downlink frame (which draws a random nonce) is
//! the driver's. Only `paceline-schemas` defines bytes on the wire.

mod core;
mod effect;
mod records;

pub use crate::core::{
    Admission, CameBy, Config, DeviceAnswer, FrameIn, FrameStep, LiveCore, LookupFailed,
    PendingFrame, SessionAnswer, SessionQuery, SessionView,
};
pub use crate::effect::{
    BoardBody, BoardEvent, CoachInput, Downlink, DownlinkPurpose, Effect, FrameOutcome, Reject,
    SessionClose, StoreWrite, TakenFrame,
};
pub use crate::records::{AthleteSetup, DeviceRecord, SessionRecord};
