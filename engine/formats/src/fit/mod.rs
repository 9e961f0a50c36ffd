//! FIT files: the careful fitparser [`walk`], Paceline's own fast [`records`] reader (checked
//! against the walk, used by replay), activities read into a [`Recording`](crate::Recording)
//! ([`activity`]) and written from one ([`write`](mod@write)).

pub mod activity;
pub mod records;
pub mod walk;
pub mod write;

pub use activity::{
    read_recording, read_recording_own_reader, read_recording_reference, read_recording_with,
};
pub use write::write_recording;
