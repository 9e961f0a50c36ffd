//! The weekly digest by mail: who is due (Sunday 18:00 in the athlete's time zone), what
//! the letter says, and sending it over SMTP exactly once per athlete and week at most.
//! The wording, the layout and the due rule are `paceline-insights`' (`digest`,
//! `unsubscribe`); this module gathers the values from the store, builds the
//! `multipart/alternative` mail and talks SMTP through `lettre` (tokio, rustls).
//!
//! - **SMTP URL** (`PACELINE_SMTP_URL`): `smtp://user:pass@host:port` sends over
//!   STARTTLS and refuses a server that does not offer it (port 587 by default);
//!   `smtp://…?tls=opportunistic` uses STARTTLS when offered; `smtp://…?tls=none` sends in
//!   clear (a relay on the same machine; credentials are refused with it); `smtps://…`
//!   speaks TLS from the first byte (port 465 by default). User and password are
//!   percent-decoded. The server's certificate must chain to the webpki roots or to a CA
//!   in `PACELINE_SMTP_CA_FILE`.
//! - **When** ([`tick`]): the job ticks every `digest_tick_s` (60 s) with the gateway's
//!   now, and `paceline digest run --at <RFC 3339>` runs one tick at a given instant. A
//!   user is due when `paceline_insights::digest_due` says so at the offset of their
//!   athlete's latest activity (UTC without one): from Sunday 18:00 local up to 48 h later
//!   (the catch-up window after downtime), not when a digest went out since 12 h before
//!   the slot.
//! - **Once** ([`crate::store::digest`]): the (user, week) row is claimed in a write
//!   transaction before the mail goes out. A mail the server refused (or a connection that
//!   failed) is retried on later ticks, [`RETRY_AFTER_MS`] × attempts apart, up to
//!   [`MAX_ATTEMPTS`] sends and within the catch-up window; a mail sent is never sent
//!   again; a claim left by a process that died while sending is never taken again (the
//!   server may have the mail: at most once).
//! - **Unsubscribe**: every mail carries a link `…/api/v1/digest/unsubscribe?t=<token>`
//!   (HMAC-signed user id, see `paceline_insights::unsubscribe`, under a server secret)
//!   in both parts and in `List-Unsubscribe`, with `List-Unsubscribe-Post:
//!   List-Unsubscribe=One-Click` (RFC 8058): the GET shows a confirmation page, the POST
//!   unsubscribes, neither needs a login.
//! - **Never logged**: addresses, names or tokens; only user rows and counts.

use std::sync::Arc;

use anyhow::Context;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use paceline_insights::digest::{
    DigestContent, DigestDay, DigestSlot, FitnessPoint, PlannedWorkout, current_slot, digest_due,
    render_digest, top_findings,
};
use paceline_insights::unsubscribe::{DIGEST_PURPOSE, sign_unsubscribe};
use paceline_schemas::plan::{PlanStep, WorkoutPlan};
use rusqlite::Connection;
use time::{Duration, OffsetDateTime};

use crate::jobs::planning::{self as days, format_date};
use crate::settings::MailSettings;
use crate::store::digest::{self as rows, Recipient};
use crate::store::{Store, StoreError};

/// Sends of one (user, week) at most, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// A failed send is tried again this long times its attempts later, ms.
pub const RETRY_AFTER_MS: u64 = 5 * 60 * 1000;
/// The most mails one tick sends (the rest go on the next tick).
pub const MAX_SENDS_PER_TICK: usize = 500;
/// The name of the server secret unsubscribe tokens are signed with.
pub const UNSUBSCRIBE_SECRET: &str = "digest-unsubscribe";
/// The path of the unsubscribe link, under the public URL.
pub const UNSUBSCRIBE_PATH: &str = "/api/v1/digest/unsubscribe";
/// Users read per batch of a tick.
const RECIPIENT_BATCH: usize = 200;
/// Longest SMTP error kept with a failed send.
const MAX_ERROR_CHARS: usize = 300;

/// The SMTP client and what every mail needs.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    /// The client for the settings (module docs); nothing is connected yet.
    pub fn new(settings: &MailSettings) -> anyhow::Result<Mailer> {
        let url = reqwest::Url::parse(settings.smtp_url.expose())
            .map_err(|e| anyhow::anyhow!("smtp_url does not read as a URL: {e}"))?;
        let host = url
            .host_str()
            .context("smtp_url names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls_mode = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let parameters = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path)
                    .with_context(|| format!("smtp_ca_file {}", path.display()))?;
                let cert = Certificate::from_pem(&pem).with_context(|| {
                    format!("smtp_ca_file {}: not PEM certificates", path.display())
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder.build_rustls().context("the SMTP TLS settings")
        };
        let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
            ("smtp", None | Some("required")) => (Tls::Required(parameters()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(parameters()?), 587),
            ("smtp", Some("none")) => (Tls::None, 25),
            ("smtps", None) => (Tls::Wrapper(parameters()?), 465),
            (scheme, mode) => anyhow::bail!(
                "smtp_url: {scheme}:// with tls={mode:?} is not one of smtp:// (tls=required, \
                 opportunistic or none) or smtps://"
            ),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(default_port))
            .tls(tls.clone())
            .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some(password) = url.password() {
            if matches!(tls, Tls::None) {
                anyhow::bail!("smtp_url: credentials are not sent without TLS (tls=none)");
            }
            let decode =
                |s: &str| percent_decode(s).context("smtp_url: the user or password is not UTF-8");
            builder =
                builder.credentials(Credentials::new(decode(url.username())?, decode(password)?));
        }
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail_from {:?}: {e}", settings.mail_from))?;
        Ok(Mailer {
            transport: builder.build(),
            from,
            public_url: settings.public_url.clone(),
        })
    }

    /// The unsubscribe link of a user.
    pub fn unsubscribe_url(&self, key: &[u8], user_row: i64) -> anyhow::Result<String> {
        let token = sign_unsubscribe(key, user_row, DIGEST_PURPOSE)?;
        Ok(format!("{}{UNSUBSCRIBE_PATH}?t={token}", self.public_url))
    }

    /// Sends one mail; the SMTP error as text (without the recipient) when it fails.
    async fn send(&self, message: Message) -> Result<(), String> {
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            let text = e.to_string();
            text.chars().take(MAX_ERROR_CHARS).collect()
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `List-Unsubscribe: <url>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.trim_matches(['<', '>']).to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

fn instant(now_ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The recipient's slot when their digest is due at `now_ms`, else `None`.
pub fn due_slot(
    conn: &Connection,
    r: &Recipient,
    now_ms: u64,
) -> Result<Option<DigestSlot>, StoreError> {
    let offset_s = crate::store::planning::latest_local_offset(conn, r.tenant_row, r.athlete_row)?
        .unwrap_or(0);
    let offset_min = offset_s / 60;
    let now = instant(now_ms);
    let last = rows::last_sent_ms(conn, r.tenant_row, r.user_row)?
        .map(|ms| instant(u64::try_from(ms).unwrap_or(0)));
    match digest_due(now, offset_min, last) {
        Ok(true) => Ok(current_slot(now, offset_min).ok()),
        // An offset outside ±18 h is not one an activity can store; no digest for it.
        Ok(false) | Err(_) => Ok(None),
    }
}

fn plan_duration_s(plan: &WorkoutPlan) -> u64 {
    plan.steps
        .iter()
        .map(|step| match step {
            PlanStep::Step(s) => u64::from(s.duration_s),
            PlanStep::Repeat(r) => {
                u64::from(r.count) * r.steps.iter().map(|s| u64::from(s.duration_s)).sum::<u64>()
            }
        })
        .sum()
}

/// What the recipient's digest for `slot` says (module docs of `paceline_insights::digest`).
pub fn digest_content(
    conn: &Connection,
    r: &Recipient,
    slot: DigestSlot,
    now_ms: u64,
    unsubscribe_url: String,
) -> Result<DigestContent, StoreError> {
    let (t, a) = (r.tenant_row, r.athlete_row);
    let week_end = slot.week_start + Duration::days(6);
    let loads = days::day_loads(conn, t, a)?;
    let mut digest_days = Vec::new();
    let mut day = slot.week_start;
    while day <= week_end {
        let load_tss = loads.iter().filter(|l| l.date == day).map(|l| l.tss).sum();
        let recovery_score = days::recovery(conn, t, a, day)?.recovery.score;
        digest_days.push(DigestDay {
            date: day,
            load_tss,
            recovery_score,
        });
        day += Duration::days(1);
    }
    let fitness = if loads.is_empty() {
        None
    } else {
        let series = days::fitness(conn, t, a, slot.week_start, week_end)?;
        let point = |f: &paceline_planning::FitnessDay| FitnessPoint {
            date: f.date,
            ctl: f.ctl,
            atl: f.atl,
            tsb: f.tsb,
        };
        series
            .first()
            .zip(series.last())
            .map(|(a, b)| (point(a), point(b)))
    };
    let (report, _) = crate::jobs::insights::current_report(
        conn,
        t,
        a,
        now_ms,
        crate::api::insights::DEFAULT_DAYS,
    )?;
    let next_from = week_end + Duration::days(1);
    let settings = crate::api::planning::plan_settings(conn, t, a)?;
    let next_week = crate::jobs::planning::week_outlook(conn, t, a, next_from, &settings)?
        .into_iter()
        .filter_map(|p| {
            let date = p.date;
            let workout: Option<WorkoutPlan> = p
                .plan
                .get("workout")
                .filter(|w| !w.is_null())
                .and_then(|w| serde_json::from_value(w.clone()).ok());
            let workout = workout?;
            Some(PlannedWorkout {
                date,
                title: workout.name.clone(),
                duration_min: u32::try_from(plan_duration_s(&workout).div_ceil(60))
                    .unwrap_or(u32::MAX),
                load_tss: p.plan.get("target_tss").and_then(serde_json::Value::as_f64),
            })
        })
        .collect();
    Ok(DigestContent {
        athlete_name: r.name.clone(),
        week_start: slot.week_start,
        days: digest_days,
        fitness,
        findings: top_findings(&report),
        next_week,
        unsubscribe_url,
    })
}

/// The mail of a digest: `multipart/alternative` with the plain text and the HTML, and
/// the `List-Unsubscribe` headers.
pub fn digest_message(
    mailer: &Mailer,
    r: &Recipient,
    content: &DigestContent,
) -> anyhow::Result<Message> {
    let rendered = render_digest(content);
    let to = Mailbox::new(
        Some(r.name.clone()),
        r.email
            .parse()
            .context("the user's address does not read")?,
    );
    Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(rendered.subject)
        .header(ListUnsubscribe(content.unsubscribe_url.clone()))
        .header(ListUnsubscribePost)
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
        .context("building the digest mail")
}

/// What a tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestPass {
    /// Users looked at.
    pub users: usize,
    /// Mails the SMTP server took.
    pub sent: usize,
    /// Sends that failed (to be retried while attempts and the window last).
    pub failed: usize,
}

/// One tick at `now_ms`: every due user's digest claimed, built and sent (module docs).
pub async fn tick(store: &Arc<Store>, mailer: &Mailer, now_ms: u64) -> anyhow::Result<DigestPass> {
    let key = {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || {
            store.write(|tx| {
                crate::store::server_secret(tx, &store.server_key(), UNSUBSCRIBE_SECRET, now_ms)
            })
        })
        .await
        .context("the digest job's store task")??
    };
    let mut pass = DigestPass::default();
    let mut after = 0;
    loop {
        let batch = blocking(store, move |s| {
            s.read(|conn| rows::recipients_after(conn, after, RECIPIENT_BATCH))
        })
        .await?;
        let Some(last) = batch.last() else { break };
        after = last.user_row;
        for r in batch {
            pass.users += 1;
            if pass.sent + pass.failed >= MAX_SENDS_PER_TICK {
                return Ok(pass);
            }
            let unsubscribe_url = mailer.unsubscribe_url(&key, r.user_row)?;
            let prepared = {
                let r = r.clone();
                blocking(store, move |s| {
                    let Some(slot) = s.read(|conn| due_slot(conn, &r, now_ms))? else {
                        return Ok(None);
                    };
                    let week = format_date(slot.week_start);
                    if !s.write(|tx| rows::claim(tx, &r, &week, now_ms, MAX_ATTEMPTS))? {
                        return Ok(None);
                    }
                    let content =
                        s.read(|conn| digest_content(conn, &r, slot, now_ms, unsubscribe_url))?;
                    Ok(Some((week, content)))
                })
                .await?
            };
            let Some((week, content)) = prepared else {
                continue;
            };
            let outcome = match digest_message(mailer, &r, &content) {
                Ok(message) => mailer.send(message).await,
                Err(e) => Err(format!("{e:#}")),
            };
            match &outcome {
                Ok(()) => pass.sent += 1,
                Err(_) => {
                    pass.failed += 1;
                    tracing::warn!(user = r.user_row, week = %week, "a weekly digest was not sent");
                }
            }
            let (t, u) = (r.tenant_row, r.user_row);
            blocking(store, move |s| {
                let outcome = outcome.as_ref().map(|_| ()).map_err(String::as_str);
                s.write(|tx| rows::finish(tx, t, u, &week, outcome, now_ms, RETRY_AFTER_MS))
            })
            .await?;
        }
    }
    Ok(pass)
}

async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> anyhow::Result<T> {
    let store = Arc::clone(store);
    Ok(tokio::task::spawn_blocking(move || work(&store))
        .await
        .context("the digest job's store task")??)
}

/// The digest job: a tick every `tick_s` with the gateway's clock, until `running` is
/// cleared.
pub async fn run(
    store: Arc<Store>,
    mailer: Mailer,
    clock: crate::clock::GatewayClock,
    tick_s: u64,
    running: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(tick_s.max(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while running.load(Ordering::Relaxed) {
        interval.tick().await;
        match tick(&store, &mailer, clock.now_ms()).await {
            Ok(pass) if pass.sent + pass.failed > 0 => {
                tracing::info!(sent = pass.sent, failed = pass.failed, "weekly digest tick");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "the weekly digest tick failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    fn settings(url: &str) -> MailSettings {
        MailSettings {
            smtp_url: Secret::new(url.to_owned()),
            mail_from: "Paceline <digest@paceline.example>".to_owned(),
            ca_file: None,
            public_url: "https://paceline.example".to_owned(),
            tick_s: 60,
        }
    }

    #[test]
    fn smtp_urls_name_their_tls_and_credentials_never_go_in_clear() {
        for good in [
            "smtp://user:p%40ss@mail.example:587",
            "smtp://mail.example?tls=opportunistic",
            "smtp://localhost:25?tls=none",
            "smtps://user:pass@mail.example",
        ] {
            assert!(Mailer::new(&settings(good)).is_ok(), "{good}");
        }
        for bad in [
            "smtp://user:pass@localhost?tls=none",
            "smtps://mail.example?tls=required",
            "smtp://mail.example?tls=maybe",
            "smtp://user:%FF@mail.example",
            "smtp://",
        ] {
            assert!(Mailer::new(&settings(bad)).is_err(), "{bad}");
        }
        let mut wrong_from = settings("smtp://mail.example");
        wrong_from.mail_from = "not an address".to_owned();
        assert!(Mailer::new(&wrong_from).is_err());
        assert_eq!(percent_decode("p%40ss%3A1").as_deref(), Some("p@ss:1"));
        assert_eq!(percent_decode("bad%4"), None);
    }

    #[test]
    fn the_unsubscribe_link_carries_a_token_for_the_user() {
        let mailer = Mailer::new(&settings("smtp://mail.example")).unwrap();
        let key = [7u8; 32];
        let url = mailer.unsubscribe_url(&key, 42).unwrap();
        let token = url
            .strip_prefix("https://paceline.example/api/v1/digest/unsubscribe?t=")
            .unwrap();
        assert_eq!(
            paceline_insights::unsubscribe::verify_unsubscribe(&key, token, DIGEST_PURPOSE),
            Ok(42)
        );
    }

    #[test]
    fn a_plans_duration_counts_its_repeats() {
        let plan: WorkoutPlan = serde_json::from_value(serde_json::json!({
            "name": "3x10", "sport": "bike",
            "steps": [
                {"kind": "step", "intent": "warmup", "duration_s": 600, "target": {"kind": "open"}},
                {"kind": "repeat", "count": 3, "steps": [
                    {"intent": "work", "duration_s": 600, "target": {"kind": "open"}},
                    {"intent": "recovery", "duration_s": 300, "target": {"kind": "open"}}]},
            ]
        }))
        .unwrap();
        assert_eq!(plan_duration_s(&plan), 600 + 3 * 900);
    }
}
