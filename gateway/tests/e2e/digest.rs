//! The weekly digest end to end: two athletes (one in UTC, one at UTC+1 by their latest
//! activity), `paceline digest run --at <instant>` (a new process each time, on the
//! running gateway's store) against the local SMTP server (`smtp`: STARTTLS with a
//! self-signed CA given in `PACELINE_SMTP_CA_FILE`, AUTH PLAIN): nothing before Sunday
//! 18:00 local, each athlete's mail at their own 18:00, a refused mail retried on a later
//! run, nothing sent again by later runs; the mail multipart/alternative with the text
//! and HTML parts, the week's load and the List-Unsubscribe headers; the unsubscribe link
//! working without a login (GET confirms, POST unsubscribes, a forged token 400) and the
//! next week's digest going only to the athlete still subscribed.

use std::process::Command;

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;

use crate::smtp::{Mail, SmtpServer};
use paceline_testkit::api::*;
use paceline_testkit::gateway::{Gateway, paceline_bin};

const SMTP_USER: &str = "digest";
const SMTP_PASSWORD: &str = "s3cret:p@ss";

/// `paceline digest run --at <at>` against the gateway's store; (exit success, stdout).
fn digest_run(gateway: &Gateway, smtp: &SmtpServer, at: &str) -> (bool, String) {
    let out = Command::new(paceline_bin())
        .args(["digest", "run", "--at", at, "--data-dir"])
        .arg(&gateway.data_dir)
        .env(
            "PACELINE_SMTP_URL",
            // The password percent-encoded, as URLs want it.
            format!("smtp://{SMTP_USER}:s3cret%3Ap%40ss@localhost:{}", smtp.port),
        )
        .env("PACELINE_MAIL_FROM", "Paceline <digest@paceline.test>")
        .env("PACELINE_SMTP_CA_FILE", &smtp.ca_file)
        .env("PACELINE_PUBLIC_URL", format!("http://{}", gateway.http))
        .env_remove("PACELINE_CONFIG")
        .output()
        .expect("run paceline digest run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "digest run --at {at}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), stdout)
}

/// A header's value (unfolded), from the head of a message or part.
fn header(head: &str, name: &str) -> Option<String> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

fn quoted_printable(text: &str) -> String {
    let bytes = text.replace("=\r\n", "").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i + 1..i + 3) {
            Some(hex) if bytes[i] == b'=' => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// A header value with RFC 2047 base64 encoded-words decoded (the space between two
/// encoded words is not part of the text; any other is).
fn decoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (i, word) in value.split(' ').enumerate() {
        let lower = word.to_ascii_lowercase();
        let encoded = lower.starts_with("=?utf-8?b?") && lower.ends_with("?=");
        if i > 0 && !(encoded && previous_encoded) {
            out.push(' ');
        }
        if encoded {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&word[10..word.len() - 2])
                .unwrap();
            out.push_str(&String::from_utf8(bytes).unwrap());
        } else {
            out.push_str(word);
        }
        previous_encoded = encoded;
    }
    out
}

/// The parts of a multipart/alternative mail: (content type, decoded body).
fn parts(mail: &Mail) -> Vec<(String, String)> {
    let (head, body) = mail.data.split_once("\r\n\r\n").unwrap();
    let content_type = header(head, "Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_matches('"')
        .to_owned();
    body.split(&format!("--{boundary}"))
        .filter_map(|part| {
            let (head, body) = part.trim_start_matches("\r\n").split_once("\r\n\r\n")?;
            let kind = header(head, "Content-Type")?;
            let body = body.trim_end_matches("\r\n");
            let decoded = match header(head, "Content-Transfer-Encoding").as_deref() {
                Some("quoted-printable") => quoted_printable(body),
                Some("base64") => String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(body.replace("\r\n", ""))
                        .unwrap(),
                )
                .unwrap(),
                _ => body.to_owned(),
            };
            Some((kind, decoded))
        })
        .collect()
}

fn to_of(mails: &[Mail], address: &str) -> Vec<Mail> {
    mails
        .iter()
        .filter(|m| m.to == [address.to_owned()])
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_digest_arrives_once_and_unsubscribes_without_a_login() {
    let smtp = SmtpServer::start(SMTP_USER, SMTP_PASSWORD).await;
    // The gateway's own digest job is off: the runs below drive the instants.
    let gateway = Gateway::builder()
        .env("PACELINE_DIGEST_TICK_S", "0")
        .start()
        .await;
    let api = Api::of(&gateway);
    let admin = access(&api.register_gym("admin@digest.example", "Digest Gym").await);
    let ana = api.create_athlete(&admin, "Ana").await;
    let ben = api.create_athlete(&admin, "Ben").await;
    api.invite_and_register(&admin, "athlete", "ana@digest.example", Some(ana))
        .await;
    api.invite_and_register(&admin, "athlete", "ben@digest.example", Some(ben))
        .await;
    // The week of Mon 2 – Sun 8 Nov 2026: Ana rides twice (UTC), Ben runs once at UTC+1,
    // which makes his Sunday 18:00 17:00 UTC.
    for (athlete, start, tss) in [
        (ana, "2026-11-03T07:00:00Z", 80.0),
        (ana, "2026-11-05T07:00:00Z", 45.0),
        (ben, "2026-11-04T07:00:00+01:00", 60.0),
    ] {
        let reply = api
            .post(
                &format!("/athletes/{athlete}/activities"),
                Some(&admin),
                json!({"sport": "cycling", "start": start, "duration": "1:00:00", "load_tss": tss}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.json);
    }

    // Before anyone's Sunday 18:00: nothing.
    let (ok, out) = digest_run(&gateway, &smtp, "2026-11-08T16:59:00Z");
    assert!(ok && out.contains("0 sent, 0 failed"), "{out}");
    assert!(smtp.mails().is_empty());
    // 17:00 UTC is Ben's 18:00: his alone.
    let (ok, out) = digest_run(&gateway, &smtp, "2026-11-08T17:00:30Z");
    assert!(ok && out.contains("1 sent, 0 failed"), "{out}");
    assert_eq!(to_of(&smtp.mails(), "ben@digest.example").len(), 1);
    // 18:00 UTC is Ana's: the server refuses her mail once (451) ...
    smtp.refuse_next(1);
    let (ok, out) = digest_run(&gateway, &smtp, "2026-11-08T18:00:30Z");
    assert!(!ok && out.contains("0 sent, 1 failed"), "{out}");
    // ... not retried before its delay (5 min), then sent.
    let (_, out) = digest_run(&gateway, &smtp, "2026-11-08T18:03:00Z");
    assert!(out.contains("0 sent, 0 failed"), "{out}");
    let (ok, out) = digest_run(&gateway, &smtp, "2026-11-08T18:06:00Z");
    assert!(ok && out.contains("1 sent, 0 failed"), "{out}");
    // Later runs (new processes: a restart) send nothing again that week, even a day on.
    for at in [
        "2026-11-08T18:06:00Z",
        "2026-11-08T21:00:00Z",
        "2026-11-09T12:00:00Z",
    ] {
        let (ok, out) = digest_run(&gateway, &smtp, at);
        assert!(ok && out.contains("0 sent, 0 failed"), "{at}: {out}");
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "one each: {mails:?}");
    let mail = to_of(&mails, "ana@digest.example").remove(0);
    assert!(mail.tls, "sent after STARTTLS");
    assert_eq!(mail.user.as_deref(), Some(SMTP_USER));
    assert_eq!(mail.from, "digest@paceline.test");
    let (head, _) = mail.data.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        decoded_words(&header(head, "Subject").unwrap()),
        "Your week, Mon 2 Nov – Sun 8 Nov 2026"
    );
    let unsubscribe = header(head, "List-Unsubscribe").unwrap();
    let link = unsubscribe.trim_matches(['<', '>']).to_owned();
    assert!(
        link.starts_with(&format!(
            "http://{}/api/v1/digest/unsubscribe?t=",
            gateway.http
        )),
        "{link}"
    );
    assert_eq!(
        header(head, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let parts = parts(&mail);
    assert_eq!(parts.len(), 2, "{parts:?}");
    let (text_type, text) = &parts[0];
    let (html_type, html) = &parts[1];
    assert!(text_type.starts_with("text/plain"), "{text_type}");
    assert!(html_type.starts_with("text/html"), "{html_type}");
    // Ana's week: 80 + 45 TSS, the days listed, the link in both parts.
    assert!(
        text.starts_with("Your week, Mon 2 Nov – Sun 8 Nov 2026"),
        "{text}"
    );
    assert!(text.contains("Hi ana@digest.example,"), "{text}");
    assert!(text.contains("  Tue 3 Nov      80 TSS"), "{text}");
    assert!(text.contains("  Thu 5 Nov      45 TSS"), "{text}");
    assert!(text.contains("  Total          125 TSS"), "{text}");
    assert!(text.contains("Fitness trend"), "{text}");
    assert!(text.contains("Next week"), "{text}");
    // Next week is the planning rules' outlook (no plan is stored that far ahead): it
    // lists workouts, not "No workouts planned yet.".
    let next_week = text.split("Next week").nth(1).unwrap_or_default();
    assert!(
        !next_week.contains("No workouts planned yet.") && next_week.contains(" min"),
        "next week's outlook: {text}"
    );
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(
        "<h2 style=\"font-size:16px;margin:20px 0 6px 0;color:#222222;\">Training load</h2>"
    ));
    assert!(html.contains(&link.replace('&', "&amp;")), "{html}");

    // The link without a session: the GET asks, a forged token is refused, the POST
    // unsubscribes.
    let client = reqwest::Client::new();
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Unsubscribe from the weekly digest?"),
        "{page}"
    );
    assert!(page.contains("<form method=\"post\""), "{page}");
    let forged = link.replacen("t=", "t=9", 1);
    let refused = client.post(&forged).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "invalid_token", "{refused}");
    let done = client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("You are unsubscribed"));
    let again = client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("You are unsubscribed"), "{again}");

    // The next Sunday: Ben's digest only.
    let (ok, out) = digest_run(&gateway, &smtp, "2026-11-15T18:00:30Z");
    assert!(ok && out.contains("1 sent, 0 failed"), "{out}");
    let mails = smtp.mails();
    assert_eq!(to_of(&mails, "ana@digest.example").len(), 1);
    assert_eq!(to_of(&mails, "ben@digest.example").len(), 2);
    // The API is untouched by all this: Ana can still log in and read her correlations.
    let ana_token = api.access_token("ana@digest.example", PASSWORD).await;
    let reply = api
        .call(
            Method::GET,
            &format!("/athletes/{ana}/insights/correlations"),
            Some(&ana_token),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
}
