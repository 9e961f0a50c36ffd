//! A device's credentials from pairing: who it is, the key that seals its frames (never
//! sent) and the token that admits its connections.

use std::path::Path;

use paceline_schemas::hello::TokenError;
use paceline_schemas::seal::KeyError;
use paceline_schemas::{DeviceId, DeviceKey, DeviceToken, IdError, TenantId};
use serde::Deserialize;

/// What pairing hands a device. `Debug` never shows the key or the token.
#[derive(Debug, Clone)]
pub struct DeviceCredentials {
    /// The tenant (gym, club, household) the device belongs to.
    pub tenant: TenantId,
    /// The device.
    pub device: DeviceId,
    /// Seals every frame; stays on the device.
    pub key: DeviceKey,
    /// Admits MQTT and QUIC connections (MQTT password, QUIC hello).
    pub token: DeviceToken,
}

/// Credentials as written in a TOML file (`[[device]]` tables, or one athlete's fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsText {
    /// Tenant id.
    pub tenant: String,
    /// Device id (`id` as the gateway's pairing prints it).
    #[serde(alias = "id")]
    pub device: String,
    /// Device key, 64 hex digits.
    pub key: String,
    /// Device token, 64 hex digits.
    pub token: String,
}

/// A credentials file: `[[device]]` tables of [`CredentialsText`], or the single
/// `[device]` table (and `[gateway]` table, not used here) that `paceline device add`
/// prints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    device: Option<OneOrMany>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted so pairing output can be pasted as it is"
    )]
    gateway: Option<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<CredentialsText>),
    One(CredentialsText),
}

/// Credentials that do not parse.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A tenant or device id outside the id charset or length.
    #[error("device {device:?}: bad id: {source}")]
    Id {
        /// The device as written.
        device: String,
        /// Why.
        source: IdError,
    },
    /// The key is not 64 hex digits.
    #[error("device {device:?}: {source}")]
    Key {
        /// The device as written.
        device: String,
        /// Why.
        source: KeyError,
    },
    /// The token is not 64 hex digits.
    #[error("device {device:?}: {source}")]
    Token {
        /// The device as written.
        device: String,
        /// Why.
        source: TokenError,
    },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape.
    #[error("{path}: {source}")]
    Toml {
        /// The file.
        path: String,
        /// Why.
        source: toml::de::Error,
    },
}

impl CredentialsText {
    /// Checks and converts the text form.
    pub fn parse(&self) -> Result<DeviceCredentials, CredentialsError> {
        let id_error = |source| CredentialsError::Id {
            device: self.device.clone(),
            source,
        };
        Ok(DeviceCredentials {
            tenant: TenantId::new(self.tenant.clone()).map_err(id_error)?,
            device: DeviceId::new(self.device.clone()).map_err(id_error)?,
            key: DeviceKey::from_hex(&self.key).map_err(|source| CredentialsError::Key {
                device: self.device.clone(),
                source,
            })?,
            token: DeviceToken::from_hex(&self.token).map_err(|source| {
                CredentialsError::Token {
                    device: self.device.clone(),
                    source,
                }
            })?,
        })
    }
}

/// One line of `paceline device add --json` (other fields ignored).
#[derive(Debug, Clone, Deserialize)]
struct PairingJson {
    tenant: String,
    device: String,
    key: String,
    token: String,
}

/// The permission bits of a file of secrets when group or others may read or write it
/// (`mode & 0o077 != 0`); `None` when only its owner may, or when it cannot be looked at.
pub fn loose_permissions(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Warns, naming the file and the fix, when a file holding device keys or tokens may be
/// read by others than its owner.
pub fn warn_if_loose(path: &Path) {
    if let Some(mode) = loose_permissions(path) {
        tracing::warn!(
            file = %path.display(),
            mode = format_args!("{mode:o}"),
            "{} holds device keys and tokens and is readable by others than its owner: \
             run `chmod 600 {}`",
            path.display(),
            path.display(),
        );
    }
}

/// Reads a credentials file: TOML `[[device]]` tables (tenant, device, key, token), the
/// `[device]` table pairing prints, or JSON lines as `paceline device add --json` prints
/// them (one device per line).
pub fn read_credentials_file(path: &Path) -> Result<Vec<DeviceCredentials>, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    warn_if_loose(path);
    if text.trim_start().starts_with('{') {
        let mut out = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let paired: PairingJson =
                serde_json::from_str(line).map_err(|e| CredentialsError::Read {
                    path: format!("{} line {}", path.display(), number + 1),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
            out.push(
                CredentialsText {
                    tenant: paired.tenant,
                    device: paired.device,
                    key: paired.key,
                    token: paired.token,
                }
                .parse()?,
            );
        }
        return Ok(out);
    }
    let file: CredentialsFile = toml::from_str(&text).map_err(|source| CredentialsError::Toml {
        path: path.display().to_string(),
        source,
    })?;
    match file.device {
        None => Ok(Vec::new()),
        Some(OneOrMany::One(one)) => Ok(vec![one.parse()?]),
        Some(OneOrMany::Many(many)) => many.iter().map(CredentialsText::parse).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_output_and_device_lists_both_read() {
        let dir = std::env::temp_dir().join(format!("paceline-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = "11".repeat(32);
        let token = "22".repeat(32);
        let paired = dir.join("paired.toml");
        std::fs::write(
            &paired,
            format!(
                "[device]\ntenant = \"home\"\nid = \"ana-strap\"\nkey = \"{key}\"\ntoken = \"{token}\"\n\n\
                 [gateway]\nmqtt = \"127.0.0.1:1883\"\nquic = \"127.0.0.1:4433\"\nquic_cert_sha256 = \"ab\"\n"
            ),
        )
        .unwrap();
        let one = read_credentials_file(&paired).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].device.as_str(), "ana-strap");
        assert_eq!(format!("{:?}", one[0].key), "DeviceKey(<redacted>)");
        let list = dir.join("devices.toml");
        std::fs::write(
            &list,
            format!(
                "[[device]]\ntenant = \"gym\"\ndevice = \"a\"\nkey = \"{key}\"\ntoken = \"{token}\"\n\
                 [[device]]\ntenant = \"gym\"\ndevice = \"b\"\nkey = \"{key}\"\ntoken = \"{token}\"\n"
            ),
        )
        .unwrap();
        assert_eq!(read_credentials_file(&list).unwrap().len(), 2);
        let jsonl = dir.join("devices.jsonl");
        std::fs::write(
            &jsonl,
            format!(
                "{{\"tenant\":\"gym\",\"device\":\"a\",\"key\":\"{key}\",\"token\":\"{token}\",\"mqtt\":\"x\"}}\n\
                 {{\"tenant\":\"gym\",\"device\":\"b\",\"key\":\"{key}\",\"token\":\"{token}\"}}\n"
            ),
        )
        .unwrap();
        assert_eq!(read_credentials_file(&jsonl).unwrap().len(), 2);
        std::fs::write(
            &list,
            "[[device]]\ntenant = \"gym\"\ndevice = \"a\"\nkey = \"zz\"\ntoken = \"zz\"\n",
        )
        .unwrap();
        let err = read_credentials_file(&list).unwrap_err().to_string();
        assert!(
            err.contains("64 hex digits") && !err.contains("zz\""),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_credentials_file_others_may_read_is_found_loose() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("devices.toml");
        std::fs::write(&file, "").unwrap();
        for (mode, loose) in [
            (0o644, Some(0o644)),
            (0o640, Some(0o640)),
            (0o604, Some(0o604)),
            (0o600, None),
            (0o400, None),
        ] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(loose_permissions(&file), loose, "mode {mode:o}");
        }
        assert_eq!(loose_permissions(&dir.path().join("absent.toml")), None);
    }
}
