//! The tools the chat may call, as data, and the safety rules every call passes.
//!
//! A [`Tool`] names one of the product's own services (the activity library, load and
//! recovery, planning and its time-budget compression, check-ins, life events,
//! preferences). The chat never runs one: the engine (or the LLM adapter) returns them and
//! the gateway runs each **with the caller's own authorization**, through the same code
//! the HTTP API uses, so a chat can never reach data the same user could not reach.
//!
//! [`vet`] is the one gate every tool list goes through, whichever engine produced it:
//! - each tool's values are checked ([`Tool::validate`]);
//! - a power target is clamped to at most [`MAX_FTP_PERCENT`] % of FTP ([`clamp_power`]);
//!   without a known FTP no power target is set; the HR cap from the context rides along;
//! - a destructive tool ([`Tool::is_destructive`]: deleting an activity, removing a planned
//!   workout) is not run but returned as a [`Confirmation`] the athlete must answer yes to.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::Date;

use crate::entities::{MAX_DISTANCE_M, MAX_DURATION_S, MAX_POWER_W, PartOfDay, Sport};
use crate::intent::LifeKind;
use crate::preferences::Preference;

/// The highest power target, percent of FTP.
pub const MAX_FTP_PERCENT: u32 = 150;
/// The most minutes a compressed plan may ask for.
pub const MAX_PLAN_MINUTES: u32 = 600;
/// The longest date range a tool may cover, days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// The longest note a tool carries, characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// An intensity level for a planned workout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Easy.
    Easy,
    /// Moderate.
    Moderate,
    /// Hard.
    Hard,
    /// All out (still within the safety limits).
    AllOut,
}

impl Level {
    /// Its name in rows and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Easy => "easy",
            Level::Moderate => "moderate",
            Level::Hard => "hard",
            Level::AllOut => "all_out",
        }
    }
}

/// One call to one of the product's services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "name",
    content = "arguments",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Tool {
    /// Fit the day's planned workout into `minutes` (the planner's time-budget compression).
    CompressTodaysPlan {
        /// The day.
        date: Date,
        /// The time available, minutes.
        minutes: u32,
    },
    /// Change the day's planned intensity.
    SetTodaysIntensity {
        /// The day.
        date: Date,
        /// The level.
        level: Level,
        /// A power target for the work intervals, watts (already clamped by [`vet`]).
        #[serde(default)]
        power_w: Option<u32>,
        /// The heart-rate cap the planner keeps below, bpm (from the context).
        #[serde(default)]
        hr_cap_bpm: Option<u32>,
    },
    /// Make the day's planned workout another sport.
    SwapTodaysSport {
        /// The day.
        date: Date,
        /// The new sport.
        sport: Sport,
    },
    /// Move a planned workout to another day.
    MovePlannedWorkout {
        /// Its day now.
        from: Date,
        /// Its new day.
        to: Date,
    },
    /// Remove a planned workout (destructive).
    RemovePlannedWorkout {
        /// Its day.
        date: Date,
    },
    /// Record a manual activity in the library.
    LogActivity {
        /// Its sport, when known.
        #[serde(default)]
        sport: Option<Sport>,
        /// Its day.
        date: Date,
        /// The part of the day, when said.
        #[serde(default)]
        part_of_day: Option<PartOfDay>,
        /// Its duration, seconds.
        #[serde(default)]
        duration_s: Option<u32>,
        /// Its distance, metres.
        #[serde(default)]
        distance_m: Option<f64>,
        /// A note (what the athlete called it).
        #[serde(default)]
        note: Option<String>,
    },
    /// Delete an activity (destructive): the latest one matching.
    DeleteActivity {
        /// Its day, when said.
        #[serde(default)]
        date: Option<Date>,
        /// Its sport, when said.
        #[serde(default)]
        sport: Option<Sport>,
    },
    /// Read training load (CTL, ATL, TSB) at both ends of a range.
    LoadSummary {
        /// The first day.
        from: Date,
        /// The last day.
        to: Date,
    },
    /// Read activity totals over a range.
    ActivitySummary {
        /// The first day.
        from: Date,
        /// The last day.
        to: Date,
        /// Only this sport.
        #[serde(default)]
        sport: Option<Sport>,
    },
    /// Read the planned workout of a day.
    ShowPlan {
        /// The day.
        date: Date,
    },
    /// Record a life event.
    AddLifeEvent {
        /// Its kind.
        kind: LifeKind,
        /// The first day.
        from: Date,
        /// The last day.
        to: Date,
        /// What the athlete said.
        note: String,
    },
    /// Record the day's check-in (each 1–5).
    SetCheckin {
        /// The day.
        date: Date,
        /// Energy.
        #[serde(default)]
        energy: Option<u8>,
        /// Mood.
        #[serde(default)]
        mood: Option<u8>,
        /// Soreness.
        #[serde(default)]
        soreness: Option<u8>,
        /// What the athlete said.
        #[serde(default)]
        note: Option<String>,
    },
    /// Store a preference for the planner.
    SavePreference {
        /// The preference.
        preference: Preference,
    },
    /// Answer an observed preference the chat asked about: confirmed (kept at 0.9) or
    /// corrected (ignored from now on), as `PUT /athletes/{id}/preferences` does.
    AnswerPreference {
        /// The preference as observed.
        preference: Preference,
        /// Right (true) or wrong (false).
        confirmed: bool,
    },
}

/// Why a tool call is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ToolError {
    /// A value is out of range.
    #[error("{tool}: {field} {reason}")]
    Invalid {
        /// The tool's name.
        tool: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(tool: &'static str, field: &'static str, reason: impl Into<String>) -> ToolError {
    ToolError::Invalid {
        tool,
        field,
        reason: reason.into(),
    }
}

fn check_range(tool: &'static str, from: Date, to: Date) -> Result<(), ToolError> {
    if to < from {
        return Err(invalid(tool, "to", "is before from"));
    }
    if (to - from).whole_days() > MAX_RANGE_DAYS {
        return Err(invalid(
            tool,
            "to",
            format!("more than {MAX_RANGE_DAYS} days after from"),
        ));
    }
    Ok(())
}

fn check_note(tool: &'static str, note: Option<&str>) -> Result<(), ToolError> {
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(invalid(
            tool,
            "note",
            format!("longer than {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_score(tool: &'static str, field: &'static str, v: Option<u8>) -> Result<(), ToolError> {
    match v {
        Some(v) if !(1..=5).contains(&v) => {
            Err(invalid(tool, field, format!("{v}: must be 1 to 5")))
        }
        _ => Ok(()),
    }
}

impl Tool {
    /// Every tool name, in a fixed order (the LLM's function names).
    pub const NAMES: [&'static str; 14] = [
        "compress_todays_plan",
        "set_todays_intensity",
        "swap_todays_sport",
        "move_planned_workout",
        "remove_planned_workout",
        "log_activity",
        "delete_activity",
        "load_summary",
        "activity_summary",
        "show_plan",
        "add_life_event",
        "set_checkin",
        "save_preference",
        "answer_preference",
    ];

    /// Its name (`compress_todays_plan`, …), as in JSON and the LLM's function list.
    pub fn name(&self) -> &'static str {
        match self {
            Tool::CompressTodaysPlan { .. } => "compress_todays_plan",
            Tool::SetTodaysIntensity { .. } => "set_todays_intensity",
            Tool::SwapTodaysSport { .. } => "swap_todays_sport",
            Tool::MovePlannedWorkout { .. } => "move_planned_workout",
            Tool::RemovePlannedWorkout { .. } => "remove_planned_workout",
            Tool::LogActivity { .. } => "log_activity",
            Tool::DeleteActivity { .. } => "delete_activity",
            Tool::LoadSummary { .. } => "load_summary",
            Tool::ActivitySummary { .. } => "activity_summary",
            Tool::ShowPlan { .. } => "show_plan",
            Tool::AddLifeEvent { .. } => "add_life_event",
            Tool::SetCheckin { .. } => "set_checkin",
            Tool::SavePreference { .. } => "save_preference",
            Tool::AnswerPreference { .. } => "answer_preference",
        }
    }

    /// Whether it destroys data (asks to confirm first).
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Tool::DeleteActivity { .. } | Tool::RemovePlannedWorkout { .. }
        )
    }

    /// Whether it only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Tool::LoadSummary { .. } | Tool::ActivitySummary { .. } | Tool::ShowPlan { .. }
        )
    }

    /// Checks its values (ranges, dates in order, bounded notes).
    pub fn validate(&self) -> Result<(), ToolError> {
        let name = self.name();
        match self {
            Tool::CompressTodaysPlan { minutes, .. } => {
                if !(1..=MAX_PLAN_MINUTES).contains(minutes) {
                    return Err(invalid(
                        name,
                        "minutes",
                        format!("{minutes}: must be 1 to {MAX_PLAN_MINUTES}"),
                    ));
                }
            }
            Tool::SetTodaysIntensity {
                power_w,
                hr_cap_bpm,
                ..
            } => {
                if let Some(p) = power_w
                    && !(1..=MAX_POWER_W).contains(p)
                {
                    return Err(invalid(
                        name,
                        "power_w",
                        format!("{p}: must be 1 to {MAX_POWER_W}"),
                    ));
                }
                if let Some(hr) = hr_cap_bpm
                    && !(60..=230).contains(hr)
                {
                    return Err(invalid(
                        name,
                        "hr_cap_bpm",
                        format!("{hr}: must be 60 to 230"),
                    ));
                }
            }
            Tool::SwapTodaysSport { .. }
            | Tool::RemovePlannedWorkout { .. }
            | Tool::ShowPlan { .. } => {}
            Tool::DeleteActivity { .. }
            | Tool::SavePreference { .. }
            | Tool::AnswerPreference { .. } => {}
            Tool::MovePlannedWorkout { from, to } => {
                if from == to {
                    return Err(invalid(name, "to", "is the same day"));
                }
                let gap = (*to - *from).whole_days().abs();
                if gap > MAX_RANGE_DAYS {
                    return Err(invalid(
                        name,
                        "to",
                        format!("more than {MAX_RANGE_DAYS} days away"),
                    ));
                }
            }
            Tool::LogActivity {
                duration_s,
                distance_m,
                note,
                sport,
                ..
            } => {
                if let Some(d) = duration_s
                    && !(1..=MAX_DURATION_S).contains(d)
                {
                    return Err(invalid(
                        name,
                        "duration_s",
                        format!("{d}: must be 1 to {MAX_DURATION_S}"),
                    ));
                }
                if let Some(d) = distance_m
                    && !(d.is_finite() && *d > 0.0 && *d <= MAX_DISTANCE_M)
                {
                    return Err(invalid(
                        name,
                        "distance_m",
                        format!("{d}: must be above 0 and at most {MAX_DISTANCE_M}"),
                    ));
                }
                if sport.is_none() && duration_s.is_none() && distance_m.is_none() && note.is_none()
                {
                    return Err(invalid(name, "sport", "nothing to log"));
                }
                check_note(name, note.as_deref())?;
            }
            Tool::LoadSummary { from, to } | Tool::ActivitySummary { from, to, .. } => {
                check_range(name, *from, *to)?;
            }
            Tool::AddLifeEvent { from, to, note, .. } => {
                check_range(name, *from, *to)?;
                check_note(name, Some(note))?;
            }
            Tool::SetCheckin {
                energy,
                mood,
                soreness,
                note,
                ..
            } => {
                check_score(name, "energy", *energy)?;
                check_score(name, "mood", *mood)?;
                check_score(name, "soreness", *soreness)?;
                check_note(name, note.as_deref())?;
            }
        }
        Ok(())
    }
}

/// A power target after the safety limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClampedPower {
    /// The target set, watts.
    pub power_w: u32,
    /// Whether it was lowered.
    pub clamped: bool,
}

/// The highest power target for an FTP: ⌊1.5 × FTP⌋ watts.
pub fn max_power_w(ftp_w: u32) -> u32 {
    // u64 so a huge FTP cannot overflow; the result ≤ 1.5 × u32::MAX fits back only when
    // FTP ≤ 2/3 u32::MAX, otherwise it saturates.
    u32::try_from(u64::from(ftp_w) * u64::from(MAX_FTP_PERCENT) / 100).unwrap_or(u32::MAX)
}

/// `requested_w` clamped to at most [`MAX_FTP_PERCENT`] % of `ftp_w`.
pub fn clamp_power(requested_w: u32, ftp_w: u32) -> ClampedPower {
    let max = max_power_w(ftp_w);
    ClampedPower {
        power_w: requested_w.min(max),
        clamped: requested_w > max,
    }
}

/// A destructive tool waiting for a yes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The tool to run on yes.
    pub tool: Tool,
    /// The question asked.
    pub prompt: String,
}

/// What [`vet`] lets through.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vetted {
    /// Tools the gateway may run now.
    pub tools: Vec<Tool>,
    /// Destructive tools waiting for a yes (at most one is asked at a time: the first).
    pub confirmation: Option<Confirmation>,
    /// What the safety rules changed, for the reply.
    pub notes: Vec<String>,
    /// Tools refused, with why.
    pub refused: Vec<(String, ToolError)>,
}

/// The safety context [`vet`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// The athlete's FTP, watts.
    pub ftp_w: Option<u32>,
    /// The athlete's heart-rate cap, bpm.
    pub hr_cap_bpm: Option<u32>,
}

/// Passes `tools` through the safety rules (module doc). `confirmed` is true when the
/// athlete has just said yes to this very destructive tool.
pub fn vet(tools: Vec<Tool>, limits: Limits, confirmed: bool) -> Vetted {
    let mut out = Vetted::default();
    for tool in tools {
        let tool = match tool {
            Tool::SetTodaysIntensity {
                date,
                level,
                power_w,
                hr_cap_bpm,
            } => {
                let power_w = match (power_w, limits.ftp_w) {
                    (Some(p), Some(ftp)) => {
                        let c = clamp_power(p, ftp);
                        if c.clamped {
                            out.notes.push(format!(
                                "{p} W is above {MAX_FTP_PERCENT} % of your FTP ({ftp} W), so I set {} W.",
                                c.power_w
                            ));
                        }
                        Some(c.power_w)
                    }
                    (Some(p), None) => {
                        out.notes.push(format!(
                            "I don't know your FTP, so I can't check {p} W against it; I set the level without a power target."
                        ));
                        None
                    }
                    (None, _) => None,
                };
                let hr_cap_bpm = match (hr_cap_bpm, limits.hr_cap_bpm) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let (Some(cap), Level::Hard | Level::AllOut) = (hr_cap_bpm, level) {
                    out.notes
                        .push(format!("Heart rate stays below your cap of {cap} bpm."));
                }
                Tool::SetTodaysIntensity {
                    date,
                    level,
                    power_w,
                    hr_cap_bpm,
                }
            }
            other => other,
        };
        if let Err(e) = tool.validate() {
            out.refused.push((tool.name().to_owned(), e));
            continue;
        }
        if tool.is_destructive() && !confirmed {
            if out.confirmation.is_none() {
                let prompt = confirm_prompt(&tool);
                out.confirmation = Some(Confirmation { tool, prompt });
            }
            continue;
        }
        out.tools.push(tool);
    }
    out
}

fn confirm_prompt(tool: &Tool) -> String {
    match tool {
        Tool::DeleteActivity { date, sport } => {
            let what = sport.map_or("activity", Sport::as_str);
            match date {
                Some(d) => format!("Delete your {what} from {d}? Reply yes to confirm."),
                None => format!("Delete your latest {what}? Reply yes to confirm."),
            }
        }
        Tool::RemovePlannedWorkout { date } => {
            format!("Remove the workout planned for {date}? Reply yes to confirm.")
        }
        other => format!("Run {}? Reply yes to confirm.", other.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const DAY: Date = date!(2026 - 12 - 02);

    fn intensity(power_w: Option<u32>) -> Tool {
        Tool::SetTodaysIntensity {
            date: DAY,
            level: Level::Hard,
            power_w,
            hr_cap_bpm: None,
        }
    }

    #[test]
    fn power_is_clamped_to_150_percent_of_ftp() {
        // FTP 250 W: 1.5 × 250 = 375 W.
        assert_eq!(
            clamp_power(400, 250),
            ClampedPower {
                power_w: 375,
                clamped: true
            }
        );
        assert_eq!(
            clamp_power(375, 250),
            ClampedPower {
                power_w: 375,
                clamped: false
            }
        );
        // FTP 251 W: ⌊376.5⌋ = 376 W.
        assert_eq!(max_power_w(251), 376);
        let v = vet(
            vec![intensity(Some(400))],
            Limits {
                ftp_w: Some(250),
                hr_cap_bpm: Some(172),
            },
            false,
        );
        assert_eq!(
            v.tools,
            vec![Tool::SetTodaysIntensity {
                date: DAY,
                level: Level::Hard,
                power_w: Some(375),
                hr_cap_bpm: Some(172)
            }]
        );
        assert_eq!(
            v.notes,
            [
                "400 W is above 150 % of your FTP (250 W), so I set 375 W.",
                "Heart rate stays below your cap of 172 bpm."
            ]
        );
        // No FTP: no power target at all.
        let v = vet(vec![intensity(Some(400))], Limits::default(), false);
        assert_eq!(v.tools, vec![intensity(None)]);
    }

    #[test]
    fn destructive_tools_ask_first() {
        let delete = Tool::DeleteActivity {
            date: Some(DAY),
            sport: Some(Sport::Run),
        };
        let v = vet(vec![delete.clone()], Limits::default(), false);
        assert!(v.tools.is_empty());
        assert_eq!(
            v.confirmation,
            Some(Confirmation {
                tool: delete.clone(),
                prompt: "Delete your run from 2026-12-02? Reply yes to confirm.".into()
            })
        );
        let v = vet(vec![delete.clone()], Limits::default(), true);
        assert_eq!(v.tools, vec![delete]);
    }

    #[test]
    fn bad_values_are_refused() {
        let v = vet(
            vec![
                Tool::CompressTodaysPlan {
                    date: DAY,
                    minutes: 0,
                },
                Tool::LoadSummary {
                    from: DAY,
                    to: date!(2026 - 11 - 01),
                },
                Tool::SetCheckin {
                    date: DAY,
                    energy: Some(9),
                    mood: None,
                    soreness: None,
                    note: None,
                },
                Tool::MovePlannedWorkout { from: DAY, to: DAY },
            ],
            Limits::default(),
            false,
        );
        assert!(v.tools.is_empty());
        assert_eq!(
            v.refused
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            [
                "compress_todays_plan",
                "load_summary",
                "set_checkin",
                "move_planned_workout"
            ]
        );
    }

    #[test]
    fn names_match_serde() {
        let t = Tool::CompressTodaysPlan {
            date: DAY,
            minutes: 35,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"name":"compress_todays_plan","arguments":{"date":"2026-12-02","minutes":35}}"#
        );
        assert!(Tool::NAMES.contains(&t.name()));
    }

    proptest! {
        #[test]
        fn clamp_never_exceeds_150_percent(requested in any::<u32>(), ftp in 1u32..2_000) {
            let c = clamp_power(requested, ftp);
            // 100 × power ≤ 150 × FTP, in u64 so nothing overflows.
            prop_assert!(u64::from(c.power_w) * 100 <= u64::from(ftp) * 150);
            prop_assert!(c.power_w <= requested);
            prop_assert_eq!(c.clamped, c.power_w < requested);
        }

        #[test]
        fn vetted_power_never_exceeds_150_percent(requested in 1u32..=3_000, ftp in 50u32..600) {
            let v = vet(vec![intensity(Some(requested))], Limits { ftp_w: Some(ftp), hr_cap_bpm: None }, false);
            for t in v.tools {
                if let Tool::SetTodaysIntensity { power_w: Some(p), .. } = t {
                    prop_assert!(u64::from(p) * 100 <= u64::from(ftp) * 150);
                }
            }
        }
    }
}
