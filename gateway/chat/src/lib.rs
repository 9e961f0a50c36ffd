//! The coach chat, I/O-free (being built; see issue 24).

pub mod actions;
pub mod engine;
pub mod entities;
pub mod intent;
pub mod llm;
pub mod preferences;
pub mod terms;
