//! HTTP to the outside world: the one client the gateway uses to fetch what a user points
//! it at (a calendar by URL today; provider APIs go through it too).
//!
//! A URL a user gives is a request the server makes on their behalf, so it must not reach
//! what only the server can reach (server-side request forgery): the database admin page
//! on loopback, the cloud's metadata service at 169.254.169.254, the office network.
//!
//! **Invariants.**
//! - Only `http` and `https`, no user name or password in the URL.
//! - Every address a request connects to is public: host names are resolved here and a
//!   name with any private, loopback, link-local, shared, documentation, multicast or
//!   unspecified address is refused (not only the first address: a name that resolves
//!   to a public and a private one is refused as a whole); an address written in the URL
//!   is checked the same way; every redirect (at most [`MAX_REDIRECTS`]) is checked
//!   again. `allow_private` turns this off for tests and for installs whose calendars
//!   live on their own network (`PACELINE_OUTBOUND_ALLOW_PRIVATE=true`).
//! - A body is read up to a caller's cap and no further; a request takes at most
//!   [`TIMEOUT`] in all.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The most a request takes, connecting, redirects and body included.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// The most redirects a request follows.
pub const MAX_REDIRECTS: usize = 3;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL does not read, or is not `http(s)://host/…` without credentials.
    #[error("{0}")]
    BadUrl(String),
    /// The URL leads to an address the server does not fetch from.
    #[error("{0} is not a public address: the server does not fetch from it")]
    NotPublic(String),
    /// The server answered with an error status.
    #[error("the server answered {0}")]
    Status(u16),
    /// The body is larger than the caller takes.
    #[error("the answer is larger than {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// It took longer than [`TIMEOUT`].
    #[error("no answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    /// The connection failed (name not found, refused, TLS, …).
    #[error("could not fetch it: {0}")]
    Network(String),
}

/// Whether `ip` is an address on the public internet (see the module docs).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 0.0.0.0/8 ("this network"), 100.64.0.0/10 (carrier-grade NAT),
                // 192.0.0.0/24 (protocol assignments), 198.18.0.0/15 (benchmarking),
                // 240.0.0.0/4 (reserved).
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // 2001:db8::/32 documentation, 64:ff9b::/96 NAT64 (may reach IPv4 inside).
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                || first == 0x0064)
        }
    }
}

/// Resolves names and refuses any with a non-public address (unless allowed).
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?
                .collect();
            if !allow_private && let Some(bad) = found.iter().find(|a| !is_public(a.ip())) {
                return Err(
                    Box::new(OutboundError::NotPublic(format!("{host} ({})", bad.ip())))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

/// The URL checked: `http(s)`, no credentials, and an address literal that is public.
fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), OutboundError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OutboundError::BadUrl(format!(
            "{}: only http and https URLs are fetched",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OutboundError::BadUrl(
            "a URL with a user name or password is not fetched".to_owned(),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| OutboundError::BadUrl("the URL has no host".to_owned()))?;
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    match literal {
        Some(ip) if !allow_private && !is_public(ip) => {
            Err(OutboundError::NotPublic(ip.to_string()))
        }
        _ => Ok(()),
    }
}

/// The gateway's outbound HTTP client (module docs). Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// A client; `allow_private` lets it reach private and loopback addresses.
    pub fn new(allow_private: bool) -> Result<Outbound, OutboundError> {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(OutboundError::BadUrl(format!(
                    "more than {MAX_REDIRECTS} redirects"
                )))
            } else if let Err(e) = check_url(attempt.url(), allow_private) {
                attempt.error(e)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .redirect(policy)
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Paceline/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| OutboundError::Network(e.to_string()))?;
        Ok(Outbound {
            client,
            allow_private,
        })
    }

    /// `GET url` → its body, at most `max_bytes` (more is [`OutboundError::TooLarge`],
    /// and the rest is not read).
    pub async fn get_bounded(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, OutboundError> {
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| OutboundError::BadUrl(format!("not a URL: {e}")))?;
        check_url(&parsed, self.allow_private)?;
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(request_error)?;
        if !response.status().is_success() {
            return Err(OutboundError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX))
        {
            return Err(OutboundError::TooLarge { max: max_bytes });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(OutboundError::TooLarge { max: max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An HTTP method [`Outbound::call`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

/// An answer of [`Outbound::call`], whatever its status.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-case (values that are not text are left out).
    pub headers: Vec<(String, String)>,
    /// The body, at most the caller's cap.
    pub body: Vec<u8>,
}

impl Outbound {
    /// `method url` with `headers` and an optional `(content type, body)` → the answer
    /// of any status, its body at most `max_bytes` (a provider API call: the caller
    /// reads error statuses and rate-limit headers). Header values (tokens) are never
    /// logged here.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
        max_bytes: usize,
    ) -> Result<Answer, OutboundError> {
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| OutboundError::BadUrl(format!("not a URL: {e}")))?;
        check_url(&parsed, self.allow_private)?;
        let mut request = match method {
            Method::Get => self.client.get(parsed),
            Method::Post => self.client.post(parsed),
            Method::Delete => self.client.delete(parsed),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let mut response = request.send().await.map_err(request_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX))
        {
            return Err(OutboundError::TooLarge { max: max_bytes });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(OutboundError::TooLarge { max: max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// A reqwest error as ours: the refusal of an address when that is what it was.
fn request_error(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if let Some(ours) = cause.downcast_ref::<OutboundError>() {
            return match ours {
                OutboundError::NotPublic(what) => OutboundError::NotPublic(what.clone()),
                OutboundError::BadUrl(what) => OutboundError::BadUrl(what.clone()),
                other => OutboundError::Network(other.to_string()),
            };
        }
        source = cause.source();
    }
    OutboundError::Network(e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "8.8.8.8", "100.128.0.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_http_without_credentials_to_public_literals() {
        let check = |url: &str, allow| check_url(&reqwest::Url::parse(url).unwrap(), allow);
        assert!(check("https://calendar.example/cal.ics", false).is_ok());
        assert!(matches!(
            check("file:///etc/passwd", false),
            Err(OutboundError::BadUrl(_))
        ));
        assert!(matches!(
            check("https://me:secret@calendar.example/", false),
            Err(OutboundError::BadUrl(_))
        ));
        assert!(matches!(
            check("http://169.254.169.254/latest/meta-data", false),
            Err(OutboundError::NotPublic(_))
        ));
        assert!(matches!(
            check("http://[::1]:8080/", false),
            Err(OutboundError::NotPublic(_))
        ));
        assert!(check("http://127.0.0.1:8080/", true).is_ok());
    }

    /// A real local server: refused by name (localhost resolves to loopback) and by
    /// address without `allow_private`; with it, a body within the cap is read and one
    /// past it is refused.
    #[tokio::test]
    async fn loopback_is_refused_unless_allowed_and_bodies_are_capped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/small", axum::routing::get(|| async { "BEGIN:VCALENDAR" }))
            .route(
                "/large",
                axum::routing::get(|| async { "x".repeat(100_000) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let strict = Outbound::new(false).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/small"),
            format!("http://localhost:{port}/small"),
        ] {
            let refused = strict.get_bounded(&url, 1000).await;
            assert!(
                matches!(refused, Err(OutboundError::NotPublic(_))),
                "{url}: {refused:?}"
            );
        }
        let open = Outbound::new(true).unwrap();
        let body = open
            .get_bounded(&format!("http://localhost:{port}/small"), 1000)
            .await
            .unwrap();
        assert_eq!(body, b"BEGIN:VCALENDAR");
        let large = open
            .get_bounded(&format!("http://127.0.0.1:{port}/large"), 1000)
            .await;
        assert!(
            matches!(large, Err(OutboundError::TooLarge { max: 1000 })),
            "{large:?}"
        );
        let missing = open
            .get_bounded(&format!("http://127.0.0.1:{port}/nothing"), 1000)
            .await;
        assert!(
            matches!(missing, Err(OutboundError::Status(404))),
            "{missing:?}"
        );
    }
}
