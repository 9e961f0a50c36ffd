//! The signed unsubscribe token of the weekly digest's link.
//!
//! Why signed: the link must work without logging in (people read mail on phones where they
//! are not signed in), yet nobody may unsubscribe someone else by guessing ids. So the link
//! carries the user id and an HMAC-SHA256 tag under a server key the gateway keeps secret.
//!
//! Token: `<user id in decimal>.<base64url, no padding, of the 32-byte tag>`, URL-safe as
//! is. The tag covers a version label, the purpose (so a digest link cannot be replayed to
//! another list) and the user id: `HMAC(key, "paceline-unsubscribe-v1" ‖ len(purpose) as
//! u64 BE ‖ purpose ‖ user_id as i64 BE)`. The tag is compared in constant time. Tokens do
//! not expire (an unsubscribe link in a year-old mail should still work); rotating the key
//! voids them all.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The purpose of the weekly digest's unsubscribe link.
pub const DIGEST_PURPOSE: &str = "weekly-digest";
/// Fewest bytes a server key may have.
pub const MIN_KEY_BYTES: usize = 32;
/// Longest token accepted (an i64 and 43 base64 characters fit in 64).
pub const MAX_TOKEN_LEN: usize = 128;
const LABEL: &[u8] = b"paceline-unsubscribe-v1";

/// Why a token was not made or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The server key is too short.
    #[error("the server key has {bytes} bytes; at least {min} are needed")]
    WeakKey {
        /// Its length.
        bytes: usize,
        /// The minimum.
        min: usize,
    },
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("the token is longer than {max} characters")]
    TooLong {
        /// The cap.
        max: usize,
    },
    /// Not `<id>.<tag>`.
    #[error("the token is not of the form <user id>.<signature>")]
    Malformed,
    /// The tag does not match.
    #[error("the token's signature does not match")]
    BadSignature,
}

fn tag(server_key: &[u8], user_id: i64, purpose: &str) -> Result<[u8; 32], TokenError> {
    if server_key.len() < MIN_KEY_BYTES {
        return Err(TokenError::WeakKey {
            bytes: server_key.len(),
            min: MIN_KEY_BYTES,
        });
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(server_key).map_err(|_| TokenError::WeakKey {
        bytes: server_key.len(),
        min: MIN_KEY_BYTES,
    })?;
    mac.update(LABEL);
    mac.update(&(purpose.len() as u64).to_be_bytes());
    mac.update(purpose.as_bytes());
    mac.update(&user_id.to_be_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// The unsubscribe token of `user_id` for `purpose` (module docs).
pub fn sign_unsubscribe(
    server_key: &[u8],
    user_id: i64,
    purpose: &str,
) -> Result<String, TokenError> {
    let tag = tag(server_key, user_id, purpose)?;
    Ok(format!("{user_id}.{}", URL_SAFE_NO_PAD.encode(tag)))
}

/// The user id a token for `purpose` names, when its signature is right.
pub fn verify_unsubscribe(
    server_key: &[u8],
    token: &str,
    purpose: &str,
) -> Result<i64, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong { max: MAX_TOKEN_LEN });
    }
    let (id, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let user_id: i64 = id.parse().map_err(|_| TokenError::Malformed)?;
    // Only the canonical decimal form (no "+7", "007").
    if user_id.to_string() != id {
        return Err(TokenError::Malformed);
    }
    let given = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let expected = tag(server_key, user_id, purpose)?;
    if given.len() == expected.len() && bool::from(expected.ct_eq(given.as_slice())) {
        Ok(user_id)
    } else {
        Err(TokenError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_tampering() {
        let token = sign_unsubscribe(KEY, 42, DIGEST_PURPOSE).unwrap();
        // 32-byte tag → 43 base64url characters without padding.
        assert!(token.starts_with("42."));
        assert_eq!(token.len(), 3 + 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(verify_unsubscribe(KEY, &token, DIGEST_PURPOSE), Ok(42));
        // Another user's id with this tag, another purpose, another key: all refused.
        let forged = token.replacen("42.", "43.", 1);
        assert_eq!(
            verify_unsubscribe(KEY, &forged, DIGEST_PURPOSE),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_unsubscribe(KEY, &token, "alerts"),
            Err(TokenError::BadSignature)
        );
        let other_key = b"fedcba9876543210fedcba9876543210";
        assert_eq!(
            verify_unsubscribe(other_key, &token, DIGEST_PURPOSE),
            Err(TokenError::BadSignature)
        );
        // Non-canonical id, no dot.
        assert_eq!(
            verify_unsubscribe(KEY, &token.replacen("42.", "+42.", 1), DIGEST_PURPOSE),
            Err(TokenError::Malformed)
        );
        // A truncated tag is refused; a well-formed tag of the wrong length too.
        assert!(verify_unsubscribe(KEY, &token[..token.len() - 2], DIGEST_PURPOSE).is_err());
        let short_tag = format!("42.{}", URL_SAFE_NO_PAD.encode([0u8; 16]));
        assert_eq!(
            verify_unsubscribe(KEY, &short_tag, DIGEST_PURPOSE),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_unsubscribe(KEY, "42", DIGEST_PURPOSE),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            sign_unsubscribe(b"short", 1, DIGEST_PURPOSE),
            Err(TokenError::WeakKey { bytes: 5, min: 32 })
        );
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_the_documented_message() {
        // Independent check with a plain HMAC over the bytes the module docs name.
        let mut message = b"paceline-unsubscribe-v1".to_vec();
        message.extend(13u64.to_be_bytes());
        message.extend(b"weekly-digest");
        message.extend(7i64.to_be_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
        mac.update(&message);
        let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(
            sign_unsubscribe(KEY, 7, DIGEST_PURPOSE).unwrap(),
            format!("7.{expected}")
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in ".{0,200}") {
            let _ = verify_unsubscribe(KEY, &token, DIGEST_PURPOSE);
        }

        #[test]
        fn every_signed_token_verifies(user_id in any::<i64>()) {
            let token = sign_unsubscribe(KEY, user_id, DIGEST_PURPOSE).unwrap();
            prop_assert_eq!(verify_unsubscribe(KEY, &token, DIGEST_PURPOSE), Ok(user_id));
        }
    }
}
