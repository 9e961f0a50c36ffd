//! The providers Paceline syncs from. Only providers with OAuth are supported: Paceline
//! never asks for a third-party password.

use serde::{Deserialize, Serialize};

/// A provider an athlete can connect. In job payloads it is its [`Provider::as_str`]
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Strava (API v3, OAuth 2.0, webhooks).
    Strava,
    /// Garmin Connect (Health and Activity APIs, OAuth 2.0 with PKCE, push and ping).
    Garmin,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 2] = [Provider::Strava, Provider::Garmin];

    /// The provider's name in rows, routes and the API: `strava`, `garmin`. It is also
    /// the activity library's source kind name for what this provider sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Strava => "strava",
            Provider::Garmin => "garmin",
        }
    }

    /// What a connection to this provider may read, as the provider names each
    /// permission and in plain words: shown to the athlete before they connect.
    pub fn permissions(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // The scopes Paceline asks for (`oauth::STRAVA_SCOPES`).
            Provider::Strava => &[
                (
                    "read",
                    "your public Strava profile: name, photo, city (not your email)",
                ),
                (
                    "activity:read_all",
                    "all your activities with their recordings, private ones and \
                     privacy zones included; nothing is posted or changed on Strava",
                ),
            ],
            // Garmin grants what the app is registered for; its consent page lets the
            // athlete turn each off.
            Provider::Garmin => &[
                (
                    "ACTIVITY_EXPORT",
                    "your activities with their recordings (the FIT files)",
                ),
                (
                    "HEALTH_EXPORT",
                    "daily health summaries: sleep, resting heart rate, HRV, stress, body \
                     composition",
                ),
            ],
        }
    }

    /// The provider named `name` (as [`Provider::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Provider> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Where a connection stands, for its row and `GET /api/v1/connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectionStatus {
    /// Tokens work; sync runs.
    Connected,
    /// The provider refused the grant (`invalid_grant`, a second 401): the athlete must
    /// connect again; no job for it is retried meanwhile.
    NeedsReauth,
    /// The athlete revoked access at the provider (Strava `authorized: "false"`, a Garmin
    /// deregistration); tokens are deleted.
    Revoked,
}

impl ConnectionStatus {
    /// Every status.
    pub const ALL: [ConnectionStatus; 3] = [
        ConnectionStatus::Connected,
        ConnectionStatus::NeedsReauth,
        ConnectionStatus::Revoked,
    ];

    /// Its name in rows and the API: `connected`, `needs_reauth`, `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Revoked => "revoked",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<ConnectionStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether jobs may run for it.
    pub fn syncs(self) -> bool {
        self == ConnectionStatus::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(status.as_str()), Some(status));
        }
        assert!(ConnectionStatus::Connected.syncs());
        assert!(!ConnectionStatus::NeedsReauth.syncs());
        assert_eq!(ConnectionStatus::parse("Connected"), None);
    }

    #[test]
    fn names_round_trip() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.as_str()), Some(provider));
        }
        assert_eq!(Provider::parse("Strava"), None);
        assert_eq!(Provider::parse("polar"), None);
    }
}
