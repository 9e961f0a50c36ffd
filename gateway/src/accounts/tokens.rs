//! API tokens.
//!
//! **Access tokens** are JWTs signed with HMAC-SHA-256 under a 256-bit key kept sealed in
//! the database (`server_secrets`, under the server key). Verification pins the algorithm
//! (a token claiming `none` or any other algorithm is refused), and requires `exp`, `iss`
//! and `aud`, with no leeway. They live 15 minutes by default.
//!
//! **Refresh tokens** are 256-bit random strings, stored only as SHA-256 digests. Each
//! belongs to a *family* opened at login; using one marks it used and issues the next of
//! the family. Presenting a used one again means it was copied: the whole family is
//! revoked, so both the thief and the owner must log in again. Logging out revokes the
//! family too, and access tokens name their family, so they stop working at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Role;

/// `iss` of every access token.
pub const ISSUER: &str = "paceline";
/// `aud` of every access token.
pub const AUDIENCE: &str = "paceline-api";
/// Name of the signing key in `server_secrets`.
pub const SIGNING_KEY_NAME: &str = "jwt-hs256";
/// Default access-token lifetime, s.
pub const ACCESS_TTL_S: u64 = 15 * 60;
/// Refresh-token lifetime, s.
pub const REFRESH_TTL_S: u64 = 30 * 24 * 3600;
/// Prefix that makes a refresh token recognisable in a secret scanner.
const REFRESH_PREFIX: &str = "plr_";

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Signing failed (never for valid input).
    #[error("token signing failed")]
    Sign,
    /// The token is malformed, tampered with, of the wrong algorithm or audience.
    #[error("the token is not valid")]
    Invalid,
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's row, as a string.
    pub sub: String,
    /// The tenant's row.
    pub tid: i64,
    /// The role when issued (the request checks the current one).
    pub role: Role,
    /// The token family (login) this token belongs to.
    pub fam: i64,
    /// Issued at, s since the epoch.
    pub iat: u64,
    /// Expires at, s since the epoch.
    pub exp: u64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// For a read-only "view as" token: the impersonation's row (such a token has no
    /// refresh token and `sub` is the user viewed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imp: Option<i64>,
}

/// The signing key and the validation rules.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Keys from the 32-byte secret.
    pub fn from_secret(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs an access token.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Sign)
    }

    /// Verifies an access token: signature, algorithm, issuer, audience, expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    /// The claims of a token whose signature and audience are valid but which has
    /// expired (to close what it opened); `None` for any other token.
    pub fn expired_claims(&self, token: &str) -> Option<Claims> {
        if token.len() > 4096 {
            return None;
        }
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// A fresh 256-bit secret (for the signing key).
pub fn new_secret() -> Option<[u8; 32]> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).ok()?;
    Some(secret)
}

/// A fresh refresh token.
pub fn new_refresh_token() -> Option<String> {
    let secret = new_secret()?;
    Some(format!(
        "{REFRESH_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(secret)
    ))
}

/// The stored form of a refresh token (or of an invitation code).
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "7".into(),
            tid: 3,
            role: Role::Coach,
            fam: 11,
            iat: 1,
            exp,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            imp: None,
        }
    }

    fn far_future() -> u64 {
        u64::MAX / 2
    }

    #[test]
    fn a_signed_token_verifies_and_a_tampered_one_does_not() {
        let keys = TokenKeys::from_secret(&[7u8; 32]);
        let token = keys.issue(&claims(far_future())).unwrap();
        let back = keys.verify(&token).unwrap();
        assert_eq!((back.sub.as_str(), back.tid, back.fam), ("7", 3, 11));
        // Flip one character of the payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = &mut parts[1];
        let last = payload.pop().unwrap();
        payload.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(
            keys.verify(&parts.join(".")),
            Err(TokenError::Invalid)
        ));
        // Another key.
        let other = TokenKeys::from_secret(&[8u8; 32]);
        assert!(matches!(other.verify(&token), Err(TokenError::Invalid)));
    }

    #[test]
    fn alg_none_wrong_audience_and_expired_tokens_are_refused() {
        let keys = TokenKeys::from_secret(&[7u8; 32]);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(far_future())).unwrap());
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{none_header}.{body}.")).is_err());
        let mut wrong = claims(far_future());
        wrong.aud = "someone-else".into();
        assert!(matches!(
            keys.verify(&keys.issue(&wrong).unwrap()),
            Err(TokenError::Invalid)
        ));
        let expired = keys.issue(&claims(10)).unwrap();
        assert!(matches!(keys.verify(&expired), Err(TokenError::Expired)));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_digests() {
        let a = new_refresh_token().unwrap();
        let b = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("plr_") && a.len() > 40);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
