//! Sealing and opening frame bodies with the device key (ChaCha20-Poly1305).
//!
//! The broker is not trusted (any client may publish on any topic), so the gateway believes
//! a frame only when its body opens with the key of the device its header names. The
//! associated data is the frame's header exactly as it travels — the version byte, then the
//! binary [`FrameHeader`] (kind, tenant, device, session, seq, send time) — so changing any
//! header field, or moving a frame to another device, tenant or session, makes it fail to
//! open. Each frame has a fresh random 96-bit nonce, carried in the clear, drawn from the
//! thread's own CSPRNG (`rand`'s `ThreadRng`: ChaCha12, seeded and reseeded from the
//! operating system), so sealing costs no system call per frame.

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadInPlace, OsRng, Payload as AeadPayload};
use chacha20poly1305::{AeadCore, ChaCha20Poly1305, Key, KeyInit, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{self, DecodeError, EncodeError, WIRE_VERSION};
use crate::frame::{Frame, FrameHeader, FrameKind, NONCE_BYTES, Payload};

/// Length of a device key, bytes.
pub const DEVICE_KEY_BYTES: usize = 32;

/// A device's 256-bit sealing key. Wiped from memory when dropped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DeviceKey([u8; DEVICE_KEY_BYTES]);

impl DeviceKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; DEVICE_KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// A key from 64 hex digits (the form pairing hands out).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; DEVICE_KEY_BYTES];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::NotHex)?;
        Ok(Self(bytes))
    }

    /// The key as 64 hex digits, to hand to the device once. Keep it out of logs.
    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key's bytes, for encrypting it at rest. Keep them out of logs.
    pub fn expose_bytes(&self) -> &[u8; DEVICE_KEY_BYTES] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(<redacted>)")
    }
}

/// A device key given in the wrong form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not exactly 64 hex digits.
    #[error("a device key is 64 hex digits")]
    NotHex,
}

/// Why a frame could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The header's kind does not match the payload.
    #[error("header says {header:?} but the payload is {payload:?}")]
    KindMismatch {
        /// The header's kind.
        header: FrameKind,
        /// The payload's kind.
        payload: FrameKind,
    },
    /// The header or body could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why a frame could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The tag does not verify: wrong key, or header or body changed in transit.
    #[error("frame does not authenticate with the key of device {device}")]
    Authentication {
        /// The device the header names.
        device: String,
    },
    /// It authenticated, but the body is not a valid payload of the header's kind.
    #[error("authenticated {kind:?} body does not decode: {source}")]
    Body {
        /// The header's kind.
        kind: FrameKind,
        /// What the decoder found.
        source: DecodeError,
    },
    /// The header cannot be encoded to rebuild the associated data.
    #[error(transparent)]
    Header(#[from] EncodeError),
}

/// The associated data of a frame: the version byte and the binary header.
pub fn associated_data(header: &FrameHeader) -> Result<Vec<u8>, EncodeError> {
    let mut aad = Vec::with_capacity(128);
    aad.push(WIRE_VERSION);
    codec::encode_binary_into(&mut aad, header)?;
    Ok(aad)
}

/// Seals `payload` under `key` with a fresh random nonce from the thread's CSPRNG. The
/// frame's size is checked when it is encoded ([`codec::encode_frame`]).
pub fn seal(key: &DeviceKey, header: FrameHeader, payload: &Payload) -> Result<Frame, SealError> {
    let nonce: [u8; NONCE_BYTES] = ChaCha20Poly1305::generate_nonce(&mut rand::thread_rng()).into();
    seal_with_nonce(key, header, payload, nonce)
}

/// Seals `payload` under `key` with the given nonce. A nonce must never be used twice with
/// one key: use [`seal`] unless the nonce comes from a generator that guarantees that (the
/// golden-byte tests use fixed nonces).
pub fn seal_with_nonce(
    key: &DeviceKey,
    header: FrameHeader,
    payload: &Payload,
    nonce: [u8; NONCE_BYTES],
) -> Result<Frame, SealError> {
    if header.kind != payload.kind() {
        return Err(SealError::KindMismatch {
            header: header.kind,
            payload: payload.kind(),
        });
    }
    let body = match payload {
        Payload::Samples(batch) => codec::encode_binary(batch)?,
        Payload::Ack(ack) => codec::encode_binary(ack)?,
        Payload::Cue(cue) => codec::encode_binary(cue)?,
        Payload::Command(command) => codec::encode_binary(command)?,
        Payload::DeviceStatus(status) => codec::encode_binary(status)?,
    };
    let aad = associated_data(&header)?;
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            AeadPayload {
                msg: &body,
                aad: &aad,
            },
        )
        .map_err(|_| EncodeError::Invalid {
            reason: "the cipher refused the body".to_owned(),
        })?;
    Ok(Frame {
        header,
        nonce,
        sealed,
    })
}

/// Seals one device's frames, one after another, into buffers the caller reuses: a load
/// generator or an edge agent sending thousands of frames a second keeps one per device.
///
/// Against [`seal`] + [`codec::encode_frame`] it keeps the cipher (the key schedule is made
/// once), the header's ids (cloned once) and the body and associated-data buffers, and it
/// draws the nonce from the operating system once: each frame's nonce is the previous one
/// plus one (little-endian, 96 bits). A random 96-bit start makes two sealers of one key
/// overlapping their nonce ranges as unlikely as two random nonces colliding. After the
/// first frames have sized the buffers, [`FrameSealer::seal_into`] allocates nothing for a
/// sample batch, ack, cue or command without variable-length fields.
pub struct FrameSealer {
    cipher: ChaCha20Poly1305,
    next_nonce: [u8; NONCE_BYTES],
    frame: Frame,
    aad: Vec<u8>,
}

impl FrameSealer {
    /// A sealer for the frames of `tenant`'s `device` in `session`, under `key`.
    pub fn new(
        key: &DeviceKey,
        tenant: crate::TenantId,
        device: crate::DeviceId,
        session: crate::SessionId,
    ) -> Self {
        let next_nonce: [u8; NONCE_BYTES] = ChaCha20Poly1305::generate_nonce(&mut OsRng).into();
        Self::with_first_nonce(key, tenant, device, session, next_nonce)
    }

    /// Like [`FrameSealer::new`] with a given first nonce. Nonces must never repeat under
    /// one key: use [`FrameSealer::new`] unless the start comes from a generator that
    /// guarantees that (the tests use fixed ones).
    pub fn with_first_nonce(
        key: &DeviceKey,
        tenant: crate::TenantId,
        device: crate::DeviceId,
        session: crate::SessionId,
        first_nonce: [u8; NONCE_BYTES],
    ) -> Self {
        Self {
            cipher: key.cipher(),
            next_nonce: first_nonce,
            frame: Frame {
                header: FrameHeader {
                    kind: FrameKind::Samples,
                    tenant,
                    device,
                    session,
                    seq: 0,
                    sent_ms: 0,
                },
                nonce: [0; NONCE_BYTES],
                sealed: Vec::with_capacity(128),
            },
            aad: Vec::with_capacity(128),
        }
    }

    /// Seals `payload` as frame `seq` sent at `sent_ms` and writes the encoded frame (as
    /// [`codec::encode_frame`] would) into `out`, which is cleared first. The same bytes as
    /// [`seal_with_nonce`] + [`codec::encode_frame`] with this sealer's next nonce.
    pub fn seal_into(
        &mut self,
        seq: u64,
        sent_ms: u64,
        payload: &Payload,
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let nonce = self.next_nonce;
        let mut carry = true;
        for byte in &mut self.next_nonce {
            if !carry {
                break;
            }
            (*byte, carry) = byte.overflowing_add(1);
        }
        let header = &mut self.frame.header;
        header.kind = payload.kind();
        header.seq = seq;
        header.sent_ms = sent_ms;
        self.aad.clear();
        self.aad.push(WIRE_VERSION);
        codec::encode_binary_into(&mut self.aad, &self.frame.header)?;
        let body = &mut self.frame.sealed;
        body.clear();
        match payload {
            Payload::Samples(batch) => codec::encode_binary_into(body, batch)?,
            Payload::Ack(ack) => codec::encode_binary_into(body, ack)?,
            Payload::Cue(cue) => codec::encode_binary_into(body, cue)?,
            Payload::Command(command) => codec::encode_binary_into(body, command)?,
            Payload::DeviceStatus(status) => codec::encode_binary_into(body, status)?,
        }
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&nonce), &self.aad, body)
            .map_err(|_| EncodeError::Invalid {
                reason: "the cipher refused the body".to_owned(),
            })?;
        self.frame.nonce = nonce;
        out.clear();
        out.push(WIRE_VERSION);
        codec::encode_binary_into(out, &self.frame)?;
        if out.len() > codec::MAX_FRAME_BYTES {
            return Err(SealError::Encode(EncodeError::TooLarge {
                max: codec::MAX_FRAME_BYTES as u64,
            }));
        }
        Ok(())
    }
}

/// Opens a frame's body with `key`, which must be the key of the device the header names.
pub fn open(key: &DeviceKey, frame: &Frame) -> Result<Payload, OpenError> {
    let aad = associated_data(&frame.header)?;
    let body = key
        .cipher()
        .decrypt(
            Nonce::from_slice(&frame.nonce),
            AeadPayload {
                msg: &frame.sealed,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Authentication {
            device: frame.header.device.to_string(),
        })?;
    let kind = frame.header.kind;
    let body_error = |source| OpenError::Body { kind, source };
    Ok(match kind {
        FrameKind::Samples => Payload::Samples(codec::decode_binary(&body).map_err(body_error)?),
        FrameKind::Ack => Payload::Ack(codec::decode_binary(&body).map_err(body_error)?),
        FrameKind::Cue => Payload::Cue(codec::decode_binary(&body).map_err(body_error)?),
        FrameKind::Command => Payload::Command(codec::decode_binary(&body).map_err(body_error)?),
        FrameKind::DeviceStatus => {
            Payload::DeviceStatus(codec::decode_binary(&body).map_err(body_error)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{CyclingPower, Sample, SampleBatch, SampleValue};
    use crate::{Ack, DeviceId, SessionId, TenantId};

    fn ids() -> (TenantId, DeviceId, SessionId) {
        (
            TenantId::new("gym").unwrap(),
            DeviceId::new("dev-1").unwrap(),
            SessionId::new("ride-1").unwrap(),
        )
    }

    fn power(t_ms: u64, power_w: i16) -> Payload {
        Payload::Samples(
            SampleBatch::new(vec![Sample {
                t_ms,
                value: SampleValue::CyclingPower(CyclingPower {
                    power_w,
                    ..CyclingPower::default()
                }),
            }])
            .unwrap(),
        )
    }

    #[test]
    fn seal_into_writes_the_bytes_seal_and_encode_frame_write() {
        let key = DeviceKey::from_bytes([7; DEVICE_KEY_BYTES]);
        let (tenant, device, session) = ids();
        let first = [0xff, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        let mut sealer = FrameSealer::with_first_nonce(
            &key,
            tenant.clone(),
            device.clone(),
            session.clone(),
            first,
        );
        let mut out = Vec::new();
        let payloads = [
            power(0, 200),
            Payload::Ack(Ack { committed_seq: 4 }),
            power(250, 201),
        ];
        // The nonce counts up with carries: ff ff 03 → 00 00 04 → 01 00 04.
        let nonces = [
            first,
            [0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            [1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        ];
        for (i, (payload, nonce)) in payloads.iter().zip(nonces).enumerate() {
            let seq = i as u64 + 1;
            sealer
                .seal_into(seq, 1_000 + seq, payload, &mut out)
                .unwrap();
            let header = FrameHeader {
                kind: payload.kind(),
                tenant: tenant.clone(),
                device: device.clone(),
                session: session.clone(),
                seq,
                sent_ms: 1_000 + seq,
            };
            let expected =
                codec::encode_frame(&seal_with_nonce(&key, header, payload, nonce).unwrap())
                    .unwrap();
            assert_eq!(out, expected, "frame {seq}");
            let frame = codec::decode_frame(&out).unwrap();
            assert_eq!(open(&key, &frame).unwrap(), *payload);
        }
    }

    #[test]
    fn new_sealers_start_at_different_nonces() {
        let key = DeviceKey::from_bytes([1; DEVICE_KEY_BYTES]);
        let (tenant, device, session) = ids();
        let mut a = FrameSealer::new(&key, tenant.clone(), device.clone(), session.clone());
        let mut b = FrameSealer::new(&key, tenant, device, session);
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        a.seal_into(1, 1, &power(0, 1), &mut out_a).unwrap();
        b.seal_into(1, 1, &power(0, 1), &mut out_b).unwrap();
        let nonce = |bytes: &[u8]| codec::decode_frame(bytes).unwrap().nonce;
        assert_ne!(nonce(&out_a), nonce(&out_b));
    }

    #[test]
    fn sealed_frames_never_share_a_nonce_within_or_across_threads() {
        let key = DeviceKey::from_bytes([2; DEVICE_KEY_BYTES]);
        let nonces: Vec<Vec<[u8; NONCE_BYTES]>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let key = &key;
                    scope.spawn(move || {
                        let (tenant, device, session) = ids();
                        (0..2_000)
                            .map(|seq| {
                                let payload = power(0, 1);
                                let header = FrameHeader {
                                    kind: payload.kind(),
                                    tenant: tenant.clone(),
                                    device: device.clone(),
                                    session: session.clone(),
                                    seq,
                                    sent_ms: seq,
                                };
                                seal(key, header, &payload).unwrap().nonce
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let all: Vec<_> = nonces.into_iter().flatten().collect();
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "a nonce repeated");
    }
}
