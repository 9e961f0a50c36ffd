//! Secrets at rest: the server key, which seals device keys in the database.
//!
//! The server key is 32 random bytes in `server.key` in the data folder, created on first
//! start with mode 0600. Device keys are stored sealed with ChaCha20-Poly1305 under it
//! (nonce ‖ ciphertext ‖ tag), with the device id as associated data so a sealed key
//! cannot be moved to another device's row. Device tokens are stored only as SHA-256
//! digests: they are 256-bit random values, so a fast hash is enough.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use paceline_schemas::DeviceKey;
use paceline_schemas::hello::DeviceToken;
use paceline_schemas::seal::DEVICE_KEY_BYTES;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// File name of the server key in the data folder.
pub const SERVER_KEY_FILE: &str = "server.key";
const NONCE_BYTES: usize = 12;

/// Why a secret could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read or written.
    #[error("server key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The key file exists but is not 32 bytes.
    #[error("server key {path} is {len} bytes, expected 32: restore it from a backup")]
    BadLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Other users may read the key file.
    #[error("server key {path} has mode {mode:o}: make it readable by its owner only (chmod 600)")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The cipher refused to seal a device key.
    #[error("a device key could not be sealed")]
    Seal,
    /// A sealed device key does not open with the server key.
    #[error("a stored device key does not open with this server key")]
    Unseal,
}

/// The server key. Zeroed on drop.
pub struct ServerKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

impl ServerKey {
    /// Loads the key from `data_dir`, creating it (mode 0600) if there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<ServerKey, SecretError> {
        let path = data_dir.join(SERVER_KEY_FILE);
        let io = |source| SecretError::Io {
            path: path.clone(),
            source,
        };
        match fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let mode = fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretError::Exposed { path, mode });
                }
                let key: [u8; 32] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| SecretError::BadLength {
                            path: path.clone(),
                            len: bytes.len(),
                        })?;
                Ok(ServerKey::from_bytes(Zeroizing::new(key)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key =
                    Zeroizing::new(<[u8; 32]>::from(ChaCha20Poly1305::generate_key(&mut OsRng)));
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                file.write_all(key.as_slice()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(ServerKey::from_bytes(key))
            }
            Err(err) => Err(io(err)),
        }
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> ServerKey {
        ServerKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes.as_slice())),
        }
    }

    /// Seals a device key for storage in the row of `device_id`.
    pub fn seal_device_key(
        &self,
        device_id: &str,
        key: &DeviceKey,
    ) -> Result<Vec<u8>, SecretError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: key.expose_bytes(),
                    aad: device_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        out.extend(sealed);
        Ok(out)
    }

    /// Seals a named server secret (the API's token-signing key) for the
    /// `server_secrets` table; the name is bound in as associated data.
    pub fn seal_secret(&self, name: &str, plain: &[u8]) -> Result<Vec<u8>, SecretError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = format!("secret:{name}");
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        out.extend(sealed);
        Ok(out)
    }

    /// Opens a secret sealed by [`ServerKey::seal_secret`] under the same name.
    pub fn open_secret(
        &self,
        name: &str,
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let (nonce, sealed) = stored
            .split_at_checked(NONCE_BYTES)
            .ok_or(SecretError::Unseal)?;
        let aad = format!("secret:{name}");
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unseal)
    }

    /// Opens a device key stored by [`ServerKey::seal_device_key`].
    pub fn open_device_key(
        &self,
        device_id: &str,
        stored: &[u8],
    ) -> Result<DeviceKey, SecretError> {
        let (nonce, sealed) = stored
            .split_at_checked(NONCE_BYTES)
            .ok_or(SecretError::Unseal)?;
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: device_id.as_bytes(),
                    },
                )
                .map_err(|_| SecretError::Unseal)?,
        );
        let bytes: [u8; DEVICE_KEY_BYTES] = plain
            .as_slice()
            .try_into()
            .map_err(|_| SecretError::Unseal)?;
        Ok(DeviceKey::from_bytes(bytes))
    }
}

/// The stored form of a device token.
pub fn token_digest(token: &DeviceToken) -> [u8; 32] {
    Sha256::digest(token.expose_bytes()).into()
}

/// Whether `token` is the one whose digest is `stored`, in time independent of where they
/// differ.
pub fn token_matches(token: &DeviceToken, stored: &[u8]) -> bool {
    let digest = token_digest(token);
    stored.len() == digest.len()
        && stored
            .iter()
            .zip(digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Makes `path` readable by its owner only.
pub fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_keys_round_trip_only_in_their_own_row() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_owned();
        let server = ServerKey::load_or_create(&dir).unwrap();
        let key = DeviceKey::generate();
        let stored = server.seal_device_key("d-1", &key).unwrap();
        assert!(!stored.windows(32).any(|w| w == key.expose_bytes()));
        let opened = server.open_device_key("d-1", &stored).unwrap();
        assert_eq!(opened.expose_bytes(), key.expose_bytes());
        assert!(server.open_device_key("d-2", &stored).is_err());
        assert!(server.open_device_key("d-1", &stored[..5]).is_err());
        // The same file opens the same keys after a restart.
        let again = ServerKey::load_or_create(&dir).unwrap();
        assert!(again.open_device_key("d-1", &stored).is_ok());
        let mode = fs::metadata(dir.join(SERVER_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(dir.join(SERVER_KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ServerKey::load_or_create(&dir),
            Err(SecretError::Exposed { .. })
        ));
    }

    #[test]
    fn tokens_match_their_digest_only() {
        let token = DeviceToken::generate();
        let stored = token_digest(&token);
        assert!(token_matches(&token, &stored));
        assert!(!token_matches(&DeviceToken::generate(), &stored));
        assert!(!token_matches(&token, &stored[..31]));
    }
}
