//! The weekly digest: its content from values, rendered as plain text and HTML, and when
//! it is due.
//!
//! Why a letter: a short weekly mail is read where a dashboard is not. The gateway gathers
//! the values (load, fitness, recovery, findings, next week's plan), this module words and
//! lays them out, and the gateway sends the two parts as one multipart mail.
//!
//! **Rendering**: every piece of athlete or plan text is escaped in the HTML; styles are
//! inline and nothing is fetched (no images, fonts or scripts), so mail clients show it as
//! sent. Days are listed in date order, the findings are the first three given, a missing
//! recovery score shows as "–". Recovery bands as in planning: green ≥ 80, yellow 50–79,
//! red < 50.
//!
//! **When** ([`digest_due`]): Sunday 18:00 in the athlete's local time, the athlete's UTC
//! offset given in minutes (a fixed offset: the gateway passes today's offset, so daylight
//! saving time is the caller's lookup; |offset| ≤ 18 h). The slot is the latest Sunday
//! 18:00 local at or before `now`; the digest is due when
//! - `now` is less than [`LATEST_SEND_H`] hours past the slot (a letter about last week
//!   arriving on Wednesday helps no one: after a long outage that week is skipped), and
//! - nothing was sent since [`SLOT_MARGIN_H`] hours before the slot. The margin makes "never
//!   twice for the same week" hold when the offset changes between two calls (DST moves the
//!   slot by an hour); a previous week's digest, sent at most 48 h after its slot, is always
//!   more than 5 days before this one.
//!
//! The gateway also records [`DigestSlot::week_start`] with each send so that a restart
//! cannot send the same week again even if `last_sent` was not yet stored.

use std::fmt::Write as _;

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

use crate::chart::escape_xml;
use crate::correlations::{CorrelationReport, Finding};

/// How late after its slot a digest may still be sent, hours.
pub const LATEST_SEND_H: i64 = 48;
/// A send this close before the slot counts for the slot's week, hours.
pub const SLOT_MARGIN_H: i64 = 12;
/// The largest UTC offset accepted, minutes (±18 h).
pub const MAX_UTC_OFFSET_MIN: i32 = 18 * 60;
/// The local hour the digest is due on Sundays.
pub const DIGEST_HOUR: u8 = 18;
/// How many findings a digest shows.
pub const TOP_FINDINGS: usize = 3;

/// An offset out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("UTC offset {minutes} min is outside ±18 h")]
pub struct OffsetError {
    /// The offset given.
    pub minutes: i32,
}

/// One week's digest slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSlot {
    /// The Monday of the week the digest covers (local date).
    pub week_start: Date,
    /// The Sunday 18:00 local the digest is due, in UTC.
    pub due_utc: OffsetDateTime,
}

fn offset(utc_offset_min: i32) -> Result<UtcOffset, OffsetError> {
    let err = OffsetError {
        minutes: utc_offset_min,
    };
    if utc_offset_min.abs() > MAX_UTC_OFFSET_MIN {
        return Err(err);
    }
    UtcOffset::from_whole_seconds(utc_offset_min * 60).map_err(|_| err)
}

/// The latest digest slot at or before `now_utc` for an athlete at `utc_offset_min`.
pub fn current_slot(
    now_utc: OffsetDateTime,
    utc_offset_min: i32,
) -> Result<DigestSlot, OffsetError> {
    let offset = offset(utc_offset_min)?;
    let local = now_utc.to_offset(offset);
    let days_since_sunday = i64::from(local.weekday().number_days_from_sunday());
    let mut sunday = local.date() - Duration::days(days_since_sunday);
    let at = |day: Date| {
        PrimitiveDateTime::new(
            day,
            Time::from_hms(DIGEST_HOUR, 0, 0).unwrap_or(Time::MIDNIGHT),
        )
        .assume_offset(offset)
    };
    if at(sunday) > local {
        sunday -= Duration::days(7);
    }
    Ok(DigestSlot {
        week_start: sunday - Duration::days(6),
        due_utc: at(sunday).to_offset(UtcOffset::UTC),
    })
}

/// Whether the weekly digest is due now (module docs), given when one was last sent.
pub fn digest_due(
    now_utc: OffsetDateTime,
    utc_offset_min: i32,
    last_sent_utc: Option<OffsetDateTime>,
) -> Result<bool, OffsetError> {
    let slot = current_slot(now_utc, utc_offset_min)?;
    let fresh = now_utc - slot.due_utc < Duration::hours(LATEST_SEND_H);
    let not_sent = last_sent_utc.is_none_or(|l| l < slot.due_utc - Duration::hours(SLOT_MARGIN_H));
    Ok(fresh && not_sent)
}

/// A day of the digest's week.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestDay {
    /// Local date.
    pub date: Date,
    /// The day's training load, TSS.
    pub load_tss: f64,
    /// The morning's recovery score, 0–100, when there was one.
    pub recovery_score: Option<f64>,
}

/// Fitness, fatigue and form on a day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitnessPoint {
    /// Local date.
    pub date: Date,
    /// Fitness (CTL).
    pub ctl: f64,
    /// Fatigue (ATL).
    pub atl: f64,
    /// Form (TSB).
    pub tsb: f64,
}

/// A workout planned for next week.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWorkout {
    /// Local date.
    pub date: Date,
    /// Its title, e.g. "Sweet spot 3x12".
    pub title: String,
    /// Planned duration, min.
    pub duration_min: u32,
    /// Planned load, TSS.
    pub load_tss: Option<f64>,
}

/// Everything a digest says.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestContent {
    /// The athlete's display name.
    pub athlete_name: String,
    /// The Monday of the week (see [`DigestSlot::week_start`]).
    pub week_start: Date,
    /// The week's days (any order; days left out are not listed).
    pub days: Vec<DigestDay>,
    /// Fitness at the start and the end of the week.
    pub fitness: Option<(FitnessPoint, FitnessPoint)>,
    /// Findings, best first; the first three are shown.
    pub findings: Vec<Finding>,
    /// Next week's plan.
    pub next_week: Vec<PlannedWorkout>,
    /// The unsubscribe link (with its signed token).
    pub unsubscribe_url: String,
}

/// A rendered digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDigest {
    /// The mail's subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// The report's findings merged, best (lowest q) first, as a digest wants them.
pub fn top_findings(report: &CorrelationReport) -> Vec<Finding> {
    let mut all: Vec<Finding> = report
        .what_works
        .iter()
        .chain(&report.what_doesnt)
        .cloned()
        .collect();
    all.sort_by(|a, b| {
        a.q.total_cmp(&b.q)
            .then(b.rho.abs().total_cmp(&a.rho.abs()))
    });
    all.truncate(TOP_FINDINGS);
    all
}

fn weekday_short(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

fn month_short(date: Date) -> &'static str {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS[usize::from(u8::from(date.month())) - 1]
}

/// "Mon 2 Nov".
fn day_label(date: Date) -> String {
    format!(
        "{} {} {}",
        weekday_short(date.weekday()),
        date.day(),
        month_short(date)
    )
}

fn band(score: f64) -> &'static str {
    if score >= 80.0 {
        "green"
    } else if score >= 50.0 {
        "yellow"
    } else {
        "red"
    }
}

fn signed(v: f64) -> String {
    format!("{}{v:.1}", if v >= 0.0 { "+" } else { "" })
}

/// The digest's lines, shared by both renderings.
struct Lines {
    title: String,
    greeting: String,
    load: Vec<(String, String)>,
    load_total: String,
    fitness: Vec<(String, String)>,
    recovery: Vec<(String, String)>,
    recovery_mean: Option<String>,
    findings: Vec<String>,
    plan: Vec<(String, String)>,
}

fn lines(c: &DigestContent) -> Lines {
    let mut days = c.days.clone();
    days.sort_by_key(|d| d.date);
    let week_end = c.week_start + Duration::days(6);
    let total: f64 = days.iter().map(|d| d.load_tss.max(0.0)).sum();
    let scores: Vec<f64> = days.iter().filter_map(|d| d.recovery_score).collect();
    let fitness = c
        .fitness
        .map(|(a, b)| {
            vec![
                (
                    "Fitness (CTL)".to_owned(),
                    format!("{:.1} → {:.1} ({})", a.ctl, b.ctl, signed(b.ctl - a.ctl)),
                ),
                (
                    "Fatigue (ATL)".to_owned(),
                    format!("{:.1} → {:.1} ({})", a.atl, b.atl, signed(b.atl - a.atl)),
                ),
                (
                    "Form (TSB)".to_owned(),
                    format!("{:.1} → {:.1} ({})", a.tsb, b.tsb, signed(b.tsb - a.tsb)),
                ),
            ]
        })
        .unwrap_or_default();
    let mut plan = c.next_week.clone();
    plan.sort_by(|a, b| a.date.cmp(&b.date).then(a.title.cmp(&b.title)));
    Lines {
        title: format!(
            "Your week, {} – {} {}",
            day_label(c.week_start),
            day_label(week_end),
            week_end.year()
        ),
        greeting: format!("Hi {},", c.athlete_name),
        load: days
            .iter()
            .map(|d| (day_label(d.date), format!("{:.0} TSS", d.load_tss.max(0.0))))
            .collect(),
        load_total: format!("{total:.0} TSS"),
        fitness,
        recovery: days
            .iter()
            .map(|d| {
                let v = d
                    .recovery_score
                    .map_or_else(|| "–".to_owned(), |s| format!("{s:.0} ({})", band(s)));
                (day_label(d.date), v)
            })
            .collect(),
        recovery_mean: (!scores.is_empty()).then(|| {
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            format!("{mean:.0} ({})", band(mean))
        }),
        findings: c
            .findings
            .iter()
            .take(TOP_FINDINGS)
            .map(|f| f.sentence.clone())
            .collect(),
        plan: plan
            .iter()
            .map(|p| {
                let load = p
                    .load_tss
                    .map(|t| format!(", {t:.0} TSS"))
                    .unwrap_or_default();
                (
                    day_label(p.date),
                    format!("{} ({} min{load})", p.title, p.duration_min),
                )
            })
            .collect(),
    }
}

const NO_FINDINGS: &str = "Nothing stands out yet: findings appear once enough days are logged.";
const NO_PLAN: &str = "No workouts planned yet.";

/// The digest as plain text and HTML.
pub fn render_digest(c: &DigestContent) -> RenderedDigest {
    let l = lines(c);
    RenderedDigest {
        subject: l.title.clone(),
        text: render_text(&l, &c.unsubscribe_url),
        html: render_html(&l, &c.unsubscribe_url),
    }
}

fn render_text(l: &Lines, unsubscribe_url: &str) -> String {
    let mut t = String::new();
    let rows = |t: &mut String, rows: &[(String, String)]| {
        for (k, v) in rows {
            let _ = writeln!(t, "  {k:<14} {v}");
        }
    };
    let _ = writeln!(t, "{}\n\n{}\n\nTraining load", l.title, l.greeting);
    rows(&mut t, &l.load);
    let _ = writeln!(t, "  {:<14} {}\n", "Total", l.load_total);
    if !l.fitness.is_empty() {
        let _ = writeln!(t, "Fitness trend");
        rows(&mut t, &l.fitness);
        t.push('\n');
    }
    let _ = writeln!(t, "Recovery");
    rows(&mut t, &l.recovery);
    if let Some(mean) = &l.recovery_mean {
        let _ = writeln!(t, "  {:<14} {mean}", "Average");
    }
    let _ = writeln!(t, "\nWhat works for you");
    if l.findings.is_empty() {
        let _ = writeln!(t, "  {NO_FINDINGS}");
    }
    for (i, f) in l.findings.iter().enumerate() {
        let _ = writeln!(t, "  {}. {f}", i + 1);
    }
    let _ = writeln!(t, "\nNext week");
    if l.plan.is_empty() {
        let _ = writeln!(t, "  {NO_PLAN}");
    }
    rows(&mut t, &l.plan);
    let _ = writeln!(
        t,
        "\nUnsubscribe from this weekly letter: {unsubscribe_url}"
    );
    t
}

fn render_html(l: &Lines, unsubscribe_url: &str) -> String {
    const H2: &str = "font-size:16px;margin:20px 0 6px 0;color:#222222;";
    const TD: &str = "padding:2px 12px 2px 0;";
    let table = |h: &mut String, rows: &[(String, String)], bold_last: Option<(&str, &str)>| {
        h.push_str("<table style=\"border-collapse:collapse;font-size:14px;\">");
        for (k, v) in rows {
            let _ = write!(
                h,
                "<tr><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td></tr>",
                escape_xml(k),
                escape_xml(v)
            );
        }
        if let Some((k, v)) = bold_last {
            let _ = write!(
                h,
                "<tr><td style=\"{TD}font-weight:bold;\">{}</td><td style=\"{TD}font-weight:bold;\">{}</td></tr>",
                escape_xml(k),
                escape_xml(v)
            );
        }
        h.push_str("</table>");
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"margin:0;padding:16px;font-family:Helvetica,Arial,sans-serif;color:#222222;background:#ffffff;\">\
         <h1 style=\"font-size:20px;margin:0 0 12px 0;\">{t}</h1><p style=\"font-size:14px;\">{g}</p>\
         <h2 style=\"{H2}\">Training load</h2>",
        t = escape_xml(&l.title),
        g = escape_xml(&l.greeting)
    );
    table(&mut h, &l.load, Some(("Total", &l.load_total)));
    if !l.fitness.is_empty() {
        let _ = write!(h, "<h2 style=\"{H2}\">Fitness trend</h2>");
        table(&mut h, &l.fitness, None);
    }
    let _ = write!(h, "<h2 style=\"{H2}\">Recovery</h2>");
    table(
        &mut h,
        &l.recovery,
        l.recovery_mean.as_deref().map(|m| ("Average", m)),
    );
    let _ = write!(h, "<h2 style=\"{H2}\">What works for you</h2>");
    if l.findings.is_empty() {
        let _ = write!(
            h,
            "<p style=\"font-size:14px;\">{}</p>",
            escape_xml(NO_FINDINGS)
        );
    } else {
        h.push_str("<ol style=\"font-size:14px;padding-left:20px;\">");
        for f in &l.findings {
            let _ = write!(h, "<li style=\"margin-bottom:4px;\">{}</li>", escape_xml(f));
        }
        h.push_str("</ol>");
    }
    let _ = write!(h, "<h2 style=\"{H2}\">Next week</h2>");
    if l.plan.is_empty() {
        let _ = write!(
            h,
            "<p style=\"font-size:14px;\">{}</p>",
            escape_xml(NO_PLAN)
        );
    } else {
        table(&mut h, &l.plan, None);
    }
    let _ = write!(
        h,
        "<p style=\"font-size:12px;color:#666666;margin-top:24px;\">\
         <a href=\"{u}\" style=\"color:#666666;\">Unsubscribe from this weekly letter</a></p></body></html>",
        u = escape_xml(unsubscribe_url)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlations::{Input, Output};
    use expect_test::expect;
    use time::macros::{date, datetime};

    #[test]
    fn due_on_sunday_at_six_local() {
        // CET (+60): Sunday 8 Nov 2026 18:00 local = 17:00 UTC.
        let at = |t: OffsetDateTime, last| digest_due(t, 60, last).unwrap();
        assert!(!at(datetime!(2026-11-08 16:59 UTC), None));
        assert!(at(datetime!(2026-11-08 17:00 UTC), None));
        // Sent at 17:00: not again that evening, nor the next day.
        let sent = Some(datetime!(2026-11-08 17:00 UTC));
        assert!(!at(datetime!(2026-11-08 17:05 UTC), sent));
        assert!(!at(datetime!(2026-11-09 09:00 UTC), sent));
        // Last sent the week before: due.
        assert!(at(
            datetime!(2026-11-08 17:05 UTC),
            Some(datetime!(2026-11-01 17:02 UTC))
        ));
        // 48 h past the slot it is no longer due (Tue 10 Nov 17:00 UTC).
        assert!(at(datetime!(2026-11-10 16:59 UTC), None));
        assert!(!at(datetime!(2026-11-10 17:00 UTC), None));
        let slot = current_slot(datetime!(2026-11-08 17:00 UTC), 60).unwrap();
        assert_eq!(slot.week_start, date!(2026 - 11 - 02));
        assert_eq!(slot.due_utc, datetime!(2026-11-08 17:00 UTC));
    }

    #[test]
    fn time_zones_move_the_slot() {
        // New York (−300): Sunday 18:00 local = 23:00 UTC; Monday 00:30 UTC is Sunday
        // 19:30 there, due, for the week from Mon 2 Nov.
        let slot = current_slot(datetime!(2026-11-09 00:30 UTC), -300).unwrap();
        assert_eq!(slot.due_utc, datetime!(2026-11-08 23:00 UTC));
        assert_eq!(slot.week_start, date!(2026 - 11 - 02));
        assert!(digest_due(datetime!(2026-11-09 00:30 UTC), -300, None).unwrap());
        assert!(
            !digest_due(
                datetime!(2026-11-08 22:59 UTC),
                -300,
                Some(datetime!(2026-11-01 23:00 UTC))
            )
            .unwrap()
        );
        // Kiribati (+840): Sunday 18:00 local = 04:00 UTC the same Sunday.
        let slot = current_slot(datetime!(2026-11-08 04:00 UTC), 840).unwrap();
        assert_eq!(slot.due_utc, datetime!(2026-11-08 04:00 UTC));
        assert_eq!(
            digest_due(datetime!(2026-11-08 04:00 UTC), 1200, None),
            Err(OffsetError { minutes: 1200 })
        );
    }

    #[test]
    fn an_offset_change_does_not_send_twice() {
        // Sent under +60 at 17:00 UTC; the offset becomes +120 (slot 16:00 UTC) and back.
        let sent = Some(datetime!(2026-11-08 17:00 UTC));
        assert!(!digest_due(datetime!(2026-11-08 17:30 UTC), 120, sent).unwrap());
        let sent = Some(datetime!(2026-11-08 16:00 UTC));
        assert!(!digest_due(datetime!(2026-11-08 17:30 UTC), 60, sent).unwrap());
    }

    fn content() -> DigestContent {
        DigestContent {
            athlete_name: "Ana <Pérez>".to_owned(),
            week_start: date!(2026 - 11 - 02),
            days: vec![
                DigestDay { date: date!(2026 - 11 - 03), load_tss: 80.0, recovery_score: Some(72.0) },
                DigestDay { date: date!(2026 - 11 - 02), load_tss: 45.0, recovery_score: Some(85.0) },
                DigestDay { date: date!(2026 - 11 - 04), load_tss: 0.0, recovery_score: None },
            ],
            fitness: Some((
                FitnessPoint { date: date!(2026 - 11 - 02), ctl: 52.0, atl: 60.0, tsb: -8.0 },
                FitnessPoint { date: date!(2026 - 11 - 08), ctl: 53.5, atl: 58.0, tsb: -4.5 },
            )),
            findings: vec![Finding {
                input: Input::SleepS,
                output: Output::EfficiencyFactor,
                lag_days: 1,
                rho: 0.52,
                p: 0.004,
                q: 0.04,
                n: 24,
                sentence: "On days after you sleep more, your aerobic efficiency is higher (rho 0.52, 24 days).".to_owned(),
            }],
            next_week: vec![PlannedWorkout {
                date: date!(2026 - 11 - 10),
                title: "Sweet spot 3x12".to_owned(),
                duration_min: 60,
                load_tss: Some(72.0),
            }],
            unsubscribe_url: "https://paceline.example/unsubscribe?t=42.abc&x=\"1\"".to_owned(),
        }
    }

    #[test]
    fn plain_text_digest() {
        // Load 45 + 80 + 0 = 125 TSS; recovery mean (85 + 72)/2 = 78.5 → "78" (round half
        // to even), yellow; CTL +1.5, ATL −2.0, TSB +3.5.
        let d = render_digest(&content());
        assert_eq!(d.subject, "Your week, Mon 2 Nov – Sun 8 Nov 2026");
        expect![[r#"
            Your week, Mon 2 Nov – Sun 8 Nov 2026

            Hi Ana <Pérez>,

            Training load
              Mon 2 Nov      45 TSS
              Tue 3 Nov      80 TSS
              Wed 4 Nov      0 TSS
              Total          125 TSS

            Fitness trend
              Fitness (CTL)  52.0 → 53.5 (+1.5)
              Fatigue (ATL)  60.0 → 58.0 (-2.0)
              Form (TSB)     -8.0 → -4.5 (+3.5)

            Recovery
              Mon 2 Nov      85 (green)
              Tue 3 Nov      72 (yellow)
              Wed 4 Nov      –
              Average        78 (yellow)

            What works for you
              1. On days after you sleep more, your aerobic efficiency is higher (rho 0.52, 24 days).

            Next week
              Tue 10 Nov     Sweet spot 3x12 (60 min, 72 TSS)

            Unsubscribe from this weekly letter: https://paceline.example/unsubscribe?t=42.abc&x="1"
        "#]]
        .assert_eq(&d.text);
    }

    #[test]
    fn html_digest_is_escaped_and_self_contained() {
        let d = render_digest(&content());
        assert!(d.html.contains("Hi Ana &lt;Pérez&gt;,"));
        assert!(!d.html.contains("<Pérez>"));
        assert!(d.html.contains(
            "href=\"https://paceline.example/unsubscribe?t=42.abc&amp;x=&quot;1&quot;\""
        ));
        assert!(
            d.html
                .contains("<li style=\"margin-bottom:4px;\">On days after you sleep more")
        );
        // Nothing fetched: no images, stylesheets, scripts or remote sources.
        for forbidden in ["<img", "<link", "<script", "src=", "<style", "url("] {
            assert!(!d.html.contains(forbidden), "{forbidden}");
        }
        assert!(d.html.starts_with("<!DOCTYPE html>") && d.html.ends_with("</html>"));
    }

    #[test]
    fn empty_weeks_say_so() {
        let mut c = content();
        c.findings.clear();
        c.next_week.clear();
        c.fitness = None;
        let d = render_digest(&c);
        assert!(d.text.contains(NO_FINDINGS) && d.text.contains(NO_PLAN));
        assert!(!d.text.contains("Fitness trend"));
        assert!(d.html.contains(NO_PLAN));
    }

    #[test]
    fn top_findings_merge_by_q() {
        let f = |q: f64, rho: f64| Finding {
            input: Input::SleepS,
            output: Output::EfficiencyFactor,
            lag_days: 0,
            rho,
            p: q / 2.0,
            q,
            n: 10,
            sentence: format!("{q}"),
        };
        let report = CorrelationReport {
            what_works: vec![f(0.02, 0.6), f(0.08, 0.5)],
            what_doesnt: vec![f(0.01, -0.7), f(0.05, -0.4)],
            tested: 40,
        };
        let top: Vec<String> = top_findings(&report)
            .into_iter()
            .map(|f| f.sentence)
            .collect();
        assert_eq!(top, ["0.01", "0.02", "0.05"]);
    }
}
