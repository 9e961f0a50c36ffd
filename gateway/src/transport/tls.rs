//! The QUIC server certificate: self-signed on first start (rcgen), kept in the data folder
//! (`quic-cert.pem`, and `quic-key.pem` with mode 0600), identified to devices by its
//! SHA-256 fingerprint, which they pin.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// The certificate file in the data folder.
pub const CERT_FILE: &str = "quic-cert.pem";
/// The private key file in the data folder.
pub const KEY_FILE: &str = "quic-key.pem";
/// The ALPN protocol name of Paceline's QUIC streams.
pub const ALPN: &[u8] = b"paceline/1";

/// Why the certificate could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{path}: not a PEM {what}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Certificate or key.
        what: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// rcgen could not make a certificate.
    #[error("generating the QUIC certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The server's certificate and key.
pub struct ServerCert {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    /// The private key, DER.
    pub key: PrivateKeyDer<'static>,
    /// Whether it was made just now.
    pub created: bool,
}

impl ServerCert {
    /// Loads the certificate from `data_dir`, making a self-signed one for `localhost`,
    /// `127.0.0.1` and `::1` if there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<ServerCert, CertError> {
        let cert_path = data_dir.join(CERT_FILE);
        let key_path = data_dir.join(KEY_FILE);
        let mut created = false;
        if !cert_path.exists() || !key_path.exists() {
            let names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            let certified = rcgen::generate_simple_self_signed(names)?;
            write_private(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
            fs::write(&cert_path, certified.cert.pem()).map_err(|source| CertError::Io {
                path: cert_path.clone(),
                source,
            })?;
            created = true;
        }
        let cert = CertificateDer::from_pem_file(&cert_path).map_err(|e| CertError::Pem {
            path: cert_path.clone(),
            what: "certificate",
            reason: e.to_string(),
        })?;
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| CertError::Pem {
            path: key_path.clone(),
            what: "private key",
            reason: e.to_string(),
        })?;
        Ok(ServerCert { cert, key, created })
    }

    /// The SHA-256 fingerprint of the certificate, as colon-separated hex pairs.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated uppercase hex pairs.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerCert::load_or_create(dir.path()).unwrap();
        assert!(first.created);
        let again = ServerCert::load_or_create(dir.path()).unwrap();
        assert!(!again.created);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 32 * 3 - 1);
    }
}
