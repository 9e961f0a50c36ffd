//! The coach chat's LLM client: posts `paceline-chat`'s request to an OpenAI-compatible
//! `/v1/chat/completions` endpoint and reads the answer back through the core's
//! [`paceline_chat::llm::parse_response`].
//!
//! **Invariants.**
//! - The model's output is data: this module only returns an [`LlmAnswer`] the core has
//!   already validated (known tools, known arguments, values in range); the chat then puts
//!   its tools through the same `vet` as the offline engine's and runs them as the caller.
//! - Any failure is an [`LlmFailure`], never a panic or an error to the user: a call past
//!   the configured timeout (60 s by default), a network error, an error status, a body
//!   over [`MAX_RESPONSE_BYTES`] or one that does not read — the offline engine answers.
//! - The API key is sent as a bearer token and nowhere else: never logged, never in an
//!   error (it lives in a redacted [`Secret`]). It comes from the settings (environment or
//!   file), so nothing stores it.
//! - The base URL is the operator's (a model on the install's own network is normal), so it
//!   is not held to [`crate::outbound`]'s public-address rule; users never choose it.

use std::time::Duration;

use paceline_chat::llm::{ChatRequest, LlmAnswer, LlmError, MAX_RESPONSE_BYTES, parse_response};

use crate::settings::{LlmSettings, Secret};

/// Why the model's answer was not used.
#[derive(Debug, thiserror::Error)]
pub enum LlmFailure {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed.
    #[error("could not reach the model: {0}")]
    Network(String),
    /// The server answered an error status.
    #[error("the model's server answered {0}")]
    Status(u16),
    /// The body is larger than [`MAX_RESPONSE_BYTES`].
    #[error("the answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// The answer does not read, or asks for what the chat refuses.
    #[error(transparent)]
    Refused(#[from] LlmError),
}

impl LlmFailure {
    /// A short name for the reply's `llm_fallback` (what went wrong, not its details).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmFailure::Timeout(_) => "timeout",
            LlmFailure::Network(_) => "network",
            LlmFailure::Status(_) => "status",
            LlmFailure::TooLarge => "too_large",
            LlmFailure::Refused(_) => "refused",
        }
    }
}

/// The client: one connection pool, the endpoint, the model and the key.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<Secret>,
    timeout: Duration,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `base` + `/chat/completions` when it already ends in `/v1`, else `/v1/chat/completions`.
pub fn endpoint(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

impl LlmClient {
    /// A client for these settings.
    pub fn new(settings: &LlmSettings) -> Result<LlmClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(LlmClient {
            http,
            endpoint: endpoint(&settings.base_url),
            model: settings.model.clone(),
            api_key: settings.api_key.clone(),
            timeout: settings.timeout,
        })
    }

    /// The model name requests carry.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Posts `request` and reads the answer (module doc); the whole call, body included,
    /// ends within the timeout.
    pub async fn complete(&self, request: &ChatRequest) -> Result<LlmAnswer, LlmFailure> {
        match tokio::time::timeout(self.timeout, self.call(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(LlmFailure::Timeout(self.timeout)),
        }
    }

    async fn call(&self, request: &ChatRequest) -> Result<LlmAnswer, LlmFailure> {
        let mut post = self.http.post(&self.endpoint).json(request);
        if let Some(key) = &self.api_key {
            post = post.bearer_auth(key.expose());
        }
        let network = |e: reqwest::Error| {
            if e.is_timeout() {
                LlmFailure::Timeout(self.timeout)
            } else {
                // Without the URL: errors name what failed, not where the key went.
                LlmFailure::Network(e.without_url().to_string())
            }
        };
        let mut response = post.send().await.map_err(network)?;
        if !response.status().is_success() {
            return Err(LlmFailure::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(LlmFailure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(LlmFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(parse_response(&body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_takes_a_base_with_or_without_v1() {
        assert_eq!(
            endpoint("http://127.0.0.1:11434"),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            endpoint("https://api.example.com/v1/"),
            "https://api.example.com/v1/chat/completions"
        );
    }

    #[test]
    fn the_key_is_not_in_the_clients_debug() {
        let client = LlmClient::new(&LlmSettings {
            base_url: "http://127.0.0.1:9".to_owned(),
            model: "m".to_owned(),
            api_key: Some(Secret::new("sk-hidden".to_owned())),
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(!format!("{client:?}").contains("sk-hidden"));
    }
}
