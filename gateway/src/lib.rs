//! The Paceline gateway: the `paceline` server.
//!
//! One process holds the embedded MQTT broker ([`transport::broker`], rumqttd), QUIC
//! ingress ([`transport::quic`], quinn), the engine in-process (`paceline_engine::dataflow::LiveEngine`),
//! persistence in SQLite ([`store`], one writer thread, pooled readers) and the HTTP side
//! ([`http`]: health, readiness, Prometheus metrics). [`live::Live`] is the loop that ties
//! them: frames in, stored, coached, acknowledged; cues out. [`server::Gateway`] starts
//! and stops the whole; [`demo`] adds a gym of simulated athletes.
//!
//! Around it, the platform: the HTTP API ([`api`]) and web UI ([`web`]), accounts
//! ([`accounts`]), the background jobs that wire the capability crates to the store
//! ([`jobs`]), a person's data export and deletion ([`privacy`]) and the coach chat
//! ([`chat`]).
//!
//! **Invariants.** A frame is acknowledged to a device only after the transaction that
//! stores it has committed, and only up to the highest seq below which every frame of the
//! session is stored. A frame that fails a check is dropped and counted; it never
//! disconnects or slows another client. Device keys are stored sealed under the server
//! key; tokens only as digests; neither is ever logged. Every query of tenant data names
//! its tenant.

pub mod accounts;
pub mod api;
pub mod chat;
pub mod clock;
pub mod demo;
pub mod health;
pub mod http;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod music_folder;
pub mod outbound;
pub mod privacy;
pub mod quotas;
pub mod server;
pub mod settings;
pub mod store;
pub mod transport;
pub mod web;
