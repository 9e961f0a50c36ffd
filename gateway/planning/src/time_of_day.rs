//! When in the day the workout goes: the athlete's hours ("no workouts before 7", "nothing
//! after 8pm") and parts of the day (evenings preferred; mornings avoided, said or seen in
//! what they skip). The day's plan has no clock time of its own; [`schedule`] gives it a
//! start hour that keeps these, and [`window_minutes`] the minutes the hours leave, which
//! the day's availability is capped to before the plan is made (so a workout always fits
//! between the hours).
//!
//! Parts of the day: morning before 12:00, afternoon 12:00–16:59, evening from 17:00 (the
//! chat's own reading of "morning"). Without an hour given, workouts start from 06:00 and
//! end by 22:00. Nothing here reads a clock.

use crate::plan::DailyPlan;

/// The earliest start when the athlete gave none.
pub const DEFAULT_EARLIEST_HOUR: u8 = 6;
/// The latest end when the athlete gave none.
pub const DEFAULT_LATEST_HOUR: u8 = 22;

/// A part of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PartOfDay {
    /// Before 12:00.
    Morning,
    /// 12:00–16:59.
    Afternoon,
    /// From 17:00.
    Evening,
}

impl PartOfDay {
    /// The part an hour (0–23) is in.
    pub fn of_hour(hour: u8) -> PartOfDay {
        match hour {
            0..=11 => PartOfDay::Morning,
            12..=16 => PartOfDay::Afternoon,
            _ => PartOfDay::Evening,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartOfDay::Morning => "morning",
            PartOfDay::Afternoon => "afternoon",
            PartOfDay::Evening => "evening",
        }
    }

    /// From its name.
    pub fn parse(name: &str) -> Option<PartOfDay> {
        Some(match name {
            "morning" => PartOfDay::Morning,
            "afternoon" => PartOfDay::Afternoon,
            "evening" => PartOfDay::Evening,
            _ => return None,
        })
    }
}

/// The athlete's hours and parts of the day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimesOfDay {
    /// No workout starts before this hour (0–23).
    pub earliest_hour: Option<u8>,
    /// No workout goes on after this hour (1–24).
    pub latest_hour: Option<u8>,
    /// The part of the day to train in when it fits.
    pub prefer: Option<PartOfDay>,
    /// Parts of the day to keep free when another fits.
    pub avoid: Vec<PartOfDay>,
}

impl TimesOfDay {
    /// Whether the athlete said anything about times.
    pub fn is_empty(&self) -> bool {
        self.earliest_hour.is_none()
            && self.latest_hour.is_none()
            && self.prefer.is_none()
            && self.avoid.is_empty()
    }

    fn bounds(&self) -> (u8, u8) {
        (
            self.earliest_hour.unwrap_or(DEFAULT_EARLIEST_HOUR),
            self.latest_hour.unwrap_or(DEFAULT_LATEST_HOUR),
        )
    }
}

/// The minutes between the athlete's hours, when they gave any (none: the day is open).
pub fn window_minutes(times: &TimesOfDay) -> Option<u32> {
    if times.earliest_hour.is_none() && times.latest_hour.is_none() {
        return None;
    }
    let (earliest, latest) = times.bounds();
    Some(u32::from(latest.saturating_sub(earliest)) * 60)
}

/// The hour a workout of `duration_min` starts at: the first whole hour from the earliest
/// that ends by the latest, in the preferred part of the day if one fits, else in a part
/// not avoided, else the first that fits at all. `None` with no workout, no times said, or
/// no hour that fits.
pub fn start_hour(times: &TimesOfDay, duration_min: u32) -> Option<u8> {
    if times.is_empty() || duration_min == 0 {
        return None;
    }
    let (earliest, latest) = times.bounds();
    let fits: Vec<u8> = (earliest..latest)
        .filter(|h| u32::from(*h) * 60 + duration_min <= u32::from(latest) * 60)
        .collect();
    let preferred = times
        .prefer
        .and_then(|p| fits.iter().copied().find(|h| PartOfDay::of_hour(*h) == p));
    let not_avoided = fits
        .iter()
        .copied()
        .find(|h| !times.avoid.contains(&PartOfDay::of_hour(*h)));
    preferred.or(not_avoided).or_else(|| fits.first().copied())
}

/// Gives the day's workout its start hour ([`start_hour`]) and says why.
pub fn schedule(plan: &mut DailyPlan, times: &TimesOfDay) {
    let Some(workout) = &plan.workout else {
        return;
    };
    let seconds: u32 = workout
        .steps
        .iter()
        .map(|s| match s {
            paceline_schemas::plan::PlanStep::Step(step) => step.duration_s,
            paceline_schemas::plan::PlanStep::Repeat(r) => {
                r.count * r.steps.iter().map(|s| s.duration_s).sum::<u32>()
            }
        })
        .sum();
    let minutes = seconds.div_ceil(60);
    let Some(hour) = start_hour(times, minutes) else {
        return;
    };
    let mut said = Vec::new();
    if let Some(h) = times.earliest_hour {
        said.push(format!("no workouts before {h:02}:00"));
    }
    if let Some(h) = times.latest_hour {
        said.push(format!("none after {h:02}:00"));
    }
    if let Some(p) = times.prefer {
        said.push(format!("{}s preferred", p.as_str()));
    }
    for p in &times.avoid {
        said.push(format!("{}s avoided", p.as_str()));
    }
    plan.start_hour = Some(hour);
    plan.why.push(format!(
        "Times of day ({}): the {minutes}-minute workout starts at {hour:02}:00.",
        said.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hours_and_parts_place_the_workout() {
        let open = TimesOfDay::default();
        assert_eq!(start_hour(&open, 60), None);
        assert_eq!(window_minutes(&open), None);
        let after_seven = TimesOfDay {
            earliest_hour: Some(7),
            ..TimesOfDay::default()
        };
        assert_eq!(start_hour(&after_seven, 60), Some(7));
        assert_eq!(window_minutes(&after_seven), Some(15 * 60));
        // Evenings preferred: the first evening hour; mornings avoided: noon.
        let evenings = TimesOfDay {
            prefer: Some(PartOfDay::Evening),
            ..after_seven.clone()
        };
        assert_eq!(start_hour(&evenings, 90), Some(17));
        let no_mornings = TimesOfDay {
            avoid: vec![PartOfDay::Morning],
            ..TimesOfDay::default()
        };
        assert_eq!(start_hour(&no_mornings, 60), Some(12));
        // 19:00–20:00 only: an hour fits, two do not (then the first hour anyway: the
        // availability is capped to the window before the plan is made).
        let narrow = TimesOfDay {
            earliest_hour: Some(19),
            latest_hour: Some(20),
            ..TimesOfDay::default()
        };
        assert_eq!(window_minutes(&narrow), Some(60));
        assert_eq!(start_hour(&narrow, 60), Some(19));
        assert_eq!(start_hour(&narrow, 120), None);
        // Every part avoided: the first hour that fits.
        let all = TimesOfDay {
            earliest_hour: Some(8),
            avoid: vec![PartOfDay::Morning, PartOfDay::Afternoon, PartOfDay::Evening],
            ..TimesOfDay::default()
        };
        assert_eq!(start_hour(&all, 30), Some(8));
    }
}
