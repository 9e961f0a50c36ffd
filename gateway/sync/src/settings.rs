//! Provider settings from configuration: the same gateway binary talks to the local
//! provider servers in tests and to the real services in production.
//!
//! The names are the environment variables; [`SyncSettings::from_lookup`] takes
//! a lookup function (the environment, or the gateway's TOML mapped to these names), so
//! this module reads nothing itself:
//!
//! | name | meaning |
//! |---|---|
//! | `PACELINE_PUBLIC_URL` | the origin providers redirect and call back to |
//! | `PACELINE_STRAVA_CLIENT_ID` | enables Strava |
//! | `PACELINE_STRAVA_CLIENT_SECRET` | required with the id |
//! | `PACELINE_STRAVA_VERIFY_TOKEN` | the webhook verify token, required with the id |
//! | `PACELINE_STRAVA_BASE_URL` | the origin of `/oauth/…` and `/api/v3/…` (default Strava's) |
//! | `PACELINE_GARMIN_CLIENT_ID` | enables Garmin |
//! | `PACELINE_GARMIN_CLIENT_SECRET` | required with the id |
//! | `PACELINE_GARMIN_BASE_URL` | one origin for everything Garmin (local servers); unset: Garmin's three hosts |
//! | `PACELINE_SYNC_BACKFILL_DAYS` | the backfill window, days (default 90, 1–3,650) |
//! | `PACELINE_SYNC_KEEP_DONE_DAYS` | finished jobs are deleted after this many days (default 7, 1–3,650) |

use thiserror::Error;

use crate::oauth::{GARMIN_DEREGISTRATION_PATH, ProviderConfig, Secret};
use crate::provider::Provider;
use crate::strava::DEFAULT_BACKFILL_DAYS;

/// Strava's origin.
pub const STRAVA_BASE_URL: &str = "https://www.strava.com";
/// Garmin's API origin (Health API, pings' callbacks, deregistration).
pub const GARMIN_API_URL: &str = "https://apis.garmin.com";
/// Garmin's consent page.
pub const GARMIN_AUTHORIZE_URL: &str = "https://connect.garmin.com/oauth2Confirm";
/// Garmin's token endpoint.
pub const GARMIN_TOKEN_URL: &str = "https://diauth.garmin.com/di-oauth2-service/oauth/token";

/// Strava, configured.
#[derive(Debug, Clone)]
pub struct StravaSettings {
    /// The OAuth endpoints and app credentials.
    pub config: ProviderConfig,
    /// The origin of `/api/v3/…`.
    pub api_base_url: String,
    /// The webhook verify token.
    pub verify_token: Secret,
}

/// Garmin, configured.
#[derive(Debug, Clone)]
pub struct GarminSettings {
    /// The OAuth endpoints and app credentials.
    pub config: ProviderConfig,
    /// The Health API origin: pings' callback URLs must be on it.
    pub api_base_url: String,
}

/// Everything sync needs from configuration.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The public origin, no trailing slash.
    pub public_url: String,
    /// Strava, when configured.
    pub strava: Option<StravaSettings>,
    /// Garmin, when configured.
    pub garmin: Option<GarminSettings>,
    /// The backfill window, days.
    pub backfill_days: u32,
    /// Finished (`done`) jobs are deleted after this many days.
    pub keep_done_days: u32,
}

/// Finished jobs kept by default, days.
pub const DEFAULT_KEEP_DONE_DAYS: u32 = 7;

/// A setting that is missing or unusable; it names the setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettingsError {
    /// A required setting is unset or empty.
    #[error("{0} must be set")]
    Missing(&'static str),
    /// A setting's value is not usable.
    #[error("{name} is not usable: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

fn origin(name: &'static str, value: &str) -> Result<String, SettingsError> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(SettingsError::Invalid {
            name,
            reason: "not an absolute http(s) URL".to_owned(),
        }),
    }
}

impl SyncSettings {
    /// Reads the settings through `lookup` (e.g. `|name| std::env::var(name).ok()`); empty
    /// values count as unset. A provider without a client id is simply not offered.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SyncSettings, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));
        let public_url = origin("PACELINE_PUBLIC_URL", &required("PACELINE_PUBLIC_URL")?)?;

        let strava = match get("PACELINE_STRAVA_CLIENT_ID") {
            None => None,
            Some(client_id) => {
                let base = match get("PACELINE_STRAVA_BASE_URL") {
                    Some(base) => origin("PACELINE_STRAVA_BASE_URL", &base)?,
                    None => STRAVA_BASE_URL.to_owned(),
                };
                let secret = Secret::new(required("PACELINE_STRAVA_CLIENT_SECRET")?);
                Some(StravaSettings {
                    config: ProviderConfig::strava(&base, &client_id, secret),
                    api_base_url: base,
                    verify_token: Secret::new(required("PACELINE_STRAVA_VERIFY_TOKEN")?),
                })
            }
        };

        let garmin = match get("PACELINE_GARMIN_CLIENT_ID") {
            None => None,
            Some(client_id) => {
                let secret = Secret::new(required("PACELINE_GARMIN_CLIENT_SECRET")?);
                match get("PACELINE_GARMIN_BASE_URL") {
                    Some(base) => {
                        let base = origin("PACELINE_GARMIN_BASE_URL", &base)?;
                        Some(GarminSettings {
                            config: ProviderConfig::garmin(&base, &client_id, secret),
                            api_base_url: base,
                        })
                    }
                    None => {
                        let mut config = ProviderConfig::garmin(GARMIN_API_URL, &client_id, secret);
                        config.authorize_url = GARMIN_AUTHORIZE_URL.to_owned();
                        config.token_url = GARMIN_TOKEN_URL.to_owned();
                        config.deauthorize_url =
                            format!("{GARMIN_API_URL}{GARMIN_DEREGISTRATION_PATH}");
                        Some(GarminSettings {
                            config,
                            api_base_url: GARMIN_API_URL.to_owned(),
                        })
                    }
                }
            }
        };

        let days = |name: &'static str, default: u32| match get(name) {
            None => Ok(default),
            Some(days) => days
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| SettingsError::Invalid {
                    name,
                    reason: format!("{days:?} is not a whole number of days from 1 to 3,650"),
                }),
        };
        let backfill_days = days("PACELINE_SYNC_BACKFILL_DAYS", DEFAULT_BACKFILL_DAYS)?;
        let keep_done_days = days("PACELINE_SYNC_KEEP_DONE_DAYS", DEFAULT_KEEP_DONE_DAYS)?;
        Ok(SyncSettings {
            public_url,
            strava,
            garmin,
            backfill_days,
            keep_done_days,
        })
    }

    /// The redirect URI registered with `provider` and sent, exactly, in the authorize
    /// URL and the token request: `{public}/api/v1/connections/{provider}/callback`.
    pub fn redirect_uri(&self, provider: Provider) -> String {
        format!(
            "{}/api/v1/connections/{}/callback",
            self.public_url,
            provider.as_str()
        )
    }

    /// The URL Strava's webhook subscription calls: `{public}/webhooks/strava`.
    pub fn strava_webhook_url(&self) -> String {
        format!("{}/webhooks/strava", self.public_url)
    }

    /// The providers configured.
    pub fn providers(&self) -> Vec<Provider> {
        let mut providers = Vec::new();
        if self.strava.is_some() {
            providers.push(Provider::Strava);
        }
        if self.garmin.is_some() {
            providers.push(Provider::Garmin);
        }
        providers
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<SyncSettings, SettingsError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SyncSettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn local_servers() {
        let s = settings(&[
            ("PACELINE_PUBLIC_URL", "http://127.0.0.1:8080/"),
            ("PACELINE_STRAVA_CLIENT_ID", "c"),
            ("PACELINE_STRAVA_CLIENT_SECRET", "s"),
            ("PACELINE_STRAVA_VERIFY_TOKEN", "v"),
            ("PACELINE_STRAVA_BASE_URL", "http://127.0.0.1:9000"),
            ("PACELINE_GARMIN_CLIENT_ID", "g"),
            ("PACELINE_GARMIN_CLIENT_SECRET", "gs"),
            ("PACELINE_GARMIN_BASE_URL", "http://127.0.0.1:9000"),
            ("PACELINE_SYNC_BACKFILL_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(
            s.redirect_uri(Provider::Strava),
            "http://127.0.0.1:8080/api/v1/connections/strava/callback"
        );
        assert_eq!(
            s.strava_webhook_url(),
            "http://127.0.0.1:8080/webhooks/strava"
        );
        let strava = s.strava.as_ref().unwrap();
        assert_eq!(strava.config.token_url, "http://127.0.0.1:9000/oauth/token");
        assert_eq!(strava.verify_token.expose(), "v");
        let garmin = s.garmin.as_ref().unwrap();
        assert_eq!(
            garmin.config.authorize_url,
            "http://127.0.0.1:9000/oauth2Confirm"
        );
        assert_eq!(garmin.api_base_url, "http://127.0.0.1:9000");
        assert_eq!(s.backfill_days, 30);
        assert_eq!(s.providers(), [Provider::Strava, Provider::Garmin]);
    }

    #[test]
    fn production_defaults_and_errors() {
        let s = settings(&[
            ("PACELINE_PUBLIC_URL", "https://paceline.example"),
            ("PACELINE_GARMIN_CLIENT_ID", "g"),
            ("PACELINE_GARMIN_CLIENT_SECRET", "gs"),
        ])
        .unwrap();
        assert!(s.strava.is_none());
        let garmin = s.garmin.unwrap();
        assert_eq!(garmin.config.authorize_url, GARMIN_AUTHORIZE_URL);
        assert_eq!(garmin.config.token_url, GARMIN_TOKEN_URL);
        assert_eq!(
            garmin.config.deauthorize_url,
            "https://apis.garmin.com/wellness-api/rest/user/registration"
        );
        assert_eq!(s.backfill_days, 90);
        assert_eq!(s.keep_done_days, DEFAULT_KEEP_DONE_DAYS);
        assert_eq!(
            settings(&[]).unwrap_err(),
            SettingsError::Missing("PACELINE_PUBLIC_URL")
        );
        assert_eq!(
            settings(&[
                ("PACELINE_PUBLIC_URL", "https://p.example"),
                ("PACELINE_STRAVA_CLIENT_ID", "c"),
                ("PACELINE_STRAVA_CLIENT_SECRET", "s"),
            ])
            .unwrap_err(),
            SettingsError::Missing("PACELINE_STRAVA_VERIFY_TOKEN")
        );
        assert!(matches!(
            settings(&[("PACELINE_PUBLIC_URL", "p.example")]),
            Err(SettingsError::Invalid {
                name: "PACELINE_PUBLIC_URL",
                ..
            })
        ));
        assert!(matches!(
            settings(&[
                ("PACELINE_PUBLIC_URL", "https://p.example"),
                ("PACELINE_SYNC_BACKFILL_DAYS", "0")
            ]),
            Err(SettingsError::Invalid { .. })
        ));
    }
}
