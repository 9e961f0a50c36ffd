//! End-to-end tests of the gateway: a real `paceline serve` process on ephemeral loopback
//! ports, devices talking to it over real MQTT and QUIC, the database read back.
//!
//! - `live`: a ride over MQTT and over QUIC → cues back at the device, session, samples
//!   and cues stored, summary written when the session ends.
//! - `acks`: acks never run ahead of the commit; after a SIGKILL the restarted gateway
//!   resumes acking; resent frames are stored once; gaps hold the ack back.
//! - `hostile`: garbage, oversize, wrongly sealed, misaddressed and replayed frames are
//!   refused and counted while a well-behaved rider's cues keep flowing.

mod harness;

mod acks;
mod hostile;
mod live;
