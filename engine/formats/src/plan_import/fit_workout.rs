//! FIT workout files. The mapping is described in the [module docs](super).
//!
//! fitparser 0.10 frames the file (header, definitions, data messages, CRCs); the fields of
//! the `workout` and `workout_step` messages are then read by number, in the FIT profile's
//! raw units, without fitparser's profile decoding. That keeps the reading independent of
//! how fitparser names sub-fields (it calls a repeat step's `target_value` `target_hr_zone`
//! when the target type is heart rate), and away from its timestamp and accumulator
//! arithmetic, which can panic on hostile values. The parts of fitparser that are used can
//! also panic or print to stderr on some malformed input; [`crate::fit::walk::walk`] checks
//! those bytes before fitparser sees them and refuses them itself.

use std::collections::HashMap;

use fitparser::Value;
use fitparser::profile::field_types::{
    File, Intensity, MesgNum, Sport as FitSport, WktStepDuration, WktStepTarget,
};
use paceline_schemas::plan::{
    CadenceRange, FtpRange, HeartRateRange, MAX_PLAN_STEPS, MAX_REPEAT_COUNT, Open, PowerRange,
    RepeatBlock, Sport, StepIntent, Zone,
};
use paceline_schemas::{PlanStep, Step, Target, WorkoutPlan};

use super::bounds::{self, cut_text};
use super::{ImportReason, PlanImportError, check_file_size, file_stem};
use crate::fit::walk::{self as fit_file, DeveloperFields, FitWalkError};

/// How long a step that ends on a condition (lap press, distance, heart rate …) is
/// planned to last, s.
const FALLBACK_STEP_S: u32 = 5 * 60;
/// The most `workout_step` messages read; far above any real workout.
const MAX_STEP_MESSAGES: usize = 10_000;

/// `file_id.type`.
const FILE_ID_TYPE: u8 = 0;
/// `workout` fields.
const WORKOUT_SPORT: u8 = 4;
const WORKOUT_NAME: u8 = 8;
const WORKOUT_DESCRIPTION: u8 = 17;
/// `workout_step` fields.
const STEP_NAME: u8 = 0;
const DURATION_TYPE: u8 = 1;
const DURATION_VALUE: u8 = 2;
const TARGET_TYPE: u8 = 3;
const TARGET_VALUE: u8 = 4;
const CUSTOM_TARGET_LOW: u8 = 5;
const CUSTOM_TARGET_HIGH: u8 = 6;
const INTENSITY: u8 = 7;
const NOTES: u8 = 8;
const SECONDARY_TARGET_TYPE: u8 = 19;
const SECONDARY_TARGET_VALUE: u8 = 20;
const SECONDARY_CUSTOM_TARGET_LOW: u8 = 21;
const SECONDARY_CUSTOM_TARGET_HIGH: u8 = 22;
const MESSAGE_INDEX: u8 = 254;
/// The bits of `message_index` that hold the index (the top bit flags a selected entry).
const MESSAGE_INDEX_MASK: u32 = 0x0FFF;

/// `workout_hr` values above this are bpm + 100; up to it, % of max heart rate.
const HR_BPM_OFFSET: u32 = 100;
/// `workout_power` values above this are W + 1000; up to it, % of FTP.
const POWER_W_OFFSET: u32 = 1000;

/// Imports a FIT workout file. See the [module docs](super) for the mapping and fallbacks.
pub fn import_fit_workout(file_name: &str, bytes: &[u8]) -> Result<WorkoutPlan, PlanImportError> {
    check_file_size(file_name, bytes)?;
    let fail = |element: String, reason| PlanImportError::new(file_name, element, reason);
    let messages = read_workout_messages(bytes).map_err(|reason| fail(String::new(), reason))?;
    if messages.steps.is_empty() {
        let reason = match messages.workout {
            Some(_) => ImportReason::NoSteps,
            None => ImportReason::NotAWorkout {
                file_type: messages
                    .file_type
                    .map_or("unknown".to_owned(), |t| t.to_string()),
            },
        };
        return Err(fail(String::new(), reason));
    }
    let mut entries = Vec::with_capacity(messages.steps.len());
    for (index, fields) in messages.steps.iter().enumerate() {
        let message = StepMessage { index, fields };
        let entry = message
            .read()
            .map_err(|reason| fail(message.label(), reason))?;
        entries.push(entry);
    }
    let steps = build_plan_steps(entries).map_err(|(element, reason)| fail(element, reason))?;
    let workout = messages.workout.unwrap_or_default();
    let sport = byte_of(&workout, WORKOUT_SPORT, "sport")
        .map_err(|reason| fail("workout".to_owned(), reason))?;
    let sport = match sport.map(FitSport::from) {
        None => Sport::Bike,
        Some(FitSport::Cycling) => Sport::Bike,
        Some(FitSport::Running) => Sport::Run,
        Some(_) => Sport::Other,
    };
    let name = text_of(&workout, WORKOUT_NAME).unwrap_or_else(|| file_stem(file_name));
    let plan = WorkoutPlan {
        name: cut_text(name.to_owned()),
        description: text_of(&workout, WORKOUT_DESCRIPTION).map(|text| cut_text(text.to_owned())),
        sport,
        steps,
    };
    bounds::check_plan(&plan).map_err(|(element, reason)| fail(element, reason))?;
    Ok(plan)
}

type Fields = HashMap<u8, Value>;

/// What a FIT file holds that a plan needs: raw field values by field number.
#[derive(Default)]
struct WorkoutMessages {
    /// `file_id.type` of the first `file_id`.
    file_type: Option<File>,
    workout: Option<Fields>,
    steps: Vec<Fields>,
}

/// Walks the file (see [`crate::fit::walk`]), keeping the workout messages.
fn read_workout_messages(bytes: &[u8]) -> Result<WorkoutMessages, ImportReason> {
    let mut found = WorkoutMessages::default();
    let walked = fit_file::walk(bytes, DeveloperFields::Refuse, |message| {
        let fields = message.fields;
        match MesgNum::from(message.global) {
            MesgNum::FileId if found.file_type.is_none() => {
                let file_type = byte_of(fields, FILE_ID_TYPE, "file_id type")?.map(File::from);
                if let Some(other) = file_type.filter(|t| *t != File::Workout) {
                    return Err(ImportReason::NotAWorkout {
                        file_type: other.to_string(),
                    });
                }
                found.file_type = file_type;
            }
            MesgNum::Workout if found.workout.is_some() => {
                return Err(ImportReason::Inconsistent {
                    detail: "a second workout message; a file holds one workout".to_owned(),
                });
            }
            MesgNum::Workout => found.workout = Some(fields.clone()),
            MesgNum::WorkoutStep if found.steps.len() == MAX_STEP_MESSAGES => {
                return Err(ImportReason::TooManySteps {
                    what: "workout_step messages",
                    max: MAX_STEP_MESSAGES,
                });
            }
            MesgNum::WorkoutStep => found.steps.push(fields.clone()),
            _ => {}
        }
        Ok(())
    });
    match walked {
        Ok(()) => Ok(found),
        Err(FitWalkError::Visit(reason)) => Err(reason),
        Err(FitWalkError::DeveloperFields { offset }) => Err(ImportReason::Unsupported {
            what: format!("developer data fields (definition message at byte {offset})"),
        }),
        Err(FitWalkError::Malformed { offset, detail }) => {
            Err(malformed(format!("at byte {offset}: {detail}")))
        }
    }
}

fn malformed(detail: String) -> ImportReason {
    ImportReason::Malformed {
        detail: format!("damaged or unreadable FIT data {detail}"),
    }
}

/// A raw integer field; `None` when absent (or holding FIT's invalid value).
fn uint_of(fields: &Fields, field: u8, name: &str) -> Result<Option<u32>, ImportReason> {
    let Some(value) = fields.get(&field) else {
        return Ok(None);
    };
    let number = match value {
        Value::Enum(v) | Value::Byte(v) | Value::UInt8(v) | Value::UInt8z(v) => Some(u32::from(*v)),
        Value::UInt16(v) | Value::UInt16z(v) => Some(u32::from(*v)),
        Value::UInt32(v) | Value::UInt32z(v) => Some(*v),
        Value::UInt64(v) | Value::UInt64z(v) => u32::try_from(*v).ok(),
        Value::SInt8(v) => u32::try_from(*v).ok(),
        Value::SInt16(v) => u32::try_from(*v).ok(),
        Value::SInt32(v) => u32::try_from(*v).ok(),
        Value::SInt64(v) => u32::try_from(*v).ok(),
        _ => None,
    };
    number.map(Some).ok_or_else(|| ImportReason::NotANumber {
        what: format!("field {name}"),
        value: format!("{value:?}"),
        expected: "a whole number from 0 to 4294967295",
    })
}

/// A raw enum field, which FIT holds in one byte.
fn byte_of(fields: &Fields, field: u8, name: &str) -> Result<Option<u8>, ImportReason> {
    uint_of(fields, field, name)?
        .map(|value| {
            u8::try_from(value).map_err(|_| ImportReason::OutOfRange {
                what: format!("field {name}"),
                value: value.to_string(),
                allowed: "0 to 255".to_owned(),
            })
        })
        .transpose()
}

/// A trimmed, non-empty string field.
fn text_of(fields: &Fields, field: u8) -> Option<&str> {
    match fields.get(&field) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim()),
        _ => None,
    }
}

/// One FIT step, before repeats are resolved.
enum FitEntry {
    Step(Step),
    /// Go back to step `back_to` and run the steps from there again, as `rule` says.
    Repeat {
        back_to: u32,
        rule: RepeatRule,
    },
}

enum RepeatRule {
    /// This many passes in all.
    Times(u32),
    /// As many passes as fit this many seconds.
    UntilTime(f64),
    /// Until a condition that cannot be planned; the text says which.
    Until(String),
}

/// The fields of one `workout_step`, with its place in the file.
struct StepMessage<'a> {
    index: usize,
    fields: &'a Fields,
}

impl StepMessage<'_> {
    fn label(&self) -> String {
        format!("workout_step {}", self.index)
    }

    fn uint(&self, field: u8, name: &str) -> Result<Option<u32>, ImportReason> {
        uint_of(self.fields, field, name)
    }

    fn required(&self, field: u8, name: &str) -> Result<u32, ImportReason> {
        self.uint(field, name)?
            .ok_or_else(|| ImportReason::Missing {
                what: format!("field {name}"),
            })
    }

    fn byte(&self, field: u8, name: &str) -> Result<Option<u8>, ImportReason> {
        byte_of(self.fields, field, name)
    }

    fn text(&self, field: u8) -> Option<&str> {
        text_of(self.fields, field)
    }

    fn read(&self) -> Result<FitEntry, ImportReason> {
        if let Some(index) = self.uint(MESSAGE_INDEX, "message_index")? {
            let index = index & MESSAGE_INDEX_MASK;
            if usize::try_from(index).ok() != Some(self.index) {
                return Err(ImportReason::Inconsistent {
                    detail: format!(
                        "message_index {index}, but it is step {} in file order; steps must \
                         come in order",
                        self.index
                    ),
                });
            }
        }
        let duration_type = self
            .byte(DURATION_TYPE, "duration_type")?
            .map_or(WktStepDuration::Open, WktStepDuration::from);
        let repeat = |rule| -> Result<FitEntry, ImportReason> {
            let back_to = self.required(DURATION_VALUE, "duration_value (step to repeat from)")?;
            Ok(FitEntry::Repeat { back_to, rule })
        };
        match duration_type {
            WktStepDuration::RepeatUntilStepsCmplt => {
                let times = self.required(TARGET_VALUE, "target_value (repetitions)")?;
                repeat(RepeatRule::Times(bounds::repeat_count(
                    "repeat count",
                    f64::from(times),
                )?))
            }
            WktStepDuration::RepeatUntilTime => {
                repeat(match self.uint(TARGET_VALUE, "target_value")? {
                    Some(ms) => RepeatRule::UntilTime(f64::from(ms) / 1000.0),
                    None => RepeatRule::Until("repeat until a time".to_owned()),
                })
            }
            WktStepDuration::RepeatUntilDistance
            | WktStepDuration::RepeatUntilCalories
            | WktStepDuration::RepeatUntilHrLessThan
            | WktStepDuration::RepeatUntilHrGreaterThan
            | WktStepDuration::RepeatUntilPowerLessThan
            | WktStepDuration::RepeatUntilPowerGreaterThan
            | WktStepDuration::RepeatUntilPowerLastLapLessThan
            | WktStepDuration::RepeatUntilMaxPowerLastLapLessThan
            | WktStepDuration::RepeatUntilTrainingPeaksTss => {
                let value = self.uint(TARGET_VALUE, "target_value")?;
                repeat(RepeatRule::Until(format!(
                    "repeat {}",
                    end_condition(duration_type, value)
                )))
            }
            _ => self.step(duration_type).map(FitEntry::Step),
        }
    }

    fn step(&self, duration_type: WktStepDuration) -> Result<Step, ImportReason> {
        let mut texts: Vec<String> = [self.text(STEP_NAME), self.text(NOTES)]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        let duration_value = self.uint(DURATION_VALUE, "duration_value")?;
        let duration_s = match duration_type {
            WktStepDuration::Time | WktStepDuration::RepetitionTime | WktStepDuration::TimeOnly => {
                let ms = self.required(DURATION_VALUE, "duration_value (time)")?;
                bounds::duration_s("duration (time)", f64::from(ms) / 1000.0)?
            }
            other => {
                texts.push(format!(
                    "{}; planned as {} min",
                    end_condition(other, duration_value),
                    FALLBACK_STEP_S / 60
                ));
                FALLBACK_STEP_S
            }
        };
        let intent = match self.byte(INTENSITY, "intensity")?.map(Intensity::from) {
            Some(Intensity::Warmup) => StepIntent::Warmup,
            Some(Intensity::Cooldown) => StepIntent::Cooldown,
            Some(Intensity::Rest | Intensity::Recovery) => StepIntent::Recovery,
            Some(Intensity::Other) => StepIntent::Free,
            Some(Intensity::Active | Intensity::Interval | Intensity::UnknownVariant(_)) | None => {
                StepIntent::Work
            }
        };
        let primary = self.target(
            TARGET_TYPE,
            TARGET_VALUE,
            CUSTOM_TARGET_LOW,
            CUSTOM_TARGET_HIGH,
        )?;
        let secondary = self.target(
            SECONDARY_TARGET_TYPE,
            SECONDARY_TARGET_VALUE,
            SECONDARY_CUSTOM_TARGET_LOW,
            SECONDARY_CUSTOM_TARGET_HIGH,
        )?;
        texts.extend(primary.note);
        let text = (!texts.is_empty()).then(|| cut_text(texts.join(" / ")));
        Ok(Step {
            intent,
            duration_s,
            target: primary.target,
            cadence_rpm: primary.cadence_rpm.or(secondary.cadence_rpm),
            text,
        })
    }

    /// A target from its type, value (zone) and custom range fields.
    fn target(
        &self,
        type_field: u8,
        value_field: u8,
        low_field: u8,
        high_field: u8,
    ) -> Result<FitTarget, ImportReason> {
        let open = Target::Open(Open { rpe: None });
        let Some(target_type) = self
            .byte(type_field, "target_type")?
            .map(WktStepTarget::from)
        else {
            return Ok(FitTarget::from(open));
        };
        let zone = self
            .uint(value_field, "target_value")?
            .filter(|&zone| zone > 0);
        let low = self.uint(low_field, "custom_target_value_low")?;
        let high = self.uint(high_field, "custom_target_value_high")?;
        let custom = match (low, high) {
            (Some(low), Some(high)) => Some((low, high)),
            (Some(one), None) | (None, Some(one)) => Some((one, one)),
            (None, None) => None,
        };
        let target = match target_type {
            WktStepTarget::Open => FitTarget::from(open),
            WktStepTarget::HeartRate | WktStepTarget::HeartRateLap => {
                FitTarget::from(heart_rate_target(zone, custom)?.unwrap_or(open))
            }
            WktStepTarget::Power
            | WktStepTarget::Power3s
            | WktStepTarget::Power10s
            | WktStepTarget::Power30s
            | WktStepTarget::PowerLap => {
                FitTarget::from(power_target(zone, custom)?.unwrap_or(open))
            }
            WktStepTarget::Cadence => match (custom, zone) {
                (Some((low, high)), _) => {
                    let low = bounds::cadence_rpm("cadence low", f64::from(low))?;
                    let high = bounds::cadence_rpm("cadence high", f64::from(high))?;
                    bounds::ordered("cadence", low, high)?;
                    FitTarget {
                        target: open,
                        cadence_rpm: Some(CadenceRange { low, high }),
                        note: None,
                    }
                }
                (None, Some(zone)) => FitTarget::unsupported(format!("cadence zone {zone}")),
                (None, None) => FitTarget::from(open),
            },
            WktStepTarget::Speed | WktStepTarget::SpeedLap => match (custom, zone) {
                (Some((low, high)), _) => {
                    let kmh = |mm_per_s: u32| f64::from(mm_per_s) * 3.6 / 1000.0;
                    FitTarget::unsupported(format!("speed {:.1}–{:.1} km/h", kmh(low), kmh(high)))
                }
                (None, Some(zone)) => FitTarget::unsupported(format!("speed zone {zone}")),
                (None, None) => FitTarget::from(open),
            },
            other => FitTarget::unsupported(other.to_string()),
        };
        Ok(target)
    }
}

/// A step's target as read from FIT: the target, a cadence, and a note for the text.
struct FitTarget {
    target: Target,
    cadence_rpm: Option<CadenceRange>,
    note: Option<String>,
}

impl From<Target> for FitTarget {
    fn from(target: Target) -> Self {
        FitTarget {
            target,
            cadence_rpm: None,
            note: None,
        }
    }
}

impl FitTarget {
    /// A target Paceline cannot hold: open, with the original in the text.
    fn unsupported(what: String) -> Self {
        FitTarget {
            target: Target::Open(Open { rpe: None }),
            cadence_rpm: None,
            note: Some(format!("target {what} (not a Paceline target; go by feel)")),
        }
    }
}

fn heart_rate_target(
    zone: Option<u32>,
    custom: Option<(u32, u32)>,
) -> Result<Option<Target>, ImportReason> {
    if let Some(zone) = zone {
        let zone = zone_number("heart-rate zone", zone, bounds::HR_ZONES)?;
        return Ok(Some(Target::HrZone(Zone { zone })));
    }
    let Some((low, high)) = custom else {
        return Ok(None);
    };
    if low > HR_BPM_OFFSET && high > HR_BPM_OFFSET {
        let low_bpm = bounds::heart_rate_bpm("heart rate low", f64::from(low - HR_BPM_OFFSET))?;
        let high_bpm = bounds::heart_rate_bpm("heart rate high", f64::from(high - HR_BPM_OFFSET))?;
        bounds::ordered("heart rate", low_bpm, high_bpm)?;
        return Ok(Some(Target::HeartRate(HeartRateRange {
            low_bpm,
            high_bpm,
        })));
    }
    if low <= HR_BPM_OFFSET && high <= HR_BPM_OFFSET {
        bounds::ordered("heart rate %max", low, high)?;
        let midpoint = f64::from(low + high) / 2.0;
        return Ok(Some(Target::HrZone(Zone {
            zone: hr_zone_of_percent_max(midpoint),
        })));
    }
    Err(ImportReason::Inconsistent {
        detail: format!(
            "heart-rate range {low}–{high} mixes % of max (up to 100) with bpm + 100 (above 100)"
        ),
    })
}

/// The zone of the 5-zone %HRmax model holding `percent`: zone 2 from 60 %, 3 from 70 %,
/// 4 from 80 %, 5 from 90 %, zone 1 below 60 %.
fn hr_zone_of_percent_max(percent: f64) -> u8 {
    match percent {
        p if p >= 90.0 => 5,
        p if p >= 80.0 => 4,
        p if p >= 70.0 => 3,
        p if p >= 60.0 => 2,
        _ => 1,
    }
}

fn power_target(
    zone: Option<u32>,
    custom: Option<(u32, u32)>,
) -> Result<Option<Target>, ImportReason> {
    if let Some(zone) = zone {
        let zone = zone_number("power zone", zone, bounds::POWER_ZONES)?;
        return Ok(Some(Target::PowerZone(Zone { zone })));
    }
    let Some((low, high)) = custom else {
        return Ok(None);
    };
    if low > POWER_W_OFFSET && high > POWER_W_OFFSET {
        let low_w = bounds::power_w("power low", f64::from(low - POWER_W_OFFSET))?;
        let high_w = bounds::power_w("power high", f64::from(high - POWER_W_OFFSET))?;
        bounds::ordered("power", low_w, high_w)?;
        return Ok(Some(Target::PowerW(PowerRange { low_w, high_w })));
    }
    if low <= POWER_W_OFFSET && high <= POWER_W_OFFSET {
        bounds::ordered("power %FTP", low, high)?;
        return Ok(Some(Target::PowerFtp(FtpRange {
            low_pct: bounds::ftp_pct_from_percent("power low", f64::from(low))?,
            high_pct: bounds::ftp_pct_from_percent("power high", f64::from(high))?,
        })));
    }
    Err(ImportReason::Inconsistent {
        detail: format!(
            "power range {low}–{high} mixes %FTP (up to 1000) with W + 1000 (above 1000)"
        ),
    })
}

fn zone_number(what: &str, zone: u32, zones: u8) -> Result<u8, ImportReason> {
    let zone_u8 = u8::try_from(zone).unwrap_or(u8::MAX);
    bounds::zone_within(what, zone_u8, zones).map_err(|_| ImportReason::OutOfRange {
        what: what.to_owned(),
        value: zone.to_string(),
        allowed: format!("1 to {zones}"),
    })?;
    Ok(zone_u8)
}

/// Says in words how a step or repeat ends, from its duration type and raw value.
fn end_condition(kind: WktStepDuration, value: Option<u32>) -> String {
    let Some(value) = value else {
        return match kind {
            WktStepDuration::Open => "until lap press".to_owned(),
            other => format!("until {other}"),
        };
    };
    let heart_rate = |raw: u32| match raw.checked_sub(HR_BPM_OFFSET) {
        Some(bpm) if bpm > 0 => format!("{bpm} bpm"),
        _ => format!("{raw} % of max"),
    };
    let power = |raw: u32| match raw.checked_sub(POWER_W_OFFSET) {
        Some(watts) if watts > 0 => format!("{watts} W"),
        _ => format!("{raw} %FTP"),
    };
    match kind {
        WktStepDuration::Open => "until lap press".to_owned(),
        WktStepDuration::Distance | WktStepDuration::RepeatUntilDistance => {
            format!("until {} m", f64::from(value) / 100.0)
        }
        WktStepDuration::Calories | WktStepDuration::RepeatUntilCalories => {
            format!("until {value} kcal")
        }
        WktStepDuration::HrLessThan | WktStepDuration::RepeatUntilHrLessThan => {
            format!("until heart rate below {}", heart_rate(value))
        }
        WktStepDuration::HrGreaterThan | WktStepDuration::RepeatUntilHrGreaterThan => {
            format!("until heart rate above {}", heart_rate(value))
        }
        WktStepDuration::PowerLessThan | WktStepDuration::RepeatUntilPowerLessThan => {
            format!("until power below {}", power(value))
        }
        WktStepDuration::PowerGreaterThan | WktStepDuration::RepeatUntilPowerGreaterThan => {
            format!("until power above {}", power(value))
        }
        WktStepDuration::Power3sLessThan => format!("until 3 s power below {}", power(value)),
        WktStepDuration::Power10sLessThan => format!("until 10 s power below {}", power(value)),
        WktStepDuration::Power30sLessThan => format!("until 30 s power below {}", power(value)),
        WktStepDuration::Power3sGreaterThan => format!("until 3 s power above {}", power(value)),
        WktStepDuration::Power10sGreaterThan => format!("until 10 s power above {}", power(value)),
        WktStepDuration::Power30sGreaterThan => format!("until 30 s power above {}", power(value)),
        WktStepDuration::PowerLapLessThan => format!("until lap power below {}", power(value)),
        WktStepDuration::PowerLapGreaterThan => format!("until lap power above {}", power(value)),
        WktStepDuration::Reps => format!("for {value} reps"),
        other => format!("until {other} {value}"),
    }
}

/// A plan entry while repeats are resolved, with the FIT step indexes it covers.
enum Built {
    Single {
        index: usize,
        step: Step,
    },
    Block {
        first: usize,
        last: usize,
        block: RepeatBlock,
    },
}

impl Built {
    fn first(&self) -> usize {
        match self {
            Built::Single { index, .. } => *index,
            Built::Block { first, .. } => *first,
        }
    }

    /// How many steps it becomes when expanded inside another repeat.
    fn expanded_len(&self) -> usize {
        match self {
            Built::Single { .. } => 1,
            Built::Block { block, .. } => usize::try_from(block.count)
                .unwrap_or(usize::MAX)
                .saturating_mul(block.steps.len()),
        }
    }

    fn expand_into(self, steps: &mut Vec<Step>) {
        match self {
            Built::Single { step, .. } => steps.push(step),
            Built::Block { block, .. } => {
                for _ in 0..block.count {
                    steps.extend(block.steps.iter().cloned());
                }
            }
        }
    }
}

/// Resolves repeat steps into repeat blocks, expanding a repeat inside a repeat.
fn build_plan_steps(entries: Vec<FitEntry>) -> Result<Vec<PlanStep>, (String, ImportReason)> {
    let mut built: Vec<Built> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let (back_to, rule) = match entry {
            FitEntry::Step(step) => {
                built.push(Built::Single { index, step });
                continue;
            }
            FitEntry::Repeat { back_to, rule } => (back_to, rule),
        };
        let label = format!("workout_step {index}");
        let bad = |detail: String| (label.clone(), ImportReason::BadRepeat { detail });
        let back_to_index = usize::try_from(back_to).unwrap_or(usize::MAX);
        if back_to_index > index {
            return Err(bad(format!("repeat points forward to step {back_to}")));
        }
        if back_to_index == index {
            return Err(bad("repeat points at itself".to_owned()));
        }
        let Some(start) = built
            .iter()
            .position(|entry| entry.first() == back_to_index)
        else {
            let detail = match built.iter().find_map(|entry| match entry {
                Built::Block { first, last, .. } if (*first..=*last).contains(&back_to_index) => {
                    Some(*last)
                }
                _ => None,
            }) {
                Some(last) => format!(
                    "repeat goes back to step {back_to}, inside the repeat that ends at step {last}"
                ),
                None => format!("repeat goes back to step {back_to}, which is not a step"),
            };
            return Err(bad(detail));
        };
        let expanded_len = built[start..].iter().fold(0usize, |sum, entry| {
            sum.saturating_add(entry.expanded_len())
        });
        if expanded_len > MAX_PLAN_STEPS {
            let reason = ImportReason::TooManySteps {
                what: "steps in one repeat block (inner repeats expanded)",
                max: MAX_PLAN_STEPS,
            };
            return Err((label, reason));
        }
        let mut steps = Vec::with_capacity(expanded_len);
        for entry in built.drain(start..) {
            entry.expand_into(&mut steps);
        }
        let (count, note) = match rule {
            RepeatRule::Times(count) => (count, None),
            RepeatRule::UntilTime(seconds) => {
                let pass_s: u32 = steps.iter().map(|step| step.duration_s).sum();
                let passes = (seconds / f64::from(pass_s.max(1))).ceil();
                let passes = passes.clamp(1.0, f64::from(MAX_REPEAT_COUNT));
                let count = bounds::repeat_count("repeat count", passes)
                    .map_err(|reason| (label.clone(), reason))?;
                let note = format!("repeat until {seconds} s; planned as {count} passes");
                (count, Some(note))
            }
            RepeatRule::Until(condition) => (1, Some(format!("{condition}; planned as one pass"))),
        };
        if let (Some(note), Some(first)) = (note, steps.first_mut()) {
            let text = match first.text.take() {
                Some(text) => format!("{text} / {note}"),
                None => note,
            };
            first.text = Some(cut_text(text));
        }
        built.push(Built::Block {
            first: back_to_index,
            last: index,
            block: RepeatBlock { count, steps },
        });
    }
    if built.len() > MAX_PLAN_STEPS {
        let reason = ImportReason::TooManySteps {
            what: "top-level steps",
            max: MAX_PLAN_STEPS,
        };
        return Err((String::new(), reason));
    }
    Ok(built
        .into_iter()
        .map(|entry| match entry {
            Built::Single { step, .. } => PlanStep::Step(step),
            Built::Block { block, .. } => PlanStep::Repeat(block),
        })
        .collect())
}
