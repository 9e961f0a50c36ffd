//! A day's changes asked in the coach chat, kept together so that a new change is applied
//! on top of the earlier ones: "make Thursday easier" then "swap Thursday to a run" plans
//! Thursday as an easier run, not as the planner's own run that forgot the first ask.
//!
//! A [`DayChange`] holds at most one of each kind of change (the sport, the intensity);
//! [`DayChange::then`] puts a newer change on top (what it sets replaces the earlier one of
//! the same kind, the rest is kept), and [`daily_plan_with_change`] plans the day with all
//! of it through the planner's own rules: the sport as the inputs' primary one (no longer
//! avoided), then the intensity through [`daily_plan_with_intensity`]. The caller keeps
//! the combined change with the day's stored plan, to put the next one on top.

use paceline_schemas::plan::Sport;

use super::{
    DailyPlan, IntensityRefused, IntensityRequest, PlanInputs, daily_plan,
    daily_plan_with_intensity, sport_name,
};

/// The changes asked for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayChange {
    /// Easier or harder, with a power target and a heart-rate cap.
    pub intensity: Option<IntensityRequest>,
    /// Another sport than the athlete's primary one.
    pub sport: Option<Sport>,
}

impl DayChange {
    /// `newer` on top of `self`: each kind of change `newer` sets replaces this one's; the
    /// others are kept.
    #[must_use]
    pub fn then(self, newer: DayChange) -> DayChange {
        DayChange {
            intensity: newer.intensity.or(self.intensity),
            sport: newer.sport.or(self.sport),
        }
    }

    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        self.intensity.is_none() && self.sport.is_none()
    }

    /// The sport into the inputs: the primary sport, and no longer avoided.
    pub fn apply_to(&self, inputs: &mut PlanInputs) {
        if let Some(sport) = self.sport {
            inputs.sport = sport;
            inputs.avoid_sports.retain(|s| s != sport_name(sport));
        }
    }
}

/// The day's plan with `change` (module doc), or why the rules keep it as it is (an
/// intensity change on a day with no workout, harder on a red day).
pub fn daily_plan_with_change(
    inputs: &PlanInputs,
    change: DayChange,
) -> Result<DailyPlan, IntensityRefused> {
    let mut inputs = inputs.clone();
    change.apply_to(&mut inputs);
    match change.intensity {
        Some(request) => daily_plan_with_intensity(&inputs, request),
        None => Ok(daily_plan(&inputs)),
    }
}
