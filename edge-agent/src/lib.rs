//! The Paceline edge agent (not yet built; see the edge-agent issue).
//!
//! It will hold the `paceline-edge` binary that runs beside the athlete: BLE sources
//! (btleplug) with pure GATT decoders, a simulator and file replay, sealing frames with the
//! device key, a bounded on-disk spool kept until the gateway acknowledges each frame, the
//! MQTT/QUIC uplink, and cue output (console, speech, a local screen page).
