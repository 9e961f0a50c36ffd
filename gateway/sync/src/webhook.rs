//! Strava's webhook: the subscription challenge and the events.
//!
//! Strava checks a callback URL once, when the subscription is made:
//! `GET …?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`, answered with
//! `{"hub.challenge": "…"}` when the verify token is ours ([`answer_challenge`], compared
//! in constant time). Then it posts one event per change ([`parse_event`]):
//!
//! ```json
//! {"aspect_type": "update", "event_time": 1516126040, "object_id": 1360128428,
//!  "object_type": "activity", "owner_id": 134815, "subscription_id": 120475,
//!  "updates": {"title": "Messy"}}
//! ```
//!
//! Events are unsigned, so nothing in them is trusted: an event only says *which* object
//! to look at, and [`WebhookEvent::job`] turns it into a job that re-fetches from the API
//! with the owner's token. Duplicate deliveries collapse on the job's dedup key; an
//! out-of-order one is harmless because the fetch sees the activity as it is now (gone:
//! done). The route answers 200 as soon as the job is stored, 400 for a body
//! [`parse_event`] refuses.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;
use thiserror::Error;
use url::form_urlencoded;

use crate::jobs::Job;
use crate::oauth::{FormRequest, ProviderConfig, Secret};
use crate::provider::Provider;

/// The largest event body read, bytes.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;
/// The most entries of `updates` read.
pub const MAX_UPDATES: usize = 32;
/// The longest `hub.challenge` echoed, bytes.
pub const MAX_CHALLENGE_BYTES: usize = 256;
/// The longest challenge query read, bytes.
pub const MAX_CHALLENGE_QUERY_BYTES: usize = 2048;

/// A subscription challenge that is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ChallengeError {
    /// `hub.mode` is not `subscribe`, or a parameter is missing or too long.
    #[error("not a subscription challenge")]
    NotAChallenge,
    /// The verify token is not ours (answer 403).
    #[error("the verify token does not match")]
    WrongToken,
}

/// Answers Strava's subscription challenge from the request's raw query string: the JSON
/// body `{"hub.challenge": "<challenge>"}` to send with a 200, if `hub.mode` is
/// `subscribe` and `hub.verify_token` equals `verify_token` (compared in constant time).
pub fn answer_challenge(query: &str, verify_token: &str) -> Result<String, ChallengeError> {
    if query.len() > MAX_CHALLENGE_QUERY_BYTES {
        return Err(ChallengeError::NotAChallenge);
    }
    let (mut mode, mut challenge, mut token) = (None, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "hub.mode" => mode = Some(value),
            "hub.challenge" => challenge = Some(value),
            "hub.verify_token" => token = Some(value),
            _ => {}
        }
    }
    let (Some(mode), Some(challenge), Some(token)) = (mode, challenge, token) else {
        return Err(ChallengeError::NotAChallenge);
    };
    if mode != "subscribe" || challenge.is_empty() || challenge.len() > MAX_CHALLENGE_BYTES {
        return Err(ChallengeError::NotAChallenge);
    }
    if !bool::from(token.as_bytes().ct_eq(verify_token.as_bytes())) || verify_token.is_empty() {
        return Err(ChallengeError::WrongToken);
    }
    Ok(serde_json::json!({ "hub.challenge": challenge }).to_string())
}

/// Strava's push-subscription path on the API origin.
pub const SUBSCRIPTIONS_PATH: &str = "/api/v3/push_subscriptions";

/// The request that creates the webhook subscription (once per app, at start when none
/// exists): `POST {api_base_url}/api/v3/push_subscriptions` with the app's credentials,
/// the callback URL and the verify token. Strava then calls the callback's challenge
/// before it answers `{"id": …}` ([`parse_subscription`]).
pub fn subscription_request(
    config: &ProviderConfig,
    api_base_url: &str,
    callback_url: &str,
    verify_token: &Secret,
) -> FormRequest {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &config.client_id)
        .append_pair("client_secret", config.client_secret.expose())
        .append_pair("callback_url", callback_url)
        .append_pair("verify_token", verify_token.expose())
        .finish();
    FormRequest {
        url: format!("{}{SUBSCRIPTIONS_PATH}", api_base_url.trim_end_matches('/')),
        body: Secret::new(body),
    }
}

/// Reads the subscription's id from the creation answer (`{"id": 120475}`), or from
/// `GET /api/v3/push_subscriptions` (a list; its first entry).
pub fn parse_subscription(body: &[u8]) -> Result<Option<u64>, WebhookError> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: u64,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Answer {
        One(Created),
        List(Vec<Created>),
    }
    if body.len() > MAX_EVENT_BYTES {
        return Err(WebhookError::TooLarge(body.len()));
    }
    match serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))? {
        Answer::One(created) => Ok(Some(created.id)),
        Answer::List(list) => Ok(list.first().map(|c| c.id)),
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// An activity (`object_id` is the activity id).
    Activity,
    /// An athlete (`object_id` is the athlete id).
    Athlete,
}

/// What happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    /// Created (an activity uploaded).
    Create,
    /// Changed (title, type, privacy; an athlete's deauthorization).
    Update,
    /// Deleted.
    Delete,
}

/// A Strava webhook event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// What it is about.
    pub object_type: ObjectType,
    /// The activity or athlete id.
    pub object_id: u64,
    /// What happened.
    pub aspect: Aspect,
    /// The changed fields, values as strings (`"authorized": "false"`).
    pub updates: BTreeMap<String, String>,
    /// The athlete the object belongs to.
    pub owner_id: u64,
    /// The subscription that delivered it (the route may check it is ours).
    pub subscription_id: u64,
    /// When it happened, s since the Unix epoch.
    pub event_time_s: i64,
}

/// An event body that is refused (answer 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    /// Bigger than [`MAX_EVENT_BYTES`].
    #[error("the event is {0} bytes; at most 16,384 are read")]
    TooLarge(usize),
    /// Not the JSON Strava documents.
    #[error("the event is malformed: {0}")]
    Malformed(String),
    /// A field with a value Strava never sends.
    #[error("the event's {field} is {value:?}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value, cut to 40 characters.
        value: String,
    },
}

/// An event body as Strava posts it: [`parse_event`] reads it, the local provider
/// servers write it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventBody {
    /// `activity` or `athlete`.
    pub object_type: String,
    /// The activity or athlete id.
    pub object_id: u64,
    /// `create`, `update` or `delete`.
    pub aspect_type: String,
    /// The changed fields.
    #[serde(default)]
    pub updates: BTreeMap<String, serde_json::Value>,
    /// The owner.
    pub owner_id: u64,
    /// The subscription.
    pub subscription_id: u64,
    /// When, s since the Unix epoch.
    pub event_time: i64,
}

fn invalid(field: &'static str, value: &str) -> WebhookError {
    WebhookError::Invalid {
        field,
        value: value.chars().take(40).collect(),
    }
}

/// Reads an event body, bounded by [`MAX_EVENT_BYTES`] and [`MAX_UPDATES`].
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(WebhookError::TooLarge(body.len()));
    }
    let raw: EventBody =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let object_type = match raw.object_type.as_str() {
        "activity" => ObjectType::Activity,
        "athlete" => ObjectType::Athlete,
        other => return Err(invalid("object_type", other)),
    };
    let aspect = match raw.aspect_type.as_str() {
        "create" => Aspect::Create,
        "update" => Aspect::Update,
        "delete" => Aspect::Delete,
        other => return Err(invalid("aspect_type", other)),
    };
    if raw.updates.len() > MAX_UPDATES {
        return Err(invalid(
            "updates",
            &format!("{} entries", raw.updates.len()),
        ));
    }
    let updates = raw
        .updates
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (name, value)
        })
        .collect();
    Ok(WebhookEvent {
        object_type,
        object_id: raw.object_id,
        aspect,
        updates,
        owner_id: raw.owner_id,
        subscription_id: raw.subscription_id,
        event_time_s: raw.event_time,
    })
}

impl WebhookEvent {
    /// Whether the athlete revoked Paceline's access (`updates.authorized = "false"` on
    /// their athlete object).
    pub fn is_deauthorization(&self) -> bool {
        self.object_type == ObjectType::Athlete
            && self.updates.get("authorized").map(String::as_str) == Some("false")
    }

    /// The job the event asks for: an activity created or updated → fetch it, deleted →
    /// delete Strava's copy, a deauthorization → revoke; any other athlete update →
    /// nothing. Whether the owner is connected at all is the caller's to check (unknown
    /// owners are ignored and counted).
    pub fn job(&self) -> Option<Job> {
        let owner_id = self.owner_id.to_string();
        match (self.object_type, self.aspect) {
            (ObjectType::Activity, Aspect::Create | Aspect::Update) => Some(Job::FetchActivity {
                provider: Provider::Strava,
                owner_id,
                activity_id: self.object_id.to_string(),
            }),
            (ObjectType::Activity, Aspect::Delete) => Some(Job::DeleteActivity {
                provider: Provider::Strava,
                owner_id,
                activity_id: self.object_id.to_string(),
            }),
            (ObjectType::Athlete, _) if self.is_deauthorization() => Some(Job::Revoke {
                provider: Provider::Strava,
                owner_id,
            }),
            (ObjectType::Athlete, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn challenge() {
        // Strava's documented example.
        let query = "hub.verify_token=STRAVA&hub.challenge=15f7d1a91c1f40f8a748fd134752feb3&hub.mode=subscribe";
        assert_eq!(
            answer_challenge(query, "STRAVA").unwrap(),
            r#"{"hub.challenge":"15f7d1a91c1f40f8a748fd134752feb3"}"#
        );
        assert_eq!(
            answer_challenge(query, "STRAVb"),
            Err(ChallengeError::WrongToken)
        );
        assert_eq!(
            answer_challenge(&query.replace("subscribe", "unsubscribe"), "STRAVA"),
            Err(ChallengeError::NotAChallenge)
        );
        assert_eq!(
            answer_challenge("hub.mode=subscribe&hub.verify_token=STRAVA", "STRAVA"),
            Err(ChallengeError::NotAChallenge)
        );
        // Percent-encoded values are decoded, and the echo is JSON-escaped.
        assert_eq!(
            answer_challenge(
                "hub.mode=subscribe&hub.challenge=a%22b&hub.verify_token=S%26T",
                "S&T"
            )
            .unwrap(),
            r#"{"hub.challenge":"a\"b"}"#
        );
        assert_eq!(
            answer_challenge("hub.mode=subscribe&hub.challenge=x&hub.verify_token=", ""),
            Err(ChallengeError::WrongToken)
        );
    }

    /// Strava's documented event shapes.
    const UPDATE: &str = r#"{"aspect_type": "update", "event_time": 1516126040, "object_id": 1360128428, "object_type": "activity", "owner_id": 134815, "subscription_id": 120475, "updates": {"title": "Messy"}}"#;
    const CREATE: &str = r#"{"aspect_type": "create", "event_time": 1549560669, "object_id": 2120517859, "object_type": "activity", "owner_id": 134815, "subscription_id": 120475, "updates": {}}"#;
    const DELETE: &str = r#"{"aspect_type": "delete", "event_time": 1549560669, "object_id": 2120517859, "object_type": "activity", "owner_id": 134815, "subscription_id": 120475, "updates": {}}"#;
    const DEAUTHORIZE: &str = r#"{"aspect_type": "update", "event_time": 1516126040, "object_id": 134815, "object_type": "athlete", "owner_id": 134815, "subscription_id": 120475, "updates": {"authorized": "false"}}"#;

    #[test]
    fn events_become_jobs() {
        let update = parse_event(UPDATE.as_bytes()).unwrap();
        assert_eq!(update.object_type, ObjectType::Activity);
        assert_eq!(update.aspect, Aspect::Update);
        assert_eq!(
            update.updates.get("title").map(String::as_str),
            Some("Messy")
        );
        assert_eq!(update.subscription_id, 120_475);
        assert_eq!(update.event_time_s, 1_516_126_040);
        assert_eq!(
            update.job(),
            Some(Job::FetchActivity {
                provider: Provider::Strava,
                owner_id: "134815".to_owned(),
                activity_id: "1360128428".to_owned()
            })
        );
        let create = parse_event(CREATE.as_bytes()).unwrap().job().unwrap();
        let delete = parse_event(DELETE.as_bytes()).unwrap().job().unwrap();
        assert_eq!(create.dedup_key(), "strava:fetch:134815:2120517859");
        assert_eq!(delete.dedup_key(), "strava:delete:134815:2120517859");
        // Delivered twice: one key, so one queued job.
        assert_eq!(
            parse_event(CREATE.as_bytes())
                .unwrap()
                .job()
                .unwrap()
                .dedup_key(),
            create.dedup_key()
        );
        let deauthorize = parse_event(DEAUTHORIZE.as_bytes()).unwrap();
        assert!(deauthorize.is_deauthorization());
        assert_eq!(
            deauthorize.job(),
            Some(Job::Revoke {
                provider: Provider::Strava,
                owner_id: "134815".to_owned()
            })
        );
        let renamed = DEAUTHORIZE.replace(r#""authorized": "false""#, r#""firstname": "Jo""#);
        assert_eq!(parse_event(renamed.as_bytes()).unwrap().job(), None);
        // A boolean instead of Strava's string still reads as "false".
        let boolean = DEAUTHORIZE.replace(r#""false""#, "false");
        assert!(
            parse_event(boolean.as_bytes())
                .unwrap()
                .is_deauthorization()
        );
    }

    #[test]
    fn malformed_events_are_refused() {
        assert!(matches!(
            parse_event(UPDATE.replace("activity", "club").as_bytes()),
            Err(WebhookError::Invalid {
                field: "object_type",
                ..
            })
        ));
        assert!(matches!(
            parse_event(UPDATE.replace("update", "upsert").as_bytes()),
            Err(WebhookError::Invalid {
                field: "aspect_type",
                ..
            })
        ));
        assert!(matches!(
            parse_event(UPDATE.replace("134815", "-1").as_bytes()),
            Err(WebhookError::Malformed(_))
        ));
        assert!(matches!(parse_event(b"{"), Err(WebhookError::Malformed(_))));
        let many: BTreeMap<String, String> =
            (0..33).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let body = UPDATE.replace(
            r#"{"title": "Messy"}"#,
            &serde_json::to_string(&many).unwrap(),
        );
        assert!(matches!(
            parse_event(body.as_bytes()),
            Err(WebhookError::Invalid {
                field: "updates",
                ..
            })
        ));
        assert_eq!(
            parse_event(&vec![b' '; MAX_EVENT_BYTES + 1]),
            Err(WebhookError::TooLarge(MAX_EVENT_BYTES + 1))
        );
    }

    #[test]
    fn subscription() {
        let config = ProviderConfig::strava("http://127.0.0.1:9000", "4242", Secret::new("s"));
        let request = subscription_request(
            &config,
            "http://127.0.0.1:9000/",
            "https://paceline.example/webhooks/strava",
            &Secret::new("STRAVA"),
        );
        assert_eq!(
            request.url,
            "http://127.0.0.1:9000/api/v3/push_subscriptions"
        );
        assert_eq!(
            request.body.expose(),
            "client_id=4242&client_secret=s&callback_url=https%3A%2F%2Fpaceline.example%2Fwebhooks%2Fstrava&verify_token=STRAVA"
        );
        assert_eq!(parse_subscription(br#"{"id": 120475}"#), Ok(Some(120_475)));
        assert_eq!(
            parse_subscription(br#"[{"id": 1, "callback_url": "x"}]"#),
            Ok(Some(1))
        );
        assert_eq!(parse_subscription(b"[]"), Ok(None));
        assert!(parse_subscription(br#"{"message": "Bad Request"}"#).is_err());
    }

    proptest! {
        #[test]
        fn subscription_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_subscription(&body);
        }

        #[test]
        fn event_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(event) = parse_event(&body) {
                let _ = event.job();
            }
        }

        #[test]
        fn mutated_events_never_panic(at in 0usize..UPDATE.len(), byte in any::<u8>()) {
            let mut body = UPDATE.as_bytes().to_vec();
            body[at] = byte;
            if let Ok(event) = parse_event(&body) {
                let _ = event.job();
            }
        }

        #[test]
        fn challenges_never_panic(query in ".{0,300}", token in ".{0,20}") {
            let _ = answer_challenge(&query, &token);
        }
    }
}
