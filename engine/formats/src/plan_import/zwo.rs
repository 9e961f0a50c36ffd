//! Zwift `.zwo` workouts (XML). The mapping is described in the [module docs](super).

use paceline_schemas::plan::{
    CadenceRange, FtpRamp, FtpRange, HeartRateRange, MAX_PLAN_STEPS, Open, RepeatBlock, Sport,
    StepIntent,
};
use paceline_schemas::{PlanStep, Step, Target, WorkoutPlan};
use roxmltree::{Document, Node, ParsingOptions};

use super::bounds::{self, cut_text};
use super::{ImportReason, PlanImportError, check_file_size, file_stem};

/// The most XML nodes a `.zwo` may hold; far above any real workout, and it keeps a
/// hostile file from building a huge tree.
const MAX_XML_NODES: u32 = 100_000;
/// Below this fraction of FTP a `Ramp` or `SteadyState` is a recovery.
const RECOVERY_BELOW_FTP_FRACTION: f64 = 0.60;
/// The steps a `<workout>` may hold.
const STEP_ELEMENTS: &str =
    "Warmup, Cooldown, Ramp, SteadyState, IntervalsT, FreeRide or MaxEffort";

/// Imports a Zwift `.zwo` workout. See the [module docs](super) for the mapping.
pub fn import_zwo(file_name: &str, bytes: &[u8]) -> Result<WorkoutPlan, PlanImportError> {
    check_file_size(file_name, bytes)?;
    let fail = |element: String, reason| PlanImportError::new(file_name, element, reason);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let detail = format!("not UTF-8 text (bad byte at offset {})", err.valid_up_to());
        fail(String::new(), ImportReason::Malformed { detail })
    })?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    let document = Document::parse_with_options(text, options).map_err(|err| {
        let detail = format!("not well-formed XML: {err}");
        fail(String::new(), ImportReason::Malformed { detail })
    })?;
    read_workout_file(file_name, &document).map_err(|(element, reason)| fail(element, reason))
}

type ZwoResult<T> = Result<T, (String, ImportReason)>;

fn read_workout_file(file_name: &str, document: &Document<'_>) -> ZwoResult<WorkoutPlan> {
    let root = document.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("workout_file") {
        let reason = ImportReason::UnknownElement {
            name: root.tag_name().name().to_owned(),
            expected: "workout_file",
        };
        return Err((format!("root element (line {})", line_of(root)), reason));
    }
    let mut name = None;
    let mut description = None;
    let mut sport = Sport::Bike;
    let mut workout = None;
    for child in root.children().filter(Node::is_element) {
        let tag = child.tag_name().name().to_ascii_lowercase();
        match tag.as_str() {
            "name" => name = element_text(child),
            "description" => description = element_text(child),
            "sporttype" => {
                sport = match element_text(child).map(|text| text.to_ascii_lowercase()) {
                    None => Sport::Bike,
                    Some(text) if text == "bike" => Sport::Bike,
                    Some(text) if text == "run" => Sport::Run,
                    Some(_) => Sport::Other,
                }
            }
            "workout" if workout.is_some() => {
                let reason = ImportReason::Inconsistent {
                    detail: "a second <workout> element; a file holds one workout".to_owned(),
                };
                return Err((format!("workout (line {})", line_of(child)), reason));
            }
            "workout" => workout = Some(child),
            // Author, tags, category and the like say nothing about the steps.
            _ => {}
        }
    }
    let workout = workout.ok_or_else(|| {
        let what = "<workout> element".to_owned();
        ("workout_file".to_owned(), ImportReason::Missing { what })
    })?;
    let steps = read_steps(workout)?;
    let plan = WorkoutPlan {
        name: cut_text(name.unwrap_or_else(|| file_stem(file_name).to_owned())),
        description: description.map(cut_text),
        sport,
        steps,
    };
    bounds::check_plan(&plan)?;
    Ok(plan)
}

/// The trimmed text of an element, `None` when empty.
fn element_text(node: Node<'_, '_>) -> Option<String> {
    let text: String = node
        .children()
        .filter(Node::is_text)
        .filter_map(|child| child.text())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn line_of(node: Node<'_, '_>) -> u32 {
    node.document().text_pos_at(node.range().start).row
}

fn read_steps(workout: Node<'_, '_>) -> ZwoResult<Vec<PlanStep>> {
    let mut steps = Vec::new();
    for (i, node) in workout.children().filter(Node::is_element).enumerate() {
        // Built only on error: finding the line scans the text from its start.
        let label = || {
            let name = node.tag_name().name();
            format!("workout/{name}[{}] (line {})", i + 1, line_of(node))
        };
        if steps.len() == MAX_PLAN_STEPS {
            let reason = ImportReason::TooManySteps {
                what: "steps in <workout>",
                max: MAX_PLAN_STEPS,
            };
            return Err((label(), reason));
        }
        steps.push(
            StepElement { node }
                .read()
                .map_err(|reason| (label(), reason))?,
        );
    }
    if steps.is_empty() {
        let label = format!("workout (line {})", line_of(workout));
        return Err((label, ImportReason::NoSteps));
    }
    Ok(steps)
}

/// One child of `<workout>`: a step or a repeat block.
struct StepElement<'a, 'input> {
    node: Node<'a, 'input>,
}

impl<'a> StepElement<'a, '_> {
    fn read(&self) -> Result<PlanStep, ImportReason> {
        let tag = self.node.tag_name().name().to_ascii_lowercase();
        let text = self.text_events()?;
        let step = match tag.as_str() {
            "warmup" => self.ramp(StepIntent::Warmup, text)?,
            "cooldown" => self.ramp(StepIntent::Cooldown, text)?,
            "ramp" => self.ramp(StepIntent::Work, text)?,
            "steadystate" => self.steady_state(text)?,
            "intervalst" => return self.intervals(text).map(PlanStep::Repeat),
            "freeride" => Step {
                intent: StepIntent::Free,
                duration_s: self.duration("Duration")?,
                target: match self.heart_rate()? {
                    Some(range) => Target::HeartRate(range),
                    None => Target::Open(Open { rpe: None }),
                },
                cadence_rpm: self.cadence("Cadence", "CadenceLow", "CadenceHigh")?,
                text,
            },
            "maxeffort" => Step {
                intent: StepIntent::Work,
                duration_s: self.duration("Duration")?,
                target: Target::Open(Open { rpe: Some(10) }),
                cadence_rpm: self.cadence("Cadence", "CadenceLow", "CadenceHigh")?,
                text,
            },
            _ => {
                return Err(ImportReason::UnknownElement {
                    name: self.node.tag_name().name().to_owned(),
                    expected: STEP_ELEMENTS,
                });
            }
        };
        Ok(PlanStep::Step(step))
    }

    /// `Warmup`, `Cooldown` and `Ramp`: `PowerLow` to `PowerHigh` over the step.
    fn ramp(&self, intent: StepIntent, text: Option<String>) -> Result<Step, ImportReason> {
        let duration_s = self.duration("Duration")?;
        let (target, intent) = match self.power_pair("PowerLow", "PowerHigh")? {
            Some((start, end)) => {
                let target = Target::PowerFtpRamp(FtpRamp {
                    start_pct: bounds::ftp_pct("attribute PowerLow", start)?,
                    end_pct: bounds::ftp_pct("attribute PowerHigh", end)?,
                });
                let easy = start < RECOVERY_BELOW_FTP_FRACTION && end < RECOVERY_BELOW_FTP_FRACTION;
                let intent = match intent {
                    StepIntent::Work if easy => StepIntent::Recovery,
                    other => other,
                };
                (target, intent)
            }
            None => (self.heart_rate_or_missing("PowerLow")?, intent),
        };
        Ok(Step {
            intent,
            duration_s,
            target,
            cadence_rpm: self.cadence("Cadence", "CadenceLow", "CadenceHigh")?,
            text,
        })
    }

    /// `SteadyState`: `Power`, or the range `PowerLow`–`PowerHigh`.
    fn steady_state(&self, text: Option<String>) -> Result<Step, ImportReason> {
        let duration_s = self.duration("Duration")?;
        let (target, intent) = match self.power_range("Power", "PowerLow", "PowerHigh")? {
            Some((range, midpoint)) => (Target::PowerFtp(range), work_or_recovery(midpoint)),
            None => (self.heart_rate_or_missing("Power")?, StepIntent::Work),
        };
        Ok(Step {
            intent,
            duration_s,
            target,
            cadence_rpm: self.cadence("Cadence", "CadenceLow", "CadenceHigh")?,
            text,
        })
    }

    /// `IntervalsT`: `Repeat` × [on, off].
    fn intervals(&self, text: Option<String>) -> Result<RepeatBlock, ImportReason> {
        let count = match self.number("Repeat", "a whole number of repetitions")? {
            Some(count) => bounds::repeat_count("attribute Repeat", count)?,
            None => return Err(missing_attribute("Repeat")),
        };
        let on_power = self.power_range("OnPower", "PowerOnLow", "PowerOnHigh")?;
        let off_power = self.power_range("OffPower", "PowerOffLow", "PowerOffHigh")?;
        let (Some((on_range, _)), Some((off_range, _))) = (on_power, off_power) else {
            let name = if on_power.is_none() {
                "OnPower"
            } else {
                "OffPower"
            };
            return Err(missing_attribute(name));
        };
        let on = Step {
            intent: StepIntent::Work,
            duration_s: self.duration("OnDuration")?,
            target: Target::PowerFtp(on_range),
            cadence_rpm: self.cadence("Cadence", "CadenceLow", "CadenceHigh")?,
            text,
        };
        let off = Step {
            intent: StepIntent::Recovery,
            duration_s: self.duration("OffDuration")?,
            target: Target::PowerFtp(off_range),
            cadence_rpm: self.cadence(
                "CadenceResting",
                "CadenceRestingLow",
                "CadenceRestingHigh",
            )?,
            text: None,
        };
        Ok(RepeatBlock {
            count,
            steps: vec![on, off],
        })
    }

    fn number(&self, name: &str, expected: &'static str) -> Result<Option<f64>, ImportReason> {
        number_of(self.node, name, expected)
    }

    fn duration(&self, name: &str) -> Result<u32, ImportReason> {
        match self.number(name, "a number of seconds")? {
            Some(seconds) => bounds::duration_s(&format!("attribute {name}"), seconds),
            None => Err(missing_attribute(name)),
        }
    }

    /// A fraction of FTP, checked to be within 0 to 5.
    fn fraction(&self, name: &str) -> Result<Option<f64>, ImportReason> {
        let Some(fraction) = self.number(name, "a fraction of FTP")? else {
            return Ok(None);
        };
        bounds::ftp_pct(&format!("attribute {name}"), fraction)?;
        Ok(Some(fraction))
    }

    /// Both attributes of a pair, or neither; one alone is missing its partner.
    fn power_pair(&self, low: &str, high: &str) -> Result<Option<(f64, f64)>, ImportReason> {
        match (self.fraction(low)?, self.fraction(high)?) {
            (Some(low), Some(high)) => Ok(Some((low, high))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(missing_attribute(high)),
            (None, Some(_)) => Err(missing_attribute(low)),
        }
    }

    /// A %FTP range from a `low`–`high` pair, else from the single attribute; with the
    /// range's midpoint as a fraction.
    fn power_range(
        &self,
        single: &str,
        low: &str,
        high: &str,
    ) -> Result<Option<(FtpRange, f64)>, ImportReason> {
        let (low_fraction, high_fraction) = match self.power_pair(low, high)? {
            Some(pair) => pair,
            None => match self.fraction(single)? {
                Some(power) => (power, power),
                None => return Ok(None),
            },
        };
        bounds::ordered("power", low_fraction, high_fraction)?;
        let range = FtpRange {
            low_pct: bounds::ftp_pct(&format!("attribute {low}"), low_fraction)?,
            high_pct: bounds::ftp_pct(&format!("attribute {high}"), high_fraction)?,
        };
        Ok(Some((range, (low_fraction + high_fraction) / 2.0)))
    }

    /// `HeartRateLow`/`HeartRateHigh` in bpm; one alone stands for both.
    fn heart_rate(&self) -> Result<Option<HeartRateRange>, ImportReason> {
        let bpm = |name: &str| -> Result<Option<u16>, ImportReason> {
            self.number(name, "a heart rate in bpm")?
                .map(|bpm| bounds::heart_rate_bpm(&format!("attribute {name}"), bpm))
                .transpose()
        };
        let (low_bpm, high_bpm) = match (bpm("HeartRateLow")?, bpm("HeartRateHigh")?) {
            (None, None) => return Ok(None),
            (Some(low), Some(high)) => (low, high),
            (Some(one), None) | (None, Some(one)) => (one, one),
        };
        bounds::ordered("heart rate", low_bpm, high_bpm)?;
        Ok(Some(HeartRateRange { low_bpm, high_bpm }))
    }

    /// The heart-rate target standing in for absent power, else power is missing.
    fn heart_rate_or_missing(&self, power_attribute: &str) -> Result<Target, ImportReason> {
        match self.heart_rate()? {
            Some(range) => Ok(Target::HeartRate(range)),
            None => Err(missing_attribute(power_attribute)),
        }
    }

    /// A cadence range from `low`/`high`, else the single value, else none.
    fn cadence(
        &self,
        single: &str,
        low: &str,
        high: &str,
    ) -> Result<Option<CadenceRange>, ImportReason> {
        let rpm = |name: &str| -> Result<Option<u16>, ImportReason> {
            self.number(name, "a cadence in rpm")?
                .map(|rpm| bounds::cadence_rpm(&format!("attribute {name}"), rpm))
                .transpose()
        };
        let (low, high) = match (rpm(low)?, rpm(high)?) {
            (Some(low), Some(high)) => (low, high),
            (Some(one), None) | (None, Some(one)) => (one, one),
            (None, None) => match rpm(single)? {
                Some(one) => (one, one),
                None => return Ok(None),
            },
        };
        bounds::ordered("cadence", low, high)?;
        Ok(Some(CadenceRange { low, high }))
    }

    /// The messages of the step's `<textevent>` children in time order, joined with " / ".
    /// Any other child element is an error.
    fn text_events(&self) -> Result<Option<String>, ImportReason> {
        let mut events = Vec::new();
        for child in self.node.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            if !name.eq_ignore_ascii_case("textevent") {
                return Err(ImportReason::UnknownElement {
                    name: name.to_owned(),
                    expected: "textevent",
                });
            }
            let at = number_of(child, "timeoffset", "a number of seconds")?.unwrap_or(0.0);
            if !(at.is_finite() && at >= 0.0) {
                return Err(ImportReason::OutOfRange {
                    what: "textevent timeoffset".to_owned(),
                    value: at.to_string(),
                    allowed: "0 s or more".to_owned(),
                });
            }
            let message = attribute_of(child, "message")
                .ok_or_else(|| ImportReason::Missing {
                    what: "attribute message of a textevent".to_owned(),
                })?
                .trim();
            if !message.is_empty() {
                events.push((at, message));
            }
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        let joined = events
            .iter()
            .map(|(_, message)| *message)
            .collect::<Vec<_>>()
            .join(" / ");
        Ok((!joined.is_empty()).then(|| cut_text(joined)))
    }
}

/// The value of an attribute, its name matched without regard to ASCII case.
fn attribute_of<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes()
        .find(|attribute| attribute.name().eq_ignore_ascii_case(name))
        .map(|attribute| attribute.value())
}

fn number_of(
    node: Node<'_, '_>,
    name: &str,
    expected: &'static str,
) -> Result<Option<f64>, ImportReason> {
    let Some(text) = attribute_of(node, name) else {
        return Ok(None);
    };
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(ImportReason::NotANumber {
            what: format!("attribute {name}"),
            value: text.to_owned(),
            expected,
        }),
    }
}

fn missing_attribute(name: &str) -> ImportReason {
    ImportReason::Missing {
        what: format!("attribute {name}"),
    }
}

fn work_or_recovery(ftp_fraction: f64) -> StepIntent {
    if ftp_fraction < RECOVERY_BELOW_FTP_FRACTION {
        StepIntent::Recovery
    } else {
        StepIntent::Work
    }
}
