//! How a device proves who it is when it connects: its [`DeviceToken`], and the
//! [`DeviceHello`] that opens a QUIC stream.
//!
//! Pairing hands a device three secrets-or-names: its id, its sealing key
//! ([`crate::DeviceKey`], which never travels) and its token (which does, inside TLS).
//!
//! - **MQTT**: CONNECT with client id = username = the device id, password = the token as
//!   64 hex digits.
//! - **QUIC**: the device opens one bidirectional stream per session; its first
//!   length-prefixed message ([`crate::stream`]) is [`encode_hello`]'s bytes, then sealed
//!   frames follow both ways. A gateway that refuses the hello closes the connection.
//!
//! The token only admits a connection; every frame is still checked against the device
//! key, so a stolen token alone cannot forge samples.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{self, DecodeError, EncodeError, WIRE_VERSION};
use crate::ids::{DeviceId, TenantId};

/// Length of a device token, bytes.
pub const DEVICE_TOKEN_BYTES: usize = 32;

/// A device's connection secret. Wiped from memory when dropped; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DeviceToken([u8; DEVICE_TOKEN_BYTES]);

impl DeviceToken {
    /// A new random token from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; DEVICE_TOKEN_BYTES];
        // The same generator the sealing keys come from.
        use chacha20poly1305::aead::rand_core::RngCore;
        chacha20poly1305::aead::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A token from its 32 bytes.
    pub fn from_bytes(bytes: [u8; DEVICE_TOKEN_BYTES]) -> Self {
        Self(bytes)
    }

    /// A token from 64 hex digits (the form pairing hands out and MQTT's password uses).
    pub fn from_hex(text: &str) -> Result<Self, TokenError> {
        let mut bytes = [0u8; DEVICE_TOKEN_BYTES];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| TokenError::NotHex)?;
        Ok(Self(bytes))
    }

    /// The token as 64 hex digits. Keep it out of logs.
    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The token's bytes, for hashing. Keep them out of logs.
    pub fn expose_bytes(&self) -> &[u8; DEVICE_TOKEN_BYTES] {
        &self.0
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

impl Serialize for DeviceToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Fixed size in binary (no length prefix to bound), hex text in JSON.
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.expose_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for DeviceToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = crate::bounded::deserialize_str::<_, 64>(deserializer)?;
            DeviceToken::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            <[u8; DEVICE_TOKEN_BYTES]>::deserialize(deserializer).map(DeviceToken)
        }
    }
}

/// A device token given in the wrong form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not exactly 64 hex digits.
    #[error("a device token is 64 hex digits")]
    NotHex,
}

/// The first message on a device's QUIC stream: who is connecting, and the proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceHello {
    /// The tenant the device belongs to.
    pub tenant: TenantId,
    /// The device.
    pub device: DeviceId,
    /// Its connection token.
    pub token: DeviceToken,
}

/// Encodes a hello: [`WIRE_VERSION`], then its binary form.
pub fn encode_hello(hello: &DeviceHello) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![WIRE_VERSION];
    out.extend(codec::encode_binary(hello)?);
    Ok(out)
}

/// Decodes a hello written by [`encode_hello`].
pub fn decode_hello(bytes: &[u8]) -> Result<DeviceHello, DecodeError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(DecodeError::Empty);
    };
    if version != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    codec::decode_binary(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> DeviceHello {
        DeviceHello {
            tenant: TenantId::new("gym-1").unwrap(),
            device: DeviceId::new("strap-7").unwrap(),
            token: DeviceToken::from_bytes([0xab; DEVICE_TOKEN_BYTES]),
        }
    }

    #[test]
    fn hello_round_trips_and_rejects_damage() {
        let bytes = encode_hello(&hello()).unwrap();
        assert_eq!(decode_hello(&bytes).unwrap(), hello());
        for cut in 0..bytes.len() {
            assert!(
                decode_hello(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_hello(&longer).is_err());
        let mut other_version = bytes;
        other_version[0] = 9;
        assert_eq!(
            decode_hello(&other_version),
            Err(DecodeError::UnsupportedVersion { found: 9 })
        );
    }

    #[test]
    fn token_forms() {
        let token = DeviceToken::generate();
        assert_ne!(token, DeviceToken::generate());
        assert_eq!(DeviceToken::from_hex(&token.expose_hex()).unwrap(), token);
        assert_eq!(format!("{token:?}"), "DeviceToken(<redacted>)");
        assert_eq!(DeviceToken::from_hex("abc"), Err(TokenError::NotHex));
        let json = codec::to_json(&hello()).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"tenant":"gym-1","device":"strap-7","token":"{}"}}"#,
                "ab".repeat(32)
            )
        );
        assert_eq!(
            codec::from_json::<DeviceHello>(json.as_bytes()).unwrap(),
            hello()
        );
    }
}
