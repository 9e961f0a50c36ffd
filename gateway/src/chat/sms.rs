//! The coach chat by SMS, the gateway's side: Twilio's REST API for what the gateway sends
//! on its own (the linking code), phone numbers read as E.164, and the codes.
//!
//! The webhook's rules (signature, form, keywords, segments, TwiML) are
//! `paceline_chat::sms`'s; the routes are [`crate::api::sms`]'s.
//!
//! **Invariants.** A number reaches the chat only once the user it belongs to entered the
//! code sent to it; the code is kept as a SHA-256 digest, for ten minutes and five tries.
//! Phone numbers and message texts are personal data: never logged (errors name what
//! failed, not the number). The auth token is sent as basic auth to the configured base
//! URL only, and never logged.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::settings::SmsSettings;

/// How long a linking code works.
pub const CODE_TTL_MS: u64 = 10 * 60 * 1000;
/// Wrong codes allowed before a new one must be asked for.
pub const CODE_TRIES: u32 = 5;
/// The most a REST call takes.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// A phone number as E.164 (`+` and 8–15 digits), from what a person types (spaces,
/// dashes, dots and brackets dropped); `None` if it is not one.
pub fn e164(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let rest = trimmed.strip_prefix('+')?;
    let digits: String = rest
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Some(format!("+{digits}"))
    } else {
        None
    }
}

/// A six-digit code from the OS random source.
pub fn new_code() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{:06}", u64::from_le_bytes(bytes) % 1_000_000))
}

/// The digest a code is kept as, bound to the user and the number.
pub fn code_digest(user_row: i64, phone: &str, code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(format!("paceline-sms-code\n{user_row}\n{phone}\n{}", code.trim()).as_bytes());
    h.finalize().to_vec()
}

/// The digest a number is counted under for its limits (the number itself is not kept).
pub fn number_digest(phone: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(format!("paceline-sms-number\n{phone}").as_bytes());
    h.finalize().to_vec()
}

/// The start of the hour `now_ms` is in, ms.
pub fn hour_start_ms(now_ms: u64) -> u64 {
    now_ms - now_ms % 3_600_000
}

/// The start of the UTC day `now_ms` is in, ms.
pub fn day_start_ms(now_ms: u64) -> u64 {
    now_ms - now_ms % 86_400_000
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connection failed or timed out.
    #[error("could not reach the SMS provider: {0}")]
    Network(String),
    /// The provider answered an error status.
    #[error("the SMS provider answered {0}")]
    Status(u16),
}

/// Twilio's REST API with the configured account.
#[derive(Clone)]
pub struct Twilio {
    settings: SmsSettings,
    http: reqwest::Client,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("base_url", &self.settings.base_url)
            .finish_non_exhaustive()
    }
}

impl Twilio {
    /// The client for these settings.
    pub fn new(settings: SmsSettings) -> Result<Twilio, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Twilio { settings, http })
    }

    /// The settings (the webhook URL and auth token check signatures).
    pub fn settings(&self) -> &SmsSettings {
        &self.settings
    }

    /// Sends `body` to `to`: `POST /2010-04-01/Accounts/{sid}/Messages.json` with basic
    /// auth, form fields `To`, `From`, `Body`.
    pub async fn send(&self, to: &str, body: &str) -> Result<(), SendError> {
        let s = &self.settings;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            s.base_url, s.account_sid
        );
        let response = self
            .http
            .post(url)
            .basic_auth(&s.account_sid, Some(s.auth_token.expose()))
            .form(&[("To", to), ("From", s.from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(|e| SendError::Network(e.without_url().to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SendError::Status(response.status().as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_e164() {
        assert_eq!(e164("+1 (555) 010-4477").as_deref(), Some("+15550104477"));
        assert_eq!(e164(" +44 20 7946 0958 ").as_deref(), Some("+442079460958"));
        for bad in [
            "5550104477",
            "+1 555",
            "+1555abc0104",
            "+0123456789",
            "",
            "+",
        ] {
            assert_eq!(e164(bad), None, "{bad}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_digests_bind_user_and_number() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let d = code_digest(7, "+15550104477", "123456");
        assert_eq!(d, code_digest(7, "+15550104477", " 123456 "));
        assert_ne!(d, code_digest(8, "+15550104477", "123456"));
        assert_ne!(d, code_digest(7, "+15550104478", "123456"));
    }
}
