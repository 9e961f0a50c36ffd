//! The coach chat, I/O-free: what athletes write, read into intents and typed entities;
//! their own words learned; the tools the chat wants run, as data, through the same safety
//! rules whichever engine chose them; the LLM adapter's message shapes; SMS signatures,
//! segments and TwiML.
//!
//! - [`entities`]: durations, distances, paces, dates (relative to `today`), sports and
//!   intensities as people write them, each parser bounded and returning a `Result`.
//! - [`intent`]: the deterministic rule-based classifier to an [`intent::Understanding`].
//! - [`terms`]: learned terms with issue 24's confidence rules ([`terms::TermBook`]).
//! - [`preferences`]: stated and observed preferences for the planner.
//! - [`actions`]: the [`actions::Tool`]s and the safety gate [`actions::vet`] (power ≤ 150 %
//!   of FTP, HR cap, destructive tools confirmed first).
//! - [`engine`]: the offline engine in two phases: [`engine::understand`] → the gateway runs
//!   the tools with the caller's own authorization → [`engine::compose_reply`];
//!   [`engine::respond`] is both with nothing run.
//! - [`llm`]: the OpenAI-compatible `/v1/chat/completions` request and response shapes,
//!   the context bounded to 10,000 tokens, tool calls validated into `Tool`s.
//! - [`sms`]: the Twilio-style webhook's signature (constant-time), form, keywords,
//!   segments and TwiML.
//!
//! **This crate does no I/O**: no HTTP, SQL, files or sockets, and no clock: `today` and
//! `now` are arguments. It never runs a tool itself and never reads another athlete's data:
//! it only says which tools it wants, and the gateway runs them as the caller. The model's
//! output is data to validate, never an instruction. Nothing iterates a hash map into
//! output, so the same inputs give the same reply.

pub mod actions;
pub mod engine;
pub mod entities;
pub mod intent;
pub mod llm;
pub mod preferences;
pub mod sms;
pub mod terms;
