//! The coach chat by SMS (issue 24, point 6) against a local server of Twilio's REST API
//! ([`crate::fake_twilio`]): an athlete links a phone with the code sent to it; the
//! webhook, behind its public URL, takes only correctly signed requests, ignores repeated
//! `MessageSid`s, gives unlinked numbers nothing at all (an empty response, no REST
//! message), answers linked
//! ones through the chat as TwiML cut into SMS segments (an observed preference confirmed
//! by a texted yes), and honours STOP/START/HELP;
//! the number is never logged.

use paceline_chat::sms::signature;
use reqwest::Method;
use serde_json::json;

use crate::chat::corpus_athlete;
use crate::fake_twilio::FakeTwilio;
use crate::harness::*;
use paceline_testkit::api::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-for-tests";
const OURS: &str = "+15550009999";
const PUBLIC: &str = "https://paceline.example/webhooks/sms";
const ANA_PHONE: &str = "+15550104477";

/// Posts Twilio's form to the webhook, signed with `token` (none: unsigned).
async fn inbound(
    gateway: &Gateway,
    token: Option<&str>,
    from: &str,
    body: &str,
    sid: &str,
) -> (u16, String) {
    let params: Vec<(String, String)> = [
        ("AccountSid", SID),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("To", OURS),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/webhooks/sms", gateway.http))
        .form(&params);
    if let Some(token) = token {
        request = request.header("X-Twilio-Signature", signature(PUBLIC, &params, token));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// What a number that gets nothing is answered.
const EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// A new athlete user (`email`) of `admin`'s gym with `number` linked by the code sent to
/// it; their access token.
async fn link_new_athlete(
    api: &Api,
    admin: &str,
    twilio: &FakeTwilio,
    email: &str,
    number: &str,
) -> String {
    let athlete = corpus_athlete(api, admin, email).await;
    let me = access(
        &api.invite_and_register(admin, "athlete", email, Some(athlete))
            .await,
    );
    let r = api
        .call(
            Method::PUT,
            "/me/phone",
            Some(&me),
            Some(json!({"phone": number})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.json);
    let sent = twilio.sent();
    let body = &sent.iter().rev().find(|m| m.to == number).unwrap().body;
    let code: String = body
        .split("code is ")
        .nth(1)
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let r = api
        .post("/me/phone/confirm", Some(&me), json!({"code": code}))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    me
}

/// The `<Message>` texts of a TwiML response, unescaped.
fn messages(twiml: &str) -> Vec<String> {
    twiml
        .split("<Message>")
        .skip(1)
        .map(|m| {
            m.split("</Message>")
                .next()
                .unwrap()
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athlete_texts_the_coach_from_a_linked_phone() {
    let twilio = FakeTwilio::start(SID, TOKEN).await;
    let gateway = paceline()
        .env("PACELINE_TWILIO_BASE_URL", &twilio.base_url)
        .env("PACELINE_TWILIO_ACCOUNT_SID", SID)
        .env("PACELINE_TWILIO_AUTH_TOKEN", TOKEN)
        .env("PACELINE_TWILIO_FROM", OURS)
        .env("PACELINE_TWILIO_WEBHOOK_URL", PUBLIC)
        .env("PACELINE_SMS_INBOUND_PER_HOUR", "10")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@sms.example", "SMS Gym").await);
    let ana = corpus_athlete(&api, &admin, "Ana").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "ana@sms.example", Some(ana))
            .await,
    );

    // Linking: a code by SMS through the REST API, entered in the app.
    let r = api
        .call(
            Method::PUT,
            "/me/phone",
            Some(&me),
            Some(json!({"phone": "+1 555-010-4477"})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(
        r.json,
        json!({"phone": ANA_PHONE, "linked": false, "opted_out": false})
    );
    let sent = twilio.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str()),
        (ANA_PHONE, OURS)
    );
    let code: String = sent[0]
        .body
        .split("code is ")
        .nth(1)
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 6, "{}", sent[0].body);
    // Not linked yet: the number gets an empty response.
    let (status, twiml) = inbound(&gateway, Some(TOKEN), ANA_PHONE, "hi", "SM01").await;
    assert_eq!((status, twiml.as_str()), (200, EMPTY));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = api
        .post("/me/phone/confirm", Some(&me), json!({"code": wrong}))
        .await;
    assert_eq!(
        (r.status, code_of_reply(&r)),
        (400, "invalid_field"),
        "{}",
        r.json
    );
    let r = api
        .post("/me/phone/confirm", Some(&me), json!({"code": code}))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["linked"], true);
    // A staff user links no phone; another account cannot take the number.
    let r = api
        .call(
            Method::PUT,
            "/me/phone",
            Some(&admin),
            Some(json!({"phone": ANA_PHONE})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.json);
    let r = api
        .call(
            Method::PUT,
            "/me/phone",
            Some(&me),
            Some(json!({"phone": "5550104477"})),
        )
        .await;
    assert_eq!(
        (r.status, code_of_reply(&r)),
        (400, "invalid_field"),
        "{}",
        r.json
    );

    // Signatures: none, or with another token, is 403 and reaches nothing.
    let (status, _) = inbound(
        &gateway,
        None,
        ANA_PHONE,
        "how's my fitness this month?",
        "SM02",
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = inbound(
        &gateway,
        Some("not-the-token"),
        ANA_PHONE,
        "how's my fitness this month?",
        "SM03",
    )
    .await;
    assert_eq!(status, 403);

    // A linked number talks to the chat as its user.
    let (status, twiml) = inbound(
        &gateway,
        Some(TOKEN),
        ANA_PHONE,
        "how's my fitness this month?",
        "SM04",
    )
    .await;
    assert_eq!(status, 200, "{twiml}");
    let said = messages(&twiml);
    assert!(
        said.concat().starts_with("Your fitness (CTL) is 0.0"),
        "{twiml}"
    );
    // The same MessageSid again: nothing, and no second turn.
    let (status, twiml) = inbound(
        &gateway,
        Some(TOKEN),
        ANA_PHONE,
        "how's my fitness this month?",
        "SM04",
    )
    .await;
    assert_eq!((status, messages(&twiml).len()), (200, 0), "{twiml}");
    // A long answer is cut into segments of at most 153 characters (GSM-7 parts).
    let (_, twiml) = inbound(&gateway, Some(TOKEN), ANA_PHONE, "what can you do?", "SM05").await;
    let parts = messages(&twiml);
    assert!(parts.len() >= 2, "{twiml}");
    assert!(parts.iter().all(|p| p.chars().count() <= 153), "{parts:?}");
    assert!(
        parts.concat().starts_with("I can change today"),
        "{parts:?}"
    );
    // Both turns are one conversation of Ana's, in her history.
    let list = api.get("/chat/conversations", &me).await;
    let conversations = list.json["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 1, "{}", list.json);
    assert_eq!(conversations[0]["messages"], 4, "{}", list.json);
    // An observed preference asked about over SMS is confirmed by a texted "yes" (the
    // same engine and conversation state as the web chat).
    crate::chat::observed(
        &gateway,
        ana,
        json!({"kind": "avoid_part_of_day", "part": "morning"}),
    );
    let (_, twiml) = inbound(
        &gateway,
        Some(TOKEN),
        ANA_PHONE,
        "what's my workout today?",
        "SMP1",
    )
    .await;
    assert!(
        messages(&twiml)
            .concat()
            .contains("should I keep mornings free?"),
        "{twiml}"
    );
    let (_, twiml) = inbound(&gateway, Some(TOKEN), ANA_PHONE, "yes", "SMP2").await;
    assert!(
        messages(&twiml)
            .concat()
            .starts_with("OK. Done: preference confirmed"),
        "{twiml}"
    );
    let prefs = api.get(&format!("/athletes/{ana}/preferences"), &me).await;
    assert_eq!(
        (
            &prefs.json["preferences"][0]["status"],
            &prefs.json["preferences"][0]["confidence"]
        ),
        (&json!("confirmed"), &json!(0.9)),
        "{}",
        prefs.json
    );

    // STOP: confirmed, then silence; START: back; HELP: the help text.
    let (_, twiml) = inbound(&gateway, Some(TOKEN), ANA_PHONE, "stop", "SM06").await;
    assert_eq!(
        messages(&twiml),
        ["Paceline: you won't get more messages. Reply START to resume."]
    );
    let (_, twiml) = inbound(
        &gateway,
        Some(TOKEN),
        ANA_PHONE,
        "how's my fitness?",
        "SM07",
    )
    .await;
    assert!(messages(&twiml).is_empty(), "{twiml}");
    let r = api.get("/me/phone", &me).await;
    assert_eq!(r.json["opted_out"], true);
    let (_, twiml) = inbound(&gateway, Some(TOKEN), ANA_PHONE, "START", "SM08").await;
    assert_eq!(messages(&twiml).len(), 1, "{twiml}");
    let (_, twiml) = inbound(&gateway, Some(TOKEN), ANA_PHONE, "Help", "SM09").await;
    assert!(
        messages(&twiml)[0].starts_with("Paceline coach:"),
        "{twiml}"
    );

    // Unknown numbers get nothing, not even the answer to HELP.
    for (body, sid) in [("how's my fitness?", "SM10"), ("HELP", "SM10b")] {
        let (status, twiml) = inbound(&gateway, Some(TOKEN), "+15550100000", body, sid).await;
        assert_eq!((status, twiml.as_str()), (200, EMPTY));
    }

    // Forgotten: the number is unknown again. Only the one code was ever sent.
    let r = api.call(Method::DELETE, "/me/phone", Some(&me), None).await;
    assert_eq!(r.status, 204);
    let (_, twiml) = inbound(
        &gateway,
        Some(TOKEN),
        ANA_PHONE,
        "how's my fitness?",
        "SM11",
    )
    .await;
    assert_eq!(twiml, EMPTY);
    // Only the one code was ever sent through the REST API: nothing to the unknown numbers.
    let sent = twilio.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent.iter().all(|m| m.to == ANA_PHONE), "{sent:?}");

    // An unknown number past its hour's limit (10 here) still gets nothing; a linked
    // number gets one notice, then nothing.
    let attempt = std::sync::atomic::AtomicUsize::new(0);
    let (api, admin, twilio, gw, attempt) = (&api, &admin, &twilio, &gateway, &attempt);
    let (stranger, linked) = within_one_hour(move || async move {
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let number = format!("+1555010020{n}");
        link_new_athlete(api, admin, twilio, &format!("cy{n}@sms.example"), &number).await;
        let (mut stranger, mut linked) = (Vec::new(), Vec::new());
        for i in 0..12 {
            let sid = format!("SMH{n}{i:02}");
            let (status, twiml) =
                inbound(gw, Some(TOKEN), &format!("+1555010000{n}"), "hello?", &sid).await;
            assert_eq!(status, 200, "{twiml}");
            stranger.push(twiml);
            let sid = format!("SML{n}{i:02}");
            let (status, twiml) = inbound(gw, Some(TOKEN), &number, "START", &sid).await;
            assert_eq!(status, 200, "{twiml}");
            linked.push(messages(&twiml));
        }
        (stranger, linked)
    })
    .await;
    assert!(stranger.iter().all(|t| t == EMPTY), "{stranger:?}");
    assert!(linked[..10].iter().all(|m| m.len() == 1), "{linked:?}");
    assert_eq!(
        linked[10],
        [paceline_gateway::api::sms::INBOUND_LIMIT_NOTICE],
        "{linked:?}"
    );
    assert!(linked[11].is_empty(), "{linked:?}");

    // Numbers, codes and the token are never logged.
    let log = gateway.log_tail(100_000);
    for secret in ["5550104477", "5550100000", "5550100200", TOKEN, &code] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}

/// Runs `burst` again (once) when the clock crossed an hour while it ran: the limits count
/// per clock hour, and the gateway's clock is the wall clock. Each run must use its own
/// numbers and message ids, so the second one starts from zero.
async fn within_one_hour<T, F, Fut>(mut burst: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let hour = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 3600
    };
    let before = hour();
    let first = burst().await;
    if hour() == before {
        return first;
    }
    burst().await
}

/// The per-number limits with small settings: 4 messages in an hour, 3 sent a day (the
/// linking code is one of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_is_held_to_its_daily_sending_limit() {
    let twilio = FakeTwilio::start(SID, TOKEN).await;
    let gateway = paceline()
        .env("PACELINE_TWILIO_BASE_URL", &twilio.base_url)
        .env("PACELINE_TWILIO_ACCOUNT_SID", SID)
        .env("PACELINE_TWILIO_AUTH_TOKEN", TOKEN)
        .env("PACELINE_TWILIO_FROM", OURS)
        .env("PACELINE_TWILIO_WEBHOOK_URL", PUBLIC)
        .env("PACELINE_SMS_INBOUND_PER_HOUR", "4")
        .env("PACELINE_SMS_OUTBOUND_PER_DAY", "3")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@smsday.example", "SMS Day").await);
    let day = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 86_400
    };
    let (before, mut number, mut bo) = (day(), String::new(), String::new());
    let mut told = Vec::new();
    for attempt in 0..2 {
        // The UTC day turned during the first run: a fresh number, a fresh count.
        told.clear();
        number = format!("+1555010030{attempt}");
        let email = format!("bo{attempt}@smsday.example");
        bo = link_new_athlete(&api, &admin, &twilio, &email, &number).await;
        for i in 0..5 {
            let sid = format!("SMD{attempt}{i}");
            let (status, twiml) = inbound(&gateway, Some(TOKEN), &number, "START", &sid).await;
            assert_eq!(status, 200, "{twiml}");
            told.push(messages(&twiml));
        }
        if day() == before {
            break;
        }
    }
    // The code and two replies (the day's three messages), then nothing: neither the
    // third and fourth messages (still within the hour's four) nor the fifth's notice go
    // out.
    let start = vec![paceline_chat::sms::Keyword::Start.reply().to_owned()];
    assert_eq!(told, [start.clone(), start, vec![], vec![], vec![]]);

    // A new linking code to that number is a message too: 429 with Retry-After.
    let cy = corpus_athlete(&api, &admin, "Cy").await;
    let me = access(
        &api.invite_and_register(&admin, "athlete", "cy@smsday.example", Some(cy))
            .await,
    );
    let sent_before = twilio.sent().len();
    let r = api.call(Method::DELETE, "/me/phone", Some(&bo), None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    let r = api
        .call(
            Method::PUT,
            "/me/phone",
            Some(&me),
            Some(json!({"phone": number})),
        )
        .await;
    assert_eq!(
        (r.status, code_of_reply(&r)),
        (429, "sms_limit"),
        "{}",
        r.json
    );
    assert_eq!(twilio.sent().len(), sent_before);
    // Another number still gets its code.
    let r = api
        .call(
            Method::PUT,
            "/me/phone",
            Some(&me),
            Some(json!({"phone": "+15550100004"})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.json);
    assert_eq!(twilio.sent().len(), sent_before + 1);
}

fn code_of_reply(r: &Reply) -> &str {
    code(r)
}
