//! OAuth 2.0 connections: where to send the athlete, what to post for tokens, what comes
//! back, and when to refresh.
//!
//! The authorization-code flow, as Strava and Garmin document it:
//!
//! 1. [`OAuthStates::begin`] (or a row built with [`PendingState::new`]) makes a `state`
//!    of 256 random bits bound to the logged-in user, the athlete and the provider, and
//!    for Garmin a PKCE verifier (RFC 7636, S256). [`ProviderConfig::authorize_url`] is
//!    the page the browser goes to.
//! 2. The provider redirects back with `code` and `state`. [`OAuthStates::take`] (or
//!    [`PendingState::check`] over the stored row, which the caller deletes as it reads
//!    it) accepts the state once, for the same user, within [`STATE_TTL_S`] (10 minutes).
//! 3. [`ProviderConfig::code_request`] is the token request; [`parse_token_response`]
//!    reads the answer into [`TokenSet`]. [`should_refresh`] says when to post
//!    [`ProviderConfig::refresh_request`] ([`REFRESH_MARGIN_S`] before expiry).
//! 4. An `invalid_grant` (or Strava's own "invalid refresh token/code" shape) is
//!    [`TokenError::InvalidGrant`]: the connection is `needs_reauth` and retrying stops.
//!
//! **Tokens never reach a log**: [`Secret`]'s `Debug` prints `<redacted>` and its memory
//! is zeroed when dropped; the request bodies that carry the client secret are `Secret`s
//! too. Sealing tokens at rest is the gateway's (it holds the server key).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use url::Url;
use url::form_urlencoded;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::provider::Provider;

/// How long a `state` stays valid after the authorize URL was made, s (10 minutes).
pub const STATE_TTL_S: i64 = 600;
/// How long before a token's expiry it is refreshed, s (5 minutes).
pub const REFRESH_MARGIN_S: i64 = 300;
/// The largest token response read, bytes.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 16 * 1024;
/// The longest token (access or refresh) accepted, bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The most pending states an [`OAuthStates`] holds (expired ones are dropped first).
pub const MAX_PENDING_STATES: usize = 10_000;
/// Random bytes in a `state` (256 bits; the issue asks for at least 128).
pub const STATE_RANDOM_BYTES: usize = 32;
/// Random bytes behind a PKCE verifier (32 bytes = 43 base64url characters, RFC 7636
/// §4.1's recommendation).
pub const PKCE_RANDOM_BYTES: usize = 32;

/// Strava's scopes: the profile and every activity, private ones included.
pub const STRAVA_SCOPES: &str = "read,activity:read_all";
/// Garmin's default authorize path (its OAuth 2.0 PKCE confirmation page).
pub const GARMIN_AUTHORIZE_PATH: &str = "/oauth2Confirm";
/// Garmin's default token path.
pub const GARMIN_TOKEN_PATH: &str = "/di-oauth2-service/oauth/token";
/// Garmin's default deregistration path (`DELETE` with the user's token).
pub const GARMIN_DEREGISTRATION_PATH: &str = "/wellness-api/rest/user/registration";

/// A token or a body that carries a credential. `Debug` never shows it; it is zeroed when
/// dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself, to put on the wire or seal at rest. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How to reach one provider's OAuth endpoints, and who Paceline is to it. The fields are
/// public so a deployment can override any one endpoint; [`ProviderConfig::strava`] and
/// [`ProviderConfig::garmin`] fill the documented defaults from a base URL.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Which provider.
    pub provider: Provider,
    /// The authorize page, absolute.
    pub authorize_url: String,
    /// The token endpoint, absolute.
    pub token_url: String,
    /// The deauthorize (Strava) or deregistration (Garmin) endpoint, absolute.
    pub deauthorize_url: String,
    /// Paceline's client id.
    pub client_id: String,
    /// Paceline's client secret.
    pub client_secret: Secret,
    /// The scopes asked for, as the provider spells them (empty: none sent).
    pub scopes: String,
    /// Whether the flow uses PKCE S256 (Garmin: yes).
    pub pkce: bool,
    /// Fixed extra authorize parameters (Strava: `approval_prompt=auto`).
    pub extra_authorize_params: Vec<(String, String)>,
}

/// A provider setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// An endpoint or the redirect URI is not an absolute http(s) URL.
    #[error("{what} is not an absolute http(s) URL: {value:?}")]
    BadUrl {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The flow needs a PKCE verifier and none was given, or one was given to a flow
    /// without PKCE.
    #[error("the {provider} flow {}", if *.needed { "needs a PKCE verifier" } else { "takes no PKCE verifier" })]
    Pkce {
        /// The provider's name.
        provider: &'static str,
        /// Whether a verifier was needed.
        needed: bool,
    },
}

fn join(base_url: &str, path: &str) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), path)
}

fn absolute_url(what: &'static str, value: &str) -> Result<Url, ConfigError> {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(ConfigError::BadUrl {
            what,
            value: value.to_owned(),
        }),
    }
}

/// A POST to a token or deauthorize endpoint: the URL and the form body
/// (`application/x-www-form-urlencoded`), a [`Secret`] because it carries credentials.
#[derive(Debug, Clone)]
pub struct FormRequest {
    /// Where to post it.
    pub url: String,
    /// The body.
    pub body: Secret,
}

/// How to tell the provider a connection is over.
#[derive(Debug, Clone)]
pub enum DeauthorizeRequest {
    /// Strava: `POST` this form (the access token) to the URL.
    Post(FormRequest),
    /// Garmin: `DELETE` the URL with `Authorization: Bearer <token>`.
    DeleteWithBearer {
        /// The registration URL.
        url: String,
        /// The user's access token.
        access_token: Secret,
    },
}

impl ProviderConfig {
    /// Strava's endpoints under `base_url` (the origin that serves `/oauth/…`):
    /// `/oauth/authorize`, `/oauth/token`, `/oauth/deauthorize`, scopes
    /// [`STRAVA_SCOPES`], `approval_prompt=auto`, no PKCE.
    pub fn strava(base_url: &str, client_id: &str, client_secret: Secret) -> ProviderConfig {
        ProviderConfig {
            provider: Provider::Strava,
            authorize_url: join(base_url, "/oauth/authorize"),
            token_url: join(base_url, "/oauth/token"),
            deauthorize_url: join(base_url, "/oauth/deauthorize"),
            client_id: client_id.to_owned(),
            client_secret,
            scopes: STRAVA_SCOPES.to_owned(),
            pkce: false,
            extra_authorize_params: vec![("approval_prompt".to_owned(), "auto".to_owned())],
        }
    }

    /// Garmin's endpoints under `base_url`: [`GARMIN_AUTHORIZE_PATH`],
    /// [`GARMIN_TOKEN_PATH`], [`GARMIN_DEREGISTRATION_PATH`], PKCE S256, no scopes (Garmin
    /// grants what the app is registered for; the user chooses in its consent page). In
    /// production the three live on different hosts: override the fields.
    pub fn garmin(base_url: &str, client_id: &str, client_secret: Secret) -> ProviderConfig {
        ProviderConfig {
            provider: Provider::Garmin,
            authorize_url: join(base_url, GARMIN_AUTHORIZE_PATH),
            token_url: join(base_url, GARMIN_TOKEN_PATH),
            deauthorize_url: join(base_url, GARMIN_DEREGISTRATION_PATH),
            client_id: client_id.to_owned(),
            client_secret,
            scopes: String::new(),
            pkce: true,
            extra_authorize_params: Vec::new(),
        }
    }

    /// Every endpoint is an absolute http(s) URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        absolute_url("the authorize URL", &self.authorize_url)?;
        absolute_url("the token URL", &self.token_url)?;
        absolute_url("the deauthorize URL", &self.deauthorize_url)?;
        Ok(())
    }

    fn check_pkce(&self, verifier: Option<&PkceVerifier>) -> Result<(), ConfigError> {
        if self.pkce != verifier.is_some() {
            return Err(ConfigError::Pkce {
                provider: self.provider.as_str(),
                needed: self.pkce,
            });
        }
        Ok(())
    }

    /// The page to send the athlete's browser to: `response_type=code`, `client_id`,
    /// `redirect_uri` (exactly as registered, and exactly as sent again with the code),
    /// `scope`, `state`, the fixed extras, and for PKCE `code_challenge` with
    /// `code_challenge_method=S256`. Every value is percent-encoded.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &OAuthState,
        verifier: Option<&PkceVerifier>,
    ) -> Result<String, ConfigError> {
        self.check_pkce(verifier)?;
        absolute_url("the redirect URI", redirect_uri)?;
        let mut url = absolute_url("the authorize URL", &self.authorize_url)?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_id", &self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri);
            if !self.scopes.is_empty() {
                query.append_pair("scope", &self.scopes);
            }
            query.append_pair("state", state.as_str());
            for (name, value) in &self.extra_authorize_params {
                query.append_pair(name, value);
            }
            if let Some(verifier) = verifier {
                query
                    .append_pair("code_challenge", &verifier.challenge_s256())
                    .append_pair("code_challenge_method", "S256");
            }
        }
        Ok(url.into())
    }

    /// The token request for the `code` the provider redirected back with
    /// (`grant_type=authorization_code`; with PKCE, the `code_verifier` and the same
    /// `redirect_uri`).
    pub fn code_request(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&PkceVerifier>,
    ) -> Result<FormRequest, ConfigError> {
        self.check_pkce(verifier)?;
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose())
            .append_pair("code", code)
            .append_pair("grant_type", "authorization_code");
        if let Some(verifier) = verifier {
            form.append_pair("code_verifier", verifier.as_str())
                .append_pair("redirect_uri", redirect_uri);
        }
        Ok(FormRequest {
            url: self.token_url.clone(),
            body: Secret(form.finish()),
        })
    }

    /// The token request that trades a refresh token for new tokens
    /// (`grant_type=refresh_token`). The answer may carry a new refresh token: keep it.
    pub fn refresh_request(&self, refresh_token: &Secret) -> FormRequest {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token.expose())
            .finish();
        FormRequest {
            url: self.token_url.clone(),
            body: Secret(body),
        }
    }

    /// How to end the connection with the provider (before deleting the tokens).
    pub fn deauthorize_request(&self, access_token: &Secret) -> DeauthorizeRequest {
        match self.provider {
            Provider::Strava => DeauthorizeRequest::Post(FormRequest {
                url: self.deauthorize_url.clone(),
                body: Secret(
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("access_token", access_token.expose())
                        .finish(),
                ),
            }),
            Provider::Garmin => DeauthorizeRequest::DeleteWithBearer {
                url: self.deauthorize_url.clone(),
                access_token: access_token.clone(),
            },
        }
    }
}

/// A `state` value: [`STATE_RANDOM_BYTES`] random bytes, base64url without padding (43
/// characters).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState(String);

impl fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a credential once used, but a live one lets a login be hijacked.
        f.write_str("OAuthState(<redacted>)")
    }
}

/// A `state` that cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StateError {
    /// Not the shape Paceline makes (43 base64url characters).
    #[error("the state is not one Paceline made")]
    Malformed,
    /// No pending state has this value (never made, or already used).
    #[error("the state is unknown or was already used")]
    Unknown,
    /// Made more than [`STATE_TTL_S`] ago.
    #[error("the state has expired (valid for 10 minutes)")]
    Expired,
    /// Made for another user, or another provider.
    #[error("the state was made for another user or provider")]
    WrongUser,
    /// Too many connections are being made at once.
    #[error("too many connections are pending; try again in a few minutes")]
    TooManyPending,
}

/// The length of an [`OAuthState`]: 32 bytes in base64url without padding.
const STATE_CHARS: usize = 43;

impl OAuthState {
    /// A state from random bytes the caller drew (e.g. `getrandom::fill`).
    pub fn from_random_bytes(bytes: [u8; STATE_RANDOM_BYTES]) -> OAuthState {
        OAuthState(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A state drawn from a cryptographic random source.
    pub fn generate(rng: &mut impl CryptoRngCore) -> OAuthState {
        let mut bytes = [0u8; STATE_RANDOM_BYTES];
        rng.fill_bytes(&mut bytes);
        OAuthState::from_random_bytes(bytes)
    }

    /// A state as it came back on the callback, checked for shape only.
    pub fn parse(value: &str) -> Result<OAuthState, StateError> {
        let shaped = value.len() == STATE_CHARS
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if shaped {
            Ok(OAuthState(value.to_owned()))
        } else {
            Err(StateError::Malformed)
        }
    }

    /// The value, for the authorize URL and the row that stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn ct_eq(&self, other: &OAuthState) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// A PKCE code verifier (RFC 7636 §4.1): 43–128 characters of `[A-Za-z0-9-._~]`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PkceVerifier(String);

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier(<redacted>)")
    }
}

/// A PKCE verifier that breaks RFC 7636 §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PkceError {
    /// Shorter than 43 or longer than 128 characters.
    #[error("a PKCE verifier has 43 to 128 characters, not {0}")]
    Length(usize),
    /// A character outside `[A-Za-z0-9-._~]`.
    #[error("a PKCE verifier holds only letters, digits and - . _ ~")]
    Character,
}

impl PkceVerifier {
    /// The verifier for 32 random bytes: their base64url encoding without padding (43
    /// characters), as RFC 7636 §4.1 recommends.
    pub fn from_random_bytes(bytes: [u8; PKCE_RANDOM_BYTES]) -> PkceVerifier {
        PkceVerifier(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A verifier drawn from a cryptographic random source.
    pub fn generate(rng: &mut impl CryptoRngCore) -> PkceVerifier {
        let mut bytes = [0u8; PKCE_RANDOM_BYTES];
        rng.fill_bytes(&mut bytes);
        let verifier = PkceVerifier::from_random_bytes(bytes);
        bytes.zeroize();
        verifier
    }

    /// A stored verifier, checked.
    pub fn parse(value: &str) -> Result<PkceVerifier, PkceError> {
        if !(43..=128).contains(&value.len()) {
            return Err(PkceError::Length(value.len()));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(PkceError::Character);
        }
        Ok(PkceVerifier(value.to_owned()))
    }

    /// The verifier, for the token request and the pending row.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The S256 challenge: base64url without padding of SHA-256 of the verifier's ASCII.
    pub fn challenge_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// One connection being made: the row the gateway stores between the authorize URL and
/// the callback.
#[derive(Debug, Clone)]
pub struct PendingState {
    /// The state sent to the provider.
    pub state: OAuthState,
    /// The logged-in user who asked to connect.
    pub user_id: i64,
    /// The athlete whose library the connection fills.
    pub athlete_id: i64,
    /// The provider.
    pub provider: Provider,
    /// The PKCE verifier, for providers that use PKCE.
    pub pkce_verifier: Option<PkceVerifier>,
    /// When it was made, s since the Unix epoch.
    pub created_at_s: i64,
}

impl PendingState {
    /// A new pending connection for `user_id` connecting `athlete_id` to `config`'s
    /// provider: a fresh state and, when the flow uses PKCE, a fresh verifier.
    pub fn new(
        rng: &mut impl CryptoRngCore,
        config: &ProviderConfig,
        user_id: i64,
        athlete_id: i64,
        now_s: i64,
    ) -> PendingState {
        PendingState {
            state: OAuthState::generate(rng),
            user_id,
            athlete_id,
            provider: config.provider,
            pkce_verifier: config.pkce.then(|| PkceVerifier::generate(rng)),
            created_at_s: now_s,
        }
    }

    /// Whether the callback's `state`, arriving for `user_id` on `provider`'s callback at
    /// `now_s`, is this row's. The caller deletes the row as it reads it, whatever this
    /// answers: a state is used once.
    pub fn check(
        &self,
        presented: &OAuthState,
        user_id: i64,
        provider: Provider,
        now_s: i64,
    ) -> Result<(), StateError> {
        if !self.state.ct_eq(presented) {
            return Err(StateError::Unknown);
        }
        if self.user_id != user_id || self.provider != provider {
            return Err(StateError::WrongUser);
        }
        if self.is_expired(now_s) {
            return Err(StateError::Expired);
        }
        Ok(())
    }

    /// Whether it is more than [`STATE_TTL_S`] old at `now_s` (exactly 600 s old is still
    /// valid).
    pub fn is_expired(&self, now_s: i64) -> bool {
        now_s.saturating_sub(self.created_at_s) > STATE_TTL_S
    }
}

/// The pending connections held in memory: an alternative to storing [`PendingState`]
/// rows, for a single gateway process (a restart forgets them; the athlete clicks connect
/// again). Keyed by state value in a `BTreeMap`; bounded by [`MAX_PENDING_STATES`].
#[derive(Debug, Default)]
pub struct OAuthStates {
    pending: BTreeMap<String, PendingState>,
}

impl OAuthStates {
    /// No pending connections.
    pub fn new() -> OAuthStates {
        OAuthStates::default()
    }

    /// Starts a connection (see [`PendingState::new`]) and remembers it. Expired entries
    /// are dropped first; past [`MAX_PENDING_STATES`] live ones the answer is
    /// [`StateError::TooManyPending`].
    pub fn begin(
        &mut self,
        rng: &mut impl CryptoRngCore,
        config: &ProviderConfig,
        user_id: i64,
        athlete_id: i64,
        now_s: i64,
    ) -> Result<PendingState, StateError> {
        if self.pending.len() >= MAX_PENDING_STATES {
            self.purge_expired(now_s);
            if self.pending.len() >= MAX_PENDING_STATES {
                return Err(StateError::TooManyPending);
            }
        }
        let pending = PendingState::new(rng, config, user_id, athlete_id, now_s);
        self.pending
            .insert(pending.state.as_str().to_owned(), pending.clone());
        Ok(pending)
    }

    /// Accepts the callback's `state` once: it is removed whatever the answer, so a
    /// second use is [`StateError::Unknown`].
    pub fn take(
        &mut self,
        presented: &str,
        user_id: i64,
        provider: Provider,
        now_s: i64,
    ) -> Result<PendingState, StateError> {
        let presented = OAuthState::parse(presented)?;
        let pending = self
            .pending
            .remove(presented.as_str())
            .ok_or(StateError::Unknown)?;
        pending.check(&presented, user_id, provider, now_s)?;
        Ok(pending)
    }

    /// Forgets every state expired at `now_s`.
    pub fn purge_expired(&mut self, now_s: i64) {
        self.pending.retain(|_, p| !p.is_expired(now_s));
    }

    /// How many are pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Tokens as a token endpoint grants them.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The bearer token for API calls.
    pub access_token: Secret,
    /// The token that gets new ones (Strava may rotate it: store the new one).
    pub refresh_token: Secret,
    /// When the access token expires, s since the Unix epoch.
    pub expires_at_s: i64,
    /// The provider's id of the account, when the answer says (Strava's `athlete.id` on
    /// the code exchange; Garmin's user id comes from its user-id endpoint).
    pub provider_user_id: Option<String>,
    /// The scopes granted, when the answer says.
    pub scope: Option<String>,
}

/// A token answer that gives no usable tokens.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Bigger than [`MAX_TOKEN_RESPONSE_BYTES`].
    #[error("the token response is {bytes} bytes; at most {max} are read")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// The grant (code or refresh token) is invalid, expired or revoked: the connection
    /// needs the athlete to connect again. Never retried.
    #[error("the provider refused the grant ({description}): the connection needs reauthorization")]
    InvalidGrant {
        /// What the provider said.
        description: String,
    },
    /// The provider refused for another reason (e.g. `invalid_client`, a server error).
    #[error("the token endpoint answered {status}: {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The provider's error code or message.
        error: String,
    },
    /// Not the JSON the provider documents, or values out of range.
    #[error("the token response is malformed: {0}")]
    Malformed(String),
}

impl TokenError {
    /// Whether the connection must be marked `needs_reauth` (and retrying stops).
    pub fn needs_reauth(&self) -> bool {
        matches!(self, TokenError::InvalidGrant { .. })
    }

    /// Whether trying again later may succeed (server errors and throttling).
    pub fn is_retryable(&self) -> bool {
        matches!(self, TokenError::Refused { status, .. } if *status == 429 || *status >= 500)
    }
}

/// A token endpoint's success body as the providers send it (Strava: `expires_at`,
/// `expires_in`, `athlete`; Garmin: `expires_in`, `scope`). [`parse_token_response`]
/// reads it; the local provider servers write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBody {
    /// `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Expiry, s since the Unix epoch (Strava).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Lifetime, s (both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Scopes granted (Garmin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The athlete (Strava, on the code exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete: Option<TokenAthlete>,
}

/// The athlete in a Strava token answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAthlete {
    /// Strava's athlete id.
    pub id: i64,
}

#[derive(Deserialize)]
struct RawOAuthError {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
    #[serde(default)]
    errors: Vec<RawStravaFault>,
}

#[derive(Deserialize)]
struct RawStravaFault {
    resource: Option<String>,
    field: Option<String>,
    code: Option<String>,
}

/// Reads a token endpoint's answer (`status` and body) received at `now_s`.
///
/// A success carries `access_token`, `refresh_token` and either `expires_at` (Strava,
/// absolute) or `expires_in` (Garmin, relative to `now_s`); Strava's code exchange adds
/// `athlete.id`. An error body is RFC 6749's `{"error": …}` (`invalid_grant` →
/// [`TokenError::InvalidGrant`]) or Strava's `{"message", "errors": [{"resource",
/// "field", "code": "invalid"}]}` naming the code or refresh token (also
/// [`TokenError::InvalidGrant`]).
pub fn parse_token_response(status: u16, body: &[u8], now_s: i64) -> Result<TokenSet, TokenError> {
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(TokenError::TooLarge {
            bytes: body.len(),
            max: MAX_TOKEN_RESPONSE_BYTES,
        });
    }
    if !(200..300).contains(&status) {
        return Err(token_refusal(status, body));
    }
    let raw: TokenBody =
        serde_json::from_slice(body).map_err(|e| TokenError::Malformed(e.to_string()))?;
    for (name, token) in [
        ("access_token", &raw.access_token),
        ("refresh_token", &raw.refresh_token),
    ] {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "{name} is empty or longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
    }
    // A token lives between a second and a year: anything else is not a real answer.
    const MAX_LIFETIME_S: i64 = 366 * 86_400;
    let expires_at_s = match (raw.expires_at, raw.expires_in) {
        (Some(at), _) => at,
        (None, Some(seconds)) if (1..=MAX_LIFETIME_S).contains(&seconds) => {
            now_s.saturating_add(seconds)
        }
        _ => {
            return Err(TokenError::Malformed(
                "neither expires_at nor a valid expires_in".to_owned(),
            ));
        }
    };
    if expires_at_s <= now_s || expires_at_s.saturating_sub(now_s) > MAX_LIFETIME_S {
        return Err(TokenError::Malformed(format!(
            "the token expires at {expires_at_s}, not within a year of {now_s}"
        )));
    }
    Ok(TokenSet {
        access_token: Secret(raw.access_token),
        refresh_token: Secret(raw.refresh_token),
        expires_at_s,
        provider_user_id: raw.athlete.map(|a| a.id.to_string()),
        scope: raw.scope,
    })
}

fn token_refusal(status: u16, body: &[u8]) -> TokenError {
    let Ok(raw) = serde_json::from_slice::<RawOAuthError>(body) else {
        return TokenError::Refused {
            status,
            error: format!("a {}-byte body that is not an OAuth error", body.len()),
        };
    };
    let description = raw
        .error_description
        .or(raw.message)
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    if raw.error.as_deref() == Some("invalid_grant") {
        return TokenError::InvalidGrant { description };
    }
    let grant_fault = raw.errors.iter().any(|f| {
        f.code.as_deref() == Some("invalid")
            && [f.field.as_deref(), f.resource.as_deref()].iter().any(|s| {
                matches!(
                    s,
                    Some("code" | "refresh_token" | "RefreshToken" | "AuthorizationCode")
                )
            })
    });
    if grant_fault && status == 400 {
        return TokenError::InvalidGrant { description };
    }
    TokenError::Refused {
        status,
        error: raw.error.unwrap_or(description).chars().take(200).collect(),
    }
}

/// Whether a token expiring at `expires_at_s` should be refreshed at `now_s`: from
/// [`REFRESH_MARGIN_S`] before expiry on (exactly 300 s before: yes).
pub fn should_refresh(expires_at_s: i64, now_s: i64) -> bool {
    now_s >= expires_at_s.saturating_sub(REFRESH_MARGIN_S)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A counter posing as a random source: deterministic bytes 1, 2, 3, …
    struct CountingRng(u8);

    impl rand_core::RngCore for CountingRng {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for CountingRng {}

    fn strava() -> ProviderConfig {
        ProviderConfig::strava("http://127.0.0.1:9000/", "4242", Secret::new("s3cr&t"))
    }

    fn garmin() -> ProviderConfig {
        ProviderConfig::garmin("http://127.0.0.1:9001", "g-client", Secret::new("g-secret"))
    }

    #[test]
    fn rfc_7636_appendix_b() {
        // RFC 7636 appendix B: these 32 octets encode to the verifier, whose SHA-256 in
        // base64url is the challenge.
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let verifier = PkceVerifier::from_random_bytes(octets);
        assert_eq!(
            verifier.as_str(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            verifier.challenge_s256(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(
            PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap(),
            verifier
        );
    }

    #[test]
    fn verifiers_are_43_to_128_unreserved_characters() {
        assert_eq!(
            PkceVerifier::parse(&"a".repeat(42)),
            Err(PkceError::Length(42))
        );
        assert!(PkceVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(PkceVerifier::parse(&"~._-".repeat(32)).is_ok());
        assert_eq!(
            PkceVerifier::parse(&"a".repeat(129)),
            Err(PkceError::Length(129))
        );
        assert_eq!(
            PkceVerifier::parse(&format!("{}+", "a".repeat(42))),
            Err(PkceError::Character)
        );
    }

    #[test]
    fn strava_authorize_url_is_percent_encoded() {
        let state = OAuthState::from_random_bytes([0xfb; 32]);
        // 32 × 0xfb: every 3 bytes 0xfbfbfb = 111110 111111 101111 111011 → "-_v7", ten
        // times, then the last 2 bytes 111110 111111 1011(00) → "-_s".
        assert_eq!(state.as_str(), format!("{}-_s", "-_v7".repeat(10)));
        let url = strava()
            .authorize_url(
                "https://paceline.example/api/v1/connections/strava/callback",
                &state,
                None,
            )
            .unwrap();
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:9000/oauth/authorize?client_id=4242&response_type=code\
                 &redirect_uri=https%3A%2F%2Fpaceline.example%2Fapi%2Fv1%2Fconnections%2Fstrava%2Fcallback\
                 &scope=read%2Cactivity%3Aread_all&state={}-_s&approval_prompt=auto",
                "-_v7".repeat(10)
            )
        );
        assert_eq!(
            strava().authorize_url("/relative", &state, None),
            Err(ConfigError::BadUrl {
                what: "the redirect URI",
                value: "/relative".to_owned()
            })
        );
    }

    #[test]
    fn garmin_authorize_url_carries_the_s256_challenge() {
        let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let state = OAuthState::from_random_bytes([0; 32]);
        let url = garmin()
            .authorize_url("http://localhost:8080/cb", &state, Some(&verifier))
            .unwrap();
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:9001/oauth2Confirm?client_id=g-client&response_type=code\
                 &redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb&state={}\
                 &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
                "A".repeat(43)
            )
        );
        assert_eq!(
            garmin().authorize_url("http://localhost:8080/cb", &state, None),
            Err(ConfigError::Pkce {
                provider: "garmin",
                needed: true
            })
        );
        assert!(garmin().validate().is_ok());
        assert_eq!(
            garmin().token_url,
            "http://127.0.0.1:9001/di-oauth2-service/oauth/token"
        );
    }

    #[test]
    fn token_request_bodies() {
        let code = strava()
            .code_request("abc def", "https://x.example/cb", None)
            .unwrap();
        assert_eq!(code.url, "http://127.0.0.1:9000/oauth/token");
        assert_eq!(
            code.body.expose(),
            "client_id=4242&client_secret=s3cr%26t&code=abc+def&grant_type=authorization_code"
        );
        let refresh = strava().refresh_request(&Secret::new("r/1"));
        assert_eq!(
            refresh.body.expose(),
            "client_id=4242&client_secret=s3cr%26t&grant_type=refresh_token&refresh_token=r%2F1"
        );
        let verifier = PkceVerifier::from_random_bytes([0; 32]);
        let garmin_code = garmin()
            .code_request("c", "http://localhost:8080/cb", Some(&verifier))
            .unwrap();
        assert_eq!(
            garmin_code.body.expose(),
            format!(
                "client_id=g-client&client_secret=g-secret&code=c&grant_type=authorization_code\
                 &code_verifier={}&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcb",
                "A".repeat(43)
            )
        );
        match strava().deauthorize_request(&Secret::new("tok")) {
            DeauthorizeRequest::Post(form) => {
                assert_eq!(form.url, "http://127.0.0.1:9000/oauth/deauthorize");
                assert_eq!(form.body.expose(), "access_token=tok");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let request = strava().refresh_request(&Secret::new("refresh-me"));
        let shown = format!("{request:?} {:?}", strava());
        assert!(
            !shown.contains("refresh-me") && !shown.contains("s3cr"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn strava_token_response() {
        let body = br#"{"token_type":"Bearer","expires_at":1568775134,"expires_in":21600,
            "refresh_token":"e5n567567","access_token":"a4b945687g",
            "athlete":{"id":134815,"username":"x"}}"#;
        let tokens = parse_token_response(200, body, 1_568_753_534).unwrap();
        assert_eq!(tokens.access_token.expose(), "a4b945687g");
        assert_eq!(tokens.refresh_token.expose(), "e5n567567");
        assert_eq!(tokens.expires_at_s, 1_568_775_134);
        assert_eq!(tokens.provider_user_id.as_deref(), Some("134815"));
    }

    #[test]
    fn garmin_token_response_counts_from_now() {
        let body = br#"{"access_token":"eyJ","token_type":"bearer","refresh_token":"eyR",
            "expires_in":86399,"scope":"ACTIVITY_EXPORT HEALTH_EXPORT","jti":"x",
            "refresh_token_expires_in":7775999}"#;
        let tokens = parse_token_response(200, body, 1_700_000_000).unwrap();
        // 1,700,000,000 + 86,399 = 1,700,086,399.
        assert_eq!(tokens.expires_at_s, 1_700_086_399);
        assert_eq!(tokens.provider_user_id, None);
        assert_eq!(
            tokens.scope.as_deref(),
            Some("ACTIVITY_EXPORT HEALTH_EXPORT")
        );
    }

    #[test]
    fn token_errors() {
        let invalid = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#,
            0,
        )
        .unwrap_err();
        assert_eq!(
            invalid,
            TokenError::InvalidGrant {
                description: "refresh token revoked".to_owned()
            }
        );
        assert!(invalid.needs_reauth() && !invalid.is_retryable());
        let strava_invalid = parse_token_response(
            400,
            br#"{"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token","code":"invalid"}]}"#,
            0,
        )
        .unwrap_err();
        assert!(strava_invalid.needs_reauth(), "{strava_invalid:?}");
        let client = parse_token_response(401, br#"{"error":"invalid_client"}"#, 0).unwrap_err();
        assert_eq!(
            client,
            TokenError::Refused {
                status: 401,
                error: "invalid_client".to_owned()
            }
        );
        assert!(!client.needs_reauth() && !client.is_retryable());
        let busy = parse_token_response(503, b"<html>", 0).unwrap_err();
        assert!(busy.is_retryable());
        assert!(matches!(
            parse_token_response(200, br#"{"access_token":"a","refresh_token":"r"}"#, 0),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            parse_token_response(
                200,
                br#"{"access_token":"a","refresh_token":"r","expires_at":5}"#,
                10
            ),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(
            parse_token_response(200, &vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1], 0).unwrap_err(),
            TokenError::TooLarge {
                bytes: MAX_TOKEN_RESPONSE_BYTES + 1,
                max: MAX_TOKEN_RESPONSE_BYTES
            }
        );
    }

    #[test]
    fn refresh_from_five_minutes_before_expiry() {
        let expires_at_s = 10_000;
        // 10,000 − 300 = 9,700 is the first second to refresh.
        assert!(!should_refresh(expires_at_s, 9_699));
        assert!(should_refresh(expires_at_s, 9_700));
        assert!(should_refresh(expires_at_s, 20_000));
    }

    #[test]
    fn states_are_single_use_bound_to_the_user_and_expire() {
        let mut rng = CountingRng(0);
        let mut states = OAuthStates::new();
        let config = garmin();
        let pending = states.begin(&mut rng, &config, 7, 70, 1_000).unwrap();
        // The state took bytes 1..=32, the verifier 33..=64.
        let mut first = [0u8; 32];
        for (i, b) in first.iter_mut().enumerate() {
            *b = u8::try_from(i + 1).unwrap();
        }
        assert_eq!(pending.state, OAuthState::from_random_bytes(first));
        assert!(pending.pkce_verifier.is_some());
        let state = pending.state.as_str().to_owned();
        assert_eq!(
            states.take(&state, 8, Provider::Garmin, 1_001).unwrap_err(),
            StateError::WrongUser
        );
        // The failed attempt used it up.
        assert_eq!(
            states.take(&state, 7, Provider::Garmin, 1_001).unwrap_err(),
            StateError::Unknown
        );

        let pending = states.begin(&mut rng, &config, 7, 70, 1_000).unwrap();
        // Made at 1,000: valid through 1,000 + 600 = 1,600.
        assert!(!pending.is_expired(1_600));
        assert!(pending.is_expired(1_601));
        let taken = states
            .take(pending.state.as_str(), 7, Provider::Garmin, 1_600)
            .unwrap();
        assert_eq!(taken.athlete_id, 70);
        assert_eq!(
            states
                .take(pending.state.as_str(), 7, Provider::Garmin, 1_600)
                .unwrap_err(),
            StateError::Unknown
        );

        let late = states.begin(&mut rng, &config, 7, 70, 1_000).unwrap();
        assert_eq!(
            states
                .take(late.state.as_str(), 7, Provider::Garmin, 1_601)
                .unwrap_err(),
            StateError::Expired
        );
        assert_eq!(
            states
                .take("short", 7, Provider::Garmin, 1_000)
                .unwrap_err(),
            StateError::Malformed
        );
        let strava_pending = PendingState::new(&mut rng, &strava(), 1, 2, 0);
        assert!(strava_pending.pkce_verifier.is_none());
        assert_eq!(
            strava_pending.check(&strava_pending.state, 1, Provider::Garmin, 0),
            Err(StateError::WrongUser)
        );
        assert!(states.is_empty());
    }

    proptest! {
        #[test]
        fn state_and_verifier_parsing_never_panics(value in ".{0,140}") {
            if let Ok(verifier) = PkceVerifier::parse(&value) {
                prop_assert_eq!(verifier.challenge_s256().len(), 43);
            }
            let _ = OAuthState::parse(&value);
        }

        #[test]
        fn token_parsing_never_panics(status in 0u16..600, body in proptest::collection::vec(any::<u8>(), 0..256), now_s in any::<i64>()) {
            let _ = parse_token_response(status, &body, now_s);
        }

        #[test]
        fn token_json_never_panics(
            at in proptest::option::of(any::<i64>()),
            within in proptest::option::of(any::<i64>()),
            now_s in any::<i64>(),
        ) {
            let body = serde_json::json!({"access_token": "a", "refresh_token": "r", "expires_at": at, "expires_in": within});
            if let Ok(tokens) = parse_token_response(200, body.to_string().as_bytes(), now_s) {
                prop_assert!(tokens.expires_at_s > now_s);
            }
        }

        #[test]
        fn generated_verifiers_parse(bytes in any::<[u8; 32]>()) {
            let verifier = PkceVerifier::from_random_bytes(bytes);
            prop_assert_eq!(PkceVerifier::parse(verifier.as_str()), Ok(verifier.clone()));
            let state = OAuthState::from_random_bytes(bytes);
            prop_assert_eq!(OAuthState::parse(state.as_str()), Ok(state.clone()));
        }
    }
}
