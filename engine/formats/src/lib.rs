//! Activity and workout files, I/O-free: bytes in, [`Recording`]s out, and back.
//!
//! Every reader takes a byte slice, bounds what it allocates and returns an error rather
//! than panicking on any input; nothing here opens a file or a socket.
//!
//! - [`recording`]: the neutral shape every format reads into and writes from.

pub mod recording;

pub use recording::{Point, Recording, Sport, SportFamily, Totals};
