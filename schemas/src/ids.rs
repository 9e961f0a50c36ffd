//! Identifiers of tenants, devices and sessions.
//!
//! All three travel in frame headers and two of them in MQTT topic levels, so they share one
//! rule: 1 to [`MAX_ID_BYTES`] bytes of ASCII letters, digits, `-`, `_`, `.` or `:`. That
//! excludes the MQTT separators and wildcards (`/`, `+`, `#`), whitespace and control
//! characters, so an id can never change the meaning of a topic or a log line.

use std::fmt;
use std::sync::Arc;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest identifier, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("{what} id is empty")]
    Empty {
        /// Which identifier ("tenant", "device", "session").
        what: &'static str,
    },
    /// The string is longer than [`MAX_ID_BYTES`].
    #[error("{what} id is {len} bytes long; the limit is {MAX_ID_BYTES}")]
    TooLong {
        /// Which identifier.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The string holds a character outside `A-Z a-z 0-9 - _ . :`.
    #[error(
        "{what} id contains {found:?}; only letters, digits, '-', '_', '.' and ':' are allowed"
    )]
    BadCharacter {
        /// Which identifier.
        what: &'static str,
        /// The first offending character.
        found: char,
    },
}

fn check_id(what: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { what });
    }
    if text.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong {
            what,
            len: text.len(),
        });
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        Some(found) => Err(IdError::BadCharacter { what, found }),
        None => Ok(()),
    }
}

macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        ///
        /// Shared text: a clone (one per engine record, per frame's effects) is a count
        /// going up, not a copy.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks `text` against the identifier rule (see the module docs).
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                check_id($what, &text)?;
                Ok(Self(Arc::from(text)))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = crate::bounded::deserialize_str::<_, MAX_ID_BYTES>(deserializer)?;
                Self::new(text).map_err(D::Error::custom)
            }
        }
    };
}

identifier!(
    /// A tenant: a gym, a team or a self-hosting athlete. Every record belongs to one.
    TenantId,
    "tenant"
);
identifier!(
    /// A device: one edge agent identity, holding one sealing key.
    DeviceId,
    "device"
);
identifier!(
    /// A workout session, chosen by the device; `seq` restarts with each session.
    SessionId,
    "session"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_rule() {
        let cases: &[(&str, Option<&str>)] = &[
            ("gym-7", None),
            ("a.b:c_d", None),
            ("", Some("tenant id is empty")),
            ("a/b", Some("tenant id contains '/'")),
            ("a+b", Some("tenant id contains '+'")),
            ("#", Some("tenant id contains '#'")),
            ("a b", Some("tenant id contains ' '")),
            ("é", Some("tenant id contains 'é'")),
        ];
        for (input, expected) in cases {
            let got = TenantId::new(*input);
            match expected {
                None => assert_eq!(got.map(|t| t.to_string()).as_deref(), Ok(*input)),
                Some(prefix) => {
                    let message = got.expect_err(input).to_string();
                    assert!(message.starts_with(prefix), "{input:?}: {message}");
                }
            }
        }
        let long = "x".repeat(MAX_ID_BYTES + 1);
        assert_eq!(
            DeviceId::new(long),
            Err(IdError::TooLong {
                what: "device",
                len: MAX_ID_BYTES + 1
            })
        );
        assert!(SessionId::new("x".repeat(MAX_ID_BYTES)).is_ok());
    }

    #[test]
    fn json_rejects_a_bad_id() {
        let err = serde_json::from_str::<DeviceId>(r#""dev/1""#).unwrap_err();
        assert!(err.to_string().contains("device id contains '/'"), "{err}");
    }
}
