//! The Paceline gateway (not yet built; see the gateway issues).
//!
//! It will hold the `paceline` server binary: the embedded MQTT broker (rumqttd), QUIC
//! ingress (quinn), the engine in-process, persistence in SQLite (rusqlite), the REST and
//! WebSocket API (axum), authentication and the web UI.
//!
//! **Invariant:** a frame is acknowledged to a device only after the transaction that
//! stores it has committed.
