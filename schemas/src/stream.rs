//! Length-prefixed frames on a byte stream (one QUIC stream per device session).
//!
//! Each frame is preceded by its length as a 4-byte little-endian integer. The reader is a
//! plain buffer, fed whatever the transport delivered and drained of whole frames, so it
//! works with any I/O library and in tests without one. A declared length over
//! [`MAX_FRAME_BYTES`] is refused before anything is buffered for it.

use crate::codec::{DecodeError, EncodeError, MAX_FRAME_BYTES};

/// Length of the prefix, bytes.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Appends one length-prefixed frame to `out`.
pub fn write_frame(out: &mut Vec<u8>, frame_bytes: &[u8]) -> Result<(), EncodeError> {
    let len = u32::try_from(frame_bytes.len())
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME_BYTES)
        .ok_or(EncodeError::TooLarge {
            max: MAX_FRAME_BYTES as u64,
        })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(frame_bytes);
    Ok(())
}

/// Splits a byte stream back into the frames [`write_frame`] wrote.
///
/// Drain it with [`FrameReader::next_frame`] after every [`FrameReader::push`]: the buffer
/// then never holds more than one partial frame plus one read from the transport.
#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
    failed: Option<DecodeError>,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed. After an error the
    /// stream cannot be resynchronised: every later call returns the same error and the
    /// connection should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let Some(prefix) = self.buffer.first_chunk::<LENGTH_PREFIX_BYTES>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*prefix) as usize;
        if len > MAX_FRAME_BYTES {
            let err = DecodeError::TooLarge {
                len: len as u64,
                max: MAX_FRAME_BYTES as u64,
            };
            self.failed = Some(err.clone());
            self.buffer = Vec::new();
            return Err(err);
        }
        let end = LENGTH_PREFIX_BYTES + len;
        let Some(frame) = self.buffer.get(LENGTH_PREFIX_BYTES..end) else {
            return Ok(None);
        };
        let frame = frame.to_vec();
        self.buffer.drain(..end);
        Ok(Some(frame))
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_and_within_pushes() {
        let mut stream = Vec::new();
        write_frame(&mut stream, b"first").unwrap();
        write_frame(&mut stream, b"").unwrap();
        write_frame(&mut stream, &[7u8; 300]).unwrap();
        // Feed one byte at a time: every frame comes out whole, in order.
        let mut reader = FrameReader::new();
        let mut frames = Vec::new();
        for byte in &stream {
            reader.push(std::slice::from_ref(byte));
            while let Some(frame) = reader.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, vec![b"first".to_vec(), vec![], vec![7u8; 300]]);
        assert_eq!(reader.buffered_len(), 0);
    }

    #[test]
    fn oversize_length_fails_for_good() {
        let mut reader = FrameReader::new();
        reader.push(&(u32::try_from(MAX_FRAME_BYTES).unwrap() + 1).to_le_bytes());
        let err = reader.next_frame().unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
        reader.push(&[0, 0, 0, 0]);
        assert_eq!(reader.next_frame(), Err(err));
        assert_eq!(reader.buffered_len(), 0);
        assert!(write_frame(&mut Vec::new(), &vec![0; MAX_FRAME_BYTES + 1]).is_err());
    }
}
