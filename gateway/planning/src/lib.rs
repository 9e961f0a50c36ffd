//! Planning, I/O-free: training load over time, the morning recovery score, life events
//! from a calendar, and the deterministic daily plan the live Coach runs.
//!
//! - [`load`]: daily TSS → CTL (42-day EWMA), ATL (7-day), TSB = CTL − ATL, ACWR = 7-day
//!   mean ÷ 28-day mean.
//! - [`mod@recovery`]: 0.4 HRV + 0.3 resting HR + 0.2 sleep + 0.1 (100 − stress), each 0–100
//!   against the athlete's previous 7 days, × 0.9 above ACWR 1.3, × 0.8 above 1.5; bands
//!   green ≥ 80, yellow 50–79, red < 50; the checks of daily metrics and check-ins.
//! - [`life`]: travel, illness and busy days, by hand or from an ICS calendar (bounded).
//! - [`time_of_day`]: the athlete's hours and parts of the day: the minutes they leave
//!   and the hour the day's workout starts.
//! - [`plan`]: the day's workout in Paceline's plan format with the rules that made it
//!   (capped CTL ramp, recovery weeks, hard/easy alternation, availability, recovery band,
//!   check-in, life events through the live Coach's own time-budget compression, ACWR ≤
//!   1.5), deterministic, with a digest of its inputs.
//!
//! Everything is shaped to be read from and written to rows: enums have `as_str`/`parse`
//! names, values are plain numbers with the unit in the name, dates are [`time::Date`]s
//! (the athlete's local day).
//!
//! **This crate does no I/O**: no files, sockets, SQL or HTTP, and no clock: today's date
//! is an argument. It never iterates a hash map into its output, so the same inputs give
//! the same outputs.

pub mod life;
pub mod load;
pub mod plan;
pub mod recovery;
pub mod time_of_day;

pub use life::{CalendarEvent, IcsError, LifeEvent, LifeKind, parse_ics, parse_ics_events};
pub use load::{DayLoad, FitnessDay, fitness};
pub use plan::{
    DailyPlan, DayChange, DayKind, Equipment, Goal, IntensityChange, IntensityRefused,
    IntensityRequest, PlanInputs, PlannedDay, daily_plan, daily_plan_with_change,
    daily_plan_with_intensity, fit_to_minutes, inputs_digest,
};
pub use recovery::{Band, CheckIn, Components, DailyMetrics, MetricError, Recovery, recovery};
pub use time_of_day::{TimesOfDay, schedule, start_hour, window_minutes};
