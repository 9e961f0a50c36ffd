//! Binary and JSON encodings, with the bounds every decoder enforces.
//!
//! Binary is bincode 1.3.3 with fixed-width little-endian integers, a size limit and no
//! trailing bytes; it is reached only through this module so that it can be swapped. A
//! binary frame is one version byte ([`WIRE_VERSION`]) followed by the bincode form of
//! [`Frame`]. Decoding any byte string returns a value or a [`DecodeError`], never panics,
//! and never allocates more than [`MAX_FRAME_BYTES`] for one input.
//!
//! JSON is serde_json, the form used by APIs, files and logs.

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::Frame;

/// The wire version this build writes and reads: the first byte of every binary frame.
pub const WIRE_VERSION: u8 = 1;
/// The largest binary frame, in bytes (version byte included).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The largest JSON document [`from_json`] reads, in bytes.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Nothing to decode.
    #[error("empty input")]
    Empty,
    /// The first byte names a wire version this build does not speak.
    #[error("wire version {found} is not supported (this build speaks version {WIRE_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The input, or a length prefix in front of it, is over the limit.
    #[error("input of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The length found or declared.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes do not form a valid value.
    #[error("malformed input: {reason}")]
    Malformed {
        /// What was wrong, as the decoder saw it.
        reason: String,
    },
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded form would be over the limit.
    #[error("encoded form is over the {max}-byte limit")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The value breaks a bound of its type (too many samples, a NaN, a long text).
    #[error("value cannot be encoded: {reason}")]
    Invalid {
        /// Which bound, as the encoder saw it.
        reason: String,
    },
}

/// Why a JSON document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The document is larger than [`MAX_JSON_BYTES`].
    #[error("JSON document of {len} bytes is over the {MAX_JSON_BYTES}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// The document is not valid JSON for the type, at the given position.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    Invalid {
        /// 1-based line of the error (0 when the error is not tied to a position).
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What was wrong.
        reason: String,
    },
}

fn binary_options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(MAX_FRAME_BYTES as u64)
        .reject_trailing_bytes()
}

fn decode_error(err: bincode::ErrorKind) -> DecodeError {
    match err {
        // Inputs over the limit are refused before decoding, so a claim past the limit is
        // normally reported as running past the end; this covers any other path to it.
        bincode::ErrorKind::SizeLimit => DecodeError::Malformed {
            reason: format!("a declared length runs past the {MAX_FRAME_BYTES}-byte limit"),
        },
        // bincode's slice reader reports this with an empty message.
        bincode::ErrorKind::Io(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Malformed {
                reason: "the input ends early: a field or a declared length runs past its end"
                    .to_owned(),
            }
        }
        other => DecodeError::Malformed {
            reason: other.to_string(),
        },
    }
}

fn encode_error(err: bincode::ErrorKind) -> EncodeError {
    match err {
        bincode::ErrorKind::SizeLimit => EncodeError::TooLarge {
            max: MAX_FRAME_BYTES as u64,
        },
        other => EncodeError::Invalid {
            reason: other.to_string(),
        },
    }
}

/// Encodes any schema value in the binary form (no version byte), within
/// [`MAX_FRAME_BYTES`].
pub fn encode_binary<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    binary_options()
        .serialize(value)
        .map_err(|err| encode_error(*err))
}

/// Appends the binary form of `value` to `out`, within [`MAX_FRAME_BYTES`].
pub(crate) fn encode_binary_into<T: Serialize>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), EncodeError> {
    binary_options()
        .serialize_into(out, value)
        .map_err(|err| encode_error(*err))
}

/// Decodes a schema value from its binary form (no version byte). The whole input must be
/// consumed.
pub fn decode_binary<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_FRAME_BYTES as u64,
        });
    }
    binary_options()
        .deserialize(bytes)
        .map_err(|err| decode_error(*err))
}

/// Encodes a frame: [`WIRE_VERSION`], then its binary form. At most [`MAX_FRAME_BYTES`].
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(64 + frame.sealed.len());
    out.push(WIRE_VERSION);
    encode_binary_into(&mut out, frame)?;
    if out.len() > MAX_FRAME_BYTES {
        return Err(EncodeError::TooLarge {
            max: MAX_FRAME_BYTES as u64,
        });
    }
    Ok(out)
}

/// Decodes a frame written by [`encode_frame`]. The body stays sealed: open it with
/// [`crate::seal::open`] and the key of the device the header names.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(DecodeError::Empty);
    };
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_FRAME_BYTES as u64,
        });
    }
    if version != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    decode_binary(rest)
}

/// Encodes any schema value as compact JSON.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, EncodeError> {
    serde_json::to_string(value).map_err(|err| EncodeError::Invalid {
        reason: err.to_string(),
    })
}

/// Encodes any schema value as indented JSON, for files people read.
pub fn to_json_pretty<T: Serialize>(value: &T) -> Result<String, EncodeError> {
    serde_json::to_string_pretty(value).map_err(|err| EncodeError::Invalid {
        reason: err.to_string(),
    })
}

/// Reads a schema value from JSON of at most [`MAX_JSON_BYTES`] bytes.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    if bytes.len() > MAX_JSON_BYTES {
        return Err(JsonError::TooLarge { len: bytes.len() });
    }
    serde_json::from_slice(bytes).map_err(|err| {
        let message = err.to_string();
        // serde_json appends " at line L column C"; the position has its own fields.
        let reason = match message.rfind(" at line ") {
            Some(cut) if err.line() > 0 => message.get(..cut).unwrap_or(&message).to_owned(),
            _ => message,
        };
        JsonError::Invalid {
            line: err.line(),
            column: err.column(),
            reason,
        }
    })
}
